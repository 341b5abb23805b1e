// Small helpers shared by user_watcher.cpp and user_watcher_states.cpp; not for other files.
#pragma once

#include <time.h>

#include <cstdint>
#include <string>

#include "adapters/user_watcher.h"

namespace keepalive::daemon::detail {

inline std::int64_t clockUsec(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

inline std::string configPath(const UserRecord& rec) {
  return rec.user.home + "/.ssh/config";
}

}  // namespace keepalive::daemon::detail
