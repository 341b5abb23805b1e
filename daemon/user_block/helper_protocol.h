// SPDX-License-Identifier: GPL-2.0-or-later
// The contract between runUserBlock and the keepalive-user-block helper, shared so the two
// cannot drift apart.
//
//   keepalive-user-block --config PATH [--ssh PATH] (--set KEYWORD=VALUE ... | --remove)
//
// stdout, exit 0: one word, "absent", "unchanged", "updated" or "removed".
// exit 1: an error (a syscall failed, ssh could not run); exit 2: usage; exit 3: refused (the
// file is not one to touch, its markers are broken, ssh -G rejects it, or it changed meanwhile).
// On 1, 2 and 3, one line on stderr says why.
#pragma once

namespace keepalive::daemon::helper {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRefused = 3;

inline constexpr const char* kAbsent = "absent";
inline constexpr const char* kUnchanged = "unchanged";
inline constexpr const char* kUpdated = "updated";
inline constexpr const char* kRemoved = "removed";

}  // namespace keepalive::daemon::helper
