// SPDX-License-Identifier: GPL-2.0-or-later
// Puts the per-user client block into a user's ~/.ssh/config, or takes it out, by running the
// keepalive-user-block helper as that user (their uid, gid and groups). Root never reads the
// file nor evaluates it: the helper does both, and `ssh -G` checks the result as the user, since
// a user's config can run commands (Match exec).
#pragma once

#include <chrono>
#include <string>

#include "core/users.h"
#include "user_block/user_block.h"

namespace keepalive::daemon {

// Where the package installs the helper: the daemon's default.
extern const char* const kInstalledUserBlockHelper;

struct UserBlockResult {
  enum class Kind {
    kUnchanged,  // the file already holds exactly this block (or no block, for a removal)
    kUpdated,    // the block was added or rewritten
    kRemoved,    // the block was taken out
    kAbsent,     // no ~/.ssh/config (or no ~/.ssh): nothing is created, the drop-in covers them
    kRefused,    // left alone for a reason about the file: detail says which (not retried
                 // until the file changes)
    kError,      // the helper failed, timed out or said something unexpected: detail says what
  };
  Kind kind = Kind::kError;
  std::string detail;  // for kRefused and kError; printable ASCII, one line
  // Set when systemd is there but the run got no scope of its own (why, one line): the run was
  // still contained by its subreaper, without the scope's pids and memory limits.
  std::string note;
};
const char* toString(UserBlockResult::Kind k);

// configPath: the absolute path of the user's ~/.ssh/config as root sees it (under a test root
// when there is one); the user must be able to reach it. s empty: remove the block. Blocks the
// calling thread for up to timeout and a 2 s margin (call it from a worker, not the event
// loop); the helper, its ssh and anything a Match exec started are killed at the deadline. Do
// not run two at once for the same user: the second may fail (never corrupt the file).
// Every process the run starts ends with it (killed and reaped before this returns), in a
// transient scope of its own when systemd is there; limits: CPU time, address space, tasks.
UserBlockResult runUserBlock(const UserEntry& u, const std::string& configPath,
                             const BlockSettings& s, const std::string& helperPath,
                             const std::string& sshPath, std::chrono::milliseconds timeout);

}  // namespace keepalive::daemon
