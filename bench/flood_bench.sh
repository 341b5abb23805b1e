#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One user's chmod loop for PHASE seconds against the same figures without it: the daemon's log
# lines and CPU, and another user's repair latency p50/p99 (docs/performance.md). As root, after
# scripts/build.sh:   bench/flood_bench.sh [USERS [PHASE_SECONDS]] [DAEMON]
# DAEMON defaults to build/daemon/keepalive-policyd; pass another build's to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-100}
seconds=${2:-10}
daemon=${3:-build/daemon/keepalive-policyd}
cmake --build build --target flood_bench keepalive-policyd >/dev/null
exec build/bench/flood_bench "$daemon" "$users" "$seconds"
