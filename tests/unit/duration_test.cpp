// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "keepalive/policy/duration.h"

using namespace keepalive::policy;

TEST_CASE("durations accept seconds and s/m/h/d units, largest first") {
  CHECK(parseDuration("0").value == 0);
  CHECK(parseDuration("90").value == 90);
  CHECK(parseDuration("30s").value == 30);
  CHECK(parseDuration("5m").value == 300);
  CHECK(parseDuration("1h").value == 3600);
  CHECK(parseDuration("1h30m").value == 5400);
  CHECK(parseDuration("2d").value == 172800);
  CHECK(parseDuration("7d").value == kMaxDurationSeconds);
}

TEST_CASE("durations reject what could be misread") {
  for (const char* bad : {"", "-5", "+5", "0x10", "010", "1.5", "1e3", "5 m", "5M", "m", "5x",
                          "1:30", "30m1h", "1m1m", "8d", "99999999999999999999", "1h0x5m"}) {
    INFO(bad);
    auto r = parseDuration(bad);
    CHECK_FALSE(r.value.has_value());
    CHECK_FALSE(r.error.empty());
  }
  CHECK_THAT(parseDuration("1:30").error, Catch::Contains("sexagesimal"));
  CHECK_THAT(parseDuration("010").error, Catch::Contains("octal"));
  CHECK_THAT(parseDuration("0x10").error, Catch::Contains("hexadecimal"));
  CHECK_THAT(parseDuration("-5").error, Catch::Contains("negative"));
  CHECK_THAT(parseDuration("8d").error, Catch::Contains("7d"));
}

TEST_CASE("whole numbers are plain decimal and bounded") {
  CHECK(parseWholeNumber("0", 10).value == 0);
  CHECK(parseWholeNumber("10", 10).value == 10);
  CHECK_THAT(parseWholeNumber("11", 10).error, Catch::Contains("too large"));
  CHECK_THAT(parseWholeNumber("100000000000000000000000", 10).error, Catch::Contains("too large"));
  CHECK_THAT(parseWholeNumber("0o17", 100).error, Catch::Contains("octal"));
  CHECK_THAT(parseWholeNumber("1.0", 100).error, Catch::Contains("whole"));
  CHECK_THAT(parseWholeNumber("abc", 100).error, Catch::Contains("not a number"));
}

TEST_CASE("formatDuration writes the shortest exact form") {
  CHECK(formatDuration(0) == "0s");
  CHECK(formatDuration(59) == "59s");
  CHECK(formatDuration(600) == "10m");
  CHECK(formatDuration(5400) == "1h30m");
  CHECK(formatDuration(90061) == "1d1h1m1s");
  for (std::int64_t s : {1, 61, 3599, 3600, 86399, 604800})
    CHECK(parseDuration(formatDuration(s)).value == s);
}
