#!/bin/bash
# Every test: installs dependencies, checks formatting, builds with warnings as errors, fuzzes
# parse+validate for a bounded time, then runs the CTest suites: unit, integration (the real
# keepalivectl, keepalive-policyd, sshd and ssh), fault injection, and system (a real systemd
# booted in namespaces over an overlay of /; nothing reaches the host). Run as root on Debian 12: the sshd checks need it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/check-format.sh
scripts/build.sh
KEEPALIVE_FUZZ_SECONDS=${KEEPALIVE_FUZZ_SECONDS:-60} scripts/fuzz.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
