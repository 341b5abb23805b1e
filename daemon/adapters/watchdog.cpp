#include "watchdog.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>

namespace keepalive::daemon {

namespace {
thread_local bool owner = false;
}

void watchdogOwnThread() {
  owner = true;
}

void watchdogPing() {
  static const bool enabled = std::getenv("WATCHDOG_USEC") != nullptr;
  if (!enabled || !owner)
    return;
  static std::int64_t last = 0;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::int64_t now = static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  if (now - last < 500)
    return;
  last = now;
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace keepalive::daemon
