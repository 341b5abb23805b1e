// SPDX-License-Identifier: GPL-2.0-or-later
// The one clock of the daemon's edges and the helper: microseconds of CLOCK_MONOTONIC (for
// deadlines, rates and retries) and of CLOCK_REALTIME (for times shown to people). The pure core
// gets time through its Clock port instead (core/ports.h), which RealClock serves from here.
#pragma once

#include <cstdint>

namespace keepalive::sys {

std::int64_t monotonicUsec();
std::int64_t realtimeUsec();

}  // namespace keepalive::sys
