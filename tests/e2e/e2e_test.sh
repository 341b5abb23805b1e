#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# e2e_test.sh - "ssh keeps disconnecting" reproduced for real, and fixed by keepalive-policyd.
#
# Three network namespaces joined by veth pairs; no address exists outside them:
#
#   client ns                  router ns (NAT, stateful firewall)           server ns
#   ssh  192.0.2.2/24 --veth-- 192.0.2.1/24   198.51.100.1/24 --veth-- 198.51.100.2/24 sshd :2222
#        default via .1        masquerade out of the server side           (no route back: only
#                              conntrack: established TCP timeout T s,     NATed traffic reaches it)
#                              nf_conntrack_tcp_loose=0; nftables drops
#                              ct INVALID, only a SYN opens a flow
#
# The server runs a real sshd (OpenSSH 9.2 on Debian 12) whose only keepalive settings come from
# the drop-in keepalive-policyd writes on a server test root; the client runs a real ssh whose
# only configuration is the client test root's ssh_config, which includes the drop-in
# keepalive-policyd writes there. Both daemons run for the whole test (--unit none --bus none);
# each case pushes its policy by rename, as Ansible does, and waits for the daemon's "state ok".
# The policy's network.idle_timeout is the router's timeout T.
#
# A session is `ssh ... 'cat >> FILE'` fed from a FIFO: a first line proves it is up, then
# nothing at all is written for the idle gap, then a second line. Cases:
#   (a) no keepalive policy on either side: the router forgets the idle flow, the second line is
#       dropped as INVALID and never arrives;
#   (e) a policy whose server interval equals T is rejected by `keepalivectl validate`, and the
#       same value, written into an sshd configuration by hand, fails as (a) does;
#   (c) the client policy only (ServerAliveInterval T/2): the session survives;
#   (b) the server policy only (ClientAliveInterval T/3): the session survives;
#   (d) in (b)'s session the router then drops everything: sshd closes the dead session within
#       the bound that ClientAliveInterval and ClientAliveCountMax give as sshd 9.2 really probes
#       (measured here: see the comment at (d)).
# Each case also measures the keepalive probes during the idle gap (from sshd's DEBUG2 log,
# timestamped as it is written) and the longest silence on the path, which must stay below T.
#
# Needs root, iproute2, nftables, conntrack, openssh-server, openssh-client, procps, and a
# build (KEEPALIVE_BUILD_DIR, default ../../build) with keepalive-policyd and keepalivectl.
# Knobs: KEEPALIVE_E2E_TIMEOUT (T, default 6 seconds), KEEPALIVE_E2E_KEEP=1 (keep the scratch
# directory with every log). Output: "ok - ..." / "not ok - ..." per check, "# ..." for
# measurements; the last line is "N passed, M failed"; the exit status is non-zero on failure.
# Takes about a minute; cleans up its namespaces and processes on any exit.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TAG=kpe2e-$$   # names its namespaces and its scratch directory (netns_reap_stale)
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
# shellcheck source=../lib/e2e.sh
. "$HERE/../lib/e2e.sh"

BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl
SSHD_BIN=/usr/sbin/sshd
SSH_BIN=/usr/bin/ssh

T=${KEEPALIVE_E2E_TIMEOUT:-6}   # router's established-TCP timeout = policy's network.idle_timeout
# The idle gap: the one deliberate wait of each case, since idleness is what is tested. T plus
# half of T: long enough that the router has certainly forgotten a flow idle since the gap began
# (conntrack treats an entry past its timeout as gone at the next lookup), short enough to keep
# the test quick; the survivors' keepalives fire at least twice in it (every 2T/3 and T/2).
GAP=$((T + T / 2))
PORT=2222
CLI_IP=192.0.2.2 NAT_CLI_IP=192.0.2.1 NAT_SRV_IP=198.51.100.1 SRV_IP=198.51.100.2
NS_C=$E2E_TAG-cli NS_R=$E2E_TAG-nat NS_S=$E2E_TAG-srv

