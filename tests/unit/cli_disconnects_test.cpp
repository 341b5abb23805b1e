// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl disconnects' pure parts: --since as a duration or a date, and the JSON time.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include "verbs.h"

using keepalive::cli::isoUtc;
using keepalive::cli::parseSince;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kNow = 1796639472ULL * kSec;  // 2026-12-07T10:31:12Z

}  // namespace

TEST_CASE("cli disconnects: --since takes a duration back from now") {
  std::string why;
  CHECK(parseSince("1h", kNow, &why) == kNow - 3600 * kSec);
  CHECK(parseSince("30m", kNow, &why) == kNow - 1800 * kSec);
  CHECK(parseSince("7d", kNow, &why) == kNow - std::uint64_t{7} * 86400 * kSec);
  CHECK(parseSince("1h30m", kNow, &why) == kNow - 5400 * kSec);
  CHECK(parseSince("90", kNow, &why) == kNow - 90 * kSec);
  CHECK_FALSE(parseSince("", kNow, &why));
  CHECK_FALSE(parseSince("yesterday", kNow, &why));
  CHECK_THAT(why, Catch::Contains("a duration such as 1h"));
  CHECK_FALSE(parseSince("8d", kNow, &why));  // past the 7 days the store keeps
}

TEST_CASE("cli disconnects: --since takes a date, local unless Z or an offset") {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  std::string why;
  CHECK(parseSince("2026-12-07", kNow, &why) == 1796601600ULL * kSec);
  CHECK(parseSince("2026-12-07 10:11:12", kNow, &why) == 1796638272ULL * kSec);
  CHECK(parseSince("2026-12-07T10:11:12", kNow, &why) == 1796638272ULL * kSec);
  CHECK(parseSince("2026-12-07T10:11:12Z", kNow, &why) == 1796638272ULL * kSec);
  CHECK(parseSince("2026-12-07T11:11:12+01:00", kNow, &why) == 1796638272ULL * kSec);
  CHECK(parseSince("2026-12-07 10:11", kNow, &why) == 1796638260ULL * kSec);
  ::setenv("TZ", "Europe/Berlin", 1);  // UTC+1 in December
  ::tzset();
  CHECK(parseSince("2026-12-07 11:11:12", kNow, &why) == 1796638272ULL * kSec);
  CHECK(parseSince("2026-12-07T10:11:12Z", kNow, &why) == 1796638272ULL * kSec);
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  for (const char* bad : {"2026-13-01", "2026-02-30", "2026-12-07 25:00:00", "2026-12-07x10:11:12",
                          "2026-12-07T10:11:12+1", "12/07/2026", "2026-12-7"}) {
    INFO(bad);
    CHECK_FALSE(parseSince(bad, kNow, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("cli disconnects: --json's time is ISO 8601 UTC to the second") {
  CHECK(isoUtc(1796638272ULL * kSec + 999999) == "2026-12-07T10:11:12Z");
  CHECK(isoUtc(0) == "1970-01-01T00:00:00Z");
}
