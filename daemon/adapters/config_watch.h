// SPDX-License-Identifier: GPL-2.0-or-later
// What the daemon reacts to among the files it does not own per user: the policy directory
// (and /etc until it exists), the drop-in directories, /etc/ssh's two main files and
// /etc/passwd, set up at construction; and sshd's and ssh's whole include tree, given by
// watchTree. It classifies inotify events and says what changed and how long a policy change
// must settle; the daemon arms its timers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/inotify.h"

namespace keepalive::daemon {

struct ConfigWatchHandlers {
  // A policy file or directory changed: apply after `settle` of quiet (2 ms after a rename,
  // 500 ms after a write in place, the debounce otherwise; a shorter wait never cuts a longer
  // one short: the daemon's timer keeps the later due time).
  std::function<void(std::chrono::milliseconds settle)> policyChanged;
  // A drop-in directory or sshd_config/ssh_config changed; `others`: not only our drop-in.
  std::function<void(bool others)> sshConfigChanged;
  // /etc/passwd was replaced or written.
  std::function<void()> passwdChanged;
};

class ConfigWatch {
 public:
  ConfigWatch(Inotify& inotify, std::string root, std::vector<std::string> dropInDirs,
              std::string ourName, std::chrono::milliseconds debounce, ConfigWatchHandlers h);

  // Watches every file and directory of sshd's and ssh's include trees (ConfigScan's
  // files_read and dirs), in place of the set given last time: new ones are added, ones no
  // longer named removed, one whose path now names another inode watched again. A write in
  // place, a rename in or out, a create, a delete or an owner or mode change there is reported
  // as sshConfigChanged(true). A directory that does not exist yet is watched through its
  // nearest ancestor that does (its creation is a change; the next call goes one level down).
  // The drop-in directories keep their fixed watch (our drop-in's name is classified there),
  // and our drop-ins themselves are not watched as files.
  void watchTree(const std::vector<std::string>& files, const std::vector<std::string>& dirs);
  std::size_t treeWatches() const { return tree_.size(); }

 private:
  struct TreeWatch {
    int handle = -1;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  void start();
  void addTreeWatch(const std::string& path, bool dir, std::map<std::string, TreeWatch>& into);
  void watchPolicyDir();

  Inotify& inotify_;
  std::string root_;
  std::vector<std::string> dropInDirs_;
  std::string ourName_;  // our drop-in's file name in each drop-in directory
  std::chrono::milliseconds debounce_;
  ConfigWatchHandlers h_;
  int policyWd_ = -1, fragmentsWd_ = -1, parentWd_ = -1;
  std::map<std::string, TreeWatch> tree_;  // path -> its watch
  std::set<std::string> unwatchable_;      // said once until it can be watched again
};

}  // namespace keepalive::daemon