harness_begin
# ------------------------------------------------------------------------------ preflight --
e2e_preflight kpe2e

KP_KEEP_WORK=${KEEPALIVE_E2E_KEEP:-0}
WORK=$(mktemp -d "/tmp/$E2E_TAG.XXXXXX") || fatal "mktemp"
chmod 0755 "$WORK"         # the daemons run ssh -G as nobody, who must read the roots
S=$WORK
SR=$S/server-root CR=$S/client-root
info "scratch $S; router timeout T=${T}s, idle gap ${GAP}s"

# -------------------------------------------------------------------------------- topology --
# The veth ends are created directly inside the namespaces: no interface, address or rule ever
# exists in the host's namespace.
setup_network() {
    netns_add "$NS_C" && netns_add "$NS_R" && netns_add "$NS_S" || return 1
    ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R" || return 1
    ip link add s0 netns "$NS_S" type veth peer name r1 netns "$NS_R" || return 1
    ip -n "$NS_C" addr add $CLI_IP/24 dev c0 && ip -n "$NS_C" link set c0 up &&
        ip -n "$NS_C" route add default via $NAT_CLI_IP || return 1
    ip -n "$NS_R" addr add $NAT_CLI_IP/24 dev r0 && ip -n "$NS_R" link set r0 up &&
        ip -n "$NS_R" addr add $NAT_SRV_IP/24 dev r1 && ip -n "$NS_R" link set r1 up || return 1
    ip -n "$NS_S" addr add $SRV_IP/24 dev s0 && ip -n "$NS_S" link set s0 up || return 1
    # Per-namespace conntrack settings: the host's own values are untouched.
    in_ns "$NS_R" sysctl -q -w net.ipv4.ip_forward=1 \
        net.netfilter.nf_conntrack_tcp_timeout_established="$T" \
        net.netfilter.nf_conntrack_tcp_loose=0 || return 1
    # A stateful firewall: packets conntrack cannot place (a mid-stream segment of a flow it has
    # forgotten, with tcp_loose=0) are INVALID and dropped, and counted (the client's apart); a new flow
    # needs a SYN from the client side; the router itself accepts nothing, so it never answers a
    # forgotten flow with a RST either.
    in_ns "$NS_R" nft -f - <<'EOF' || return 1
table inet kpe2e {
    counter invalid_from_client { }
    counter invalid_other { }
    chain input {
        type filter hook input priority filter; policy drop;
        ct state invalid counter name "invalid_other" drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state invalid iifname "r0" counter name "invalid_from_client" drop
        ct state invalid counter name "invalid_other" drop
        ct state established,related accept
        iifname "r0" oifname "r1" ct state new tcp flags & (fin | syn | rst | ack) == syn accept
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "r1" masquerade
    }
}
EOF
}
setup_network || fatal "network namespaces, veth pairs, router sysctls and nftables rules"
check "router: established TCP timeout ${T}s, tcp_loose 0, in the router's namespace only" \
    test "$(in_ns "$NS_R" cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established \
        /proc/sys/net/netfilter/nf_conntrack_tcp_loose | tr '\n' ' ')" = "$T 0 "
check "the server has no route to the client's network (only NATed traffic reaches it)" \
    eval '! in_ns "$NS_S" ip route get $CLI_IP >/dev/null 2>&1'

# invalid_drops [client|all]: packets the router dropped as INVALID (from the client's side only,
# or from both sides)
invalid_drops() {
    local c n total=0
    for c in invalid_from_client invalid_other; do
        [ "${1:-all}" = client ] && [ "$c" != invalid_from_client ] && continue
        n=$(in_ns "$NS_R" nft list counter inet kpe2e "$c" | sed -n 's/.*packets \([0-9]*\).*/\1/p')
        total=$((total + n))
    done
    echo "$total"
}
# flows_to_sshd: conntrack entries of the router towards sshd's port
flows_to_sshd() {
    in_ns "$NS_R" conntrack -L -p tcp --dport $PORT 2>/dev/null | grep -c ESTABLISHED
}

