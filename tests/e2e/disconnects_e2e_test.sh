#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# disconnects_e2e_test.sh - a session cut by a NAT with keepalives off, seen from the server's
# journal (issue 17, section 4: "a session cut by the NAT with keepalives off is classified from
# the server's journal").
#
#   client ns                  router ns (NAT, stateful firewall)           throwaway systemd
#   ssh  192.0.2.2/24 --veth-- 192.0.2.1/24   198.51.100.1/24 --veth-- 198.51.100.2/24
#        default via .1        masquerade out of the server side           ssh.service (sshd :22),
#                              conntrack: established TCP timeout T s,     journald, and
#                              tcp_loose=0; nftables drops ct INVALID      keepalive-policyd
#
# The server is the throwaway systemd of the system tests (tests/lib/throwaway-systemd.sh): its
# own network namespace, a real journald, the distribution's ssh.service. One end of a veth pair
# is created straight inside its namespace (ip link add ... netns PID), the other in the router's,
# so no interface exists in the host's namespace. keepalive-policyd runs inside as a transient
# service with the policy `server: {log_level: verbose}` and no keepalives: it writes
# LogLevel VERBOSE into sshd's drop-in and reloads ssh.service (sshd 9.2 logs a read error only at
# VERBOSE). net.ipv4.tcp_retries2 is 3 in the server's namespace only, so that its TCP gives up on
# unacknowledged data within seconds instead of about 15 minutes.
#
# The session: `ssh USER@server 'echo up; sleep GAP; echo late; sleep 60'`, no ServerAlive, no
# ClientAlive. After GAP (> T) of silence the router has forgotten the flow; sshd's "late" is
# dropped as INVALID, TCP retransmits it and gives up, and sshd ends the session. Checks:
#   1. the session was accepted ("Accepted publickey for USER from 198.51.100.1 port P");
#   2. the client never got "late"; the router dropped the server's packets as INVALID;
#   3. the server's journal has the session's end line for that address and port, naming the
#      TCP timeout (sshd 9.2 at VERBOSE: "Read error from remote host ... Connection timed out",
#      or a write error through sshpkt_fatal);
#   4. `keepalivectl disconnects --json` inside lists that session with cause timed-out, its user,
#      address and port, network default; at INFO the same cut lists as unknown (PAM's close
#      is all sshd 9.2 logs of it).
#
# Needs root, the packages of tests/lib/throwaway-systemd.sh, iproute2, nftables, conntrack,
# openssh-client, jq, and a build (KEEPALIVE_BUILD_DIR, default ../../build). Knobs:
# KEEPALIVE_E2E_TIMEOUT (T, default 6 s), KEEPALIVE_E2E_KEEP=1 (keep the scratch directory),
# KP_KEEP_LOG=FILE (the sandbox's journal). Output: "ok - ..." / "not ok - ..." per check,
# "# ..." for information; the last line is "N passed, M failed".

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TAG=kpdis-$$
TEST_NAME=disconnects_e2e_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
# shellcheck source=../lib/e2e.sh
. "$HERE/../lib/e2e.sh"
finish() {
    journal_on_failure 40 ssh.service keepalive-policyd.service
    cleanup
    local left
    left=$(netns_leftovers)
    if [ -n "$left" ]; then not_ok "cleanup left: $left"; else ok "cleanup: no namespace or process left"; fi
    report
}

BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl
SSHD_BIN=/usr/sbin/sshd
SSH_BIN=/usr/bin/ssh
UNIT=keepalive-policyd.service

T=${KEEPALIVE_E2E_TIMEOUT:-6}
GAP=$((T + T / 2 + 1))     # the router has certainly forgotten a flow idle this long
USER_NAME=kpdis
CLI_IP=192.0.2.2 NAT_CLI_IP=192.0.2.1 NAT_SRV_IP=198.51.100.1 SRV_IP=198.51.100.2
NS_C=$E2E_TAG-cli NS_R=$E2E_TAG-nat

harness_begin
e2e_preflight kpdis jq
KP_KEEP_WORK=${KEEPALIVE_E2E_KEEP:-0}
make_work "$E2E_TAG"
chmod 0755 "$WORK"
info "scratch $WORK; router timeout T=${T}s, idle gap ${GAP}s"

# ------------------------------------------------------------------------------ the server --
sandbox_start
SPID=$("$TSD" pid "$STATE")
inside sysctl -q -w net.ipv4.tcp_retries2=3 || fatal "tcp_retries2 in the server's namespace"
check "the server's tcp_retries2 is 3, the host's is untouched ($(cat /proc/sys/net/ipv4/tcp_retries2))" \
    test "$(inside cat /proc/sys/net/ipv4/tcp_retries2)" = 3
