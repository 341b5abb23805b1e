# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2153  # UNIT, POLICY_DIR and PKG are set by the test that sources this
# harness.sh - the one harness of the shell tests (tests/system/*.sh, tests/e2e/*.sh), also
# sourced by the scripts and benches that wait for something (scripts/demo.sh, bench/*.sh). Only
# functions and variables: sourcing it changes nothing until a test calls harness_begin.
#
#   checks      ok, not_ok, check, info, report; require_root, make_work
#   clocks      now_ms, now_us
#   waiting     wait_for SECONDS CMD..., stays_for MS CMD...  (the only loops that wait)
#   cleanup     harness_begin installs the traps; cleanup runs once, on any exit: processes in
#               the test's network namespaces, its background jobs, the namespaces, the
#               throwaway systemd, the work directory
#   sandbox     a throwaway systemd (tests/lib/throwaway-systemd.sh; DESIGN.md "Testing with
#               real parts"): sandbox_start, inside, journal_on_failure, sandbox_allow_packages
#   journal     jcursor, jsince, daemon_logged(_re), last_state_line, state_line, jsync, counters
#   sshd        prop, sshd_T(_is), ssh_G, banner, sshd_connection_lines, sighups(_are), sshd_ok, expect_reloads,
#               restarted_from
#   files       fingerprint, same_bytes, exists_inside, absent_inside, mode_of, mode_is
#   policy      stage_policy, commit_policy, push_policy (by rename, as Ansible does)
#   package     build_deb, host_snapshot, host_unchanged_checked
#   namespaces  netns_add, in_ns, netns_kill_all, netns_find_exe, netns_abort_tcp, netns_no_tcp,
#               netns_reap_stale, netns_leftovers, spawn_logged, stamp, pid_gone, pid_alive
#
# Conventions: a check prints "ok - ..." or "not ok - ...", information "# ..."; report prints
# "N passed, M failed" last and exits non-zero unless something passed and nothing failed. Each
# test defines finish(), which ends in report (the interrupt trap calls it). Needs bash 5
# (EPOCHREALTIME).

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TSD=$HARNESS_DIR/throwaway-systemd.sh
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

# ----------------------------------------------------------------------------- checks --

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {  # check DESCRIPTION CMD...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
info() { echo "# $*"; }

# now_ms, now_us: the wall clock (the clock of journal timestamps and of spawn_logged's logs)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
t_start=$(now_ms)

# report [DETAIL]: the total time and the counts; exits 0 only when something passed and nothing
# failed.
report() {
    local t=$(($(now_ms) - t_start))
    info "total time $((t / 1000)).$((t % 1000 / 100))s${1:+ ($1)}"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
    exit
}

require_root() {
    [ "$(id -u)" = 0 ] && return 0
    not_ok "must run as root"
    finish
}
# make_work PREFIX: WORK, a fresh directory under /tmp, removed by cleanup
make_work() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX") || { not_ok "mktemp"; finish; }
}

# ---------------------------------------------------------------------------- waiting --

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds (0) or the deadline passes (1).
wait_for() {
    local end=$(($(now_ms) + $1 * 1000)); shift
    until "$@"; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.05
    done
}
# private_system_bus DIR: a dbus-daemon configured as Debian's system bus with our bus policy
# (units/org.keepalivepolicy1.conf), listening in DIR; exports DBUS_SYSTEM_BUS_ADDRESS and sets
# BUS_PID. Run from the repository's root; the caller kills BUS_PID when done.
private_system_bus() {
    local dir=$1
    cat >"$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$dir/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>$PWD/units/org.keepalivepolicy1.conf</include>
</busconfig>
CONF
    dbus-daemon --nofork --nopidfile --config-file="$dir/bus.conf" --print-address=1 \
        >"$dir/address" 2>"$dir/bus.err" &
    BUS_PID=$!
    wait_for 5 test -s "$dir/address" || { echo "dbus-daemon did not start" >&2; return 1; }
    export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/system_bus_socket"
}
# stays_for MS CMD...: CMD holds throughout a window of MS milliseconds. Only for negative checks
# ("no further reload"), which by nature need a window, after a deterministic barrier.
stays_for() {
    local end=$(($(now_ms) + $1)); shift
    while :; do
        "$@" || return 1
        [ "$(now_ms)" -lt "$end" ] || return 0
        sleep 0.05
    done
}

