#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every test: installs dependencies, checks formatting, builds with warnings as errors, runs
# clang-tidy over the C++ files changed since scripts/tidy-base (scripts/tidy.sh), fuzzes
# every parser of outside input for a bounded total time (KEEPALIVE_FUZZ_SECONDS, default 600),
# runs the CTest suites: unit, integration (the real keepalivectl, keepalive-policyd, sshd and
# ssh), fault injection, and system (a real systemd booted in namespaces over an overlay of /;
# nothing reaches the host), then builds everything again with ASan+UBSan and runs the unit and
# integration suites under it (scripts/sanitize.sh; KEEPALIVE_SANITIZE_RUN=0 skips it). Run as root
# on Debian 12: the sshd checks need it. docs/testing.md has the tidy, fuzz and sanitizer details.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "test.sh: $1 took $(($(date +%s) - $2)) s"; }
scripts/deps.sh
scripts/check-format.sh
t=$(date +%s)
scripts/build.sh
step build "$t"
t=$(date +%s)
scripts/tidy.sh
step tidy "$t"
t=$(date +%s)
KEEPALIVE_FUZZ_SECONDS=${KEEPALIVE_FUZZ_SECONDS:-600} scripts/fuzz.sh
step fuzz "$t"
t=$(date +%s)
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 600)
step ctest "$t"
if [[ ${KEEPALIVE_SANITIZE_RUN:-1} != 0 ]]; then
  t=$(date +%s)
  scripts/sanitize.sh
  step sanitize "$t"
fi
