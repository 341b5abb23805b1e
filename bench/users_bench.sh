#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Users' ~/.ssh/config repair at 1k, 10k and 100k generated homes: keepalive-policyd against an
# `inotifywait -m` + `chmod` shell loop watching the same ~/.ssh directories, run alternately on
# the same homes, measured from outside by bench/users_observer. Prints a markdown table.
# A benchmark, never a test. See docs/performance.md.
#
# Usage (root, after building: cmake --build build-bench -j2):
#   bench/users_bench.sh [SIZE...]        default: 1000 10000 100000; quick: bench/users_bench.sh 1000
# Environment:
#   BUILD        build directory with daemon/keepalive-policyd and bench/users_observer (build-bench)
#   POLICYD      the daemon binary, if not $BUILD/daemon/keepalive-policyd
#   BENCH_DIR    where the homes are generated once and kept (/var/tmp/keepalive-users-bench);
#                must be a disk, not tmpfs: the cold start reads it back from the disk
#   SAMPLES      repair latency samples per side and size (2000), split over ROUNDS (2) rounds
#   PACE_MS      samples are PACE_MS to 2*PACE_MS apart (5): each one on an idle process
#   IDLE_SECONDS idle window for wake-ups (20)    STORM  chmods in the storm (100000)
#   STORM_TIMEOUT seconds the daemon gets to fix the storm's drift (30; the baseline gets 10)
#   QUIET_SECONDS window after the storm in which the daemon should be idle again (10)
#   WATCHDOG_SEC run the daemon with WATCHDOG_USEC as systemd would set it (0: off)
#   WAIT_LOAD    before each start and each latency block, wait (at most WAIT_MAX s, 300) until
#                the 1-minute load is below this (e.g. 1; default: do not wait)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/lib/harness.sh
. tests/lib/harness.sh   # wait_for, pid_gone

