// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for SessionTracker (daemon/core/disconnects.cpp), which reads sshd's journal
// lines: text a remote client partly chooses (the user name it sends, its version banner, ...).
// Each input line is one journal entry: its first byte picks the entry's pid (8 pids, so
// sessions interleave and pids are reused) and boot (bit 7: one of two boots), the rest is the
// MESSAGE. The tracker's cap is 4, so eviction is reached.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - openCount() <= the cap, and openSessions() lists openCount() sessions;
//  - an event names a user and an address that some "Accepted" line of the input held, a
//    duration of -1 or more, and a cause among kAllDisconnectCauses;
//  - a line that ends in " [preauth]" neither ends nor starts a session (a line of a new boot
//    drops the earlier boot's sessions, whatever it says);
//  - restore(openSessions()) gives the same open sessions.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/disconnects.h"
#include "fuzz_check.h"

namespace {

constexpr const char* kFuzzTarget = "disconnects_fuzz";
namespace kd = keepalive::daemon;
constexpr std::size_t kCap = 4;

bool endsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = keepalive::fuzz::asText(data, size);
  kd::SessionTracker t(kCap);
  std::uint64_t clock = 1000000;
  keepalive::fuzz::forEachLine(text, [&](std::string_view line) {
    if (line.empty())
      return;
    const auto sel = static_cast<unsigned char>(line[0]);
    kd::SshdLogEntry e;
    e.realtime_usec = clock;
    clock += 1000000 + (sel & 0x30) * 100000ULL;
    e.boot_id =
        (sel & 0x80) != 0 ? "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" : "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    e.pid = 100 + (sel & 7);
    e.identifier = (sel & 0x40) != 0 ? "sshd-session" : "sshd";
    e.message = line.substr(1);
    // pid 107 is another user's process (logger -t sshd): it never opens a session, and ends
    // only one of its own user's.
    const bool foreign = e.pid == 107;
    e.from_root = !foreign;
    if (foreign)
      e.sender_user = std::string_view("mallory");
    const std::size_t before = t.openCount();
    const auto ev = t.feed(e);
    if (foreign) {
      FUZZ_CHECK(t.openCount() <= before, line);
      FUZZ_CHECK(!ev || ev->user == "mallory", line);
    }
    const bool preauth = endsWith(e.message, " [preauth]");
    if (preauth) {
      FUZZ_CHECK(!ev, line);
      FUZZ_CHECK(t.openCount() <= before, line);  // a new boot drops the earlier boot's
    }
    FUZZ_CHECK(t.openCount() <= kCap, line);
    if (ev) {
      FUZZ_CHECK(!ev->user.empty(), line);
      FUZZ_CHECK(!ev->address.empty(), line);
      FUZZ_CHECK(text.find("for " + ev->user + " from " + ev->address + " port ") !=
                     std::string_view::npos,
                 line);
      FUZZ_CHECK(ev->duration_seconds >= -1, line);
      FUZZ_CHECK(std::find(std::begin(kd::kAllDisconnectCauses), std::end(kd::kAllDisconnectCauses),
                           ev->cause) != std::end(kd::kAllDisconnectCauses),
                 line);
      FUZZ_CHECK(ev->time_usec == e.realtime_usec, line);
    }
  });
  const auto open = t.openSessions();
  FUZZ_CHECK(open.size() == t.openCount(), "openSessions() and openCount() disagree");
  kd::SessionTracker r(kCap);
  r.restore(open);
  FUZZ_CHECK(r.openSessions() == open, "restore(openSessions()) changed the sessions");
  FUZZ_CHECK(r.evictions() == 0, "restore of at most the cap evicted");
  return 0;
}
