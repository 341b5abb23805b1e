// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/rate_limit.h"

#include <algorithm>

namespace keepalive::daemon {
namespace {

// Past this many keys, buckets that are full again and hold nothing back are dropped: a bucket
// left alone for a period is indistinguishable from a new one.
constexpr std::size_t kForgetAbove = 4096;

std::string plural(const std::string& kind, std::uint64_t n) {
  if (n == 1)
    return kind;
  if (kind.ends_with("y"))
    return kind.substr(0, kind.size() - 1) + "ies";
  return kind + "s";
}

}  // namespace

RateLimiter::RateLimiter(std::uint32_t burst, std::int64_t periodUsec)
    : burst_(std::max<std::uint32_t>(burst, 1)),
      periodUsec_(std::max<std::int64_t>(periodUsec, 1)),
      sweepAt_(kForgetAbove) {}

void RateLimiter::refill(Bucket& b, std::int64_t nowUsec) const {
  if (nowUsec > b.refilledUsec) {
    b.tokens = std::min<double>(burst_, b.tokens + static_cast<double>(nowUsec - b.refilledUsec) *
                                                       burst_ / static_cast<double>(periodUsec_));
    b.refilledUsec = nowUsec;
  }
}

void RateLimiter::forgetIdle(std::int64_t nowUsec) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    Bucket& b = it->second;
    if (b.windowStartUsec < 0)
      refill(b, nowUsec);
    it = b.windowStartUsec < 0 && b.tokens >= burst_ ? keys_.erase(it) : std::next(it);
  }
}

bool RateLimiter::allow(const std::string& key, const std::string& kind, std::int64_t nowUsec) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= sweepAt_) {
      // Amortised: the next sweep waits until the keys that survived this one have doubled.
      // A sweep on every new key past the bound was quadratic when all keys are busy (a storm
      // of 100k users' repairs within a second: 60% of the storm's CPU went here).
      forgetIdle(nowUsec);
      sweepAt_ = std::max(kForgetAbove, 2 * keys_.size());
    }
    it = keys_.emplace(key, Bucket{static_cast<double>(burst_), nowUsec, -1, {}}).first;
  }
  Bucket& b = it->second;
  refill(b, nowUsec);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  if (b.windowStartUsec < 0)
    b.windowStartUsec = nowUsec;
  if (!b.held)
    b.held = std::make_unique<std::map<std::string, std::uint64_t>>();
  ++(*b.held)[kind];
  return false;
}

std::vector<RateLimiter::Summary> RateLimiter::due(std::int64_t nowUsec) {
  std::vector<std::pair<std::int64_t, Summary>> out;
  for (auto& [key, b] : keys_) {
    if (b.windowStartUsec < 0 || nowUsec - b.windowStartUsec < periodUsec_)
      continue;
    out.push_back(
        {b.windowStartUsec,
         Summary{key, b.held ? std::move(*b.held) : std::map<std::string, std::uint64_t>{},
                 nowUsec - b.windowStartUsec}});
    b.held.reset();
    b.windowStartUsec = -1;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& c) {
    return a.first != c.first ? a.first < c.first : a.second.key < c.second.key;
  });
  std::vector<Summary> summaries;
  summaries.reserve(out.size());
  for (auto& [start, s] : out)
    summaries.push_back(std::move(s));
  return summaries;
}

std::optional<std::int64_t> RateLimiter::nextDueUsec() const {
  std::optional<std::int64_t> next;
  for (const auto& [key, b] : keys_)
    if (b.windowStartUsec >= 0 && (!next || b.windowStartUsec + periodUsec_ < *next))
      next = b.windowStartUsec + periodUsec_;
  return next;
}

std::string describeSuppressed(const RateLimiter::Summary& s) {
  std::string what;
  std::size_t i = 0;
  for (const auto& [kind, n] : s.counts) {
    if (i++)
      what += i == s.counts.size() ? " and " : ", ";
    what += std::to_string(n) + " more " + plural(kind, n);
  }
  const std::int64_t secs = (s.windowUsec + 500000) / 1000000;
  return what + " of " + s.key + " suppressed in the last " + std::to_string(secs) + " s";
}

}  // namespace keepalive::daemon