inside useradd -m -s /bin/sh "$USER_NAME" || fatal "useradd $USER_NAME inside"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id" || fatal "ssh-keygen"
inside install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "/home/$USER_NAME/.ssh"
"$TSD" cp-in "$STATE" "$WORK/id.pub" "/home/$USER_NAME/.ssh/authorized_keys"
inside chown "$USER_NAME:$USER_NAME" "/home/$USER_NAME/.ssh/authorized_keys"
inside chmod 0600 "/home/$USER_NAME/.ssh/authorized_keys"

# keepalive-policyd inside, as truth_test.sh runs it: the policy asks for LogLevel VERBOSE only.
"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
"$TSD" cp-in "$STATE" "$HERE/../../units/org.keepalivepolicy1.conf" /usr/share/dbus-1/system.d/org.keepalivepolicy1.conf
inside busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null ||
    fatal "the bus policy inside"
inside mkdir -p /etc/keepalive-policy
printf 'version: 1\nserver:\n  log_level: verbose\n' | inside sh -c 'cat > /etc/keepalive-policy/policy.yaml'
inside systemd-run --quiet --unit="${UNIT%.service}" --property=Type=notify \
    --property=NotifyAccess=main --property=TimeoutStartSec=60 \
    /usr/local/sbin/keepalive-policyd || fatal "keepalive-policyd starts inside"
sj() { inside keepalivectl status --json 2>/dev/null | jq -r "$1" 2>/dev/null; }
state_is() { [ "$(sj .State)" = "$1" ]; }
check "keepalive-policyd: state ok with server.log_level verbose" wait_for 20 state_is ok
check "sshd -T serves loglevel VERBOSE (the daemon's drop-in, reloaded)" sshd_T_is loglevel VERBOSE
check "sshd -T: no ClientAlive probes (clientaliveinterval 0)" sshd_T_is clientaliveinterval 0

# ----------------------------------------------------------------------------- the network --
setup_network() {
    netns_add "$NS_C" && netns_add "$NS_R" || return 1
    ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R" || return 1
    ip link add s0 netns "$SPID" type veth peer name r1 netns "$NS_R" || return 1
    ip -n "$NS_C" addr add $CLI_IP/24 dev c0 && ip -n "$NS_C" link set c0 up &&
        ip -n "$NS_C" route add default via $NAT_CLI_IP || return 1
    ip -n "$NS_R" addr add $NAT_CLI_IP/24 dev r0 && ip -n "$NS_R" link set r0 up &&
        ip -n "$NS_R" addr add $NAT_SRV_IP/24 dev r1 && ip -n "$NS_R" link set r1 up || return 1
    inside ip addr add $SRV_IP/24 dev s0 && inside ip link set s0 up || return 1
    in_ns "$NS_R" sysctl -q -w net.ipv4.ip_forward=1 \
        net.netfilter.nf_conntrack_tcp_timeout_established="$T" \
        net.netfilter.nf_conntrack_tcp_loose=0 || return 1
    in_ns "$NS_R" nft -f - <<'NFT' || return 1
table inet kpdis {
    counter invalid_from_client { }
    counter invalid_from_server { }
    chain input {
        type filter hook input priority filter; policy drop;
        # The server's packets of a forgotten flow are no longer de-NATed: they are addressed to
        # the router itself.
        ct state invalid iifname "r1" counter name "invalid_from_server" drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state invalid iifname "r0" counter name "invalid_from_client" drop
        ct state invalid iifname "r1" counter name "invalid_from_server" drop
        ct state established,related accept
        iifname "r0" oifname "r1" ct state new tcp flags & (fin | syn | rst | ack) == syn accept
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "r1" masquerade
    }
}
NFT
}
setup_network || fatal "namespaces, veth pairs (one end inside the server), router rules"
check "no interface of the lab in the host's namespace" \
    eval '! ip -o link show | grep -qE ": (s0|r0|r1|c0)[@:]"'
