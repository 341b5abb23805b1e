#!/usr/bin/env bash
# Builds the libFuzzer target tests/fuzz/policy_fuzz (parse + validate + merge + resolve + render,
# with ASan and UBSan) and runs it for a bounded time. Exits non-zero when the fuzzer finds a
# crash, a sanitizer report, a hang, an out-of-memory or an invariant violation.
#
# Needs (Debian 12, as root):
#   apt-get install clang libclang-rt-14-dev libyaml-cpp-dev libssl-dev cmake ninja-build pkg-config
# This script installs nothing.
#
# Environment:
#   KEEPALIVE_FUZZ_SECONDS    how long to fuzz (libFuzzer -max_total_time), default 60
#   KEEPALIVE_FUZZ_BUILD_DIR  build directory, default <repo>/build-fuzz
#   KEEPALIVE_FUZZ_ARTIFACTS  where crash-*/timeout-*/oom-* inputs go, default <build>/artifacts
#   KEEPALIVE_FUZZ_FORK       run N fuzzing processes (libFuzzer -fork=N), default 1 (no fork)
#   KEEPALIVE_FUZZ_KEEP_CORPUS=1  keep the grown corpus (its path is printed) instead of deleting it
# Extra arguments are passed to the fuzzer, e.g. scripts/fuzz.sh -seed=1 -max_len=8192.
#
# Reproduce a finding:  <build>/tests/fuzz/policy_fuzz <artifact-file>
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${KEEPALIVE_FUZZ_SECONDS:-60}
build=${KEEPALIVE_FUZZ_BUILD_DIR:-$root/build-fuzz}
artifacts=${KEEPALIVE_FUZZ_ARTIFACTS:-$build/artifacts}
fork=${KEEPALIVE_FUZZ_FORK:-1}

case $seconds in '' | *[!0-9]*) echo "fuzz.sh: KEEPALIVE_FUZZ_SECONDS must be whole seconds, not '$seconds'" >&2; exit 2 ;; esac
case $fork in '' | *[!0-9]* | 0) echo "fuzz.sh: KEEPALIVE_FUZZ_FORK must be a positive number, not '$fork'" >&2; exit 2 ;; esac
for tool in clang clang++ cmake ninja pkg-config; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found; see the apt-get line at the top of $0" >&2; exit 2; }
done

export CC=clang CXX=clang++
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKEEPALIVE_FUZZ=ON \
  -DKEEPALIVE_TESTS=OFF
cmake --build "$build" --target policy_fuzz

fuzzer=$build/tests/fuzz/policy_fuzz
work=$(mktemp -d "${TMPDIR:-/tmp}/keepalive-fuzz.XXXXXX")
if [[ ${KEEPALIVE_FUZZ_KEEP_CORPUS:-0} == 1 ]]; then
  trap 'echo "fuzz.sh: grown corpus kept in $work/corpus"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
# Fuzz a copy: libFuzzer writes every new interesting input into its corpus directory, and the
# seeds in the repository are meant to stay a small, reviewed set.
cp -R "$root/tests/fuzz/corpus" "$work/corpus"
mkdir -p "$artifacts"

# abort_on_error gives a core-dump-style stack for sanitizer reports; libFuzzer itself reports
# leaks, timeouts and OOMs and exits non-zero for each.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fork_args=()
if ((fork > 1)); then fork_args=(-fork="$fork"); fi

echo "fuzz.sh: fuzzing for ${seconds}s, corpus copy in $work/corpus, artifacts in $artifacts"
set +e
"$fuzzer" \
  -max_total_time="$seconds" \
  -rss_limit_mb=2048 \
  -timeout=10 \
  -dict="$root/tests/fuzz/policy.dict" \
  -artifact_prefix="$artifacts/" \
  -print_final_stats=1 \
  "${fork_args[@]}" \
  "$@" \
  "$work/corpus"
status=$?
set -e

if ((status != 0)); then
  echo "fuzz.sh: the fuzzer failed (exit $status); reproducers:" >&2
  ls -l "$artifacts" >&2 || true
  exit "$status"
fi
echo "fuzz.sh: no crash in ${seconds}s"
