#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configures and builds into ./build (warnings are errors here, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEPALIVE_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
