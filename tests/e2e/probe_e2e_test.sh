#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# probe_e2e_test.sh - `keepalivectl probe` measures a real NAT's idle timeout.
#
# The lab of e2e_test.sh, without keepalive-policyd: three network namespaces joined by veth
# pairs, no address outside them:
#
#   client ns                  router ns (NAT, stateful firewall)           server ns
#   ssh  192.0.2.2/24 --veth-- 192.0.2.1/24   198.51.100.1/24 --veth-- 198.51.100.2/24 sshd :2222
#        default via .1        masquerade out of the server side,          ClientAliveInterval 0:
#                              conntrack forgets established TCP idle      the server never
#                              for T s (default 6), tcp_loose 0; nftables  refreshes the path
#                              drops ct INVALID, only a SYN opens a flow
#
# In the client namespace the unprivileged user nobody, as any user would, runs
#   keepalivectl probe --max 20s root@198.51.100.2 -- -p 2222 -i KEY ...
# (the default ladder up to 20s: 5s, 10s, 15s, 20s) once with --json and once for its text. It
# must bracket the router's timeout: the longest silence survived at most T, the shortest
# dropped at most 2T, the recommended network.idle_timeout the survived value; the server sent
# no keepalive; no ssh of the probe outlives it.
#
# Needs root, iproute2, nftables, conntrack, openssh-server, openssh-client, util-linux
# (setpriv), and a build (KEEPALIVE_BUILD_DIR, default ../../build) with keepalivectl.
# Knobs: KEEPALIVE_E2E_TIMEOUT (T, default 6 seconds), KEEPALIVE_E2E_KEEP=1 (keep the scratch
# directory). Output: "ok - ..." / "not ok - ..." per check, "# ..." for measurements and the
# probe's own output; the last line is "N passed, M failed". About 50 s.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TAG=kpprobe-$$   # names its namespaces and its scratch directory (netns_reap_stale)
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
# shellcheck source=../lib/e2e.sh
. "$HERE/../lib/e2e.sh"

BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
# shellcheck disable=SC2034  # DAEMON_BIN, SSH_BIN: e2e_preflight checks them (the daemon is not run)
DAEMON_BIN=$BUILD/daemon/keepalive-policyd SSH_BIN=/usr/bin/ssh
CTL_BIN=$BUILD/cli/keepalivectl
SSHD_BIN=/usr/sbin/sshd

T=${KEEPALIVE_E2E_TIMEOUT:-6}
MAX=20
PORT=2222
CLI_IP=192.0.2.2 NAT_CLI_IP=192.0.2.1 NAT_SRV_IP=198.51.100.1 SRV_IP=198.51.100.2
NS_C=$E2E_TAG-cli NS_R=$E2E_TAG-nat NS_S=$E2E_TAG-srv

harness_begin
e2e_preflight kpprobe setpriv jq

KP_KEEP_WORK=${KEEPALIVE_E2E_KEEP:-0}
WORK=$(mktemp -d "/tmp/$E2E_TAG.XXXXXX") || fatal "mktemp"
chmod 0755 "$WORK"   # nobody reads its key here
S=$WORK
info "scratch $S; router timeout T=${T}s; probe --max ${MAX}s"

