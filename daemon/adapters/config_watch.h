// What the daemon reacts to among the files it does not own per user: the policy directory
// (and /etc until it exists), the drop-in directories, /etc/ssh's two main files and
// /etc/passwd. It classifies inotify events and says what changed and how long a policy change
// must settle; the daemon arms its timers. Watches are set up at construction.
#pragma once

#include <chrono>
#include <functional>
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

 private:
  void start();
  void watchPolicyDir();

  Inotify& inotify_;
  std::string root_;
  std::vector<std::string> dropInDirs_;
  std::string ourName_;  // our drop-in's file name in each drop-in directory
  std::chrono::milliseconds debounce_;
  ConfigWatchHandlers h_;
  int policyWd_ = -1, fragmentsWd_ = -1, parentWd_ = -1;
};

}  // namespace keepalive::daemon