# ------------------------------------------------------------------------------ test roots --
# As tests/support makeDaemonRoot builds them, with sshd listening in the server namespace and
# root allowed in by a throwaway key (AuthorizedKeysFile inside the root: the host's ~root is
# never touched). StrictModes is off because the root lives under /tmp (mode 1777).
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
make_root() {  # make_root DIR
    local r=$1
    mkdir -p "$r/etc/ssh/sshd_config.d" "$r/etc/ssh/ssh_config.d" "$r/run" \
        "$r/etc/keepalive-policy/policy.d" || return 1
    ssh-keygen -q -t ed25519 -N '' -f "$r/etc/ssh/ssh_host_ed25519_key" || return 1
    cat > "$r/etc/ssh/sshd_config" <<EOF
# keepalive-policy e2e test root: sshd_config
Include $r/etc/ssh/sshd_config.d/*.conf
HostKey $r/etc/ssh/ssh_host_ed25519_key
PidFile $r/run/sshd.pid
ListenAddress $SRV_IP:$PORT
AuthorizedKeysFile $r/etc/ssh/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
# DEBUG2 logs each probe sshd sends ("channel N: request keepalive@openssh.com") and each it
# receives ("rtype keepalive@openssh.com"), which the test timestamps.
LogLevel DEBUG2
EOF
    echo "Include $r/etc/ssh/ssh_config.d/*.conf" > "$r/etc/ssh/ssh_config"
    printf 'version: 1\n' > "$r/etc/keepalive-policy/policy.yaml"
    chmod 0755 "$r"; chmod -R go-w,a+rX "$r/etc" "$r/run"
    chmod 0600 "$r/etc/ssh/ssh_host_ed25519_key"
}
make_root "$SR" && make_root "$CR" || fatal "test roots"
ssh-keygen -q -t ed25519 -N '' -C kpe2e -f "$S/client_key" &&
    cp "$S/client_key.pub" "$SR/etc/ssh/authorized_keys" || fatal "client key"

# Policies. "Off": no network.idle_timeout, so nothing is derived and both drop-ins set no
# keepalive (sshd's ClientAliveInterval 0, ssh's ServerAliveInterval 0: the stock defaults).
POLICY_OFF=$'version: 1\n# no network.idle_timeout: the drop-ins set no keepalive at all\n'
POLICY_ON=$'version: 1\nnetwork:\n  idle_timeout: '"${T}s"$'\n'
printf '%s' "$POLICY_OFF" > "$S/policy-off.yaml"
printf '%s' "$POLICY_ON" > "$S/policy-on.yaml"
digest_of() { "$CTL_BIN" render --sshd "$1" 2>/dev/null | sed -n 's/^# policy-digest: //p'; }
DIGEST_OFF=$(digest_of "$S/policy-off.yaml")
DIGEST_ON=$(digest_of "$S/policy-on.yaml")
[ -n "$DIGEST_OFF" ] && [ -n "$DIGEST_ON" ] || fatal "keepalivectl render: policy digests"

# ------------------------------------------------------------------------------- daemons --
cp "$S/policy-off.yaml" "$SR/etc/keepalive-policy/policy.yaml"
cp "$S/policy-off.yaml" "$CR/etc/keepalive-policy/policy.yaml"
# Each daemon runs in its host's namespace (it needs no network: no reloads, no bus), so that
# even a run killed with SIGKILL leaves nothing behind that the next run's netns_reap_stale misses.
spawn_logged DAEMON_S "$S/daemon-server.log" "$NS_S" \
    "$DAEMON_BIN" --root "$SR" --unit none --foreground --bus none --host e2e-server
spawn_logged DAEMON_C "$S/daemon-client.log" "$NS_C" \
    "$DAEMON_BIN" --root "$CR" --unit none --foreground --bus none --host e2e-client

# state_ok LOG DIGEST SKIP: a "state ok" line for DIGEST after the first SKIP lines of LOG
state_ok() { tail -n +"$(($3 + 1))" "$1" 2>/dev/null | grep -q "state ok: policy $2 in force"; }
lines_of() { wc -l < "$1"; }
DAEMON_S_PID= DAEMON_C_PID=   # the daemons themselves, spared when a session ends
wait_for 5 netns_find_exe DAEMON_S_PID "$NS_S" "$DAEMON_BIN" &&
    wait_for 5 netns_find_exe DAEMON_C_PID "$NS_C" "$DAEMON_BIN" ||
    fatal "daemons started" "$S/daemon-server.log" "$S/daemon-client.log"
wait_for 20 state_ok "$S/daemon-server.log" "$DIGEST_OFF" 0 ||
    fatal "server daemon: state ok" "$S/daemon-server.log"
wait_for 20 state_ok "$S/daemon-client.log" "$DIGEST_OFF" 0 ||
    fatal "client daemon: state ok" "$S/daemon-client.log"
ok "both daemons: state ok with the keepalive-off policy"

# push ROOT LOG FILE DIGEST: replace ROOT's policy by rename (as Ansible does) and wait until the
# daemon says it is in force.
push() {
    local root=$1 log=$2 file=$3 digest=$4 n
    n=$(lines_of "$log")
    cp "$file" "$root/etc/keepalive-policy/.policy.new" &&
        mv "$root/etc/keepalive-policy/.policy.new" "$root/etc/keepalive-policy/policy.yaml" &&
        wait_for 20 state_ok "$log" "$digest" "$n"
}
# effective values, read back from the real sshd -T and ssh -G over the test roots
sshd_value() { "$SSHD_BIN" -T -f "$SR/etc/ssh/sshd_config" 2>/dev/null | sed -n "s/^$1 //p"; }
ssh_value() { "$SSH_BIN" -G -F "$CR/etc/ssh/ssh_config" -p $PORT $SRV_IP 2>/dev/null | sed -n "s/^$1 //p"; }

# set_policies SERVER(on|off) CLIENT(on|off): pushes each side's policy if it changes
CUR_S=off CUR_C=off
set_policies() {
    local want_s=$1 want_c=$2 up
    if [ "$want_s" != "$CUR_S" ]; then
        up=$(tr '[:lower:]' '[:upper:]' <<< "$want_s")
        local -n d=DIGEST_$up
        push "$SR" "$S/daemon-server.log" "$S/policy-$want_s.yaml" "$d" ||
            fatal "server daemon applies the '$want_s' policy" "$S/daemon-server.log"
        CUR_S=$want_s
    fi
    if [ "$want_c" != "$CUR_C" ]; then
        up=$(tr '[:lower:]' '[:upper:]' <<< "$want_c")
        local -n d2=DIGEST_$up
        push "$CR" "$S/daemon-client.log" "$S/policy-$want_c.yaml" "$d2" ||
            fatal "client daemon applies the '$want_c' policy" "$S/daemon-client.log"
        CUR_C=$want_c
    fi
}

# ------------------------------------------------------------------------------ sessions --
SSHD_PID= SSH_PID= SSH_FD= CASE= RECV= SSHD_LOG= SSH_LOG=

# start_sshd CASE [CONFIG]: a fresh sshd in the server namespace (it reads its configuration,
# and so the drop-in, when it starts)
start_sshd() {
    local config=${2:-$SR/etc/ssh/sshd_config}
    SSHD_LOG=$S/sshd-$1.log
    spawn_logged SSHD_PID "$SSHD_LOG" "$NS_S" "$SSHD_BIN" -D -e -f "$config"
    wait_for 10 grep -qs "Server listening on $SRV_IP port $PORT" "$SSHD_LOG" ||
        fatal "($1) sshd listens on $SRV_IP:$PORT" "$SSHD_LOG"
}

# start_session CASE: ssh from the client namespace running 'cat >> RECV' on the server, its
# standard input a FIFO held open by this shell (SSH_FD)
start_session() {
    CASE=$1 RECV=$S/received-$1 SSH_LOG=$S/ssh-$1.log
    local fifo=$S/input-$1
    mkfifo "$fifo"
    SPAWN_STDIN=$fifo spawn_logged SSH_PID "$SSH_LOG" "$NS_C" "$SSH_BIN" \
        -F "$CR/etc/ssh/ssh_config" -T -p $PORT -i "$S/client_key" \
        -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o GlobalKnownHostsFile=/dev/null -o LogLevel=DEBUG1 \
        root@$SRV_IP "exec cat >> '$RECV'"
    exec {SSH_FD}> "$fifo"
    send "$CASE-line-1"
    wait_for 20 arrived "$CASE-line-1" ||
        fatal "($CASE) ssh session up: the first line arrives" "$SSH_LOG" "$SSHD_LOG"
}
send() { printf '%s\n' "$1" >&"$SSH_FD"; }
arrived() { grep -qxF "$1" "$RECV" 2>/dev/null; }
not_arrived() { ! arrived "$1"; }

# end_session: ends ssh and sshd, and aborts their TCP connections, so that no retransmission
# of this case reaches the router during the next one (its INVALID counter is part of the proof).
end_session() {
    [ -n "$SSH_FD" ] && exec {SSH_FD}>&-
    SSH_FD=
    netns_kill_all "$NS_C" "$DAEMON_C_PID"
    netns_kill_all "$NS_S" "$DAEMON_S_PID"
    wait "$SSH_PID" "$SSHD_PID" 2>/dev/null
    netns_abort_tcp "$NS_C"
    netns_abort_tcp "$NS_S"
    wait_for 5 netns_no_tcp "$NS_C" && wait_for 5 netns_no_tcp "$NS_S" ||
        not_ok "($CASE) no TCP connection left after the session"
}

# probe_times LOG PATTERN FROM_US TO_US: timestamps (us) of LOG lines matching PATTERN in range
probe_times() {
    awk -v from="$3" -v to="$4" -v pat="$2" '$1 >= from && $1 <= to && index($0, pat) { print $1 }' "$1"
}
# intervals_s US...: "4.001 3.998 ..." between consecutive moments
intervals_s() {
    local prev= t out=
    for t in "$@"; do
        [ -n "$prev" ] && out+="$(fmt_s $(( (t - prev) / 1000 ))) "
        prev=$t
    done
    echo "${out% }"
}
# offsets_s FROM US...: "+4.002 +8.004" relative to FROM
# longest_ms US...: the longest step between consecutive moments, in ms
longest_ms() {
    local prev= t max=0
    for t in "$@"; do
        [ -n "$prev" ] && [ $(( (t - prev) / 1000 )) -gt "$max" ] && max=$(( (t - prev) / 1000 ))
        prev=$t
    done
    echo "$max"
}

SERVER_PROBE="request keepalive@openssh.com"     # sshd sends a ClientAlive probe
CLIENT_PROBE="rtype keepalive@openssh.com"       # sshd receives a ServerAlive probe

# idle_case CASE EXPECT(survives|breaks) [GAP_S]: the body of every case once its session is up.
# Sets GAP_START, SENT_AT (us).
idle_case() {
    local case=$1 expect=$2 GAP=${3:-$GAP} drops0 cdrops0 flows_after probes_s probes_c t n
    drops0=$(invalid_drops all)
    cdrops0=$(invalid_drops client)
    check "($case) the router tracks the session's flow" test "$(flows_to_sshd)" = 1
    GAP_START=$(now_us)
    # The idle gap: the deliberate wait, and the subject of the test. Nothing is written.
    sleep "$GAP"
    flows_after=$(flows_to_sshd)
    SENT_AT=$(now_us)
    send "$case-line-2"

    # Keepalive traffic during the gap, as sshd logged it; the path's longest silence runs from
    # the first line's arrival (the last data) through each probe to the second line.
    mapfile -t probes_s < <(probe_times "$SSHD_LOG" "$SERVER_PROBE" "$GAP_START" "$SENT_AT")
    mapfile -t probes_c < <(probe_times "$SSHD_LOG" "$CLIENT_PROBE" "$GAP_START" "$SENT_AT")
    local all
    mapfile -t all < <(printf '%s\n' "$GAP_START" "${probes_s[@]}" "${probes_c[@]}" "$SENT_AT" |
        grep . | sort -n)
    info "($case) in the ${GAP}s gap: sshd probes at [$(offsets_s "$GAP_START" "${probes_s[@]}")] s," \
        "ssh probes at [$(offsets_s "$GAP_START" "${probes_c[@]}")] s;" \
        "longest silence on the path $(fmt_s "$(longest_ms "${all[@]}")") s (the router forgets after ${T}s)"

    if [ "$expect" = survives ]; then
        check "($case) the router still tracks the flow after the ${GAP}s gap" test "$flows_after" = 1
        if wait_for 10 arrived "$case-line-2"; then
            t=$(now_us)
            ok "($case) data sent after the idle gap arrives ($(ms_between "$SENT_AT" "$t") ms, polled every 50 ms)"
        else
            not_ok "($case) data sent after the idle gap arrives"
            dump "$SSH_LOG" "$SSHD_LOG"
        fi
        check "($case) the router dropped nothing as INVALID" test "$(invalid_drops all)" = "$drops0"
        LONGEST_MS=$(longest_ms "${all[@]}")
        check "($case) the path was never silent for T=${T}s (longest $(fmt_s "$LONGEST_MS") s)" \
            test "$LONGEST_MS" -lt $((T * 1000))
    else
        check "($case) the router forgot the flow during the ${GAP}s gap" test "$flows_after" = 0
        # "Never arrives", measured without a guessed timeout: wait (bounded) until the router
        # has dropped the client's segment and two of its retransmissions (TCP retransmits
        # after ~0.2, 0.6, 1.4 s) as INVALID. With tcp_loose=0 no later copy can pass either:
        # only a SYN opens a flow. Then the line must not be there.
        drops_reached() { [ "$(invalid_drops client)" -ge "$1" ]; }
        if wait_for 15 drops_reached $((cdrops0 + 3)); then
            t=$(now_us)
            n=$(( $(invalid_drops client) - cdrops0 ))
            check "($case) data sent after the idle gap never arrives (the router dropped $n of the client's segments as INVALID within $(ms_between "$SENT_AT" "$t") ms)" \
                not_arrived "$case-line-2"
        else
            not_ok "($case) the router drops the client's retransmissions as INVALID"
            dump "$SSH_LOG" "$SSHD_LOG"
        fi
    fi
}

# ------------------------------------------------------------------------------ (e) rule --
# The policy language rejects a server interval equal to the timeout (rule 2); its run-time
# failure is shown at (e) below, with the same value written by hand.
printf 'version: 1\nnetwork:\n  idle_timeout: %ss\nserver:\n  client_alive_interval: %ss\n' "$T" "$T" \
    > "$S/policy-equal.yaml"
"$CTL_BIN" validate "$S/policy-equal.yaml" > "$S/validate-equal.out" 2>&1
rc=$?
check "(e) keepalivectl validate rejects server.client_alive_interval = idle_timeout = ${T}s (exit $rc)" \
    test "$rc" = 1
check "(e) ... with the rule's reason" grep -q \
    "error: server.client_alive_interval ${T}s is not below network.idle_timeout ${T}s" "$S/validate-equal.out"
sed 's/^/#   /' "$S/validate-equal.out"
"$CTL_BIN" validate --strict "$S/policy-on.yaml" > "$S/validate-on.out" 2>&1
check "(e) ... while the policy under test (idle_timeout ${T}s alone) is valid under --strict" test $? = 0

# ------------------------------------------------------------------------------- (a) off --
set_policies off off
check "(a) effective: sshd clientaliveinterval 0, ssh serveraliveinterval 0 (policy off)" \
    test "$(sshd_value clientaliveinterval)/$(ssh_value serveraliveinterval)" = 0/0
start_sshd a
start_session a
idle_case a breaks
end_session

# ----------------------------------------------------------------- (e) interval = timeout --
# What validate refused, run for real: the stock configuration with ClientAliveInterval T
# written first (sshd keeps the first value), beside the daemon's root rather than in it, so
# the daemon has nothing to repair.
{ echo "ClientAliveInterval $T"; cat "$SR/etc/ssh/sshd_config"; } > "$S/sshd_config-equal"
check "(e) effective with the hand-written file: clientaliveinterval $T" \
    test "$("$SSHD_BIN" -T -f "$S/sshd_config-equal" | sed -n 's/^clientaliveinterval //p')" = "$T"
start_sshd e "$S/sshd_config-equal"
start_session e
# A longer gap here, 2T + T/2. sshd's first probe after the first line comes between i and 2i
# later (sooner than 2i when the session's start-up output woke sshd in between: see (d)), so
# with i = T it may leave just as the router forgets the flow, and win that race; the flow then
# lives until 2T, and the next probe, 2i = 2T after the first (3T), finds it gone. Either way
# the session is dead by 2T + T/2.
idle_case e breaks $((2 * T + T / 2))
end_session

# ---------------------------------------------------------------------------- (c) client --
set_policies off on
I_CLIENT=$(ssh_value serveraliveinterval)
check "(c) effective: sshd clientaliveinterval 0, ssh serveraliveinterval $((T / 2)) (= T/2, from the client daemon's drop-in)" \
    test "$(sshd_value clientaliveinterval)/$I_CLIENT" = "0/$((T / 2))"
check "(c) ... set by the client drop-in" grep -qx "ServerAliveInterval $((T / 2))" \
    "$CR/etc/ssh/ssh_config.d/00-keepalive-policy.conf"
start_sshd c
start_session c
idle_case c survives
end_session

# ---------------------------------------------------------------------------- (b) server --
set_policies on off
I_SERVER=$(sshd_value clientaliveinterval)
C_SERVER=$(sshd_value clientalivecountmax)
check "(b) effective: sshd clientaliveinterval $((T / 3)) (= T/3), ssh serveraliveinterval 0" \
    test "$I_SERVER/$(ssh_value serveraliveinterval)" = "$((T / 3))/0"
check "(b) ... set by the server drop-in" grep -qx "ClientAliveInterval $((T / 3))" \
    "$SR/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
start_sshd b
start_session b
idle_case b survives
# The probe period while the client is silent, measured over the gap.
mapfile -t b_probes < <(probe_times "$SSHD_LOG" "$SERVER_PROBE" "$GAP_START" "$SENT_AT")

# ----------------------------------------------------------------------------- (d) dead --
# What sshd 9.2 does, measured (here, and in a throwaway run with i = 1 s: 40 probes, every one
# 2.00-2.01 s apart): its poll() wakes ClientAliveInterval i after its last activity, and it
# probes only when, in whole seconds of its clock, more than i have passed since the client's
# last packet or its own last probe. A wake exactly i later fails that test, so a silent client
# is probed every 2i, not every i. The first probe after client data comes 2i later, or sooner
# when the session's own output woke sshd in between (that output was traffic on the path too):
# the path is never silent for more than 2i, which is why the policy derives i = T/3.
# Each probe counts one unanswered; at the check that finds more than ClientAliveCountMax c
# unanswered, sshd logs "Timeout, client not responding" and exits: the (c+1)th check, 2i(c+1)
# after the client's last packet. The router drops everything right after the second line, the
# client's last packet, and the session writes nothing back, so:
#   expected 2i(c+1) after the drop (16 s for T = 6 s); bound 2i(c+1) + 1 s (whole seconds);
#   at least 2ic - 1 s. The naive interval x count (6 s) is far too short.
info "(d) sshd ClientAliveInterval i=${I_SERVER}s, ClientAliveCountMax c=${C_SERVER} (sshd -T)"
# (the router's input chain drops everything already)
in_ns "$NS_R" nft insert rule inet kpe2e forward counter drop || fatal "(d) router drops everything"
DROP_AT=$(now_us)
BOUND_MS=$(( 2 * I_SERVER * (C_SERVER + 1) * 1000 + 1000 ))
FLOOR_MS=$(( 2 * I_SERVER * C_SERVER * 1000 - 1000 ))
timeout_logged() { grep -qs "Timeout, client not responding" "$SSHD_LOG"; }
if wait_for $(( BOUND_MS / 1000 + 10 )) timeout_logged; then
    closed_at=$(awk '/Timeout, client not responding/ { print $1; exit }' "$SSHD_LOG")
    took=$(ms_between "$DROP_AT" "$closed_at")
    mapfile -t d_probes < <(probe_times "$SSHD_LOG" "$SERVER_PROBE" "$DROP_AT" "$closed_at")
    info "(d) after the drop: ${#d_probes[@]} unanswered probe(s) at [$(offsets_s "$DROP_AT" "${d_probes[@]}")] s," \
        "then 'Timeout, client not responding' at +$(fmt_s "$took") s"
    check "(d) sshd closes the dead session in $(fmt_s "$took") s, within 2i(c+1)+1 = $(fmt_s "$BOUND_MS") s" \
        test "$took" -le "$BOUND_MS"
    check "(d) ... and not before 2ic-1 = $(fmt_s "$FLOOR_MS") s (i x c = $((I_SERVER * C_SERVER)) s would be wrong)" \
        test "$took" -ge "$FLOOR_MS"
    check "(d) ... after exactly c=$C_SERVER unanswered probes" test "${#d_probes[@]}" = "$C_SERVER"
    # The model above, checked on every probe sshd sent to the silent client, answered (the
    # gap of (b)) or not (here, up to the check that gave up): measured, each comes 2i after
    # the previous one. sshd compares whole seconds, so when its poll() wakes a millisecond
    # past a second boundary it probes after i instead (rare between probes; the first probe
    # after data is often early): never later than 2i, which is what the policy relies on.
    # If this fails, sshd's probing changed, and so must the policy's rule 3 and its i = T/3.
    periods_ok() {  # US... [-- US...]: every step <= 2i + 1 s, at least one >= 2i - 1 s
        local prev= t d long=0
        for t in "$@"; do
            [ "$t" = -- ] && { prev=; continue; }
            if [ -n "$prev" ]; then
                d=$(( (t - prev) / 1000 ))
                [ "$d" -le $(( 2 * I_SERVER * 1000 + 1000 )) ] || return 1
                [ "$d" -ge $(( 2 * I_SERVER * 1000 - 1000 )) ] && long=1
            fi
            prev=$t
        done
        [ "$long" = 1 ]
    }
    check "(b)(d) sshd probes a silent client every second interval, 2i = $((2 * I_SERVER)) s (measured: [$(intervals_s "${b_probes[@]}")] s in (b), [$(intervals_s "${d_probes[@]}" "$closed_at")] s in (d))" \
        periods_ok "${b_probes[@]}" -- "${d_probes[@]}" "$closed_at"
    # the listening sshd (its PidFile) has no child left: the session's processes are gone
    no_session() { ! pgrep -P "$(cat "$SR/run/sshd.pid")" > /dev/null; }
    check "(d) the session's sshd processes have exited" wait_for 5 no_session
else
    not_ok "(d) sshd closes the dead session within $(fmt_s "$BOUND_MS") s"
    dump "$SSHD_LOG"
fi
end_session

grep -qE "state (policy-invalid|sshd-config-broken)|last apply (rolled-back|policy-error)" \
    "$S/daemon-server.log" "$S/daemon-client.log" &&
    not_ok "the daemons never rolled back or rejected a policy" ||
    ok "the daemons never rolled back or rejected a policy"
finish
