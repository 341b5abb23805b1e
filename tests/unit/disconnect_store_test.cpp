// SPDX-License-Identifier: GPL-2.0-or-later
// The disconnect store (core/disconnect_store.h): its bounds, the 24 h counts and their expiry,
// the totals that never go down, the queries and the file format. The journal follower that
// feeds it is exercised in the real journal by tests/system/disconnects_test.sh.
#include "core/disconnect_store.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using keepalive::daemon::DisconnectCause;
using keepalive::daemon::DisconnectCount;
using keepalive::daemon::DisconnectEvent;
using keepalive::daemon::DisconnectQuery;
using keepalive::daemon::DisconnectStore;
using keepalive::daemon::OpenSession;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kHour = 3600 * kSec;
constexpr std::uint64_t kNow = 1796000000 * kSec;  // 2026-12-01

DisconnectEvent ev(std::uint64_t t, DisconnectCause c, std::string network = "default",
                   std::string user = "kpo", std::string address = "10.20.3.4") {
  DisconnectEvent e;
  e.time_usec = t;
  e.user = std::move(user);
  e.address = std::move(address);
  e.port = 50022;
  e.network = std::move(network);
  e.cause = c;
  e.duration_seconds = 61;
  return e;
}

std::uint64_t countOf(const std::vector<DisconnectCount>& rows, DisconnectCause c,
                      const std::string& network) {
  for (const auto& r : rows)
    if (r.cause == c && r.network == network)
      return r.count;
  return 0;
}

}  // namespace

TEST_CASE("disconnect store: counts over 24 h per cause and network, zero rows left out") {
  DisconnectStore s;
  s.add(ev(kNow - 25 * kHour, DisconnectCause::kKeepaliveTimeout, "branch"));
  s.add(ev(kNow - 2 * kHour, DisconnectCause::kKeepaliveTimeout, "branch"));
  s.add(ev(kNow - 1 * kHour, DisconnectCause::kKeepaliveTimeout, "branch"));
  s.add(ev(kNow - 1 * kHour, DisconnectCause::kLogout));
  s.add(ev(kNow - 10 * kSec, DisconnectCause::kReset));
  const auto c = s.counts(kNow);
  CHECK(c.size() == 3);
  CHECK(countOf(c, DisconnectCause::kKeepaliveTimeout, "branch") == 2);
  CHECK(countOf(c, DisconnectCause::kLogout, "default") == 1);
  CHECK(countOf(c, DisconnectCause::kReset, "default") == 1);
  // Totals hold everything since accounting began, the one older than 24 h too.
  CHECK(countOf(s.totals(), DisconnectCause::kKeepaliveTimeout, "branch") == 3);
  // The counts change by age when the oldest event inside the window turns 24 h old.
  const auto next = s.nextCountExpiry(kNow);
  REQUIRE(next);
  CHECK(*next == kNow - 2 * kHour + 24 * kHour + 1);
  CHECK(countOf(s.counts(*next), DisconnectCause::kKeepaliveTimeout, "branch") == 1);
  CHECK(countOf(s.counts(*next - 1), DisconnectCause::kKeepaliveTimeout, "branch") == 2);
  CHECK_FALSE(s.nextCountExpiry(kNow + 48 * kHour));
  CHECK(s.counts(kNow + 48 * kHour).empty());
  // The last of a cause.
  auto last = s.last(DisconnectCause::kKeepaliveTimeout);
  REQUIRE(last);
  CHECK(last->time_usec == kNow - kHour);
  CHECK_FALSE(s.last(DisconnectCause::kClosed));
}

TEST_CASE("disconnect store: coveredSince is 24 h back, or when accounting began if later") {
  DisconnectStore s;
  s.setSince(kNow - 3 * kHour);
  CHECK(s.coveredSince(kNow) == kNow - 3 * kHour);
  CHECK(s.coveredSince(kNow + 30 * kHour) == kNow + 6 * kHour);
}

TEST_CASE("disconnect store: bounded by age and by count; the oldest go, the totals stay") {
  DisconnectStore s(3, std::uint64_t{7} * 24 * kHour);
  for (int i = 0; i < 5; ++i)
    s.add(ev(kNow + static_cast<std::uint64_t>(i) * kSec, DisconnectCause::kLogout));
  CHECK(s.size() == 3);
  CHECK(s.evicted() == 2);
  CHECK(s.query({}).back().time_usec == kNow + 2 * kSec);
  // One older than all that is kept, with no room: not kept, still counted.
  s.add(ev(kNow - kSec, DisconnectCause::kLogout));
  CHECK(s.size() == 3);
  CHECK(countOf(s.totals(), DisconnectCause::kLogout, "default") == 6);
  // An event out of order goes where it belongs.
  s.add(ev(kNow + 3 * kSec + 1, DisconnectCause::kReset));
  const auto all = s.query({});
  REQUIRE(all.size() == 3);
  CHECK(all[0].time_usec == kNow + 4 * kSec);
  CHECK(all[1].cause == DisconnectCause::kReset);

  DisconnectStore aged;
  aged.add(ev(kNow - std::uint64_t{8} * 24 * kHour, DisconnectCause::kReset));
  aged.add(ev(kNow - std::uint64_t{6} * 24 * kHour, DisconnectCause::kReset));
  aged.expire(kNow);
  CHECK(aged.size() == 1);
  CHECK(countOf(aged.totals(), DisconnectCause::kReset, "default") == 2);
}

