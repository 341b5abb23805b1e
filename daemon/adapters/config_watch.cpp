// SPDX-License-Identifier: GPL-2.0-or-later
#include "config_watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"
#include "keepalive/policy/render.h"

namespace keepalive::daemon {
namespace {

constexpr std::uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                   IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR;

// Policy files: IN_MODIFY too, so that a writer still writing keeps pushing the apply out; a
// symlinked directory is refused, not watched through.
constexpr std::uint32_t kPolicyDirMask = kDirMask | IN_MODIFY | IN_DONT_FOLLOW;

// A rename delivers a whole file in one event (Ansible, `mv`): no burst to wait for. Deletions
// and owner or mode changes get the full debounce.
constexpr std::chrono::milliseconds kRenameDebounce{2};
// A file written in place may be closed and written again (`echo >`, then `echo >>`): applying
// after its first close could install a valid prefix of the policy. Wait for the writer to be
// quiet this long; writing by rename stays at kRenameDebounce.
constexpr std::chrono::milliseconds kWriteSettle{500};

// A file of the include tree: written in place, its owner or mode, gone. Renames and creates
// are seen on its directory, which is watched too. Symlinks are followed: what sshd reads.
constexpr std::uint32_t kTreeFileMask = IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

// The settle time for an event on a policy file.
std::chrono::milliseconds policySettle(std::uint32_t mask, std::chrono::milliseconds debounce) {
  if (mask & IN_MOVED_TO)
    return kRenameDebounce;
  if (mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE))
    return kWriteSettle;
  return debounce;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string parentOf(const std::string& p) {
  return p.substr(0, p.rfind('/'));
}
std::string baseOf(const std::string& p) {
  return p.substr(p.rfind('/') + 1);
}

}  // namespace

ConfigWatch::ConfigWatch(Inotify& inotify, std::string root, std::vector<std::string> dropInDirs,
                         std::string ourName, std::chrono::milliseconds debounce,
                         ConfigWatchHandlers h)
    : inotify_(inotify),
      root_(std::move(root)),
      dropInDirs_(std::move(dropInDirs)),
      ourName_(std::move(ourName)),
      debounce_(debounce),
      h_(std::move(h)) {
  start();
}

void ConfigWatch::watchPolicyDir() {
  const std::string dir = io::underRoot(root_, policy::kPolicyDir);
  policyWd_ =
      inotify_.add(dir, kPolicyDirMask, [this](const inotify_event& ev, const std::string& name) {
        if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          policyWd_ = -1;
          fragmentsWd_ = -1;
          watchPolicyDir();
          h_.policyChanged(debounce_);
          return;
        }
        if (name.empty() && (ev.mask & IN_ATTRIB)) {
          h_.policyChanged(debounce_);  // its owner or mode: trusted no more, or again
        } else if (name == "policy.d") {
          if (fragmentsWd_ < 0 || (ev.mask & (IN_CREATE | IN_MOVED_TO)))
            watchPolicyDir();  // picks policy.d up
          h_.policyChanged(debounce_);
        } else if (name == "policy.yaml") {
          h_.policyChanged(policySettle(ev.mask, debounce_));
        }
      });
  if (policyWd_ < 0) {
    // No policy directory yet: wait for it to appear.
    const std::string parent = parentOf(dir), base = baseOf(dir);
    if (parentWd_ < 0)
      parentWd_ = inotify_.add(parent, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR,
                               [this, base](const inotify_event&, const std::string& name) {
                                 if (name != base || policyWd_ >= 0)
                                   return;
                                 watchPolicyDir();
                                 h_.policyChanged(debounce_);
                               });
    return;
  }
  fragmentsWd_ = inotify_.add(
      dir + "/policy.d", kPolicyDirMask, [this](const inotify_event& ev, const std::string& name) {
        if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          fragmentsWd_ = -1;
          h_.policyChanged(debounce_);
          return;
        }
        if (!name.empty() && name[0] != '.' && (endsWith(name, ".yaml") || endsWith(name, ".yml")))
          h_.policyChanged(policySettle(ev.mask, debounce_));
      });
}

