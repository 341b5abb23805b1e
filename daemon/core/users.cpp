// SPDX-License-Identifier: GPL-2.0-or-later
#include "users.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

namespace keepalive::daemon {
namespace {

bool parseId(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10)
    return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 0xffffffffu)
    return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// The bits of cur the policy's want lacks, in words, the most serious first for each class:
// "group-writable, world-readable", "group- and world-writable", "executable", "setuid".
std::string excess(mode_t cur, mode_t want, bool dir) {
  const mode_t extra = cur & ~want & 07777;
  const char* x = dir ? "searchable" : "executable";
  auto word = [&](mode_t r, mode_t w, mode_t e) -> const char* {
    return (extra & w) ? "writable" : (extra & r) ? "readable" : (extra & e) ? x : nullptr;
  };
  std::vector<std::string> parts;
  const char* g = word(S_IRGRP, S_IWGRP, S_IXGRP);
  const char* o = word(S_IROTH, S_IWOTH, S_IXOTH);
  if (g && o && std::string_view(g) == o) {
    parts.push_back(std::string("group- and world-") + g);
  } else {
    if (g)
      parts.push_back(std::string("group-") + g);
    if (o)
      parts.push_back(std::string("world-") + o);
  }
  if (extra & S_IRWXU)
    parts.push_back(std::string("more open to its owner than ") + octal(want));
  if (extra & S_ISUID)
    parts.push_back("setuid");
  if (extra & S_ISGID)
    parts.push_back("setgid");
  if (extra & S_ISVTX)
    parts.push_back("sticky");
  std::string out;
  for (const auto& w : parts)
    out += (out.empty() ? "" : ", ") + w;
  return out;
}

RepairPlan plan(const Observed& o, const UserEntry& u, mode_t want, bool dir) {
  RepairPlan p;
  const char* what = dir ? "~/.ssh" : "~/.ssh/config";
  p.what = what;
  if (!o.exists)
    return p;
  if (dir && o.type != S_IFDIR) {
    p.refused = Refusal::kNotDirectory;
    p.refusal = std::string(what) + " is not a directory";
    return p;
  }
  if (!dir && o.type != S_IFREG) {
    p.refused = o.type == S_IFLNK    ? Refusal::kSymlink
                : o.type == S_IFDIR  ? Refusal::kDirectory
                : o.type == S_IFIFO  ? Refusal::kFifo
                : o.type == S_IFSOCK ? Refusal::kSocket
                                     : Refusal::kSpecial;
    p.refusal = std::string(what) + (o.type == S_IFLNK    ? " is a symlink"
                                     : o.type == S_IFDIR  ? " is a directory"
                                     : o.type == S_IFIFO  ? " is a FIFO"
                                     : o.type == S_IFSOCK ? " is a socket"
                                                          : " is a device or special file");
    return p;
  }
  if (!dir && o.nlink != 1) {
    // A hard link may be another user's file (or /etc/shadow): changing it would change that.
    p.refused = Refusal::kHardLinks;
    p.refusal = std::string(what) + " has " + std::to_string(o.nlink) + " hard links";
    return p;
  }
  if (o.uid != u.uid && o.uid != 0) {
    p.refused = Refusal::kForeignOwner;
    p.refusal =
        std::string(what) + " belongs to uid " + std::to_string(o.uid) + ", not to " + u.name;
    return p;
  }
  const mode_t cur = o.perm & 07777;
  if (o.uid == 0) {
    // ssh accepts root's file as it accepts the user's: nothing to hand over. Root's file may be
    // anything (a user can rename one of root's into place), so it is never changed, only judged
    // as ssh judges it.
    if (cur & (S_IWGRP | S_IWOTH))
      p.leftAlone = std::string(what) + " is owned by root and " +
                    ((cur & S_IWOTH) ? "world-writable" : "group-writable") + " (" + octal(cur) +
                    ")";
    return p;
  }
  // Only ever take bits away: a mode tighter than the policy's (0400) is the user's choice.
  p.from = cur;
  if ((cur & ~want) != 0) {
    p.mode = cur & want;
    p.excess = excess(cur, want, dir);
  }
  return p;
}

}  // namespace

