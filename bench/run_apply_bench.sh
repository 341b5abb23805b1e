#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Policy rename -> sshd serving the new configuration, in a throwaway systemd (real systemd, real
# ssh.service, real D-Bus), with the admin-script baseline side by side.
# Usage: bench/run_apply_bench.sh [ITERATIONS [NETWORKS...]]   (root; build first: scripts/build.sh)
# NETWORKS: run once per count of networks: in the policy (issue 16: each is proven with one more
# sshd -T -C and ssh -G per apply), e.g. `bench/run_apply_bench.sh 30 0 10 100`; default 0.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-100}
TSD=tests/lib/throwaway-systemd.sh
state=$(mktemp -d /tmp/apply-bench.XXXXXX)
trap '"$TSD" stop "$state" >/dev/null 2>&1 || true' EXIT
"$TSD" start "$state" >/dev/null
"$TSD" cp-in "$state" ${BUILD:-build}/daemon/keepalive-policyd /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$state" ${BUILD:-build}/bench/apply_bench /usr/local/bin/apply_bench
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
shift || true
for n in "${@:-0}"; do
    "$TSD" exec "$state" /usr/local/bin/apply_bench "$iterations" /usr/local/sbin/keepalive-policyd "$n"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