void ConfigWatch::start() {
  watchPolicyDir();
  auto dropInHandler = [this](const inotify_event&, const std::string& name) {
    if (name.empty() || name[0] == '.')
      return;  // our own temporary files, and nothing sshd's *.conf glob reads
    if (name != ourName_ && !endsWith(name, ".conf"))
      return;
    h_.sshConfigChanged(name != ourName_);
  };
  for (const auto& dir : dropInDirs_) {
    ::mkdir(dir.c_str(), 0755);  // Debian and RHEL ship them; a minimal image may not
    int wd = inotify_.add(dir, kDirMask & ~IN_ONLYDIR, dropInHandler);
    if (wd < 0)
      log::warning("cannot watch \"" + dir + "\": " + strerror(-wd) +
                   "; drift is found by the periodic reconcile only");
  }
  // sshd_config and ssh_config themselves: an edit there can shadow us too.
  const std::string etcSsh = io::underRoot(root_, "/etc/ssh");
  int wd = inotify_.add(etcSsh, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ONLYDIR,
                        [this](const inotify_event&, const std::string& name) {
                          if (name == "sshd_config" || name == "ssh_config")
                            h_.sshConfigChanged(true);
                        });
  if (wd < 0)
    log::warning("cannot watch \"" + etcSsh + "\": " + strerror(-wd) + ", ignoring");
  // passwd is replaced by rename (useradd, vipw): re-read the users then.
  const std::string etc = io::underRoot(root_, "/etc");
  wd = inotify_.add(etc, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR,
                    [this](const inotify_event&, const std::string& name) {
                      if (name == "passwd")
                        h_.passwdChanged();
                    });
  if (wd < 0)
    log::warning("cannot watch \"" + etc + "\": " + strerror(-wd) + ", ignoring");
}

void ConfigWatch::addTreeWatch(const std::string& path, bool dir,
                               std::map<std::string, TreeWatch>& into) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    // A file gone: its directory's watch saw that. A directory an Include names that does
    // not exist yet (Include /etc/ssh/extra/*.conf before extra/ is made): its nearest
    // ancestor that exists, so that its creation is seen.
    if (dir) {
      const auto slash = path.rfind('/');
      if (slash != std::string::npos && slash > 0 && !into.contains(path.substr(0, slash)))
        addTreeWatch(path.substr(0, slash), true, into);
    }
    return;
  }
  if (auto old = tree_.find(path); old != tree_.end()) {
    if (old->second.dev == st.st_dev && old->second.ino == st.st_ino) {
      into.insert(tree_.extract(old));
      return;
    }
    inotify_.remove(old->second.handle);  // the path names another inode now
    tree_.erase(old);
  }
  auto handler = [this, path, dir](const inotify_event& ev, const std::string& name) {
    if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
      // That inode is no longer the path's: the next watchTree watches whatever is there then.
      if (auto it = tree_.find(path); it != tree_.end()) {
        inotify_.remove(it->second.handle);
        tree_.erase(it);
      }
      h_.sshConfigChanged(true);
      return;
    }
    // glob() skips dot files, and our own temporary files are dot files.
    if (dir && (name.empty() || name[0] == '.') && !(name.empty() && (ev.mask & IN_ATTRIB)))
      return;
    h_.sshConfigChanged(true);
  };
  const int handle = inotify_.add(path, dir ? kDirMask : kTreeFileMask, std::move(handler));
  if (handle < 0) {
    if (unwatchable_.insert(path).second)
      log::warning("cannot watch \"" + path + "\": " + strerror(-handle) +
                   "; a change there is found by the periodic reconcile only");
    return;
  }
  unwatchable_.erase(path);
  into[path] = TreeWatch{handle, st.st_dev, st.st_ino};
}

void ConfigWatch::watchTree(const std::vector<std::string>& files,
                            const std::vector<std::string>& dirs) {
  std::map<std::string, TreeWatch> next;
  for (const auto& d : dirs)
    if (std::find(dropInDirs_.begin(), dropInDirs_.end(), d) == dropInDirs_.end() &&
        !next.contains(d))
      addTreeWatch(d, true, next);
  for (const auto& f : files) {
    const bool ours = baseOf(f) == ourName_ && std::find(dropInDirs_.begin(), dropInDirs_.end(),
                                                         parentOf(f)) != dropInDirs_.end();
    if (!ours && !next.contains(f))
      addTreeWatch(f, false, next);
  }
  for (auto& [path, w] : tree_)  // named no more
    inotify_.remove(w.handle);
  tree_ = std::move(next);
  for (auto it = unwatchable_.begin(); it != unwatchable_.end();)
    it = std::find(files.begin(), files.end(), *it) == files.end() &&
                 std::find(dirs.begin(), dirs.end(), *it) == dirs.end()
             ? unwatchable_.erase(it)
             : std::next(it);
}

}  // namespace keepalive::daemon
