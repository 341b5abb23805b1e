#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `keepalivectl status` end to end (exec, system bus, one GetAll, print) against the D-Bus service
# covering 100000 users, on a private dbus-daemon configured as Debian's system bus with our bus
# policy. The service is tests/dbus's driver: the daemon's D-Bus side on scripted data, so the
# figure is the status path alone. Target: p50 <= 5 ms.
# Usage: bench/status_bench.sh [RUNS] [USERS]   (build first; BUILD=DIR for another build dir)
#        ROOT=DIR bench/status_bench.sh [RUNS]   the real keepalive-policyd on test root DIR
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/lib/harness.sh
. tests/lib/harness.sh   # wait_for, private_system_bus
runs=${1:-1000}
users=${2:-100000}
build=${BUILD:-build}
for f in cli/keepalivectl tests/dbus/dbus_service_driver bench/status_bench; do
  [ -x "$build/$f" ] || { echo "status_bench: $build/$f missing: build first" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/status-bench.XXXXXX)
pids=()
cleanup() {
  # The driver before the bus, so that it does not report the bus gone.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
chmod 755 "$dir"
private_system_bus "$dir" || exit 1
pids+=("$BUS_PID")
if [[ -n ${ROOT:-} ]]; then
  # The real daemon on a test root with its users (e.g. bench/users_bench.sh's 100k homes:
  # ROOT=/var/tmp/keepalive-users-bench/100000).
  "$build/daemon/keepalive-policyd" --root "$ROOT" --foreground --unit none --host bench \
    --bus system --metrics-dir none >"$dir/daemon.log" 2>&1 &
  pids+=($!)
  wait_for 60 grep -qs "users: " "$dir/daemon.log" ||
    { echo "status_bench: the daemon did not scan" >&2; exit 1; }
else
  "$build/tests/dbus/dbus_service_driver" --users "$users" >"$dir/driver.out" &
  pids+=($!)
  wait_for 10 grep -qs ready "$dir/driver.out" ||
    { echo "status_bench: the driver did not start" >&2; exit 1; }
fi

echo "users covered: $("$build/cli/keepalivectl" show -p UsersCovered --value)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# What exec and the dynamic loader cost alone, without the bus.
"$build/bench/status_bench" "$runs" "$build/cli/keepalivectl" --version
"$build/bench/status_bench" "$runs" "$build/cli/keepalivectl" status
"$build/bench/status_bench" "$runs" "$build/cli/keepalivectl" status --json
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
