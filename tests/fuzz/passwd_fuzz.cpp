// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for parsePasswd (daemon/core/users.cpp): /etc/passwd (or a test root's), which
// decides whose home the daemon watches and whose files it may narrow. A user can put almost any
// bytes into their own GECOS field (chfn), and NIS/LDAP-fed files are not ours to trust.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - one entry per well-formed line (exactly 7 ':'-separated fields, a name not starting with
//    '#', '+' or '-', decimal uid and gid below 2^32), in order, and none for any other line:
//    a GECOS field with a newline or a colon cannot forge a second user or shift the fields;
//  - name, uid, gid and home are that line's fields 1, 3, 4 and 6 exactly;
//  - no name or home holds ':' or a newline;
//  - isCovered never covers uid 65534 (nobody), uid (uid_t)-1, nor a home that is not absolute
//    or is "/", nor a uid below min_uid, nor an excluded name; off covers no one;
//  - parsing a concatenation of two files gives the users of both, in order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/users.h"
#include "fuzz_check.h"

namespace {

constexpr const char* kFuzzTarget = "passwd_fuzz";
namespace kd = keepalive::daemon;
namespace kp = keepalive::policy;

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> f;
  for (;;) {
    const auto c = line.find(':');
    f.push_back(line.substr(0, c));
    if (c == std::string_view::npos)
      return f;
    line.remove_prefix(c + 1);
  }
}

// Reference for an id: decimal digits only, at most 10 of them, below 2^32.
bool decimalId(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 10)
    return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return out <= 0xffffffffu;
}

kp::Resolved users(kp::UserAction action, std::int64_t minUid, std::vector<std::string> exclude) {
  kp::Resolved r;
  r.users_action.value = action;
  r.users_min_uid.value = minUid;
  for (auto& g : exclude)
    r.users_exclude.push_back({std::move(g), {}, false, {}});
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(keepalive::fuzz::asText(data, size));
  const auto entries = kd::parsePasswd(text);

  std::size_t next = 0;
  keepalive::fuzz::forEachLine(text, [&](std::string_view line) {
    const auto f = fields(line);
    std::uint64_t uid = 0, gid = 0;
    const bool wellFormed = f.size() == 7 && !f[0].empty() && f[0][0] != '#' && f[0][0] != '+' &&
                            f[0][0] != '-' && decimalId(f[2], uid) && decimalId(f[3], gid);
    if (!wellFormed)
      return;
    FUZZ_CHECK(next < entries.size(), line);
    const kd::UserEntry& u = entries[next++];
    FUZZ_CHECK(u.name == f[0] && u.home == f[5], line);
    FUZZ_CHECK(u.uid == uid && u.gid == gid, line);
  });
  FUZZ_CHECK(next == entries.size(), "an entry for a malformed line");

  static const kp::Resolved kEnforce = users(kp::UserAction::kEnforce, 1000, {"svc-*", "root"});
  static const kp::Resolved kAll = users(kp::UserAction::kReport, 0, {});
  static const kp::Resolved kOff = users(kp::UserAction::kOff, 0, {});
  for (const auto& u : entries) {
    for (char c : u.name + u.home)
      FUZZ_CHECK(c != ':' && c != '\n', u.name + ":" + u.home);
    FUZZ_CHECK(!kd::isCovered(u, kOff), u.name);
    for (const auto* r : {&kEnforce, &kAll}) {
      if (!kd::isCovered(u, *r))
        continue;
      FUZZ_CHECK(u.uid != 65534 && u.uid != static_cast<uid_t>(-1), u.name);
      FUZZ_CHECK(u.home.size() >= 2 && u.home[0] == '/', u.home);
      FUZZ_CHECK(static_cast<std::int64_t>(u.uid) >= r->users_min_uid.value, u.name);
      if (r == &kEnforce)
        FUZZ_CHECK(u.name != "root" && !u.name.starts_with("svc-"), u.name);
    }
  }

  const auto mid = text.find('\n', text.size() / 2);
  if (mid != std::string::npos) {
    auto joined = kd::parsePasswd(text.substr(0, mid));
    const auto tail = kd::parsePasswd(text.substr(mid + 1));
    joined.insert(joined.end(), tail.begin(), tail.end());
    FUZZ_CHECK(joined == entries, "a split at a line break changed the users");
  }
  return 0;
}
