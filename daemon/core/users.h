// Users' ~/.ssh/config: who is covered, and what to do about a file as observed. Pure: the
// adapter observes through fds (fstat) and applies the plan through the same fds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keepalive/policy/policy.h"

namespace keepalive::daemon {

struct UserEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  friend bool operator==(const UserEntry&, const UserEntry&) = default;
};

// passwd(5) lines; malformed lines are skipped (NSS does the same).
std::vector<UserEntry> parsePasswd(const std::string& text);

// Covered: action is not off, uid >= min_uid, not nobody (65534) nor the invalid (uid_t)-1, not
// excluded by a glob, and a home that is an absolute path other than "/" (service accounts
// often have "/" or /nonexistent).
bool isCovered(const UserEntry& u, const policy::Resolved& r);

// What fstat said about a path we opened without following links.
struct Observed {
  bool exists = false;
  mode_t type = 0;  // S_IFMT bits
  mode_t perm = 0;  // 07777 bits
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 1;
};

struct RepairPlan {
  std::string refusal;  // non-empty: touch nothing, report this
  // systemd-tmpfiles' order: narrow the mode first (so no moment grants more than before or
  // after), then the owner, then the final mode.
  std::optional<mode_t> narrow;
  std::optional<std::pair<uid_t, gid_t>> chown;
  std::optional<mode_t> mode;
  bool nothingToDo() const { return refusal.empty() && !narrow && !chown && !mode; }
  std::string describe() const;  // "mode 0664 -> 0600, owner root -> alice"
};

// ~/.ssh/config: a regular file with one link, owned by the user or by root (root's is given
// to the user), of mode `want`.
RepairPlan planConfig(const Observed& o, const UserEntry& u, mode_t want);
// ~/.ssh: a directory owned by the user or root, of mode `want`.
RepairPlan planSshDir(const Observed& o, const UserEntry& u, mode_t want);

}  // namespace keepalive::daemon