# ---------------------------------------------------------------------------- cleanup --

WORK='' STATE='' HARNESS_NETNS=() HARNESS_CLEANED=''
# cleanup: idempotent; runs from the EXIT trap, and from finish() before the summary. It kills only
# what this run started: whatever runs in its own namespaces (a fresh list, so a recycled PID is
# never hit) and this shell's background jobs still running (bash forgets a job it has reaped).
# The throwaway systemd's mounts lived in its own mount namespace: plain directories remain, and
# the work directory goes unless KP_KEEP_WORK=1 or something is still mounted there.
cleanup() {
    [ -n "$HARNESS_CLEANED" ] && return 0
    HARNESS_CLEANED=1
    local ns pid pids
    for ns in "${HARNESS_NETNS[@]}"; do netns_kill_all "$ns"; done
    pids=$(jobs -pr)
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $pids; do
        wait_for 5 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${HARNESS_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$STATE" ]; then
        if [ -n "${KP_KEEP_LOG:-}" ] && "$TSD" status "$STATE" >/dev/null 2>&1; then
            timeout 20 "$TSD" exec "$STATE" journalctl -b --no-pager -o short-precise \
                > "$KP_KEEP_LOG" 2>&1
        fi
        "$TSD" stop "$STATE" >&2 || echo "$TEST_NAME: stopping the sandbox failed" >&2
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${KP_KEEP_WORK:-0}" = 1 ]; then
            info "kept $WORK (KP_KEEP_WORK=1)"
        elif ! grep -qF "$WORK" /proc/self/mountinfo; then
            rm -rf -- "$WORK"
        fi
    fi
}
# harness_begin: the traps. An interrupted run is a failed one.
harness_begin() {
    trap cleanup EXIT
    trap 'echo "$TEST_NAME: interrupted" >&2; not_ok "interrupted by a signal"; finish' INT TERM HUP
}

# ---------------------------------------------------------------------------- sandbox --

inside() { "$TSD" exec "$STATE" "$@"; }

# sandbox_start: boots a throwaway systemd with its state in $WORK/tsd (one check); a test that
# cannot have one ends here.
sandbox_start() {
    local t0
    STATE=$WORK/tsd
    t0=$(now_ms)
    if "$TSD" start "$STATE" 2>"$WORK/start.log"; then
        ok "throwaway systemd up in $(($(now_ms) - t0)) ms ($(tail -n 1 "$WORK/start.log"))"
    else
        cat "$WORK/start.log" >&2
        not_ok "throwaway systemd starts"
        finish
    fi
}

# journal_on_failure LINES UNIT...: after a failed check, the end of those units' journals.
journal_on_failure() {
    local n=$1 u args=()
    shift
    [ "$failed" -gt 0 ] && [ -n "$STATE" ] && "$TSD" status "$STATE" >/dev/null 2>&1 || return 0
    for u; do args+=(-u "$u"); done
    info "journal of $* (last $n lines):"
    timeout 20 "$TSD" exec "$STATE" journalctl --no-pager -o short-precise "${args[@]}" 2>&1 |
        grep -v -e kex_exchange_identification -e 'Connection closed by' |
        tail -n "$n" | cut -c1-400 | sed 's/^/#   /'
}

# sandbox_allow_packages UNIT: ready for dpkg -i of a package that ships UNIT.
sandbox_allow_packages() {
    local unit=$1 p
    # A real host lets packages start their services; images built for containers (as CI's may
    # be) ship a policy-rc.d that forbids it. Only the sandbox's copy goes: the host keeps its own.
    if inside test -e /usr/sbin/policy-rc.d; then
        inside rm -f /usr/sbin/policy-rc.d
        info "removed /usr/sbin/policy-rc.d inside the sandbox (the host's copy denies service starts)"
    fi
    # The sandbox sees the host's /etc and /usr/local through the overlay: a unit or drop-in of
    # UNIT left there (a cmake --install, an experiment) would shadow the package's. Hide it,
    # inside only.
    for p in $(prop "$unit" FragmentPath) $(prop "$unit" DropInPaths); do
        case "$p" in "/lib/systemd/system/$unit" | "/usr/lib/systemd/system/$unit") continue ;; esac
        info "the host has $p: hidden inside the sandbox so that it cannot shadow the package's unit"
        inside rm -rf -- "$p" "${p%.conf}"
    done
    inside systemctl daemon-reload
    # man-db's trigger would rebuild every index; nothing here reads it.
    inside sh -c 'echo "man-db man-db/auto-update boolean false" | debconf-set-selections' 2>/dev/null
}

