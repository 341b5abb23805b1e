#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# helper_scope_test.sh - the per-user helper's runs under a real systemd: each run gets a
# transient scope of its own (StartTransientUnit with the intermediate's PID), with TasksMax=,
# and nothing of a hostile Match exec outlives it. Runs the runner's tests of
# tests/user_block (user_block_tests "runner: *", real ssh -G as a real system account) inside
# a throwaway systemd, as a service of that systemd: a process started with `tsd exec` stays in
# the host's cgroup, which systemd could not move into a scope.
# Needs root, the packages listed at the top of tests/lib/throwaway-systemd.sh, and a build
# (KEEPALIVE_BUILD_DIR, default ../../build) with user_block_tests and keepalive-user-block.
# Output: "ok - ..." / "not ok - ..." per check; the last line is "N passed, M failed".

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
TESTS_BIN=$BUILD/tests/user_block/user_block_tests
HELPER_BIN=$BUILD/daemon/user_block/keepalive-user-block

TEST_NAME=helper_scope_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 60 kp-helper-tests.service
    cleanup
    report
}
harness_begin

require_root
for f in "$TESTS_BIN" "$HELPER_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build --target user_block_tests)"; finish; }
done
make_work kp-helper-scope
sandbox_start
# At the same paths: the tests run the helper from where the build put it (a build under /tmp
# is not in the sandbox's own /tmp otherwise).
"$TSD" cp-in "$STATE" "$TESTS_BIN" "$TESTS_BIN"
"$TSD" cp-in "$STATE" "$HELPER_BIN" "$HELPER_BIN"

# The runner's tests, as a service of the sandbox's systemd (its system bus, its cgroups).
t0=$(now_ms)
inside systemd-run --quiet --wait --pipe --unit=kp-helper-tests.service \
    --property=TimeoutStartSec=300 "$TESTS_BIN" 'runner: *' > "$WORK/tests.log" 2>&1
rc=$?
check "user_block_tests 'runner: *' pass under systemd ($(($(now_ms) - t0)) ms)" test "$rc" = 0
tail -n 3 "$WORK/tests.log" | sed 's/^/# /'
[ "$rc" = 0 ] || tail -n 60 "$WORK/tests.log" | sed 's/^/#   /'

# systemd's own account: scopes were started for the runs, and none is left.
scopes=$(inside journalctl -b --no-pager -o cat |
    grep -c 'Started keepalive-user-block-[0-9-]*\.scope')
check "the helper's runs had scopes of their own ($scopes started)" test "$scopes" -ge 10
left=$(inside systemctl list-units --all --plain --no-legend 'keepalive-user-block-*.scope' |
    wc -l)
check "no scope of a run is left ($left)" test "$left" = 0
# A run's scope stops when its intermediate has emptied it: never by a timeout of systemd's.
stop_kills=$(inside journalctl -b --no-pager -o cat |
    grep -c 'keepalive-user-block-.*Killing process' || true)
check "systemd never had to kill a process of a run ($stop_kills)" test "$stop_kills" = 0
leftover=$(inside sh -c 'grep -l KEEPALIVE_TEST_MARK= /proc/[0-9]*/environ 2>/dev/null | wc -l')
check "no marked process of a hostile Match exec is alive in the sandbox ($leftover)" \
    test "$leftover" = 0
finish
