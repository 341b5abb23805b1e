// SPDX-License-Identifier: GPL-2.0-or-later
// Per-user rate limit of what a user's actions make the daemon say (journal entries, log lines,
// D-Bus signals): a token bucket per key, and a count of what was held back, so that one user
// changing their file in a loop cannot flood the journal or the bus for everyone else. It never
// decides whether a repair happens: only whether it is announced. Pure: the caller passes the
// time (CLOCK_MONOTONIC, microseconds) and arms its own timer for the summaries.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace keepalive::daemon {

class RateLimiter {
 public:
  // burst events at once per key, refilled at burst per period (10 per 10 s: one a second).
  RateLimiter(std::uint32_t burst, std::int64_t periodUsec);

  // True: announce this event of key. False: hold it back and count it under kind ("repair").
  bool allow(const std::string& key, const std::string& kind, std::int64_t nowUsec);

  // What was held back for one key in one window: the summary line says it.
  struct Summary {
    std::string key;
    std::map<std::string, std::uint64_t> counts;  // kind -> events held back
    std::int64_t windowUsec = 0;                  // how long the window lasted
  };
  // The summaries of the windows that have ended by now (a window starts at a key's first
  // held-back event and lasts one period), oldest first.
  std::vector<Summary> due(std::int64_t nowUsec);
  // When the next window ends; nullopt when nothing is held back.
  std::optional<std::int64_t> nextDueUsec() const;

  std::int64_t periodUsec() const { return periodUsec_; }
  std::size_t tracked() const { return keys_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t refilledUsec = 0;
    std::int64_t windowStartUsec = -1;  // -1: nothing held back
    // Only while something is held back: a storm tracks 100k keys for a while, and an empty
    // std::map is 48 bytes of each.
    std::unique_ptr<std::map<std::string, std::uint64_t>> held;
  };
  void refill(Bucket& b, std::int64_t nowUsec) const;
  void forgetIdle(std::int64_t nowUsec);

  std::uint32_t burst_;
  std::int64_t periodUsec_;
  std::unordered_map<std::string, Bucket> keys_;
  std::size_t sweepAt_;  // forgetIdle() when a new key makes this many
};

// "12 more repairs and 1 more refusal of alice suppressed in the last 10 s"
std::string describeSuppressed(const RateLimiter::Summary& s);

}  // namespace keepalive::daemon