BUILD=${BUILD:-build-bench}
policyd_given=${POLICYD:+POLICYD=$POLICYD }
POLICYD=$(realpath -m "${POLICYD:-$BUILD/daemon/keepalive-policyd}")
OBS=$(realpath -m "$BUILD/bench/users_observer")
BENCH_DIR=${BENCH_DIR:-/var/tmp/keepalive-users-bench}
SAMPLES=${SAMPLES:-2000}
PACE_MS=${PACE_MS:-5}
ROUNDS=${ROUNDS:-2}
IDLE_SECONDS=${IDLE_SECONDS:-20}
STORM=${STORM:-100000}
STORM_TIMEOUT=${STORM_TIMEOUT:-30}
QUIET_SECONDS=${QUIET_SECONDS:-10}
BASELINE_STORM_TIMEOUT=10
WATCHDOG_SEC=${WATCHDOG_SEC:-0}
WAIT_LOAD=${WAIT_LOAD:-}
WAIT_MAX=${WAIT_MAX:-300}
sizes=("$@")
((${#sizes[@]})) || sizes=(1000 10000 100000)

die() {
  echo "users_bench: $*" >&2
  exit 1
}
note() { echo "users_bench: $*" >&2; }
((EUID == 0)) || die "run as root (homes owned by other uids, drop_caches)"
[[ -x $POLICYD && -x $OBS ]] || die "build first: $POLICYD, $OBS"
command -v inotifywait >/dev/null || die "inotifywait missing: apt-get install inotify-tools"
mkdir -p "$BENCH_DIR"
fstype=$(findmnt -no FSTYPE -T "$BENCH_DIR")
fssource=$(findmnt -no SOURCE -T "$BENCH_DIR")
[[ $fstype != tmpfs && $fstype != ramfs ]] || die "$BENCH_DIR is on $fstype: use a disk"
watch_limit=$(cat /proc/sys/fs/inotify/max_user_watches)
queue_limit=$(cat /proc/sys/fs/inotify/max_queued_events)
for n in "${sizes[@]}"; do
  ((n + 16 <= watch_limit)) || die "fs.inotify.max_user_watches $watch_limit is below $n homes"
done

run_dir=$BENCH_DIR/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run_dir"
note "logs and raw samples in $run_dir"

load1() { cut -d' ' -f1 /proc/loadavg; }
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches # root only: page cache, dentries and inodes
}

# A test root as tests/support makeDaemonRoot builds it: the real sshd -t needs a host key and
# its privilege separation directory; the policy covers uids from 200000 (the generated users).
setup_root() {
  local root=$1
  install -d -m 0755 "$root" "$root/etc" "$root/etc/keepalive-policy" \
    "$root/etc/keepalive-policy/policy.d" "$root/etc/ssh" "$root/etc/ssh/sshd_config.d" \
    "$root/etc/ssh/ssh_config.d" "$root/run"
  [[ -f $root/etc/ssh/ssh_host_ed25519_key ]] ||
    ssh-keygen -q -t ed25519 -N "" -f "$root/etc/ssh/ssh_host_ed25519_key"
  printf 'Include %s/etc/ssh/sshd_config.d/*.conf\nHostKey %s/etc/ssh/ssh_host_ed25519_key\nPidFile %s/run/sshd.pid\nListenAddress 127.0.0.1:2222\n' \
    "$root" "$root" "$root" >"$root/etc/ssh/sshd_config"
  printf 'Include %s/etc/ssh/ssh_config.d/*.conf\n' "$root" >"$root/etc/ssh/ssh_config"
  printf 'version: 1\nnetwork: {idle_timeout: 10m}\nusers: {action: enforce, min_uid: 200000}\n' \
    >"$root/etc/keepalive-policy/policy.yaml"
  [[ -d /run/sshd ]] || install -d -m 0755 /run/sshd
}

# The baseline: what an administrator would write. chmod always calls fchmodat, and that raises
# IN_ATTRIB again, so a bare loop would chmod forever; the loop skips the one event its own chmod
# causes (pure bash, no extra process per event). Events lost in an overflow stay lost.
# shellcheck disable=SC2016
baseline_script='inotifywait -m -e attrib --format "%w%f" --fromfile "$1" | {
  declare -A ours
  while IFS= read -r f; do
    [[ $f == */config ]] || continue
    if [[ -n ${ours[$f]-} ]]; then unset "ours[$f]"; continue; fi
    chmod 600 -- "$f" && ours[$f]=1
  done
}'

side_pid='' side_stamper='' side_kind='' side_log=''
start_side() { # KIND LOG ROOT
  side_kind=$1 side_log=$2
  local root=$3 ready
  if [[ $side_kind == daemon ]]; then
    "$OBS" spawn "$side_log" --watchdog-usec $((WATCHDOG_SEC * 1000000)) -- "$POLICYD" \
      --root "$root" --foreground --unit none --host bench --log-level info &
    ready="users: $n covered"
  else
    "$OBS" spawn "$side_log" -- bash -c "$baseline_script" baseline "$root/bench-ssh-dirs.list" &
    ready="Watches established."
  fi
  side_stamper=$!
  side_pid=$("$OBS" header "$side_log" pid)
  local t0 t1
  t0=$("$OBS" header "$side_log" t0)
  t1=$("$OBS" wait-line "$side_log" "$ready" 600) || {
    tail -20 "$side_log" >&2
    die "$side_kind: no \"$ready\" line in $side_log"
  }
  started_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
  # The daemon logs its state line after the policy's transaction (sshd -t, sshd -T, ssh -G),
  # then scans the users: the part after it is the users' scan.
  scan_s=-
  if [[ $side_kind == daemon ]]; then
    local ts
    ts=$("$OBS" stamps "$side_log" "state " 0 "$t1" | tail -1)
    [[ -z $ts ]] || scan_s=$(awk -v a="$ts" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
  fi
}
stop_side() {
  [[ -n $side_pid ]] || return 0
  if [[ $side_kind == daemon ]]; then
    kill -TERM "$side_pid" 2>/dev/null || true
  else
    kill -TERM -- "-$side_pid" 2>/dev/null || true
  fi
  if ! wait_for 10 pid_gone "$side_stamper"; then
    note "$side_kind did not exit on SIGTERM within 10 s; SIGKILL"
    kill -KILL -- "-$side_pid" 2>/dev/null || true
  fi
  wait "$side_stamper" 2>/dev/null || true
  side_pid='' side_stamper=''
}
trap 'stop_side' EXIT

declare -A R # R[size.side.metric] = value
declare -A L # L[size.side.metric] = 1-minute load average when it was taken (highest if several)
declare -A P # P[size.side.metric] = CPU pressure, /proc/pressure/cpu "some avg10" (%), likewise
# The machine's state just before a measurement: the 1-minute load the issue asks for, and the
# CPU pressure of the last 10 s, which reacts faster (the load lags a minute behind).
cond() {
  if [[ -n $WAIT_LOAD ]]; then
    local until=$((SECONDS + WAIT_MAX))
    while awk -v l="$(load1)" -v w="$WAIT_LOAD" 'BEGIN{exit !(l >= w)}' && ((SECONDS < until)); do
      sleep 5
    done
  fi
  ld=$(load1)
  psi=$(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null)
  psi=${psi:-0}
}
max() { awk -v a="$1" -v b="$2" 'BEGIN{print (b>a)?b:a}'; }
put() { # SIZE SIDE METRIC VALUE, under the conditions of the last cond
  R[$1.$2.$3]=$4
  L[$1.$2.$3]=$(max "${L[$1.$2.$3]:-0}" "$ld")
  P[$1.$2.$3]=$(max "${P[$1.$2.$3]:-0}" "$psi")
}
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
peak() { # SIDE: the peak RSS so far, the daemon's own, the baseline's processes summed
  local key=lead_hwm_kb out
  [[ $1 == daemon ]] || key=hwm_kb
  out=$("$OBS" proc "$side_pid")
  R[$n.$1.hwm]=$(max "${R[$n.$1.hwm]:-0}" "$(kv $key "$out")")
}
warm_start() { # SIDE LOG ROOT
  cond
  start_side "$@"
  R[$n.$1.startup_warm]+="${R[$n.$1.startup_warm]:+, }$started_s"
  R[$n.$1.scan_warm]+="${R[$n.$1.scan_warm]:+, }$scan_s"
  put "$n" "$1" startup_warm_cond x
  note "$1 warm start: $started_s s, scan $scan_s s (load $ld, cpu pressure $psi%)"
}

run_size() {
  n=$1
  local root=$BENCH_DIR/$n side r out log
  note "== $n homes in $root ($fstype on $fssource)"
  setup_root "$root"
  note "generate: $("$OBS" generate "$root" "$n")"
  "$OBS" fix "$root" "$n" >/dev/null

  # Cold: caches dropped right before each start; the daemon, its libraries and sshd come from
  # the disk too, as at boot. The daemon last, so that the first warm start is its second start.
  for side in baseline daemon; do
    drop_caches
    cond
    start_side $side "$run_dir/$n-$side-cold.log" "$root"
    put "$n" $side startup_cold "$started_s"
    R[$n.$side.scan_cold]=$scan_s
    note "$side cold start: $started_s s, scan $scan_s s (load $ld, cpu pressure $psi%)"
    stop_side
  done

  # Warm: alternating rounds, a fresh start each (the previous one warmed the caches).
  for ((r = 1; r <= ROUNDS; r++)); do
    for side in daemon baseline; do
      log=$run_dir/$n-$side-$r.log
      warm_start $side "$log" "$root"
      sleep 1
      if ((r == 1)); then
        cond
        out=$("$OBS" proc "$side_pid")
        put "$n" $side mem "$out"
        note "$side: $out"
        out=$("$OBS" idle "$side_pid" "$IDLE_SECONDS")
        put "$n" $side idle "$(kv wakeups "$out")"
        note "$side idle: $out (load $ld, cpu pressure $psi%)"
      fi
      cond
      out=$("$OBS" latency "$root" "$n" $((SAMPLES / ROUNDS)) $((n + r)) "$run_dir/$n-$side.samples" "$PACE_MS")
      put "$n" $side latency x
      R[$n.$side.missed]=$((${R[$n.$side.missed]:-0} + $(kv missed "$out")))
      note "$side latency (round $r): $out (load $ld, cpu pressure $psi%)"
      peak $side
      stop_side
      "$OBS" fix "$root" "$n" >/dev/null
    done
  done
  for side in daemon baseline; do
    R[$n.$side.pct]=$("$OBS" percentiles "$run_dir/$n-$side.samples")
  done

  # The storm last, so that its burst of CPU does not raise the load beside the other figures.
  for side in daemon baseline; do
    log=$run_dir/$n-$side-storm.log
    warm_start $side "$log" "$root"
    sleep 1
    local limit=$STORM_TIMEOUT
    [[ $side == daemon ]] || limit=$BASELINE_STORM_TIMEOUT
    cond
    out=$("$OBS" storm "$root" "$n" "$STORM" "$limit" $((n + 7)))
    put "$n" $side storm "$out"
    note "$side storm: $out (load $ld, cpu pressure $psi%)"
    if [[ $side == daemon ]]; then
      # The rescan the first overflow started: from that warning to the next users: line (the
      # summary, logged when it changed; it did, by the repairs). Then a quiet window: the daemon
      # should be idle again once the drift is fixed.
      local s0 first_ov users_after w0 w1
      s0=$(kv storm_start_ns "$out")
      first_ov=$("$OBS" stamps "$log" overflow "$s0" "$("$OBS" now)" | head -1)
      if [[ -n $first_ov ]]; then
        if users_after=$("$OBS" wait-line "$log" "users: " "$limit" "$first_ov"); then
          R[$n.daemon.rescan]=$(awk -v a="$first_ov" -v b="$users_after" 'BEGIN{printf "%.2f s", (b-a)/1e9}')
        else
          R[$n.daemon.rescan]="none within $limit s"
        fi
      fi
      sleep 2
      w0=$("$OBS" now)
      R[$n.daemon.after_storm]=$("$OBS" idle "$side_pid" "$QUIET_SECONDS")
      w1=$("$OBS" now)
      R[$n.daemon.overflows]=$("$OBS" stamps "$log" overflow "$s0" "$w1" | wc -l)
      R[$n.daemon.overflows_quiet]=$("$OBS" stamps "$log" overflow "$w0" "$w1" | wc -l)
      note "daemon: ${R[$n.daemon.overflows]} overflow lines since the storm, ${R[$n.daemon.overflows_quiet]} in the quiet window; first overflow -> users: line ${R[$n.daemon.rescan]:--}; quiet window: ${R[$n.daemon.after_storm]}"
    fi
    peak $side
    stop_side
    "$OBS" fix "$root" "$n" >/dev/null
  done
}

# Wake-ups allowed in a window of S seconds: the watchdog's (sd-event pings every half period or
# a little more); the reconcile (1h by default) does not fall in these windows.
allowed() { echo $((WATCHDOG_SEC > 0 ? ($1 * 2 + WATCHDOG_SEC - 1) / WATCHDOG_SEC : 0)); }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for n in "${sizes[@]}"; do run_size "$n"; done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ----
us() { awk -v v="$1" 'BEGIN{ if (v >= 1000) printf "%.2f ms", v/1000; else printf "%.0f us", v }'; }
mb() { awk -v v="$1" 'BEGIN{printf "%.1f MB", v/1024}'; }
ok() { if awk "BEGIN{exit !($1)}"; then echo yes; else echo "**no**"; fi; }
ld() { # the load beside a result, flagged when 1 or more (not to be quoted), and CPU pressure
  local v=${L[$1]:-}
  [[ -n $v ]] || return 0
  if awk -v v="$v" 'BEGIN{exit !(v >= 1)}'; then printf '**%s**' "$v"; else printf '%s' "$v"; fi
  printf ' / %s%%\n' "${P[$1]}"
}
human() { if (($1 >= 1000)); then echo "$(($1 / 1000))k"; else echo "$1"; fi; }

commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
cat <<EOF

### Users' ~/.ssh/config repair: $(date -u +%Y-%m-%d), tree at $commit

$(nproc) CPUs ($(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1)), kernel $(uname -r);
homes on $fstype ($fssource) in $BENCH_DIR; inotify max_queued_events $queue_limit,
max_user_watches $watch_limit; watchdog ${WATCHDOG_SEC}s (0: off); $SAMPLES latency samples per side
and size in $ROUNDS alternating rounds, ${PACE_MS}-$(awk -v p="$PACE_MS" 'BEGIN{print 2*p}') ms apart; storm of $STORM chmods. Load average (1, 5, 15 min):
$load_start at the start, $load_end at the end. Daemon: $POLICYD, built $(date -r "$POLICYD" '+%F %T').
Columns "load / cpu": the 1-minute load average and the CPU pressure (/proc/pressure/cpu, some
avg10, %) just before the figure was taken, the highest over its rounds; a load of 1 or more is
in bold (a busy machine: not to be quoted).

| homes | measure | keepalive-policyd | load / cpu | shell loop | load / cpu | target | met |
| --- | --- | --- | --- | --- | --- | --- | --- |
EOF
for n in "${sizes[@]}"; do
  h=$(human "$n")
  dm=${R[$n.daemon.mem]} bm=${R[$n.baseline.mem]}
  dp=${R[$n.daemon.pct]} bp=${R[$n.baseline.pct]}
  ds=${R[$n.daemon.storm]} bs=${R[$n.baseline.storm]}
  d50=$(kv p50_us "$dp") b50=$(kv p50_us "$bp")
  d99=$(kv p99_us "$dp")
  rss_kb=$(kv lead_rss_kb "$dm")
  watches=$(kv watches "$dm")
  echo "| $h | start-up, cold cache (s); of which the users' scan | ${R[$n.daemon.startup_cold]}; ${R[$n.daemon.scan_cold]} | $(ld "$n.daemon.startup_cold") | ${R[$n.baseline.startup_cold]} | $(ld "$n.baseline.startup_cold") | | |"
  wmax=$(tr -d ' ' <<<"${R[$n.daemon.startup_warm]}" | tr , '\n' | sort -g | tail -1)
  wt="" wm=""
  if ((n == 100000)); then wt="≤ 1 s"; wm=$(ok "$wmax <= 1"); fi
  echo "| $h | start-up, warm (s, each round); of which the users' scan | ${R[$n.daemon.startup_warm]}; ${R[$n.daemon.scan_warm]} | $(ld "$n.daemon.startup_warm_cond") | ${R[$n.baseline.startup_warm]} | $(ld "$n.baseline.startup_warm_cond") | $wt | $wm |"
  mt="" mm=""
  if ((n == 10000)); then mt="≤ 16 MB"; mm=$(ok "$rss_kb <= 16384"); fi
  if ((n == 100000)); then mt="≤ 48 MB"; mm=$(ok "$rss_kb <= 49152"); fi
  echo "| $h | RSS after the scan | $(mb "$rss_kb") | $(ld "$n.daemon.mem") | $(mb "$(kv rss_kb "$bm")") ($(kv procs "$bm") processes) | $(ld "$n.baseline.mem") | $mt | $mm |"
  echo "| $h | RssAnon after the scan | $(mb "$(kv lead_anon_kb "$dm")") | | $(mb "$(kv anon_kb "$bm")") | | | |"
  echo "| $h | peak RSS (VmHWM, storm included) | $(mb "${R[$n.daemon.hwm]}") | | $(mb "${R[$n.baseline.hwm]}") (summed) | | | |"
  echo "| $h | threads | $(kv threads "$dm") | | $(kv threads "$bm") | | | |"
  echo "| $h | inotify watches | $watches ($n homes + $((watches - n))) | | $(kv watches "$bm") | | ≤ 1 per user | $(ok "$watches - $n <= 8") |"
  echo "| $h | repair latency p50 | $(us "$d50") | $(ld "$n.daemon.latency") | $(us "$b50") | $(ld "$n.baseline.latency") | ≤ 100 us | $(ok "$d50 <= 100") |"
  echo "| $h | repair latency p99 | $(us "$d99") | | $(us "$(kv p99_us "$bp")") | | ≤ 1 ms | $(ok "$d99 <= 1000") |"
  echo "| $h | repair latency p99.9 | $(us "$(kv p999_us "$dp")") | | $(us "$(kv p999_us "$bp")") | | | |"
  echo "| $h | repair latency max; samples, missed (> 2 s) | $(us "$(kv max_us "$dp")"); $(kv n "$dp"), ${R[$n.daemon.missed]} | | $(us "$(kv max_us "$bp")"); $(kv n "$bp"), ${R[$n.baseline.missed]} | | | |"
  echo "| $h | shell loop p50 / daemon p50 | $(awk -v a="$b50" -v b="$d50" 'BEGIN{printf "%.0fx", a/b}') | | | | ≥ 25x | $(ok "$b50 >= 25 * $d50") |"
  drec=$(kv recovery_ms "$ds") brec=$(kv recovery_ms "$bs")
  dtxt="all fixed $(awk -v v="$drec" 'BEGIN{printf "%.2f", v/1000}') s after"
  [[ $(kv recovered "$ds") == 1 ]] || dtxt="$(kv left "$ds") of $(kv users "$ds") still drifted after ${STORM_TIMEOUT} s"
  btxt="all fixed $(awk -v v="$brec" 'BEGIN{printf "%.2f", v/1000}') s after"
  [[ $(kv recovered "$bs") == 1 ]] || btxt="$(kv left "$bs") of $(kv users "$bs") still drifted after ${BASELINE_STORM_TIMEOUT} s"
  echo "| $h | storm of $STORM chmods ($(kv storm_ms "$ds") ms / $(kv storm_ms "$bs") ms) | $dtxt | $(ld "$n.daemon.storm") | $btxt | $(ld "$n.baseline.storm") | ≤ 2 s | $(ok "$(kv recovered "$ds") == 1 && $drec <= 2000") |"
  echo "| $h | overflow warnings in the daemon's log; first one → next \`users:\` line (the rescan) | ${R[$n.daemon.overflows]:-0}; ${R[$n.daemon.rescan]:--} | | | | | |"
  aq=${R[$n.daemon.after_storm]}
  echo "| $h | after the storm, ${QUIET_SECONDS} s quiet: wake-ups, CPU, overflows | $(kv wakeups "$aq"), $(kv cpu_ms "$aq") ms, ${R[$n.daemon.overflows_quiet]} | | | | ≤ $(allowed "$QUIET_SECONDS") (watchdog) | $(ok "$(kv wakeups "$aq") <= $(allowed "$QUIET_SECONDS")") |"
  echo "| $h | wake-ups in ${IDLE_SECONDS} s idle | ${R[$n.daemon.idle]} | $(ld "$n.daemon.idle") | ${R[$n.baseline.idle]} | $(ld "$n.baseline.idle") | ≤ $(allowed "$IDLE_SECONDS") (watchdog) | $(ok "${R[$n.daemon.idle]} <= $(allowed "$IDLE_SECONDS")") |"
done
echo
echo "Reproduce: \`${WAIT_LOAD:+WAIT_LOAD=$WAIT_LOAD }${policyd_given}BUILD=$BUILD bench/users_bench.sh ${sizes[*]}\` (logs: $run_dir)"
