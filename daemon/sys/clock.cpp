// SPDX-License-Identifier: GPL-2.0-or-later
#include "clock.h"

#include <time.h>

namespace keepalive::sys {
namespace {
std::int64_t usec(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}
}  // namespace

std::int64_t monotonicUsec() {
  return usec(CLOCK_MONOTONIC);
}

std::int64_t realtimeUsec() {
  return usec(CLOCK_REALTIME);
}

}  // namespace keepalive::sys
