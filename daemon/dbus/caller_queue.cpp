// SPDX-License-Identifier: GPL-2.0-or-later
#include "caller_queue.h"

#include "sys/clock.h"

#include <time.h>

#include <algorithm>

namespace keepalive::daemon {
namespace {

// Budgets of uids that called once are dropped whole past this, which costs them a fresh burst.
constexpr std::size_t kMaxBudgets = 4096;

}  // namespace

std::uint64_t monotonicUsec() {
  return static_cast<std::uint64_t>(sys::monotonicUsec());
}

CallerQueue::Budget& CallerQueue::budget(uid_t uid) {
  const std::uint64_t now = monotonicUsec();
  if (budgets_.size() >= kMaxBudgets && !budgets_.count(uid))
    budgets_.clear();
  auto [b, fresh] = budgets_.try_emplace(uid, Budget{limits_.burst.count(), now});
  if (!fresh) {
    const auto refill = static_cast<std::int64_t>(double(now - b->second.at_usec) *
                                                  double(limits_.per_second.count()) / 1e6);
    b->second.usec = std::min<std::int64_t>(limits_.burst.count(), b->second.usec + refill);
    b->second.at_usec = now;
  }
  return b->second;
}

std::optional<std::string> CallerQueue::push(Call c) {
  const uid_t uid = c.uid;
  const Budget& b = budget(uid);
  if (b.usec <= 0) {
    const auto wait = -b.usec * 1000 / std::max<std::int64_t>(1, limits_.per_second.count());
    return "uid " + std::to_string(uid) +
           " has used its share of keepalive-policyd's time for Check and ListUsers (" +
           std::to_string(limits_.burst.count() / 1000) + " ms at once, " +
           std::to_string(limits_.per_second.count() / 1000) + " ms a second); try again in " +
           std::to_string(wait + 1) + " ms";
  }
  auto& q = queued_[uid];
  if (q.size() >= limits_.max_queued)
    return "uid " + std::to_string(uid) + " has " + std::to_string(q.size()) +
           " Check and ListUsers calls waiting already; try again when they are answered";
  if (q.empty())
    turns_.push_back(uid);
  q.push_back(std::move(c));
  return std::nullopt;
}

std::optional<CallerQueue::Call> CallerQueue::pop() {
  if (turns_.empty())
    return std::nullopt;
  const uid_t uid = turns_.front();
  turns_.pop_front();
  auto q = queued_.find(uid);
  Call c = std::move(q->second.front());
  q->second.pop_front();
  if (q->second.empty())
    queued_.erase(q);
  else
    turns_.push_back(uid);
  return c;
}

void CallerQueue::charge(uid_t uid, std::chrono::microseconds took) {
  budget(uid).usec -= took.count();
}

std::deque<CallerQueue::Call> CallerQueue::drain() {
  std::deque<Call> out;
  for (auto& [uid, q] : queued_)
    for (auto& c : q)
      out.push_back(std::move(c));
  queued_.clear();
  turns_.clear();
  return out;
}

}  // namespace keepalive::daemon
