// SPDX-License-Identifier: GPL-2.0-or-later
// Small helpers shared by user_watcher.cpp and user_watcher_states.cpp; not for other files.
#pragma once

#include <cstdint>
#include <string>

#include "adapters/user_watcher.h"
#include "sys/clock.h"

namespace keepalive::daemon::detail {

inline std::string configPath(const UserRecord& rec) {
  return rec.user.home + "/.ssh/config";
}

}  // namespace keepalive::daemon::detail
