#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Does a status read stay prompt while keepalive-policyd works? The latency of GetAll through a
# private system bus (p50/p99/max) in two situations, for this build's daemon and, in the same
# run, a baseline daemon (another build's binary):
#   slow sshd -t  a policy pushed while `sshd -t` takes 3 s (a wrapper sleeps, then runs sshd);
#   Check flood   4 clients calling Check (root: every user) over USERS generated homes.
# Goals (issue 14): p99 at most 5 ms and 10 ms. A benchmark, never a test; see
# docs/performance.md.
#
# Usage (root, after building): bench/loop_bench.sh [BASELINE_DAEMON]
# Environment: BUILD (build), USERS (100000), BENCH_DIR (/var/tmp/keepalive-users-bench: the
# homes of bench/users_bench.sh are reused), SECONDS_EACH (6), SLOW (3, seconds of sshd -t).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/lib/harness.sh
. tests/lib/harness.sh   # wait_for (seconds), private_system_bus
BUILD=${BUILD:-build}
USERS=${USERS:-100000}
BENCH_DIR=${BENCH_DIR:-/var/tmp/keepalive-users-bench}
SECONDS_EACH=${SECONDS_EACH:-6}
SLOW=${SLOW:-3}
baseline=${1:-}
OBS=$BUILD/bench/users_observer
LB=$BUILD/bench/loop_bench
for f in "$OBS" "$LB" "$BUILD/daemon/keepalive-policyd"; do
  [[ -x $f ]] || { echo "loop_bench: $f missing: build first" >&2; exit 1; }
done
((EUID == 0)) || { echo "loop_bench: run as root" >&2; exit 1; }

dir=$(mktemp -d /tmp/loop-bench.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
# The bus: Debian's system bus policy and ours.
private_system_bus "$dir" || exit 1
pids+=("$BUS_PID")

# The root: generated homes, a test sshd_config, and sshd -t made slow.
root=$BENCH_DIR/$USERS
install -d -m 0755 "$root" "$root/etc/keepalive-policy/policy.d" "$root/etc/ssh/sshd_config.d" \
  "$root/etc/ssh/ssh_config.d" "$root/run"
[[ -f $root/etc/passwd ]] && (($(wc -l <"$root/etc/passwd") > USERS)) ||
  echo "loop_bench: generate: $("$OBS" generate "$root" "$USERS")"
[[ -f $root/etc/ssh/ssh_host_ed25519_key ]] ||
  ssh-keygen -q -t ed25519 -N "" -f "$root/etc/ssh/ssh_host_ed25519_key"
printf 'Include %s/etc/ssh/sshd_config.d/*.conf\nHostKey %s/etc/ssh/ssh_host_ed25519_key\nPidFile %s/run/sshd.pid\nListenAddress 127.0.0.1:2222\n' \
  "$root" "$root" "$root" >"$root/etc/ssh/sshd_config"
printf 'Include %s/etc/ssh/ssh_config.d/*.conf\n' "$root" >"$root/etc/ssh/ssh_config"
[[ -d /run/sshd ]] || install -d -m 0755 /run/sshd
cat >"$dir/slow-sshd" <<SH
#!/bin/sh
# sshd -t as slow as a loaded host's or a huge configuration's
for a in "\$@"; do [ "\$a" = -t ] && sleep $SLOW; done
exec /usr/sbin/sshd "\$@"
SH
chmod 755 "$dir/slow-sshd"

policy() {
  printf 'version: 1\nnetwork: {idle_timeout: 10m}\nserver: {client_alive_interval: %s}\nusers: {action: enforce, min_uid: 200000}\n' \
    "$1" >"$root/etc/keepalive-policy/.p.tmp"
  mv "$root/etc/keepalive-policy/.p.tmp" "$root/etc/keepalive-policy/policy.yaml"
}
answers() { "$LB" reads 0.01 10 2>/dev/null | grep -q "errors 0"; }

run_daemon() { # NAME BINARY
  local name=$1 bin=$2
  rm -f "$root"/etc/ssh/sshd_config.d/00-keepalive-policy.conf
  policy 2m
  "$bin" --root "$root" --foreground --unit none --host bench --sshd "$dir/slow-sshd" \
    --metrics-dir none >"$dir/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  # Up once it answers on the bus: the first apply (a slow sshd -t too) and the scan are done.
  wait_for 120 answers || { echo "loop_bench: $name did not come up" >&2; tail "$dir/$name.log" >&2; exit 1; }
  wait_for 120 grep -q "users: $USERS covered" "$dir/$name.log" || true

  # A push whose sshd -t takes SLOW seconds; reads for the whole of it.
  policy 1m
  local slow
  slow=$("$LB" reads "$SLOW" 10)
  # Four root clients flooding Check over every user.
  local floods=()
  for _ in 1 2 3 4; do
    "$LB" flood "$SECONDS_EACH" >"$dir/flood.$name.$_" &
    floods+=($!)
  done
  local flood
  flood=$("$LB" reads "$SECONDS_EACH" 10)
  wait "${floods[@]}"
  local checks=0
  for f in "$dir"/flood."$name".*; do checks=$((checks + $(awk '{print $2}' "$f"))); done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  printf '%s|%s|%s|%s\n' "$name" "$slow" "$flood" "$checks"
}

echo "loop_bench: $USERS users, sshd -t $SLOW s, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results=("$(run_daemon new "$BUILD/daemon/keepalive-policyd")")
[[ -n $baseline ]] && results+=("$(run_daemon baseline "$baseline")")

field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
echo
echo "| status read (GetAll) | $(for r in "${results[@]}"; do printf '%s | ' "${r%%|*}"; done)"
echo "| --- | $(for _ in "${results[@]}"; do printf -- '--- | '; done)"
for what in slow flood; do
  for k in p50 p99 max; do
    line="| $what: $k (ms) | "
    for r in "${results[@]}"; do
      IFS='|' read -r _ s f _ <<<"$r"
      [[ $what == slow ]] && v=$s || v=$f
      line+="$(field "$v" "$k") | "
    done
    echo "$line"
  done
done
line="| Check calls answered in the flood | "
for r in "${results[@]}"; do line+="$(cut -d'|' -f4 <<<"$r") | "; done
echo "$line"
