// SPDX-License-Identifier: GPL-2.0-or-later
// Users' ~/.ssh and ~/.ssh/config, observed and repaired as root inside directories the users
// control. Every step goes through an fd opened without following any symlink, so a rename or a
// link planted by the user cannot redirect a chmod to another file. No owner is ever changed and
// no mode widened: the only change is taking mode bits away from the user's own object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/users.h"

namespace keepalive::daemon {

struct UserCheck {
  enum class Result {
    kAbsent,        // no home, ~/.ssh or config: nothing to do
    kCompliant,     // nothing to do
    kRepaired,      // enforce mode: a mode narrowed, and confirmed compliant afterwards
    kNonCompliant,  // report mode: would narrow (detail says what), changed nothing; or root's
                    // object that ssh would reject, left alone in any mode
    kRefused,       // not ours to touch (symlink, hard link, another user's, another mount, ...)
    kError,         // a syscall failed, or the result did not hold
  };
  Result result = Result::kError;
  // What is true now and not as the policy wants, or why refused or failed; "" when compliant
  // (repaired: nothing is wrong any more).
  std::string detail;
  // The config's identity when it exists and is compliant (or was repaired): a change of any of
  // these means the user wrote the file since.
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtimeNs = 0;
    friend bool operator==(const FileId&, const FileId&) = default;
  };
  std::optional<FileId> config;
  // kError because the file changed while we repaired it (the user's own chmod): check again.
  bool raced = false;
  // What was done (enforce: "~/.ssh/config: mode set to 0600") or what enforce would do
  // (report: "~/.ssh/config: enforce would set mode 0600"); "" for neither.
  std::string action{};
};

// root: "" for the real system, else a test root that u.home is resolved under (itself
// symlink-free: every component of the home's path must be a real directory). enforce=false
// changes nothing.
// Tests: resolve component by component as on kernels without openat2 (before 5.6) or under a
// seccomp filter that refuses it; the daemon picks that by itself when openat2 says ENOSYS.
void walkWithoutOpenat2ForTesting(bool on);

UserCheck checkUser(const UserEntry& u, const std::string& root, mode_t configMode,
                    mode_t sshDirMode, bool enforce);

}  // namespace keepalive::daemon
