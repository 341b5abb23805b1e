#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Classifying sshd's journal (issue 17): ENTRIES synthetic sshd entries (default 1M, ~80% pre-auth
# noise) through the daemon's SessionTracker on one CPU (taskset, when there is one): entries/s,
# the events by cause, peak RSS and the RSS of the open-session table at its CAP (default 20000,
# the daemon's). Figures: docs/performance.md, "Issue 17: classifying sshd's journal".
#   bench/journal_bench.sh [ENTRIES [CAP]]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target journal_bench >/dev/null
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c "$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')"); fi
exec "${pin[@]}" build/bench/journal_bench "${1:-1000000}" "${2:-20000}"
