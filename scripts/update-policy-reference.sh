#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Rewrites the settings table in docs/policy.md (section 6) from the declarations in
# policy/src/schema.cpp, through the unit test that otherwise checks it. Review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KEEPALIVE_BUILD_DIR:-build}
[ -d "$build" ] || cmake -S . -B "$build" >/dev/null
cmake --build "$build" --target unit_tests
UPDATE_DOCS=1 "$build/tests/unit_tests" "schema: docs/policy.md's settings table is the declarations'"
git --no-pager diff --stat -- docs/policy.md