# -------------------------------------------------------------------------------- topology --
setup_network() {
    netns_add "$NS_C" && netns_add "$NS_R" && netns_add "$NS_S" || return 1
    ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R" || return 1
    ip link add s0 netns "$NS_S" type veth peer name r1 netns "$NS_R" || return 1
    ip -n "$NS_C" addr add $CLI_IP/24 dev c0 && ip -n "$NS_C" link set c0 up &&
        ip -n "$NS_C" route add default via $NAT_CLI_IP || return 1
    ip -n "$NS_R" addr add $NAT_CLI_IP/24 dev r0 && ip -n "$NS_R" link set r0 up &&
        ip -n "$NS_R" addr add $NAT_SRV_IP/24 dev r1 && ip -n "$NS_R" link set r1 up || return 1
    ip -n "$NS_S" addr add $SRV_IP/24 dev s0 && ip -n "$NS_S" link set s0 up || return 1
    in_ns "$NS_R" sysctl -q -w net.ipv4.ip_forward=1 \
        net.netfilter.nf_conntrack_tcp_timeout_established="$T" \
        net.netfilter.nf_conntrack_tcp_loose=0 || return 1
    # As in e2e_test.sh: a forgotten flow's packets are INVALID and dropped (counted), no RST.
    in_ns "$NS_R" nft -f - <<'EOF' || return 1
table inet kpprobe {
    counter invalid { }
    chain input {
        type filter hook input priority filter; policy drop;
        ct state invalid counter name "invalid" drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state invalid counter name "invalid" drop
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
invalid_drops() { in_ns "$NS_R" nft list counter inet kpprobe invalid | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

# ---------------------------------------------------------------------------------- sshd --
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$S/host_key" &&
    ssh-keygen -q -t ed25519 -N '' -C kpprobe -f "$S/user_key" &&
    mv "$S/user_key.pub" "$S/authorized_keys" && chown nobody "$S/user_key" || fatal "keys"
cat > "$S/sshd_config" <<EOF
# keepalive-policy probe e2e: the server never probes its clients, so only the router decides
HostKey $S/host_key
PidFile $S/sshd.pid
ListenAddress $SRV_IP:$PORT
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
ClientAliveInterval 0
EOF
check "sshd: effective clientaliveinterval 0" \
    test "$("$SSHD_BIN" -T -f "$S/sshd_config" | sed -n 's/^clientaliveinterval //p')" = 0
spawn_logged SSHD_PID "$S/sshd.log" "$NS_S" "$SSHD_BIN" -D -e -f "$S/sshd_config"
wait_for 10 grep -qs "Server listening on $SRV_IP port $PORT" "$S/sshd.log" ||
    fatal "sshd listens on $SRV_IP:$PORT" "$S/sshd.log"

# ------------------------------------------------------------------------------- probe --
# probe_as_nobody OUT ARGS...: keepalivectl probe ARGS... in the client namespace as nobody;
# its stdout in OUT, stderr in OUT.err; sets RC and TOOK_MS.
probe_as_nobody() {
    local out=$1 t0; shift
    t0=$(now_us)
    in_ns "$NS_C" setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        "$CTL_BIN" probe "$@" root@$SRV_IP -- -F /dev/null -p $PORT -i "$S/user_key" \
        -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
        > "$out" 2> "$out.err"
    RC=$?
    TOOK_MS=$(ms_between "$t0" "$(now_us)")
}
# no_ssh_left: no ssh among the processes in the client namespace (ip netns pids: pgrep would see
# the host's, other runs' included)
no_ssh_left() {
    local p
    for p in $(netns_pids "$NS_C"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = ssh ] && return 1
    done
    return 0
}

drops0=$(invalid_drops)
probe_as_nobody "$S/probe.json" --max ${MAX}s --json
info "probe --max ${MAX}s --json: exit $RC in $(fmt_s "$TOOK_MS") s"
sed 's/^/#   /' "$S/probe.json" "$S/probe.json.err"
check "probe --json: exit 0 (measured)" test "$RC" = 0
json() { jq -r "$1" "$S/probe.json" 2>/dev/null; }
SURVIVED=$(json .survived_seconds) DROPPED=$(json .dropped_seconds)
check "probe brackets the router's ${T}s: survived ${SURVIVED}s <= ${T}s" \
    test "$SURVIVED" -gt 0 -a "$SURVIVED" -le "$T"
check "... dropped ${DROPPED}s, above ${T}s and at most $((2 * T))s" \
    test "$DROPPED" -gt "$T" -a "$DROPPED" -le $((2 * T))
check "... recommends network.idle_timeout = the survived value" \
    test "$(json .recommended_idle_timeout_seconds)" = "$SURVIVED"
check "... saw no server keepalive (ClientAliveInterval 0)" \
    test "$(json .server_keepalive_seconds)/$(json .measurement_holds_up_to_seconds)" = null/null
check "... the ladder up to ${MAX}s: 5s survived, 10s dropped, the longer ones stopped" \
    test "$(json '[.ladder[] | "\(.seconds):\(.result)"] | join(" ")')" = \
    "5:survived 10:dropped 15:stopped 20:stopped"
check "... and the router dropped the far end's late line as INVALID" \
    test "$(invalid_drops)" -gt "$drops0"
# The run stops once the bracket is known: about 10 s of silence plus its 6 s grace.
check "... within $(fmt_s "$TOOK_MS") s: the bracket's 10s rung and its grace, not the whole ladder" \
    test "$TOOK_MS" -lt $(( (10 + 6 + 10) * 1000 ))
check "... no ssh of the probe is left in the client namespace" wait_for 3 no_ssh_left
check "... its stderr holds none of ssh's debug output" eval '! grep -q debug1 "$S/probe.json.err"'

probe_as_nobody "$S/probe.txt" --max ${MAX}s
info "probe --max ${MAX}s (text): exit $RC in $(fmt_s "$TOOK_MS") s"
sed 's/^/#   /' "$S/probe.txt" "$S/probe.txt.err"
check "probe (text): exit 0" test "$RC" = 0
check "... says the bracket" grep -qF "Longest silence survived: ${SURVIVED}s; shortest dropped: ${DROPPED}s." "$S/probe.txt"
check "... and ends with the YAML to write" \
    test "$(tail -n 2 "$S/probe.txt" | tr '\n' '|')" = "network:|  idle_timeout: ${SURVIVED}s|"
check "... no ssh of the probe is left in the client namespace" wait_for 3 no_ssh_left

# A ladder entirely above the timeout: every session dropped, said in plain words, exit 1.
probe_as_nobody "$S/probe-all.txt" --ladder 8s,9s
info "probe --ladder 8s,9s: exit $RC in $(fmt_s "$TOOK_MS") s"
sed 's/^/#   /' "$S/probe-all.txt"
check "probe --ladder 8s,9s: exit 1 (nothing measured)" test "$RC" = 1
check "... every session dropped, with the finer ladder to rerun" grep -qF \
    "Nothing measured: every session dropped: the path's idle timeout is shorter than the first rung (8s): rerun with --ladder 1s,2s,3s,4s,5s,6s,7s --max 7s" "$S/probe-all.txt"
finish
