// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's times as systemctl words them: "since Mon 2026-12-07 10:11:12 UTC; 3min ago"
// (systemd's format_timestamp and format_timestamp_relative, src/basic/time-util.c), and the
// ISO 8601 and Unix seconds of --json.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#include "online.h"

using keepalive::cli::formatAgo;
using keepalive::cli::formatSince;
using keepalive::cli::jsonIso;
using keepalive::cli::jsonUnix;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kNow = 1796639472ULL * kSec;  // Mon 2026-12-07 10:31:12 UTC

std::string ago(std::uint64_t seconds) {
  return formatAgo(kNow - (seconds * kSec), kNow);
}

}  // namespace

TEST_CASE("cli time: relative times are worded as systemctl words them") {
  CHECK(formatAgo(kNow, kNow) == "now");
  CHECK(formatAgo(kNow - 500, kNow) == "500us ago");
  CHECK(formatAgo(kNow - 2500, kNow) == "2ms ago");
  CHECK(ago(1ULL) == "1s ago");
  CHECK(ago(59ULL) == "59s ago");
  CHECK(ago(60ULL) == "1min 0s ago");
  CHECK(ago(3ULL * 60ULL + 2ULL) == "3min 2s ago");
  CHECK(ago(5ULL * 60ULL + 2ULL) == "5min ago");  // from 5 minutes on, minutes only
  CHECK(ago(59ULL * 60ULL + 59ULL) == "59min ago");
  CHECK(ago(3600ULL + 3ULL * 60ULL + 9ULL) == "1h 3min ago");
  CHECK(ago(6ULL * 3600ULL + 59ULL * 60ULL) == "6h ago");  // from 6 hours on, hours only
  CHECK(ago(24ULL * 3600ULL) == "24h ago");
  CHECK(ago(25ULL * 3600ULL + 60ULL) == "1 day 1h ago");
  CHECK(ago(2ULL * 86400ULL + 3600ULL) == "2 days ago");
  CHECK(ago(7ULL * 86400ULL) == "1 week 0 days ago");
  CHECK(ago(15ULL * 86400ULL) == "2 weeks 1 day ago");
  CHECK(ago(2629800ULL + 86400ULL) == "1 month 1 day ago");  // systemd's month: 30.44 days
  CHECK(ago(31557600ULL + 2ULL * 2629800ULL) == "1 year 2 months ago");
  CHECK(ago(2ULL * 31557600ULL) == "2 years 0 months ago");
  // Never, or later than now (a clock stepped back): no relative part.
  CHECK(formatAgo(0, kNow) == "");
  CHECK(formatAgo(kNow + kSec, kNow) == "");
}

TEST_CASE("cli time: since is the local time with its zone, then how long ago") {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  CHECK(formatSince(kNow - 180ULL * kSec, kNow) ==
        "since Mon 2026-12-07 10:28:12 UTC; 3min 0s ago");
  CHECK(formatSince(kNow - 420ULL * kSec, kNow) == "since Mon 2026-12-07 10:24:12 UTC; 7min ago");
  CHECK(formatSince(kNow - 3780ULL * kSec, kNow) ==
        "since Mon 2026-12-07 09:28:12 UTC; 1h 3min ago");
  CHECK(formatSince(0, kNow) == "never");
  ::setenv("TZ", "Europe/Berlin", 1);
  ::tzset();
  CHECK(formatSince(kNow - 2ULL * 86400ULL * kSec, kNow) ==
        "since Sat 2026-12-05 11:31:12 CET; 2 days ago");
  if (old)
    ::setenv("TZ", saved.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
}

TEST_CASE("cli time: --json gives a time as ISO 8601 in UTC and as Unix seconds, null for none") {
  CHECK(jsonIso(kNow + 123456) == "2026-12-07T10:31:12Z");
  CHECK(jsonUnix(kNow + 123456) == 1796639472);
  CHECK(jsonIso(0).is_null());
  CHECK(jsonUnix(0).is_null());
}
