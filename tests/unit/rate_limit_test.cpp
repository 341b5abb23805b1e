// SPDX-License-Identifier: GPL-2.0-or-later
// The per-user rate limit of announcements: a token bucket per user and the summary of what it
// held back.
#include <catch2/catch.hpp>

#include "core/rate_limit.h"

using keepalive::daemon::describeSuppressed;
using keepalive::daemon::RateLimiter;

namespace {
constexpr std::int64_t kSec = 1000000;
}

TEST_CASE("rate limit: a burst passes, the excess is held back and summed up per window") {
  RateLimiter l(10, 10 * kSec);
  for (int i = 0; i < 10; ++i)
    CHECK(l.allow("alice", "repair", 0));
  CHECK_FALSE(l.allow("alice", "repair", 0));
  CHECK_FALSE(l.allow("alice", "refusal", 1000));
  // Another user has a bucket of their own.
  CHECK(l.allow("bob", "repair", 1000));
  CHECK(l.nextDueUsec() == 10 * kSec);
  CHECK(l.due(9 * kSec).empty());
  // One token a second comes back meanwhile.
  CHECK(l.allow("alice", "repair", 2 * kSec));
  CHECK(l.allow("alice", "repair", 2 * kSec));
  CHECK_FALSE(l.allow("alice", "repair", 2 * kSec));
  auto d = l.due(10 * kSec);
  REQUIRE(d.size() == 1);
  CHECK(d[0].key == "alice");
  CHECK(d[0].counts.at("repair") == 2);
  CHECK(d[0].counts.at("refusal") == 1);
  CHECK(describeSuppressed(d[0]) ==
        "1 more refusal and 2 more repairs of alice suppressed in the last 10 s");
  CHECK_FALSE(l.nextDueUsec());
  CHECK(l.due(20 * kSec).empty());  // a window is summed up once
}

TEST_CASE("rate limit: a steady loop gets one announcement a second, never more") {
  RateLimiter l(10, 10 * kSec);
  int allowed = 0;
  // 1000 events a second for 60 s.
  for (std::int64_t t = 0; t < 60 * kSec; t += 1000)
    allowed += l.allow("alice", "repair", t);
  CHECK(allowed >= 60 + 10 - 1);
  CHECK(allowed <= 60 + 10 + 1);
}

TEST_CASE("rate limit: many users are tracked, idle ones forgotten") {
  RateLimiter l(10, 10 * kSec);
  for (int i = 0; i < 10000; ++i)
    CHECK(l.allow("user" + std::to_string(i), "repair", i * kSec));
  CHECK(l.tracked() <= 4097);
}
