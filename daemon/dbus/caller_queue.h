// SPDX-License-Identifier: GPL-2.0-or-later
// The expensive calls (Check, ListUsers, ListDisconnects), queued per calling user (bus uid) and
// served one at a time, the users in turn: a property read waits for at most one slice of work, and
// another user's call for at most one call of each user ahead of it. Each user may have max_queued
// calls waiting and spends a budget of loop time, charged what their calls really took: `burst` at
// first, then `per_second` of each second. Past either, a call is refused at once. No D-Bus
// here: the service (dbus_service.cpp) replies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace keepalive::daemon {

class CallerQueue {
 public:
  struct Limits {
    std::size_t max_queued = 4;
    std::chrono::microseconds burst{2000000};
    std::chrono::microseconds per_second{200000};
  };
  // A queued call: start begins it (it may end later), fail answers it with an error.
  struct Call {
    uid_t uid = 0;
    std::function<void()> start;
    std::function<void(const std::string& why)> fail;
  };

  explicit CallerQueue(Limits limits) : limits_(limits) {}

  // Queues c, or says why not ("uid 1000 has used its share ...": the caller is limited).
  std::optional<std::string> push(Call c);
  // The next call, the uids in turn; nullopt when none waits.
  std::optional<Call> pop();
  bool empty() const { return turns_.empty(); }
  // What a call of uid took, against its budget.
  void charge(uid_t uid, std::chrono::microseconds took);
  // Every waiting call, taken out (to fail them).
  std::deque<Call> drain();

 private:
  struct Budget {
    std::int64_t usec;
    std::uint64_t at_usec;
  };
  Budget& budget(uid_t uid);

  Limits limits_;
  std::unordered_map<uid_t, Budget> budgets_;
  std::unordered_map<uid_t, std::deque<Call>> queued_;
  std::deque<uid_t> turns_;  // uids with calls queued, in the order they are served
};

std::uint64_t monotonicUsec();

}  // namespace keepalive::daemon