# ---------------------------------------------------------------------------- journal --

# A marker entry starts each step; the units' messages after it belong to the step. The marker is
# logged by a process outside every unit, so it matches no -u filter, and it is read back with the
# inclusive --cursor=: journalctl 252's --after-cursor= skips one entry too many (the first match
# after the cursor) when the cursor's own entry does not match the filter.
MARKS=0
jcursor() {
    MARKS=$((MARKS + 1))
    # shellcheck disable=SC2016  # expanded by the shell inside
    inside sh -c '
        logger -t kp-test-mark -- "$1" || exit 1
        journalctl --sync 2>/dev/null
        for i in $(seq 100); do
            c=$(journalctl -q -t kp-test-mark -n 1 -o export |
                awk -v m="MESSAGE=$1" "/^__CURSOR=/ { c = substr(\$0, 10) } \$0 == m { print c; exit }")
            [ -n "$c" ] && { echo "$c"; exit 0; }
            sleep 0.05
        done
        exit 1' sh "$TEST_NAME mark $MARKS"
}
jsince() {  # jsince CURSOR [UNIT...]: messages (text only) of those units ($UNIT) after CURSOR
    local c=$1 u args=(); shift
    [ $# -gt 0 ] || set -- "$UNIT"
    for u in "$@"; do args+=(-u "$u"); done
    inside journalctl -q --no-pager "${args[@]}" --cursor="$c" -o cat
}
daemon_logged() { jsince "$1" | grep -qF -- "$2"; }      # daemon_logged CURSOR TEXT
daemon_logged_re() { jsince "$1" | grep -qE -- "$2"; }   # daemon_logged_re CURSOR ERE
last_state_line() { jsince "$1" | grep -E 'state [a-z-]+: ' | tail -n 1; }
# state_line CURSOR ERE: waits for a state line after CURSOR matching ERE, prints the last one
state_line() { wait_for 10 daemon_logged_re "$1" "$2"; last_state_line "$1"; }
jsync() { inside journalctl --sync >/dev/null 2>&1; }
# The daemon's own counters in its state line ("reloads N, writes M, ...").
counters() { sed -n 's/.*; reloads \([0-9]*\), writes \([0-9]*\), rollbacks \([0-9]*\), drift repairs \([0-9]*\)$/reloads=\1 writes=\2 rollbacks=\3 repairs=\4/p'; }

# ------------------------------------------------------------------------------- sshd --

prop() { inside systemctl show -P "$2" "$1"; }  # prop UNIT PROPERTY
sshd_T() { inside sshd -T | awk -v k="$1" '$1 == k { print $2; exit }'; }
sshd_T_is() { [ "$(sshd_T "$1")" = "$2" ]; }
# The system tests' policy: policy CLIENT_ALIVE_INTERVAL [EXTRA_TOP_LEVEL_LINE] (a script may
# define its own after sourcing this file). idle_timeout 11m: on sshd 9.2 (k = 2) every interval
# the tests push, up to 5m, keeps 2 x interval below it, and 6m stays invalid.
policy() {  # policy CLIENT_ALIVE_INTERVAL [EXTRA_TOP_LEVEL_LINE]
    printf 'version: 1\n%snetwork:\n  idle_timeout: 11m\nserver:\n  client_alive_interval: %s\n  client_alive_count_max: 3\nclient:\n  server_alive_interval: 4m\n' \
        "${2:+$2$'\n'}" "$1"
}
ssh_G() {  # ssh_G KEY [HOST]: ssh's value of KEY for HOST (localhost)
    inside ssh -G "${2:-localhost}" 2>/dev/null | awk -v k="$1" '$1 == k { print $2; exit }'
}
banner() {  # sshd's first line on 127.0.0.1:22 inside
    # shellcheck disable=SC2016  # expanded by the shell inside
    inside timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && IFS= read -r -t 4 -u 3 l &&
        printf "%s\n" "${l%$'"'\r'"'}"' 2>/dev/null
}
# sshd_connection_lines CURSOR: ssh.service's journal lines since CURSOR that a TCP connection to
# sshd leaves, as the banner probe (replaced by the listen check) left them on every reload:
# "kex_exchange_identification: ...", "Connection closed by 127.0.0.1 port N [preauth]",
# "banner exchange: ...", and at LogLevel VERBOSE "Connection from ...".
sshd_connection_lines() {
    inside journalctl -q --no-pager -u ssh.service --cursor="$1" -o cat |
        grep -E 'kex_exchange_identification|\[preauth\]|banner exchange|Connection (closed|reset) by|Connection from '
}
# sshd logs "Received SIGHUP; restarting." for each reload that reaches it.
sighups() { inside journalctl -q --no-pager -u ssh.service -o cat | grep -c 'Received SIGHUP'; }
sighups_are() { [ "$(sighups)" = "$1" ]; }

# sshd_ok WHEN: sshd is alive and well: ssh.service active with the main PID it had at boot
# (SSH_PID), and an SSH-2.0- banner.
SSH_PID=
sshd_ok() {
    local b st pid
    b=$(banner); st=$(prop ssh.service ActiveState); pid=$(prop ssh.service MainPID)
    if [[ $b == SSH-2.0-* ]] && [ "$st" = active ] && [ "$pid" = "$SSH_PID" ]; then
        ok "$1: sshd answers '$b' on 127.0.0.1:22, ssh.service active, MainPID $pid unchanged"
    else
        not_ok "$1: sshd banner '${b:-none}' (want SSH-2.0-...), ssh.service $st, MainPID $pid (boot: $SSH_PID)"
    fi
}

# The reload ledger: sshd's SIGHUP count over the run must always be exactly what the steps so far
# expect, so a stray reload shows up at the next step even if it came late. The quiet window is
# KP_QUIET_MS (500).
RELOADS=0
expect_reloads() {  # expect_reloads N WHAT: N more reloads (0 = none) for this step
    local want=$((RELOADS + $1)) got
    RELOADS=$want
    if [ "$1" -gt 0 ]; then
        wait_for 10 sighups_are "$want"
    fi
    jsync
    if stays_for "${KP_QUIET_MS:-500}" sighups_are "$want"; then
        ok "$2: ssh.service reloaded ${1}x (sshd logged 'Received SIGHUP' $want times in all)"
    else
        got=$(sighups)
        not_ok "$2: sshd logged 'Received SIGHUP' $got times in all, want $want ($1 for this step)"
        RELOADS=$got   # report each stray reload once
    fi
}

# restarted_from PID: $UNIT runs again, with a main PID other than PID
restarted_from() {
    local p; p=$(prop "$UNIT" MainPID)
    [ "$p" != "$1" ] && [ "$p" != 0 ] &&
        [ "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" SubState)" = active/running ]
}

# ------------------------------------------------------------------------------ files --

fingerprint() { inside stat -c '%n %i %.9Y %s %a %U:%G' -- "$@" 2>/dev/null | tr '\n' ' '; }
same_bytes() { inside cmp -s -- "$1" "$2"; }
exists_inside() { inside test -e "$1"; }
absent_inside() { ! inside test -e "$1"; }
mode_of() { inside stat -c '%a %U:%G' -- "$1"; }
mode_is() { [ "$(mode_of "$1")" = "$2" ]; }

# ----------------------------------------------------------------------------- policy --

# stage_policy: YAML on stdin into a new temporary file beside $POLICY_DIR/policy.yaml (as Ansible
# does); prints its path inside.
stage_policy() {
    # shellcheck disable=SC2016  # expanded by the shell inside
    inside sh -c 'umask 022; t=$(mktemp "$1/.policy.yaml.XXXXXX") && cat > "$t" && chmod 0644 "$t" && echo "$t"' \
        sh "$POLICY_DIR"
}
# commit_policy TMP: renames it over policy.yaml; prints the time just before the rename.
commit_policy() {
    # shellcheck disable=SC2016  # expanded by the shell inside
    inside bash -c 'echo "$EPOCHREALTIME"; exec mv -f -- "$1" "$2"' bash "$1" "$POLICY_DIR/policy.yaml"
}
push_policy() {  # YAML on stdin, staged and renamed over policy.yaml
    local t
    t=$(stage_policy) && [ -n "$t" ] && commit_policy "$t" >/dev/null
}

# ---------------------------------------------------------------------------- package --

# shellcheck disable=SC2034  # DEB, CHANGES and T_BUILD are the caller's
# build_deb: the .deb of this tree (scripts/package.sh with DEB_BUILD_OPTIONS=nocheck: the suites
# ran already), or KP_DEB's; sets DEB, CHANGES (what lintian reads) and T_BUILD (seconds).
build_deb() {
    local t0 src
    src=$(cd "$HARNESS_DIR/../.." && pwd)
    t0=$(now_ms)
    if [ -n "${KP_DEB:-}" ]; then
        DEB=$KP_DEB CHANGES=$KP_DEB
        check "using the given package $DEB" test -f "$DEB"
    else
        if DEB_BUILD_OPTIONS=nocheck "$src/scripts/package.sh" "$WORK/pkg" > "$WORK/package.log" 2>&1; then
            ok "scripts/package.sh built the .deb from this tree in $((($(now_ms) - t0) / 1000)) s (DEB_BUILD_OPTIONS=nocheck)"
        else
            sed 's/^/#   /' "$WORK/package.log" | tail -n 40
            not_ok "scripts/package.sh builds the .deb"; finish
        fi
        DEB=$(find "$WORK/pkg" -maxdepth 1 -name "${PKG}_*_*.deb" | head -n 1)
        CHANGES=$(find "$WORK/pkg" -maxdepth 1 -name "${PKG}_*.changes" | head -n 1)
    fi
    T_BUILD=$((($(now_ms) - t0) / 1000))
    [ -f "$DEB" ] || { not_ok "a .deb to install"; finish; }
}

# What must never change on the host: HOST_PATHS (present or absent), the drop-in directories,
# dpkg's record of $PKG and the inotify limit the package's sysctl drop-in would raise.
HOST_PATHS=()
host_snapshot() {
    {
        local p
        for p in "${HOST_PATHS[@]}"; do
            if [ -e "$p" ] || [ -L "$p" ]; then echo "$p present"; else echo "$p absent"; fi
        done
        ls -la --time-style=+%s.%N /etc/ssh/sshd_config.d /etc/ssh/ssh_config.d 2>&1
        dpkg-query -W -f='${Status}\n' "$PKG" 2>&1
        cat /proc/sys/fs/inotify/max_user_watches
    } | md5sum
}
# host_unchanged_checked: one check, once, against HOST_BEFORE=$(host_snapshot) (HOST_WHAT says
# what it covers).
HOST_BEFORE='' HOST_WHAT=''
host_unchanged_checked() {
    [ -n "$HOST_BEFORE" ] || return 0
    local after; after=$(host_snapshot)
    check "nothing reached the host ($HOST_WHAT)" test "$after" = "$HOST_BEFORE"
    HOST_BEFORE=''
}

# ------------------------------------------------------------------------- namespaces --
# Network namespaces and background processes (tests/e2e). Everything is named after the test's
# tag, so that cleanup and netns_reap_stale touch only what a run of it created.

pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# pid_alive PID: running, and not a zombie (a run just killed may not be reaped yet)
pid_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# stamp: copies standard input to standard output, each line prefixed with the moment it was read
# (microseconds since the epoch).
stamp() {
    local l
    while IFS= read -r l || [ -n "$l" ]; do
        printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"
    done
}

# spawn_logged VAR LOG NETNS|- CMD...: starts CMD in the background (in NETNS unless "-"), its
# stdout and stderr going, timestamped, to LOG; stores the job's PID in VAR (CMD's own in the
# host's namespace; in NETNS, that of the subshell waiting for it). Standard input is /dev/null
# unless SPAWN_STDIN names a file (a FIFO, say).
spawn_logged() {
    local var=$1 log=$2 ns=$3; shift 3
    local fifo
    fifo=$(mktemp -u "$WORK/.log-fifo.XXXXXX")
    mkfifo "$fifo"
    stamp < "$fifo" > "$log" &
    local stdin=${SPAWN_STDIN:-/dev/null}
    if [ "$ns" = - ]; then
        "$@" < "$stdin" > "$fifo" 2>&1 &
    else
        # A host-side subshell waits for the command, so the SIGKILL of netns_kill_all ends the
        # command quietly (bash reports jobs killed by a signal, not those that exit).
        (ip netns exec "$ns" "$@"; exit $?) < "$stdin" > "$fifo" 2>&1 &
    fi
    printf -v "$var" '%s' "$!"
}

# netns_add NAME: a fresh namespace with lo up, recorded for cleanup.
netns_add() {
    ip netns add "$1" || return 1
    HARNESS_NETNS+=("$1")
    ip -n "$1" link set lo up
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }  # in_ns NAME CMD...

# netns_pids NAME [KEEP_PID...]: the processes inside NAME, less KEEP_PIDs
netns_pids() {
    local ns=$1 p k; shift
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        for k in "$@"; do [ "$p" = "$k" ] && continue 2; done
        echo "$p"
    done
}
netns_empty() { [ -z "$(netns_pids "$@")" ]; }
# netns_kill_all NAME [KEEP_PID...]: kills every process inside NAME but KEEP_PIDs (the namespace
# is this run's own)
netns_kill_all() {
    local pids
    pids=$(netns_pids "$@")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    wait_for 5 netns_empty "$@"
}
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

# netns_reap_stale PREFIX: namespaces PREFIX-<pid>-* and directories /tmp/PREFIX-<pid>.* left by
# an earlier run killed with SIGKILL (no trap ran), whose <pid> is gone.
netns_reap_stale() {
    local prefix=$1 ns pid d
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-[0-9]+-" || true); do
        pid=${ns#"$prefix"-}; pid=${pid%%-*}
        [ "$pid" = $$ ] && continue
        pid_alive "$pid" && continue
        info "removing namespace $ns left by an earlier run (pid $pid is gone)"
        netns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null
    done
    for d in "/tmp/$prefix"-[0-9]*.*; do
        [ -d "$d" ] || continue
        pid=${d#/tmp/"$prefix"-}; pid=${pid%%.*}
        [ "$pid" = $$ ] && continue
        pid_alive "$pid" && continue
        rm -rf "$d"
    done
}

# netns_leftovers: what of this run is still there (namespaces, processes); empty if none.
netns_leftovers() {
    local pid ns
    for ns in "${HARNESS_NETNS[@]}"; do
        ip netns list | awk '{print $1}' | grep -qx "$ns" && echo "namespace $ns"
    done
    for pid in $(jobs -pr); do echo "process $pid"; done
    return 0
}
