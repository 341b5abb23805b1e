// SPDX-License-Identifier: GPL-2.0-or-later
// Users' ~/.ssh/config: who is covered, and what to do about a file as observed. Pure: the
// adapter observes through fds (fstat) and applies the plan through the same fds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

// A covered user's compliance: what is true of their files now. Beside it, as separate text for
// people (UserRecord's detail and action, ListUsers' fields of their own), what is wrong now and
// what was done or would be done; nothing decides anything by reading those, or the state's word.
enum class UserState : std::uint8_t {
  kOk,
  kRepaired,      // compliant since we repaired it
  kNonCompliant,  // report mode: would repair; or root's object that ssh would reject
  kRefused,       // not ours to touch
  kError,         // a check or repair failed; retried with backoff
  kUnresponsive,  // the home did not answer within the deadline; retried with backoff
};
const char* toString(UserState s);  // ok | repaired | non-compliant | refused | error | ...
std::optional<UserState> userStateFromString(std::string_view s);
inline constexpr UserState kAllUserStates[] = {UserState::kOk,           UserState::kRepaired,
                                               UserState::kNonCompliant, UserState::kRefused,
                                               UserState::kError,        UserState::kUnresponsive};
// The file is as the policy wants it (ok, repaired). UsersNonCompliant counts the others.
inline bool isCompliant(UserState s) {
  return s == UserState::kOk || s == UserState::kRepaired;
}
// For the journal's lines: "STATE" or "STATE: DETAIL" (never parsed back).
std::string userStateText(UserState s, const std::string& detail);

// passwd(5) lines; malformed lines are skipped (NSS does the same).
std::vector<UserEntry> parsePasswd(const std::string& text);
// The same, appended to out: text is whole lines (a last line without '\n' counts as one).
void parsePasswdInto(std::string_view text, std::vector<UserEntry>& out);

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

// Why a user's object is not ours to touch. The plan's `refusal` is the sentence for people;
// code decides by this.
enum class Refusal : std::uint8_t {
  kNone,
  kNotDirectory,  // ~/.ssh is not a directory
  kSymlink,
  kDirectory,  // ~/.ssh/config is a directory
  kFifo,
  kSocket,
  kSpecial,       // a device or other special file
  kHardLinks,     // more than one link: may be another user's file
  kForeignOwner,  // neither the user's nor root's
};
const char* toString(Refusal r);  // none | not-directory | symlink | ... | foreign-owner

// The daemon never changes an owner and never widens a mode: the only repair is taking mode bits
// away from the user's own object, so no moment grants anyone more than before.
struct RepairPlan {
  Refusal refused = Refusal::kNone;  // not kNone: not the user's plain object; touch nothing
  std::string refusal;               // non-empty exactly when refused: the reason, for people
  // Non-empty: root's object that ssh would reject; touch nothing. What is true of it:
  // "~/.ssh/config is owned by root and group-writable (0664)".
  std::string leftAlone;
  std::optional<mode_t> mode;  // the user's own object: narrow to this (a subset of `from`)
  mode_t from = 0;             // the mode observed
  std::string excess;          // with mode: the bits too many, in words ("group-writable")
  std::string what;            // "~/.ssh" or "~/.ssh/config"
  bool nothingToDo() const { return refused == Refusal::kNone && leftAlone.empty() && !mode; }
  // What is true now, for people: "~/.ssh/config is group-writable, world-readable (0664)", the
  // refusal, leftAlone; "" when there is nothing to do.
  std::string finding() const;
  // What was done (done) or what enforce would do: "~/.ssh/config: mode set to 0600",
  // "~/.ssh/config: enforce would set mode 0600"; root's: "~/.ssh/config: left alone (owned by
  // root: never changed)"; "" when refused or when there is nothing to do.
  std::string action(bool done) const;
};

// ~/.ssh/config: a regular file with one link, owned by the user (narrowed to at most `want`)
// or by root (never changed; compliant unless group- or world-writable, as ssh judges it).
RepairPlan planConfig(const Observed& o, const UserEntry& u, mode_t want);
// ~/.ssh: a directory owned by the user (narrowed to at most `want`) or by root (never changed).
RepairPlan planSshDir(const Observed& o, const UserEntry& u, mode_t want);

}  // namespace keepalive::daemon