TEST_CASE("disconnect store: queries filter and list newest first") {
  DisconnectStore s;
  s.add(ev(kNow - 3 * kHour, DisconnectCause::kKeepaliveTimeout, "branch", "kpo"));
  s.add(ev(kNow - 2 * kHour, DisconnectCause::kLogout, "default", "ann"));
  s.add(ev(kNow - 1 * kHour, DisconnectCause::kKeepaliveTimeout, "default", "ann"));
  s.add(ev(kNow, DisconnectCause::kKeepaliveTimeout, "branch", "ann"));
  CHECK(s.query({}).size() == 4);
  CHECK(s.query({}).front().time_usec == kNow);
  DisconnectQuery q;
  q.cause = DisconnectCause::kKeepaliveTimeout;
  CHECK(s.query(q).size() == 3);
  q.network = "branch";
  CHECK(s.query(q).size() == 2);
  q.user = "kpo";
  REQUIRE(s.query(q).size() == 1);
  CHECK(s.query(q)[0].time_usec == kNow - 3 * kHour);
  DisconnectQuery since;
  since.since_usec = kNow - 2 * kHour;
  CHECK(s.query(since).size() == 3);
  since.limit = 1;
  REQUIRE(s.query(since).size() == 1);
  CHECK(s.query(since)[0].time_usec == kNow);
  DisconnectQuery nobody;
  nobody.user = "nobody";
  CHECK(s.query(nobody).empty());
}

TEST_CASE("disconnect store: the file round-trips; totals survive and are not counted twice") {
  DisconnectStore s;
  s.setSince(kNow - std::uint64_t{7} * 24 * kHour);
  s.setCursor("s=abc;i=42;b=def;m=1;t=2;x=3");
  s.add(ev(kNow - kHour, DisconnectCause::kKeepaliveTimeout, "branch"));
  s.add(ev(kNow, DisconnectCause::kLogout, "default", "o\"dd\nuser\\"));
  s.add(ev(kNow + 1, DisconnectCause::kLogout, "caf\xc3\xa9", "\xe2\x9c\x93"));
  OpenSession o;
  o.boot_id = "0123456789abcdef";
  o.pid = 4242;
  o.user = "kpo";
  o.address = "2001:db8::1";
  o.port = 22;
  o.start_usec = kNow - 5 * kSec;
  o.cause = DisconnectCause::kReset;
  OpenSession plain = o;
  plain.pid = 4243;
  plain.cause.reset();
  s.setOpenSessions({o, plain});
  const std::string text = s.serialise();

  DisconnectStore back;
  std::string why;
  REQUIRE(back.parse(text, &why));
  CHECK(back.cursor() == s.cursor());
  CHECK(back.since() == s.since());
  CHECK(back.query({}) == s.query({}));
  CHECK(back.totals() == s.totals());
  CHECK(back.openSessions() == s.openSessions());
  // Bytes that are not UTF-8 (a journal field may hold any) are saved escaped, never refused.
  DisconnectStore odd;
  odd.add(ev(kNow, DisconnectCause::kReset, "default", "bad\xff"));
  OpenSession os = o;
  os.user = "bad\xfe";
  odd.setOpenSessions({os});
  DisconnectStore oddBack;
  REQUIRE(oddBack.parse(odd.serialise(), &why));
  REQUIRE(oddBack.size() == 1);
  CHECK(oddBack.query({})[0].user == "bad\\xff");
  CHECK(oddBack.openSessions().size() == 1);
  CHECK(back.counts(kNow) == s.counts(kNow));
  // Monotonic across restarts: a new event adds to what was restored.
  back.add(ev(kNow + kSec, DisconnectCause::kKeepaliveTimeout, "branch"));
  CHECK(countOf(back.totals(), DisconnectCause::kKeepaliveTimeout, "branch") == 2);
  // Totals outlive the events they counted (aged out before the restart).
  DisconnectStore aged;
  aged.add(ev(kNow - std::uint64_t{8} * 24 * kHour, DisconnectCause::kClosed));
  aged.expire(kNow);
  DisconnectStore agedBack;
  REQUIRE(agedBack.parse(aged.serialise(), &why));
  CHECK(agedBack.size() == 0);
  CHECK(countOf(agedBack.totals(), DisconnectCause::kClosed, "default") == 1);
}

TEST_CASE("disconnect store: a corrupt file is an error and leaves the store as it was") {
  DisconnectStore s;
  s.add(ev(kNow, DisconnectCause::kLogout));
  const std::string good = s.serialise();
  auto refuses = [&](const std::string& text) {
    DisconnectStore t;
    t.add(ev(kNow, DisconnectCause::kReset));
    std::string why;
    const bool ok = t.parse(text, &why);
    INFO(text << " -> " << why);
    CHECK_FALSE(ok);
    CHECK_FALSE(why.empty());
    CHECK(t.size() == 1);
    CHECK(t.query({})[0].cause == DisconnectCause::kReset);
  };
  refuses("");
  refuses("{");
  refuses("[]");
  refuses(good.substr(0, good.size() / 2));
  auto doc = nlohmann::json::parse(good);
  auto edited = [&](auto change) {
    auto d = doc;
    change(d);
    return d.dump();
  };
  refuses(edited([](auto& d) { d["version"] = 2; }));
  refuses(edited([](auto& d) { d.erase("totals"); }));
  refuses(edited([](auto& d) { d["events"][0][5] = "exploded"; }));
  refuses(edited([](auto& d) { d["events"][0][3] = 70000; }));
  refuses(edited([](auto& d) { d["events"][0][0] = "yesterday"; }));
  refuses(edited([](auto& d) { d["events"][0].erase(6); }));
  refuses(edited([](auto& d) { d["events"][0] = nlohmann::json::object(); }));
  refuses(edited([](auto& d) { d["since"] = -1; }));
}
