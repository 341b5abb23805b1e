#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets in tests/fuzz/ (one per parser of outside input: policy, user_block,
# dump, config_text, passwd, mountinfo, disconnects; all with ASan and UBSan), runs each one's committed corpus
# once, then fuzzes them within one total time budget. Exits non-zero when any target finds a
# crash, a sanitizer report, a hang, an out-of-memory or an invariant violation; the inputs are in
# the artifacts directory, named <target>-crash-*, <target>-timeout-*, ...
#
# Needs (Debian 12, as root):
#   apt-get install clang libclang-rt-14-dev libyaml-cpp-dev libssl-dev cmake ninja-build pkg-config
# (and the daemon's build dependencies, scripts/deps.sh, since the targets are configured with the
# whole project). This script installs nothing.
#
# Environment:
#   KEEPALIVE_FUZZ_SECONDS    the TOTAL fuzzing time, split evenly across the targets run,
#                             default 60 (CI: 600). Below 5 s per target, the targets are only
#                             built and their corpora run once.
#   KEEPALIVE_FUZZ_TARGETS    which targets, space-separated (default: every tests/fuzz/*_fuzz.cpp),
#                             e.g. KEEPALIVE_FUZZ_TARGETS="user_block passwd"
#   KEEPALIVE_FUZZ_BUILD_DIR  build directory, default <repo>/build-fuzz
#   KEEPALIVE_FUZZ_ARTIFACTS  where crash-*/timeout-*/oom-* inputs go, default <build>/artifacts
#   KEEPALIVE_FUZZ_FORK       run N fuzzing processes per target (libFuzzer -fork=N), default 1
#   KEEPALIVE_FUZZ_KEEP_CORPUS=1  keep the grown corpora (their path is printed) instead of deleting
#   KEEPALIVE_FUZZ_CONFIGURE_ONLY=1  only configure the build directory (scripts/tidy.sh reads its
#                             compile_commands.json for the harnesses) and exit
# Extra arguments are passed to every fuzzer, e.g. scripts/fuzz.sh -seed=1 -max_len=8192.
#
# Reproduce a finding:  <build>/tests/fuzz/<target>_fuzz <artifact-file>
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

if [[ -n ${KEEPALIVE_FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$KEEPALIVE_FUZZ_TARGETS"
else
  targets=()
  for f in "$root"/tests/fuzz/*_fuzz.cpp; do
    f=${f##*/}
    targets+=("${f%_fuzz.cpp}")
  done
fi
for t in "${targets[@]}"; do
  [[ -f $root/tests/fuzz/${t}_fuzz.cpp && -d $root/tests/fuzz/corpus/$t ]] ||
    { echo "fuzz.sh: no target '$t' (tests/fuzz/${t}_fuzz.cpp and tests/fuzz/corpus/$t/)" >&2; exit 2; }
done

export CC=clang CXX=clang++
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKEEPALIVE_FUZZ=ON \
  -DKEEPALIVE_TESTS=OFF >/dev/null
[[ ${KEEPALIVE_FUZZ_CONFIGURE_ONLY:-0} == 1 ]] && exit 0
cmake --build "$build" --target "${targets[@]/%/_fuzz}"

work=$(mktemp -d "${TMPDIR:-/tmp}/keepalive-fuzz.XXXXXX")
if [[ ${KEEPALIVE_FUZZ_KEEP_CORPUS:-0} == 1 ]]; then
  trap 'echo "fuzz.sh: grown corpora kept in $work/"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$artifacts"

# abort_on_error gives a core-dump-style stack for sanitizer reports; libFuzzer itself reports
# leaks, timeouts and OOMs and exits non-zero for each.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

common=(-rss_limit_mb=2048 -timeout=10)

# First the committed corpora, once each (the fixed findings are among them): a regression fails
# here in a second, before any time is spent fuzzing.
for t in "${targets[@]}"; do
  "$build/tests/fuzz/${t}_fuzz" -runs=0 "${common[@]}" "$root/tests/fuzz/corpus/$t" 2>"$work/$t.seeds.log" ||
    { cat "$work/$t.seeds.log" >&2; echo "fuzz.sh: $t fails on its committed corpus" >&2; exit 1; }
done
echo "fuzz.sh: committed corpora pass (${targets[*]})"

per=$((seconds / ${#targets[@]}))
if ((per < 5)); then
  echo "fuzz.sh: ${seconds}s for ${#targets[@]} targets is under 5 s each; not fuzzing"
  exit 0
fi

fork_args=()
if ((fork > 1)); then fork_args=(-fork="$fork"); fi

failed=()
for t in "${targets[@]}"; do
  # Fuzz a copy: libFuzzer writes every new interesting input into its corpus directory, and the
  # seeds in the repository are meant to stay a small, reviewed set.
  cp -R "$root/tests/fuzz/corpus/$t" "$work/$t"
  dict=()
  if [[ -f $root/tests/fuzz/$t.dict ]]; then dict=(-dict="$root/tests/fuzz/$t.dict"); fi
  echo "fuzz.sh: $t for ${per}s (corpus copy in $work/$t)"
  set +e
  "$build/tests/fuzz/${t}_fuzz" \
    -max_total_time="$per" \
    "${common[@]}" \
    "${dict[@]}" \
    -artifact_prefix="$artifacts/$t-" \
    -print_final_stats=1 \
    "${fork_args[@]}" \
    "$@" \
    "$work/$t" 2>"$work/$t.log"
  status=$?
  set -e
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done ' "$work/$t.log" | sed "s/^/fuzz.sh: $t: /" || true
  if ((status != 0)); then
    tail -n 60 "$work/$t.log" >&2
    echo "fuzz.sh: $t failed (exit $status)" >&2
    failed+=("$t")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz.sh: findings in ${failed[*]}; reproducers:" >&2
  ls -l "$artifacts" >&2 || true
  exit 1
fi
echo "fuzz.sh: no finding in ${seconds}s over ${#targets[@]} targets"
