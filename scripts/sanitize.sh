#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the daemon, the CLI, the per-user helper and the test programs a second time, with
# AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer, no recover
# (-DKEEPALIVE_SANITIZE=ON), into build-asan/, and runs the suites that start those programs on
# test roots: unit, integration, user_block, dbus, hang and fault. The tests spawn the daemon and
# the helper from the build directory, so those run instrumented too. Any sanitizer report, in any
# of those processes, fails the run: the report aborts the process, and ASan and LSan reports
# are written under build-asan/sanitizer-reports/, which must be empty at the end (a report in a
# child whose failure a test tolerates still counts; UBSan's stay on stderr, GCC's runtime ignores
# log_path for them, and the abort fails the test).
#
# Not run here: system/ (a throwaway systemd that runs the installed package, not this build) and
# e2e/ (a minute of timing through network namespaces; ASan's slowdown is not what it measures),
# and the fuzz targets (scripts/fuzz.sh builds its own, with clang).
#
# Environment:
#   KEEPALIVE_SANITIZE_BUILD_DIR  build directory, default <repo>/build-asan
#   KEEPALIVE_SANITIZE_TESTS      CTest -R regex of the tests to run, default the suites above
#   KEEPALIVE_SANITIZE_EXCLUDE    CTest -E regex of the tests left out (default: see below)
# Extra arguments go to ctest, e.g. scripts/sanitize.sh -R 'user_block: ' --repeat until-fail:3
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KEEPALIVE_SANITIZE_BUILD_DIR:-$root/build-asan}
# "integration (no openat2): " is the integration suite again; [ :] matches both spellings.
tests=${KEEPALIVE_SANITIZE_TESTS:-'^(unit|integration|user_block|dbus|hang|fault)[ :]'}
# Left out, each for its reason:
#  - "a flood of ListUsers from one client": a performance bound (another client's status within
#    2 s while 1000 ListUsers over 100k users queue); ASan's 2-3x slowdown measured 2.16 s here.
#    The plain build's run keeps the bound; other dbus tests still run ListUsers under ASan.
#  - "ListUsers and Check at 100000 users never hold the loop for long": a performance bound
#    too (at most 5 ms of CPU in one turn of the loop); ASan's slowdown brings it near 4 ms.
#  - "a test process that dies without cleaning up leaves no mount": it checks that its child
#    subreaper ends with no child at all, but LeakSanitizer's tracer (a clone of hangfs, killed by
#    its parent-death signal when hangfs exits mid leak check) is then orphaned to it: measured, an
#    extra zombie killed by signal 9, in some runs. An artefact of the instrumentation,
#    not of hangfs; the plain build's run keeps the check.
exclude=${KEEPALIVE_SANITIZE_EXCLUDE:-'a flood of ListUsers from one client|never hold the loop|a test process that dies without cleaning up leaves no mount'}

start=$(date +%s)
# -O1: ASan's own advice (usable speed, exact stacks); Debug keeps assert()s on. No -Werror:
# warnings are the normal build's job, and GCC warns differently with -fsanitize.
cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DKEEPALIVE_SANITIZE=ON \
  -DKEEPALIVE_FUZZ=OFF \
  -DKEEPALIVE_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
built=$(date +%s)
echo "sanitize.sh: built in $((built - start)) s"

reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"  # the helper runs as the user it serves

# No ASAN_OPTIONS here: the options (halt and abort at the first report, leak checks, report
# files in $reports, LSan's suppressions) are compiled into every program
# (tests/sanitize/sanitizer_defaults.c), since the daemon's children get a clean environment.
# One set in the environment still overrides them, for a run by hand.

status=0
(cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 600 -R "$tests" -E "$exclude" "$@") || status=$?
echo "sanitize.sh: tests ran in $(($(date +%s) - built)) s"

shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]})); then
  echo "sanitize.sh: ${#found[@]} sanitizer report(s):" >&2
  for f in "${found[@]}"; do
    echo "=== $f" >&2
    cat "$f" >&2
  done
  status=1
fi
if ((status != 0)); then
  echo "sanitize.sh: FAILED" >&2
  exit "$status"
fi
echo "sanitize.sh: no sanitizer report, every test passed"
