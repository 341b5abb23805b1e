# shellcheck shell=bash
# e2e_lib.sh - helpers for tests/e2e: TAP-like checks, deadlines, timestamped logs of background
# processes, network namespaces, and a cleanup that runs on every exit (success, failure, signal).
#
# Everything this file creates is named after E2E_TAG (kpe2e-<pid>): namespaces kpe2e-<pid>-cli,
# -nat, -srv, and one scratch directory. Cleanup kills only what this run started: whatever still
# runs inside its own namespaces (a fresh list from `ip netns pids`, so a PID recycled by the
# system is never hit) and this shell's own background jobs that are still running (`jobs -pr`:
# bash forgets a job once it has reaped it), then deletes those namespaces.
# Sourced by e2e_test.sh; needs bash 5 (EPOCHREALTIME), iproute2 and nftables.

E2E_TAG=${E2E_TAG:-kpe2e-$$}
E2E_NETNS=()        # namespaces created by netns_add, deleted by e2e_cleanup
E2E_SCRATCH=        # scratch directory, removed by e2e_cleanup unless KEEPALIVE_E2E_KEEP=1
E2E_CLEANED=

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
info() { echo "# $*"; }
check() {  # check DESCRIPTION CMD...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# now_us: microseconds on the wall clock, the same clock as the timestamps in logs written by
# spawn_logged (so that a log line can be compared with a moment taken here).
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
# ms_between US1 US2: milliseconds from US1 to US2
ms_between() { echo $(( ($2 - $1) / 1000 )); }
# fmt_s MS: "12.345"
fmt_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# wait_until TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds (0) or the deadline
# passes (1). The only way this file waits for a condition.
wait_until() {
    local timeout=$1; shift
    local deadline=$(( $(now_us) + timeout * 1000000 ))
    while :; do
        "$@" && return 0
        [ "$(now_us)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# stamp: copies standard input to standard output, each line prefixed with the moment it was
# read (microseconds since the epoch). sshd and ssh log without timestamps; these give the
# moments of keepalive probes and of the disconnect.
stamp() {
    local l
    while IFS= read -r l || [ -n "$l" ]; do
        printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"
    done
}

# spawn_logged VAR LOG NETNS|- CMD...: starts CMD in the background (in NETNS unless "-"), its
# stdout and stderr going, timestamped, to LOG; stores the job's PID in VAR (CMD's own in the
# host's namespace; in NETNS, that of the subshell waiting for it). Standard input is
# /dev/null unless E2E_STDIN names a file (a FIFO for the ssh client).
spawn_logged() {
    local var=$1 log=$2 ns=$3; shift 3
    local fifo
    fifo=$(mktemp -u "$E2E_SCRATCH/.log-fifo.XXXXXX")
    mkfifo "$fifo"
    stamp < "$fifo" > "$log" &
    local stdin=${E2E_STDIN:-/dev/null}
    if [ "$ns" = - ]; then
        "$@" < "$stdin" > "$fifo" 2>&1 &
    else
        # A host-side subshell waits for the command, so the SIGKILL of netns_kill_all ends
        # the command quietly (bash reports jobs killed by a signal, not those that exit).
        (ip netns exec "$ns" "$@"; exit $?) < "$stdin" > "$fifo" 2>&1 &
    fi
    printf -v "$var" '%s' "$!"
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# netns_add NAME: a fresh namespace with lo up, recorded for cleanup.
netns_add() {
    ip netns add "$1" || return 1
    E2E_NETNS+=("$1")
    ip -n "$1" link set lo up
}
# in_ns NAME CMD...
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# netns_pids NAME [KEEP_PID...]: the processes inside NAME, less KEEP_PIDs
netns_pids() {
    local ns=$1 p k; shift
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        for k in "$@"; do [ "$p" = "$k" ] && continue 2; done
        echo "$p"
    done
}
# netns_kill_all NAME [KEEP_PID...]: kills every process inside NAME but KEEP_PIDs (all of them
# started by this test: the namespace is ours and unique to this run)
netns_kill_all() {
    local pids
    pids=$(netns_pids "$@")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    wait_until 5 netns_empty "$@"
}
netns_empty() { [ -z "$(netns_pids "$@")" ]; }
# netns_find_exe VAR NAME EXE: stores in VAR the PID of the process inside NAME running EXE
netns_find_exe() {
    local var=$1 ns=$2 exe p
    exe=$(readlink -f "$3")
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ]; then
            printf -v "$var" '%s' "$p"
            return 0
        fi
    done
    return 1
}

# netns_abort_tcp NAME: aborts every TCP connection left in NAME (ss -K), orphans included: a
# killed process's socket otherwise keeps retransmitting unacknowledged data for minutes.
netns_abort_tcp() { ip netns exec "$1" ss -K -tn state connected > /dev/null 2>&1; }
netns_no_tcp() {
    [ -z "$(ip netns exec "$1" ss -Htn state connected exclude time-wait 2>/dev/null)" ]
}

# pid_alive PID: running, and not a zombie (a run just killed may not be reaped yet)
pid_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# e2e_reap_stale: namespaces and scratch directories left by an earlier run of this test that was
# killed with SIGKILL (no trap ran): kpe2e-<pid>-* and /tmp/kpe2e-<pid>.* whose <pid> is gone.
e2e_reap_stale() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^kpe2e-[0-9]+-' || true); do
        pid=${ns#kpe2e-}; pid=${pid%%-*}
        [ "$pid" = $$ ] && continue
        pid_alive "$pid" && continue
        info "removing namespace $ns left by an earlier run (pid $pid is gone)"
        netns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null
    done
    local d
    for d in /tmp/kpe2e-[0-9]*.*; do
        [ -d "$d" ] || continue
        pid=${d#/tmp/kpe2e-}; pid=${pid%%.*}
        [ "$pid" = $$ ] && continue
        pid_alive "$pid" && continue
        rm -rf "$d"
    done
}

# e2e_cleanup: idempotent; runs from the EXIT trap and explicitly before the summary.
e2e_cleanup() {
    [ -n "$E2E_CLEANED" ] && return 0
    E2E_CLEANED=1
    local pid ns pids
    for ns in "${E2E_NETNS[@]}"; do netns_kill_all "$ns"; done
    pids=$(jobs -pr)
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $pids; do
        wait_until 5 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$E2E_SCRATCH" ] && [ -d "$E2E_SCRATCH" ]; then
        if [ "${KEEPALIVE_E2E_KEEP:-0}" = 1 ]; then
            info "kept $E2E_SCRATCH (KEEPALIVE_E2E_KEEP=1)"
        else
            rm -rf "$E2E_SCRATCH"
        fi
    fi
}

# e2e_leftovers: prints what of this run is still there (namespaces, processes); empty if none.
e2e_leftovers() {
    local pid ns
    for ns in "${E2E_NETNS[@]}"; do
        ip netns list | awk '{print $1}' | grep -qx "$ns" && echo "namespace $ns"
    done
    for pid in $(jobs -pr); do echo "process $pid"; done
    return 0
}