const char* toString(UserState s) {
  switch (s) {
    case UserState::kOk:
      return "ok";
    case UserState::kRepaired:
      return "repaired";
    case UserState::kNonCompliant:
      return "non-compliant";
    case UserState::kRefused:
      return "refused";
    case UserState::kError:
      return "error";
    case UserState::kUnresponsive:
      return "unresponsive";
  }
  return "?";
}

const char* toString(Refusal r) {
  switch (r) {
    case Refusal::kNone:
      return "none";
    case Refusal::kNotDirectory:
      return "not-directory";
    case Refusal::kSymlink:
      return "symlink";
    case Refusal::kDirectory:
      return "directory";
    case Refusal::kFifo:
      return "fifo";
    case Refusal::kSocket:
      return "socket";
    case Refusal::kSpecial:
      return "special";
    case Refusal::kHardLinks:
      return "hard-links";
    case Refusal::kForeignOwner:
      return "foreign-owner";
  }
  return "?";
}

std::optional<UserState> userStateFromString(std::string_view s) {
  for (UserState k : kAllUserStates)
    if (s == toString(k))
      return k;
  return std::nullopt;
}

std::string userStateText(UserState s, const std::string& detail) {
  return detail.empty() ? std::string(toString(s)) : std::string(toString(s)) + ": " + detail;
}

std::vector<UserEntry> parsePasswd(const std::string& text) {
  std::vector<UserEntry> out;
  // Sized once: growing by doubling held the old and the new array at once (14 MB at 100k).
  out.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  parsePasswdInto(text, out);
  return out;
}

void parsePasswdInto(std::string_view all, std::vector<UserEntry>& out) {
  // Views into the text, no string per field: 100k lines are read at every passwd change.
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t eol = all.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = all.size();
    const std::string_view line = all.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-')
      continue;  // comments and NIS compat entries
    std::array<std::string_view, 7> f;
    std::size_t n = 0, start = 0;
    for (;;) {
      const auto c = line.find(':', start);
      if (n < f.size())
        f[n] = line.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start);
      ++n;
      if (c == std::string_view::npos)
        break;
      start = c + 1;
    }
    if (n != 7 || f[0].empty())
      continue;
    std::uint32_t uid = 0, gid = 0;
    if (!parseId(f[2], uid) || !parseId(f[3], gid))
      continue;
    UserEntry& u = out.emplace_back();
    u.name = f[0];
    u.uid = uid;
    u.gid = gid;
    u.home = f[5];
  }
}

bool isCovered(const UserEntry& u, const policy::Resolved& r) {
  if (r.users_action.value == policy::UserAction::kOff)
    return false;
  if (u.uid < r.users_min_uid.value || u.uid == 65534 || u.uid == static_cast<uid_t>(-1))
    return false;
  if (u.home.size() < 2 || u.home[0] != '/')
    return false;
  for (const auto& g : r.users_exclude)
    if (fnmatch(g.value.c_str(), u.name.c_str(), 0) == 0)
      return false;
  return true;
}

RepairPlan planConfig(const Observed& o, const UserEntry& u, mode_t want) {
  return plan(o, u, want, false);
}

RepairPlan planSshDir(const Observed& o, const UserEntry& u, mode_t want) {
  return plan(o, u, want, true);
}

std::string RepairPlan::finding() const {
  if (refused != Refusal::kNone)
    return refusal;
  if (!leftAlone.empty())
    return leftAlone;
  if (!mode)
    return "";
  return what + " is " + excess + " (" + octal(from) + ")";
}

std::string RepairPlan::action(bool done) const {
  if (refused != Refusal::kNone)
    return "";
  if (!leftAlone.empty())
    return what + ": left alone (owned by root: never changed)";
  if (!mode)
    return "";
  return done ? what + ": mode set to " + octal(*mode)
              : what + ": enforce would set mode " + octal(*mode);
}

}  // namespace keepalive::daemon