invalid_from_server() {
    in_ns "$NS_R" nft list counter inet kpdis invalid_from_server | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# ----------------------------------------------------------------------------- the session --
jsince() { inside journalctl -q --no-pager -o cat --after-cursor="$1" -t sshd 2>/dev/null; }
mkfifo "$WORK/in"
exec 7<>"$WORK/in"    # held open: the sessions' stdin never ends
# session TAG: one session through the NAT, idle for GAP, then sshd writes; sets MARK, PORT and
# T_UP (when the client read "up"); its client's output goes to $WORK/ssh-TAG.log.
session() {
    local tag=$1 line
    MARK=$(jcursor) PORT=
    SPAWN_STDIN=$WORK/in spawn_logged SSH_JOB "$WORK/ssh-$tag.log" "$NS_C" "$SSH_BIN" -F /dev/null \
        -i "$WORK/id" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=0 -o TCPKeepAlive=no \
        -o BatchMode=yes -o LogLevel=ERROR \
        "$USER_NAME@$SRV_IP" "echo up; sleep $GAP; echo late; sleep 60"
    wait_for 20 grep -q ' up$' "$WORK/ssh-$tag.log" ||
        fatal "$tag: the session is up (the client read 'up')" "$WORK/ssh-$tag.log"
    T_UP=$(now_us)
    wait_for 10 accepted >/dev/null
    line=$(accepted)
    PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' <<<"$line")
    check "$tag: the session is up; the server's journal: '$line'" test -n "$PORT"
}
accepted() {
    jsince "$MARK" | grep -E "^Accepted publickey for $USER_NAME from $NAT_SRV_IP port [0-9]+ " |
        tail -n 1 | grep .
}
# The end: TCP gives up on "late" GAP + a few seconds after "up".
end_line() {
    jsince "$MARK" | grep -E "($NAT_SRV_IP port $PORT: Connection timed out|Connection (from|to) .*$NAT_SRV_IP port $PORT timed out|$NAT_SRV_IP port $PORT.*: Connection timed out)" |
        head -n 1 | grep .
}
# PAM's line when sshd's monitor closes the session, whatever the LogLevel (INFO): the barrier
# after which the end line would have been written.
closed() { jsince "$MARK" | grep -q "pam_unix(sshd:session): session closed for user $USER_NAME"; }

echo "# a. LogLevel VERBOSE (server.log_level: verbose): the end is logged, with its reason"
session verbose
wait_for $((GAP + 30)) end_line >/dev/null
t_end=$(now_us)
eline=$(end_line)
check "verbose: the server's journal has the session's end: '$eline'" test -n "$eline"
info "end logged $(fmt_s "$(ms_between "$T_UP" "$t_end")") s after 'up' (idle gap ${GAP}s, then TCP's retries at tcp_retries2 3)"
check "verbose: the client never got 'late'" eval '! grep -q " late$" "$WORK/ssh-verbose.log"'
check "verbose: the router dropped the server's packets of the forgotten flow as INVALID ($(invalid_from_server))" \
    test "$(invalid_from_server)" -gt 0
check "verbose: sshd's monitor closed the session" wait_for 10 closed
VERBOSE_PORT=$PORT
netns_kill_all "$NS_C"
# ------------------------------------------------------ the accounting (issue 17, if built) --
# listed PORT CAUSE: keepalivectl disconnects --json inside has exactly one event of that session
# (its user, the NAT's address, PORT) with CAUSE and the default network.
listed() {
    inside keepalivectl disconnects --json 2>/dev/null |
        jq -e --arg u "$USER_NAME" --arg a "$NAT_SRV_IP" --argjson p "$1" --arg c "$2" \
            'map(select(.user == $u and .address == $a and .port == $p and .cause == $c and
                        .network == "default")) | length == 1' >/dev/null
}
check "verbose: keepalivectl disconnects --json lists the session as timed-out" wait_for 20 listed "$VERBOSE_PORT" timed-out
info "$(inside keepalivectl disconnects --json 2>&1 | jq -c '.[0]' 2>/dev/null)"
# ---------------------------------------------- b. LogLevel INFO: the same end, no reason --
echo "# b. LogLevel INFO (server.log_level removed): sshd 9.2 says nothing of why the session ended"
printf 'version: 1\n' | inside sh -c 'cat > /etc/keepalive-policy/.policy.yaml.new &&
    mv /etc/keepalive-policy/.policy.yaml.new /etc/keepalive-policy/policy.yaml'
check "the policy without log_level: sshd -T serves loglevel INFO again" wait_for 20 sshd_T_is loglevel INFO
session info
check "info: sshd's monitor closed the session (the TCP timeout ended it)" wait_for $((GAP + 30)) closed
info "closed $(fmt_s "$(ms_between "$T_UP" "$(now_us)")") s after 'up'"
check "info: no line says why: no 'Read error' or 'timed out' for port $PORT" eval '[ -z "$(end_line)" ]'
info "info: all that sshd logged of it: $(jsince "$MARK" | grep -v -e '^Accepted key' -e '^Connection from' | cut -c1-120 | tr '\n' '|')"
check "info: the client never got 'late'" eval '! grep -q " late$" "$WORK/ssh-info.log"'
# At INFO only PAM's close ends it: the classifier pairs it with its Accepted line by the
# monitor's pid and can say only that it ended.
check "info: keepalivectl disconnects --json lists the session as unknown" wait_for 20 listed "$PORT" unknown
exec 7>&-
finish
