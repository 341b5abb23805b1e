// Keeps covered users' ~/.ssh/config compliant: a full scan whenever the policy or the passwd
// file changes, then inotify on each user's ~/.ssh (the directory, not the file: editors and
// sed -i replace the file) or, while there is none, on the home, to catch its creation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/inotify.h"
#include "adapters/user_fs.h"
#include "core/users.h"

namespace keepalive::daemon {

// The users: from NSS (so LDAP and SSSD users count) on the real system, from ROOT/etc/passwd
// under a test root.
std::vector<UserEntry> loadUsers(const std::string& root);

struct UserRecord {
  UserEntry user;
  std::string state;  // ok | repaired | non-compliant | refused:<why> | error:<why> | unwatched
  std::string last_change;
};

class UserWatcher {
 public:
  UserWatcher(Inotify& inotify, std::string root);
  ~UserWatcher();

  // Re-reads the users and re-checks every covered one under the policy r.
  void configure(const policy::Resolved& r);
  // Re-checks every covered user (after an inotify overflow, or periodically).
  void rescan();

  std::size_t covered() const { return records_.size(); }
  std::size_t nonCompliant() const;
  std::size_t unwatched() const { return unwatched_; }
  std::size_t watches() const { return wdUser_.size(); }
  std::uint64_t repairs() const { return repairs_; }
  std::uint64_t refusals() const { return refusals_; }
  const std::map<std::string, UserRecord>& records() const { return records_; }

 private:
  void check(const std::string& name, const std::string& why);
  void watch(const std::string& name);
  void unwatch(const std::string& name);
  void clearWatches();

  Inotify& inotify_;
  std::string root_;
  mode_t configMode_ = 0600, dirMode_ = 0700;
  bool enforce_ = false;
  bool active_ = false;
  std::map<std::string, UserRecord> records_;
  std::unordered_map<int, std::string> wdUser_;  // watch -> user
  std::unordered_map<std::string, int> userWd_;  // user -> watch
  std::size_t unwatched_ = 0;
  std::uint64_t repairs_ = 0, refusals_ = 0;
};

}  // namespace keepalive::daemon
