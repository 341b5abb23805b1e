#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# networks_e2e_test.sh - per-network keepalives (the policy's `networks:`), end to end: two client
# subnets behind two NAT routers that forget idle flows after different times, one real sshd,
# one policy.
#
#   client ns "branch"       router ns "branch" (T_A = 6 s)                 server ns
#   ssh 192.0.2.2/25 ------ 192.0.2.1/25 | 198.51.100.1/25 ------------ 198.51.100.2/25   one sshd
#       2001:db8:1::2/64    2001:db8:1::1/64 | 2001:db8:20::1/64 ------ 2001:db8:20::2/64  :2222 on
#   client ns "dc"           router ns "dc" (T_B = 30 s)                                   all three
#   ssh 192.0.2.130/25 ---- 192.0.2.129/25 | 198.51.100.129/25 -------- 198.51.100.130/25
#
# Each router masquerades towards the server (v4, and v6 on the branch's) and is the stateful
# firewall of e2e_test.sh (only a SYN from its client opens a flow, conntrack-INVALID is dropped
# and counted, tcp_loose 0), with its own nf_conntrack_tcp_timeout_established. The server has
# no route to the clients: sshd sees each router's address, 198.51.100.1, 2001:db8:20::1 or
# 198.51.100.129, and that is what the policy's networks name. The clients reach the server by
# name, srv.branch.test, srv6.branch.test and srv.dc.test, mapped to its addresses by HostName
# lines placed after the include of the drop-in in each client root's ssh_config, so the
# drop-in's Host blocks are matched on the name as a user types it.
#
# One policy (policy-net.yaml below): network.idle_timeout 2m for every other path, and the
# networks branch (198.51.100.0/25 and 2001:db8:20::/64, *.branch.test, idle_timeout T_A) and dc
# (198.51.100.128/25, *.dc.test, idle_timeout T_B). Three keepalive-policyd instances (--unit
# none --bus none) run for the whole test: the server's, on the server root, and one per client,
# on each client's root; each phase pushes its policies by rename and waits for each daemon's
# "state ok", which it reaches only after proving its drop-ins with sshd -T -C and ssh -G. The
# test then reads the values back with the real `sshd -T -C addr=...` for each router's address
# and one outside, and `ssh -G` for each name and one outside, and compares them with
# `keepalivectl advise --json --idle-timeout T --openssh VERSION` for the installed sshd's VERSION.
#
#   (S) server-side keepalives only (the server daemon has the policy, the clients none): three
#       sessions side by side, branch (v4), branch6 (v6, the same router) and dc, each quiet for
#       longer than its own router's timeout (T_A + T_A/2, T_B + T_B/5); beside each, a bare TCP
#       connection to sshd (pre-authentication: sshd never probes it) idles as long, and its
#       router forgets it, which proves the router would have dropped the session without
#       keepalives. The session
#       survives; the probes sshd sends it are timestamped as its ssh receives them (ssh's
#       DEBUG1 "client_input_channel_req: ... rtype keepalive@openssh.com"): the one sshd serves
#       all sessions and its log does not say which session a probe is for, so every probe sshd
#       logged is matched to the one client that received it. Their spacing gives k, measured.
#   (D) right after the branch (v4) and dc sessions' second line their router drops all IPv4:
#       sshd cuts the frozen client ("Timeout, client not responding from user root ADDR", so
#       per network) within the model's dead-client time for that network, k x I x (C+1),
#       measured from the client's last packet, after exactly C unanswered probes (branch6
#       goes on, answering).
#   (C) client-side keepalives only (the clients' daemons have the policy, the server none): the
#       same three sessions survive on ssh's ServerAliveInterval alone, timed from ssh's DEBUG3
#       "send packet: type 80" (its keepalive@openssh.com global request).
#   (D') right after the branch (v4) session's second line in (C) its router drops all IPv4: ssh
#       gives up on the frozen server within the model's dead-server time, J x (C+1).
#
# Needs what e2e_test.sh needs, and jq. Knobs: KEEPALIVE_E2E_TIMEOUT_BRANCH (T_A, default 6),
# KEEPALIVE_E2E_TIMEOUT_DC (T_B, default 30), KEEPALIVE_E2E_KEEP=1 (keep the scratch directory).
# Takes about three minutes; cleans up its namespaces and processes on any exit.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TAG=kpnet-$$   # names its namespaces and its scratch directory (netns_reap_stale)
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
# shellcheck source=../lib/e2e.sh
. "$HERE/../lib/e2e.sh"

BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl
SSHD_BIN=/usr/sbin/sshd
SSH_BIN=/usr/bin/ssh
PORT=2222
NETS=(branch dc)              # the policy's networks, one client ns and one router each
SESSIONS=(branch branch6 dc)  # the sessions of each phase: branch6 is the branch's IPv6 path
declare -A T NS_C NS_R CLI_IP GW_IP CLI_IP6 GW_IP6 SRV_IF CIDRS CR   # per network
declare -A NET_OF NAT_IP SRV_IP DEST FAM GAP                         # per session
T[branch]=${KEEPALIVE_E2E_TIMEOUT_BRANCH:-6}
T[dc]=${KEEPALIVE_E2E_TIMEOUT_DC:-30}
GLOBAL_IDLE=2m   # network.idle_timeout: every path that is in neither network
CLI_IP[branch]=192.0.2.2 GW_IP[branch]=192.0.2.1 CLI_IP6[branch]=2001:db8:1::2 GW_IP6[branch]=2001:db8:1::1
CLI_IP[dc]=192.0.2.130 GW_IP[dc]=192.0.2.129
CIDRS[branch]="198.51.100.0/25 2001:db8:20::/64" CIDRS[dc]=198.51.100.128/25
SRV_IF[branch]=sa SRV_IF[dc]=sb
NET_OF[branch]=branch NAT_IP[branch]=198.51.100.1 SRV_IP[branch]=198.51.100.2 DEST[branch]=srv.branch.test FAM[branch]=ipv4
NET_OF[branch6]=branch NAT_IP[branch6]=2001:db8:20::1 SRV_IP[branch6]=2001:db8:20::2 DEST[branch6]=srv6.branch.test FAM[branch6]=ipv6
NET_OF[dc]=dc NAT_IP[dc]=198.51.100.129 SRV_IP[dc]=198.51.100.130 DEST[dc]=srv.dc.test FAM[dc]=ipv4
# The idle gaps, the deliberate waits of (S) and (C): longer than the router's timeout by half of
# it for the short one (as in e2e_test.sh), by a fifth (6 s at 30 s) for the long one, to keep the
# test short: conntrack treats an entry past its timeout as gone at the next lookup.
for s in "${SESSIONS[@]}"; do
    t=${T[${NET_OF[$s]}]}
    if [ "$t" -ge 20 ]; then GAP[$s]=$((t + t / 5)); else GAP[$s]=$((t + t / 2)); fi
done
OUTSIDE_IP=203.0.113.7 OUTSIDE_DEST=srv.example.test   # in neither network
NS_S=$E2E_TAG-srv
for n in "${NETS[@]}"; do NS_C[$n]=$E2E_TAG-$n-cli NS_R[$n]=$E2E_TAG-$n-nat; done
# (with its port) as ss prints a peer, and as sshd -T -C's laddr
peer() { if [ "${FAM[$1]}" = ipv6 ]; then echo "[${SRV_IP[$1]}]:$PORT"; else echo "${SRV_IP[$1]}:$PORT"; fi; }

harness_begin
# ------------------------------------------------------------------------------ preflight --
e2e_preflight kpnet jq

# shellcheck disable=SC2034  # read by the harness's cleanup
KP_KEEP_WORK=${KEEPALIVE_E2E_KEEP:-0}
WORK=$(mktemp -d "/tmp/$E2E_TAG.XXXXXX") || fatal "mktemp"
chmod 0755 "$WORK"         # the daemons run ssh -G as nobody, who must read the roots
S=$WORK
SR=$S/server-root
for n in "${NETS[@]}"; do CR[$n]=$S/client-root-$n; done
info "scratch $S; branch: router timeout ${T[branch]}s, gap ${GAP[branch]}s; dc: router timeout ${T[dc]}s, gap ${GAP[dc]}s"

# The installed sshd's version ("sshd -V" prints "OpenSSH_9.2, ..."; ssh -V where it cannot).
OPENSSH=$("$SSHD_BIN" -V 2>&1 | sed -n 's/^OpenSSH_\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)
[ -n "$OPENSSH" ] || OPENSSH=$("$SSH_BIN" -V 2>&1 | sed -n 's/^OpenSSH_\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)
[ -n "$OPENSSH" ] || fatal "the installed OpenSSH's version (sshd -V, ssh -V)"
info "installed OpenSSH $OPENSSH ($("$SSH_BIN" -V 2>&1))"

# ------------------------------------------------------------------------------ the model --
# What the model says for each network's idle timeout on this OpenSSH: keepalivectl advise
# --json, the one module that computes these figures. M_I (ClientAliveInterval), M_C
# (ClientAliveCountMax), M_K (k = max_idle_gap / I), M_DEAD (dead_client_seconds), M_J
# (ServerAliveInterval), keyed by network, "global" for network.idle_timeout.
declare -A M_I M_C M_K M_DEAD M_J M_DS IDLE_OF
IDLE_OF[branch]=${T[branch]}s IDLE_OF[dc]=${T[dc]}s IDLE_OF[global]=$GLOBAL_IDLE
MODEL_SRC=advise
for n in branch dc global; do
    if "$CTL_BIN" advise --json --idle-timeout "${IDLE_OF[$n]}" --openssh "$OPENSSH" \
        > "$S/advise-$n.json" 2> "$S/advise-$n.err" && jq -e '.server.client_alive_interval and .server.dead_client_seconds' \
        "$S/advise-$n.json" > /dev/null 2>&1; then
        M_I[$n]=$(jq -r .server.client_alive_interval "$S/advise-$n.json")
        M_C[$n]=$(jq -r .server.client_alive_count_max "$S/advise-$n.json")
        M_K[$n]=$(($(jq -r .server.max_idle_gap_seconds "$S/advise-$n.json") / M_I[$n]))
        M_DEAD[$n]=$(jq -r .server.dead_client_seconds "$S/advise-$n.json")
        M_J[$n]=$(jq -r .client.server_alive_interval "$S/advise-$n.json")
        M_DS[$n]=$(jq -r .client.dead_server_seconds "$S/advise-$n.json")
        info "advise --json --idle-timeout ${IDLE_OF[$n]} --openssh $OPENSSH: $(jq -c '{openssh, server, client}' "$S/advise-$n.json")"
    else
        not_ok "keepalivectl advise --json --idle-timeout ${IDLE_OF[$n]} --openssh $OPENSSH: $(head -n 1 "$S/advise-$n.err")"
        MODEL_SRC=computed
    fi
done
if [ "$MODEL_SRC" = computed ]; then
    # Without advise --json, the model's figures computed here from the facts of the issue
    # (docs/policy.md): sshd 9.2 to 9.4 probes a silent client after k = 2 intervals (9.5 and
    # later, and before 9.2: k = 1); the policy derives I = idle_timeout/3 (so that k x I stays
    # below it), J = idle_timeout/2, and leaves the counts at OpenSSH's default 3; a dead client
    # goes after k x I x (C + 1), a dead server after J x (3 + 1).
    case $OPENSSH in 9.[234]) k=2 ;; *) k=1 ;; esac
    for n in branch dc global; do
        s=${IDLE_OF[$n]%s}; [ "$n" = global ] && s=120
        M_K[$n]=$k M_I[$n]=$((s / 3)) M_C[$n]=3 M_J[$n]=$((s / 2))
        M_DEAD[$n]=$((k * M_I[$n] * (M_C[$n] + 1)))
        M_DS[$n]=$((M_J[$n] * 4))   # a dead server: J x (ServerAliveCountMax 3 + 1)
    done
    info "model computed in the test (advise --json unavailable): k=$k; I/C/dead: branch ${M_I[branch]}/${M_C[branch]}/${M_DEAD[branch]}s, dc ${M_I[dc]}/${M_C[dc]}/${M_DEAD[dc]}s"
fi

# -------------------------------------------------------------------------------- topology --
setup_router() {  # setup_router NET: client ns, router ns and the router's link to the server
    local n=$1 c=${NS_C[$1]} r=${NS_R[$1]}
    netns_add "$c" && netns_add "$r" || return 1
    ip link add c0 netns "$c" type veth peer name r0 netns "$r" || return 1
    ip link add "${SRV_IF[$n]}" netns "$NS_S" type veth peer name r1 netns "$r" || return 1
    ip -n "$c" addr add "${CLI_IP[$n]}/25" dev c0 && ip -n "$c" link set c0 up &&
        ip -n "$c" route add default via "${GW_IP[$n]}" || return 1
    ip -n "$r" addr add "${GW_IP[$n]}/25" dev r0 && ip -n "$r" link set r0 up &&
        ip -n "$r" addr add "${NAT_IP[$n]}/25" dev r1 && ip -n "$r" link set r1 up || return 1
    ip -n "$NS_S" addr add "${SRV_IP[$n]}/25" dev "${SRV_IF[$n]}" &&
        ip -n "$NS_S" link set "${SRV_IF[$n]}" up || return 1
    if [ -n "${CLI_IP6[$n]:-}" ]; then   # IPv6 too (nodad: usable at once)
        ip -n "$c" addr add "${CLI_IP6[$n]}/64" dev c0 nodad &&
            ip -n "$c" -6 route add default via "${GW_IP6[$n]}" &&
            ip -n "$r" addr add "${GW_IP6[$n]}/64" dev r0 nodad &&
            ip -n "$r" addr add "${NAT_IP[${n}6]}/64" dev r1 nodad &&
            ip -n "$NS_S" addr add "${SRV_IP[${n}6]}/64" dev "${SRV_IF[$n]}" nodad || return 1
        in_ns "$r" sysctl -q -w net.ipv6.conf.all.forwarding=1 || return 1
    fi
    # (the conntrack timeouts hold for both families)
    in_ns "$r" sysctl -q -w net.ipv4.ip_forward=1 \
        net.netfilter.nf_conntrack_tcp_timeout_established="${T[$n]}" \
        net.netfilter.nf_conntrack_tcp_loose=0 || return 1
    # e2e_test.sh's stateful firewall (an inet table: both families; the router answers only
    # IPv6 neighbour discovery), and a chain "freeze" that (D) fills to drop all IPv4.
    in_ns "$r" nft -f - <<'EOF' || return 1
table inet kpnet {
    counter invalid_from_client { }
    counter invalid_other { }
    chain freeze { }
    chain input {
        type filter hook input priority filter; policy drop;
        icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
        ct state invalid counter name "invalid_other" drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        jump freeze
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
netns_add "$NS_S" && setup_router branch && setup_router dc ||
    fatal "network namespaces, veth pairs, router sysctls and nftables rules"
for n in "${NETS[@]}"; do
    check "$n router: established TCP timeout ${T[$n]}s, tcp_loose 0, in its namespace only" \
        test "$(in_ns "${NS_R[$n]}" cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established \
            /proc/sys/net/netfilter/nf_conntrack_tcp_loose | tr '\n' ' ')" = "${T[$n]} 0 "
done
no_route() { ! in_ns "$NS_S" ip route get "$1" > /dev/null 2>&1; }
check "the server has no route to any client subnet (only NATed traffic reaches it)" \
    eval 'no_route ${CLI_IP[branch]} && no_route ${CLI_IP6[branch]} && no_route ${CLI_IP[dc]}'

invalid_drops() {  # invalid_drops NET: packets NET's router dropped as INVALID, both sides
    local c n total=0
    for c in invalid_from_client invalid_other; do
        n=$(in_ns "${NS_R[$1]}" nft list counter inet kpnet "$c" | sed -n 's/.*packets \([0-9]*\).*/\1/p')
        total=$((total + n))
    done
    echo "$total"
}
# flow_of SESSION PORT: 1 when the session's router tracks the established flow from PORT
flow_of() {
    in_ns "${NS_R[${NET_OF[$1]}]}" conntrack -L -f "${FAM[$1]}" -p tcp --orig-port-src "$2" \
        --orig-port-dst $PORT 2>/dev/null | grep -c ESTABLISHED
}
# local_port SESSION PROGRAM: the client port of PROGRAM's connection to the session's server
# address, in its client ns
local_port() {
    in_ns "${NS_C[${NET_OF[$1]}]}" ss -Htnp state established "( dport = :$PORT )" 2>/dev/null |
        awk -v p="\"$2\"" -v peer="$(peer "$1")" \
            '$4 == peer && index($0, p) { n = split($3, a, ":"); print a[n]; exit }'
}
freeze() { in_ns "${NS_R[$1]}" nft add rule inet kpnet freeze meta nfproto ipv4 counter drop; }
thaw() { in_ns "${NS_R[$1]}" nft flush chain inet kpnet freeze; }

# ------------------------------------------------------------------------------ test roots --
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
make_root() {  # make_root DIR: as e2e_test.sh's, with sshd listening on both server addresses
    local r=$1
    mkdir -p "$r/etc/ssh/sshd_config.d" "$r/etc/ssh/ssh_config.d" "$r/run" \
        "$r/etc/keepalive-policy/policy.d" || return 1
    ssh-keygen -q -t ed25519 -N '' -f "$r/etc/ssh/ssh_host_ed25519_key" || return 1
    cat > "$r/etc/ssh/sshd_config" <<EOF
# keepalive-policy networks e2e test root: sshd_config
Include $r/etc/ssh/sshd_config.d/*.conf
HostKey $r/etc/ssh/ssh_host_ed25519_key
PidFile $r/run/sshd.pid
ListenAddress ${SRV_IP[branch]}:$PORT
ListenAddress [${SRV_IP[branch6]}]:$PORT
ListenAddress ${SRV_IP[dc]}:$PORT
AuthorizedKeysFile $r/etc/ssh/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
# DEBUG2: each probe sshd sends ("channel N: request keepalive@openssh.com") or receives
# ("rtype keepalive@openssh.com"), timestamped by the test
LogLevel DEBUG2
EOF
    # The test's names for the server after the drop-in: ssh keeps the first value it reads, and
    # the drop-in's Host blocks set no HostName.
    cat > "$r/etc/ssh/ssh_config" <<EOF
Include $r/etc/ssh/ssh_config.d/*.conf
Host ${DEST[branch]}
    HostName ${SRV_IP[branch]}
Host ${DEST[branch6]}
    HostName ${SRV_IP[branch6]}
Host ${DEST[dc]}
    HostName ${SRV_IP[dc]}
EOF
    printf 'version: 1\n' > "$r/etc/keepalive-policy/policy.yaml"
    chmod 0755 "$r"; chmod -R go-w,a+rX "$r/etc" "$r/run"
    chmod 0600 "$r/etc/ssh/ssh_host_ed25519_key"
}
make_root "$SR" && make_root "${CR[branch]}" && make_root "${CR[dc]}" || fatal "test roots"
ssh-keygen -q -t ed25519 -N '' -C kpnet -f "$S/client_key" &&
    cp "$S/client_key.pub" "$SR/etc/ssh/authorized_keys" || fatal "client key"

# The policies: "off" (no network.idle_timeout, so no keepalive anywhere) and the one under test.
printf 'version: 1\n# no network.idle_timeout: the drop-ins set no keepalive at all\n' > "$S/policy-off.yaml"
cat > "$S/policy-net.yaml" <<EOF
version: 1
network:
  idle_timeout: $GLOBAL_IDLE
networks:
  - name: branch
    addresses: ["${CIDRS[branch]% *}", "${CIDRS[branch]#* }"]
    destinations: ["*.branch.test"]
    idle_timeout: ${T[branch]}s
  - name: dc
    addresses: ["${CIDRS[dc]}"]
    destinations: ["*.dc.test"]
    idle_timeout: ${T[dc]}s
EOF
"$CTL_BIN" validate --strict --openssh "$OPENSSH" "$S/policy-net.yaml" > "$S/validate-net.out" 2>&1
check "keepalivectl validate --strict --openssh $OPENSSH accepts the two-network policy" test $? = 0
sed 's/^/#   /' "$S/validate-net.out"
declare -A DIGEST
digest_of() { "$CTL_BIN" render --sshd "$1" 2>/dev/null | sed -n 's/^# policy-digest: //p'; }
DIGEST[off]=$(digest_of "$S/policy-off.yaml")
DIGEST[net]=$(digest_of "$S/policy-net.yaml")
[ -n "${DIGEST[off]}" ] && [ -n "${DIGEST[net]}" ] || fatal "keepalivectl render: policy digests"

# ------------------------------------------------------------------------------- daemons --
# One daemon per root, each in the namespace of its host (it needs no network).
declare -A DAEMON_PID DAEMON_LOG ROOT_OF NS_OF CUR
ROOT_OF[server]=$SR NS_OF[server]=$NS_S
for n in "${NETS[@]}"; do ROOT_OF[client-$n]=${CR[$n]} NS_OF[client-$n]=${NS_C[$n]}; done
HOSTS=(server client-branch client-dc)
state_ok() { tail -n +"$(($3 + 1))" "$1" 2>/dev/null | grep -q "state ok: policy $2 in force"; }
for h in "${HOSTS[@]}"; do
    cp "$S/policy-off.yaml" "${ROOT_OF[$h]}/etc/keepalive-policy/policy.yaml"
    DAEMON_LOG[$h]=$S/daemon-$h.log
    spawn_logged job "${DAEMON_LOG[$h]}" "${NS_OF[$h]}" \
        "$DAEMON_BIN" --root "${ROOT_OF[$h]}" --unit none --foreground --bus none --host "e2e-$h"
    CUR[$h]=off
done
for h in "${HOSTS[@]}"; do
    pid=
    wait_for 5 netns_find_exe pid "${NS_OF[$h]}" "$DAEMON_BIN" || fatal "$h daemon started" "${DAEMON_LOG[$h]}"
    DAEMON_PID[$h]=$pid
    wait_for 20 state_ok "${DAEMON_LOG[$h]}" "${DIGEST[off]}" 0 || fatal "$h daemon: state ok" "${DAEMON_LOG[$h]}"
done
ok "the three daemons: state ok with the keepalive-off policy"

# set_policy HOST off|net: pushes the policy by rename (as Ansible does) and waits until the
# daemon says it is in force; it says so only after its own sshd -T -C / ssh -G proof.
set_policy() {
    local h=$1 p=$2 root=${ROOT_OF[$1]} n
    [ "${CUR[$h]}" = "$p" ] && return 0
    n=$(wc -l < "${DAEMON_LOG[$h]}")
    cp "$S/policy-$p.yaml" "$root/etc/keepalive-policy/.policy.new" &&
        mv "$root/etc/keepalive-policy/.policy.new" "$root/etc/keepalive-policy/policy.yaml" &&
        wait_for 30 state_ok "${DAEMON_LOG[$h]}" "${DIGEST[$p]}" "$n" ||
        fatal "$h daemon applies the '$p' policy" "${DAEMON_LOG[$h]}"
    CUR[$h]=$p
}
# sshd_for ADDR LADDR KEY: the server root's value of KEY for a connection from ADDR to LADDR
sshd_for() {
    "$SSHD_BIN" -T -f "$SR/etc/ssh/sshd_config" \
        -C "addr=$1,user=root,host=e2e-client,laddr=$2,lport=$PORT" 2>/dev/null | sed -n "s/^$3 //p"
}
ssh_for() {  # ssh_for NET DEST KEY: KEY for DEST in NET's client root (ssh -G)
    "$SSH_BIN" -G -F "${CR[$1]}/etc/ssh/ssh_config" -p $PORT "$2" 2>/dev/null | sed -n "s/^$3 //p"
}

# ------------------------------------------------------------------------------ sessions --
# Everything below is per session (branch, branch6, dc); a session's network is NET_OF.
declare -A SSH_FD SSH_LOG RECV GAP_START SENT_AT CTL_PORT SESS_PORT DROP_AT CUT_AT DROPS0
SSHD_LOG=
start_sshd() {  # start_sshd PHASE: a fresh sshd in the server ns (it reads the drop-in when it starts)
    local s
    SSHD_LOG=$S/sshd-$1.log
    spawn_logged job "$SSHD_LOG" "$NS_S" "$SSHD_BIN" -D -e -f "$SR/etc/ssh/sshd_config"
    for s in "${SESSIONS[@]}"; do
        wait_for 10 grep -qs "Server listening on ${SRV_IP[$s]} port $PORT" "$SSHD_LOG" ||
            fatal "($1) sshd listens on $(peer "$s")" "$SSHD_LOG"
    done
}
# start_control SESSION: a bare TCP connection from the session's client to its server address
# that says nothing after sshd's banner: sshd never probes a connection before authentication,
# so it idles as a session without keepalives would.
start_control() {
    local s=$1
    spawn_logged job "$S/control-$s.log" "${NS_C[${NET_OF[$s]}]}" \
        bash -c "exec 3<>/dev/tcp/${SRV_IP[$s]}/$PORT && exec cat <&3"
    wait_for 10 grep -qs "SSH-2.0-" "$S/control-$s.log" ||
        fatal "($s) control connection: sshd's banner" "$S/control-$s.log"
    CTL_PORT[$s]=$(local_port "$s" cat)
    [ -n "${CTL_PORT[$s]}" ] || fatal "($s) control connection's port"
}
stop_control() {  # aborts the control connection (ss -K on its port, in the client ns)
    in_ns "${NS_C[${NET_OF[$1]}]}" ss -K -tn state connected "( sport = :${CTL_PORT[$1]} )" > /dev/null 2>&1
}
# start_session PHASE SESSION LOGLEVEL: ssh from the session's client to DEST running
# 'cat >> RECV', fed from a FIFO held open by this shell; the first line proves it is up.
start_session() {
    local ph=$1 s=$2 n=${NET_OF[$2]} fifo=$S/input-$1-$2 fd
    RECV[$s]=$S/received-$ph-$s SSH_LOG[$s]=$S/ssh-$ph-$s.log
    mkfifo "$fifo"
    SPAWN_STDIN=$fifo spawn_logged job "${SSH_LOG[$s]}" "${NS_C[$n]}" "$SSH_BIN" \
        -F "${CR[$n]}/etc/ssh/ssh_config" -T -p $PORT -i "$S/client_key" \
        -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o GlobalKnownHostsFile=/dev/null -o LogLevel="$3" \
        "root@${DEST[$s]}" "exec cat >> '${RECV[$s]}'"
    exec {fd}> "$fifo"
    SSH_FD[$s]=$fd
    send "$s" "$ph-$s-line-1"
    wait_for 20 arrived "$s" "$ph-$s-line-1" ||
        fatal "($ph) $s: ssh session to ${DEST[$s]} up, the first line arrives" "${SSH_LOG[$s]}" "$SSHD_LOG"
    SESS_PORT[$s]=$(local_port "$s" ssh)
    GAP_START[$s]=$(now_us)
    DROPS0[$s]=$(invalid_drops "$n")
}
send() { printf '%s\n' "$2" >&"${SSH_FD[$1]}"; }
arrived() { grep -qxF "$2" "${RECV[$1]}" 2>/dev/null; }
# end_phase: ends every ssh, sshd and control, aborts their TCP connections (no retransmission
# may reach a router later), thaws the routers and empties their flow tables.
end_phase() {
    local s fd h n
    for s in "${SESSIONS[@]}"; do
        fd=${SSH_FD[$s]:-}
        [ -n "$fd" ] && exec {fd}>&-
        SSH_FD[$s]=
    done
    for h in "${HOSTS[@]}"; do netns_kill_all "${NS_OF[$h]}" "${DAEMON_PID[$h]}"; done
    for h in "${HOSTS[@]}"; do netns_abort_tcp "${NS_OF[$h]}"; done
    for h in "${HOSTS[@]}"; do
        wait_for 5 netns_no_tcp "${NS_OF[$h]}" || not_ok "no TCP connection left in ${NS_OF[$h]}"
    done
    for n in "${NETS[@]}"; do
        thaw "$n"
        in_ns "${NS_R[$n]}" conntrack -F > /dev/null 2>&1
        in_ns "${NS_R[$n]}" conntrack -F -f ipv6 > /dev/null 2>&1
    done
}

# times LOG PATTERN FROM_US TO_US: timestamps (us) of LOG lines matching PATTERN in range
times() {
    awk -v from="$3" -v to="$4" -v pat="$2" '$1 >= from && $1 <= to && index($0, pat) { print $1 }' "$1"
}
steps_ms() {  # steps_ms US...: the steps between consecutive moments, in ms
    local prev='' t
    for t in "$@"; do
        [ -n "$prev" ] && echo $(((t - prev) / 1000))
        prev=$t
    done
}
longest_ms() { steps_ms "$@" | sort -n | tail -n 1; }
fmt_ms_list() { local d out=; for d in "$@"; do out+="$(fmt_s "$d") "; done; echo "${out% }"; }

SERVER_PROBE="request keepalive@openssh.com"                          # sshd sends (sshd's log)
CLIENT_GOT_PROBE="client_input_channel_req: channel 0 rtype keepalive@openssh.com"  # ssh receives it
CLIENT_PROBE="send packet: type 80"                                   # ssh sends (ssh's DEBUG3)
SERVER_GOT_PROBE="rtype keepalive@openssh.com"                        # sshd receives it

# wait_until US: the deliberate wait of an idle gap (nothing is written meanwhile)
wait_until() {
    local left=$((($1 - $(now_us)) / 1000))
    [ "$left" -gt 0 ] && sleep "$(fmt_s "$left")"
    return 0
}
# after_gap PHASE SESSION: at the end of the session's idle gap, line 2, and the checks that the
# session survived it (and in (S), that its router forgot the control connection).
after_gap() {
    local ph=$1 s=$2 n=${NET_OF[$2]} t flows_ctl flows_sess
    wait_until $((GAP_START[$s] + GAP[$s] * 1000000))
    flows_sess=$(flow_of "$s" "${SESS_PORT[$s]}")
    [ "$ph" = S ] && flows_ctl=$(flow_of "$s" "${CTL_PORT[$s]}")
    SENT_AT[$s]=$(now_us)
    send "$s" "$ph-$s-line-2"
    if wait_for 10 arrived "$s" "$ph-$s-line-2"; then
        t=$(now_us)
        ok "($ph) $s: data sent after ${GAP[$s]}s of quiet (router timeout ${T[$n]}s) arrives ($(ms_between "${SENT_AT[$s]}" "$t") ms)"
    else
        not_ok "($ph) $s: data sent after ${GAP[$s]}s of quiet (router timeout ${T[$n]}s) arrives"
        dump "${SSH_LOG[$s]}" "$SSHD_LOG"
    fi
    check "($ph) $s: the router still tracked the session's flow after the gap" test "$flows_sess" = 1
    [ "$ph" = S ] && check "($ph) $s: ... and had forgotten the control connection, as quiet as long without keepalives" \
        test "$flows_ctl" = 0
    check "($ph) $s: the router dropped nothing as INVALID" test "$(invalid_drops "$n")" = "${DROPS0[$s]}"
}
# ORDER: the networks by gap, shortest first; SESS_OF: a network's sessions
ORDER=(branch dc)
[ "${GAP[dc]}" -lt "${GAP[branch]}" ] && ORDER=(dc branch)
declare -A SESS_OF=([branch]="branch branch6" [dc]="dc")
first_start() {  # first_start SESSION...: the earliest GAP_START
    local s m=''
    for s in "$@"; do [ -z "$m" ] || [ "${GAP_START[$s]}" -lt "$m" ] && m=${GAP_START[$s]}; done
    echo "$m"
}

# ==================================================================== (S) and (D): server --
set_policy server net
set_policy client-branch off
set_policy client-dc off
declare -A I_S C_S
for s in "${SESSIONS[@]}"; do
    n=${NET_OF[$s]}
    I_S[$s]=$(sshd_for "${NAT_IP[$s]}" "${SRV_IP[$s]}" clientaliveinterval)
    C_S[$s]=$(sshd_for "${NAT_IP[$s]}" "${SRV_IP[$s]}" clientalivecountmax)
    check "(S) sshd -T -C addr=${NAT_IP[$s]} (the $n router, $s): clientaliveinterval ${M_I[$n]}, clientalivecountmax ${M_C[$n]} (the model for idle_timeout ${T[$n]}s)" \
        test "${I_S[$s]}/${C_S[$s]}" = "${M_I[$n]}/${M_C[$n]}"
    check "(S) ssh -G ${DEST[$s]} from the $n client: serveraliveinterval 0 (client policy off)" \
        test "$(ssh_for "$n" "${DEST[$s]}" serveraliveinterval)" = 0
done
check "(S) sshd -T -C addr=$OUTSIDE_IP (in neither network): clientaliveinterval ${M_I[global]} (network.idle_timeout $GLOBAL_IDLE)" \
    test "$(sshd_for "$OUTSIDE_IP" "${SRV_IP[branch]}" clientaliveinterval)" = "${M_I[global]}"
for n in "${NETS[@]}"; do
    for c in ${CIDRS[$n]}; do
        re=${c//./\\.}
        check "(S) the server's drop-in has a Match Address block for the $n network's $c" \
            grep -Eq "^[[:space:]]*Match[[:space:]]+Address[[:space:]]+(.*,)?$re([,[:space:]]|\$)" \
            "$SR/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
    done
done
[ "${I_S[branch]:-0}" -gt 0 ] && [ "${I_S[branch6]:-0}" -gt 0 ] && [ "${I_S[dc]:-0}" -gt 0 ] ||
    fatal "(S) sshd has a ClientAliveInterval for every session's address" "${DAEMON_LOG[server]}"

start_sshd S
for s in "${SESSIONS[@]}"; do start_control "$s"; done
for s in "${SESSIONS[@]}"; do
    start_session S "$s" DEBUG1
    check "(S) $s: the router tracks the session's flow and the control's" \
        test "$(flow_of "$s" "${SESS_PORT[$s]}")/$(flow_of "$s" "${CTL_PORT[$s]}")" = 1/1
done

timeout_line() {  # timeout_line SESSION: sshd gave up on it (its router's address is in the line)
    grep -qs "Timeout, client not responding from user root ${NAT_IP[$1]} port" "$SSHD_LOG"
}
# The gaps run side by side. Right after a network's IPv4 session has sent its line 2, its router
# drops all IPv4 (D): the branch's while the dc's gap goes on. branch6, IPv6 through the same
# router, is not frozen: its gap ends, and it goes on answering sshd's probes. The controls go
# when every check on their router is done (their end is INVALID there, or frozen).
DSESS=(branch dc)   # the sessions (D) freezes: each network's IPv4 one, named after it
for n in "${ORDER[@]}"; do
    for s in ${SESS_OF[$n]}; do
        after_gap S "$s"
        if [ "$s" = "$n" ]; then
            freeze "$n" || fatal "(D) the $n router drops all IPv4"
            DROP_AT[$s]=$(now_us)
        fi
    done
    for s in ${SESS_OF[$n]}; do stop_control "$s"; done
done
for s in "${DSESS[@]}"; do
    wait_for $((M_DEAD[${NET_OF[$s]}] + 15 - ($(now_us) - DROP_AT[$s]) / 1000000)) timeout_line "$s"
    CUT_AT[$s]=$(awk -v a="from user root ${NAT_IP[$s]} port" \
        '/Timeout, client not responding/ && index($0, a) { print $1; exit }' "$SSHD_LOG")
done

# Who received which probe: sshd's log does not say, so each probe it logged from the first gap's
# start to the last cut is paired with a receipt in one client's log, at most 300 ms later (20 ms
# earlier: the logs are timestamped as they are read), nearest pairs first and each line used
# once; a probe no client received went to the client frozen at the time. Two probes a few ms
# apart may swap timestamps, never counts.
T0=$(first_start "${SESSIONS[@]}")
T1=$(now_us)
{
    times "$SSHD_LOG" "$SERVER_PROBE" "$T0" "$T1" | sed 's/^/P /'
    for s in "${SESSIONS[@]}"; do
        times "${SSH_LOG[$s]}" "$CLIENT_GOT_PROBE" "$T0" "$T1" | sed "s/\$/ $s/; s/^/R /"
    done
} > "$S/probes-S"
# prints "PROBE_US SESSION|-" for each probe sshd sent, then "unpaired N": receipts left over
pair_probes() {
    awk '$1 == "P" { p[++np] = $2 } $1 == "R" { r[++nr] = $2; rs[nr] = $3 }
        END {
            for (i = 1; i <= np; i++) for (j = 1; j <= nr; j++) {
                d = r[j] - p[i]
                if (d >= -20000 && d <= 300000) print (d < 0 ? -d : d), i, j
            }
        }' "$1" | sort -n -k1,1 |
        awk -v f="$1" 'BEGIN {
                while ((getline l < f) > 0) {
                    split(l, a, " ")
                    if (a[1] == "P") p[++np] = a[2]; else { ++nr; rs[nr] = a[3] }
                }
            }
            !(($2) in pi) && !(($3) in rj) { pi[$2] = rs[$3]; rj[$3] = 1; paired++ }
            END {
                for (i = 1; i <= np; i++) print p[i], ((i in pi) ? pi[i] : "-")
                print "unpaired", nr - paired
            }'
}
declare -A ANSWERED UNANSWERED
unmatched=0 nprobes=0 unpaired=
while read -r p o; do
    [ "$p" = unpaired ] && { unpaired=$o; continue; }
    nprobes=$((nprobes + 1))
    if [ "$o" != - ]; then
        ANSWERED[$o]+="$p "
        continue
    fi
    for s in "${DSESS[@]}"; do
        [ -n "${CUT_AT[$s]}" ] && [ "$p" -ge "${DROP_AT[$s]}" ] && [ "$p" -le "${CUT_AT[$s]}" ] &&
            if [ "$o" = - ]; then o=$s; else o=ambiguous; fi
    done
    case $o in
        -) unmatched=$((unmatched + 1)) ;;
        ambiguous) unmatched=$((unmatched + 1)); info "(D) a probe at $p while two clients were frozen" ;;
        *) UNANSWERED[$o]+="$p " ;;
    esac
done < <(pair_probes "$S/probes-S")
check "(S) the clients sent no keepalive (sshd received none)" \
    test "$(times "$SSHD_LOG" "$SERVER_GOT_PROBE" "$T0" "$T1" | wc -l)" = 0
check "(S) every probe sshd sent reached the client of the session it was for, or went to a frozen one ($nprobes probes, $unmatched unexplained), and each receipt was one of them ($unpaired left over)" \
    test "$unmatched/$unpaired" = 0/0

no_conn_from() {  # no_conn_from SESSION: the server has no established connection from its router
    ! in_ns "$NS_S" ss -Htn state established "( dst ${NAT_IP[$1]} )" | grep -q .
}
declare -A K_MEASURED
for s in "${SESSIONS[@]}"; do
    n=${NET_OF[$s]} I=${I_S[$s]} C=${C_S[$s]}
    # (S): the gap, as the client received the probes
    gap_probes=()
    for p in ${ANSWERED[$s]:-}; do
        [ "$p" -ge "${GAP_START[$s]}" ] && [ "$p" -le "${SENT_AT[$s]}" ] && gap_probes+=("$p")
    done
    all=("${GAP_START[$s]}" "${gap_probes[@]}" "${SENT_AT[$s]}")
    info "(S) $s: ClientAliveInterval I=${I}s; in the ${GAP[$s]}s gap sshd's probes reached the client at [$(offsets_s "${GAP_START[$s]}" "${gap_probes[@]}")] s; longest silence on the path $(fmt_s "$(longest_ms "${all[@]}")") s (the router forgets after ${T[$n]}s)"
    check "(S) $s: the path was never silent for ${T[$n]}s" test "$(longest_ms "${all[@]}")" -lt $((T[$n] * 1000))
    dead_probes=()
    if [ -n "${DROP_AT[$s]:-}" ]; then
        # (D): the frozen client
        if [ -z "${CUT_AT[$s]}" ]; then
            not_ok "(D) $s: sshd cuts the frozen client within $((M_DEAD[$n] + 15)) s"
            dump "$SSHD_LOG"
            continue
        fi
        # The model counts from the client's last packet: line 2, or a probe it answered later,
        # before the freeze.
        last=${SENT_AT[$s]}
        for p in ${ANSWERED[$s]:-}; do [ "$p" -gt "$last" ] && [ "$p" -lt "${DROP_AT[$s]}" ] && last=$p; done
        # shellcheck disable=SC2206
        dead_probes=(${UNANSWERED[$s]:-})
        took=$(ms_between "$last" "${CUT_AT[$s]}")
        info "(D) $s: frozen $(ms_between "$last" "${DROP_AT[$s]}") ms after the client's last packet; then ${#dead_probes[@]} unanswered probe(s) at [$(offsets_s "$last" "${dead_probes[@]}")] s and 'Timeout, client not responding from user root ${NAT_IP[$s]}' at +$(fmt_s "$took") s after that packet; the model ($MODEL_SRC, OpenSSH $OPENSSH): k x I x (C+1) = ${M_K[$n]} x $I x $((C + 1)) = ${M_DEAD[$n]} s"
        check "(D) $s: sshd cut the frozen client $(fmt_s "$took") s after its last packet: the model's dead-client time ${M_DEAD[$n]} s, within -2/+1 s (I x C = $((I * C)) s would be wrong)" \
            test "$took" -ge $(((M_DEAD[$n] - 2) * 1000)) -a "$took" -le $(((M_DEAD[$n] + 1) * 1000))
        check "(D) $s: ... after exactly C=$C unanswered probes" test "${#dead_probes[@]}" = "$C"
        check "(D) $s: the session's connection is gone from the server" wait_for 5 no_conn_from "$s"
        dead_probes+=("${CUT_AT[$s]}")
    fi
    # k, measured: the steps between probes to a silent client (answered in the gap; unanswered
    # after the freeze, up to the check that gave up), over I. The first probe after data comes
    # sooner when something else woke sshd in between (e2e_test.sh, (d)), so the gap's first
    # step is left out; sshd compares whole seconds, so a step may be 1 s short.
    mapfile -t steps < <(steps_ms "${gap_probes[@]}"; steps_ms "${dead_probes[@]}")
    if [ "${#steps[@]}" = 0 ]; then
        not_ok "(S) $s: two probes to the silent client to measure k from"
        continue
    fi
    longest=$(printf '%s\n' "${steps[@]}" | sort -n | tail -n 1)
    shortest=$(printf '%s\n' "${steps[@]}" | sort -n | head -n 1)
    K_MEASURED[$s]=$(((longest + I * 500) / (I * 1000)))
    info "(S) $s: steps between probes to the silent client [$(fmt_ms_list "${steps[@]}")] s: measured k = ${K_MEASURED[$s]} (I = ${I}s); the model's k = ${M_K[$n]}"
    check "(S) $s: sshd $OPENSSH probes a silent client every k x I = ${K_MEASURED[$s]} x $I s (±1 s), the model's k = ${M_K[$n]}" \
        test "${K_MEASURED[$s]}" = "${M_K[$n]}" -a "$longest" -le $(((M_K[$n] * I + 1) * 1000)) \
        -a "$shortest" -ge $(((M_K[$n] * I - 1) * 1000))
done
end_phase

# ============================================================================= (C): client --
set_policy server off
set_policy client-branch net
set_policy client-dc net
for s in "${SESSIONS[@]}"; do
    check "(C) sshd -T -C addr=${NAT_IP[$s]}: clientaliveinterval 0 (server policy off)" \
        test "$(sshd_for "${NAT_IP[$s]}" "${SRV_IP[$s]}" clientaliveinterval)" = 0
done
for n in "${NETS[@]}"; do
    want='' vals=''
    for s in "${SESSIONS[@]}"; do
        vals+="$(ssh_for "$n" "${DEST[$s]}" serveraliveinterval)/" want+="${M_J[${NET_OF[$s]}]}/"
    done
    vals+="$(ssh_for "$n" "$OUTSIDE_DEST" serveraliveinterval)" want+="${M_J[global]}"
    check "(C) ssh -G from the $n client: serveraliveinterval $vals for ${DEST[branch]}/${DEST[branch6]}/${DEST[dc]}/$OUTSIDE_DEST, the model's $want" \
        test "$vals" = "$want"
    check "(C) the $n client's drop-in has a Host block for *.$n.test" \
        grep -Eq "^[[:space:]]*Host[[:space:]]+(.*[[:space:]])?\\*\\.$n\\.test([[:space:]]|\$)" \
        "${CR[$n]}/etc/ssh/ssh_config.d/00-keepalive-policy.conf"
done
start_sshd C
for s in "${SESSIONS[@]}"; do
    start_session C "$s" DEBUG3
    check "(C) $s: the router tracks the session's flow" test "$(flow_of "$s" "${SESS_PORT[$s]}")" = 1
done
# (D') right after branch's line 2 its router drops all IPv4 again, now with ssh's keepalives
# alone: ssh gives up on the frozen server ("Timeout, server 198.51.100.2 not responding.", the
# HostName) within the model's dead-server time, J x (ServerAliveCountMax + 1), counted from the
# last packet it received. This fits inside the dc's gap; the dc's own (60 s) would not fit the
# test's time.
declare -A END_AT=()
for n in "${ORDER[@]}"; do
    for s in ${SESS_OF[$n]}; do
        after_gap C "$s"
        if [ "$s" = branch ]; then
            freeze branch || fatal "(D') the branch router drops all IPv4"
            DROP_AT[$s]=$(now_us) END_AT[$s]=${DROP_AT[branch]}
        fi
    done
done
T0=$(first_start "${SESSIONS[@]}")
T1=$(now_us)
ssh_gave_up() { grep -qs "Timeout, server ${SRV_IP[branch]} not responding" "${SSH_LOG[branch]}"; }
if wait_for $((M_DS[branch] + 10 - ($(now_us) - DROP_AT[branch]) / 1000000)) ssh_gave_up; then
    cut=$(awk -v a="Timeout, server ${SRV_IP[branch]} not responding" 'index($0, a) { print $1; exit }' "${SSH_LOG[branch]}")
    last=$(awk -v t="${DROP_AT[branch]}" '$1 < t && / receive packet: / { l = $1 } END { print l }' "${SSH_LOG[branch]}")
    mapfile -t dprobes < <(times "${SSH_LOG[branch]}" "$CLIENT_PROBE" "${DROP_AT[branch]}" "$cut")
    took=$(ms_between "$last" "$cut")
    JC=$(ssh_for branch "${DEST[branch]}" serveralivecountmax)
    info "(D') branch: frozen $(ms_between "$last" "${DROP_AT[branch]}") ms after the last packet ssh received; then ${#dprobes[@]} unanswered probe(s) at [$(offsets_s "$last" "${dprobes[@]}")] s and 'Timeout, server ${SRV_IP[branch]} not responding' at +$(fmt_s "$took") s; the model ($MODEL_SRC): J x (C+1) = ${M_J[branch]} x $((JC + 1)) = ${M_DS[branch]} s"
    check "(D') branch: ssh gave up on the frozen server $(fmt_s "$took") s after the last packet it received: the model's dead-server time ${M_DS[branch]} s, within -2/+1 s" \
        test "$took" -ge $(((M_DS[branch] - 2) * 1000)) -a "$took" -le $(((M_DS[branch] + 1) * 1000))
    check "(D') branch: ... after exactly ServerAliveCountMax=$JC unanswered probes" test "${#dprobes[@]}" = "$JC"
else
    not_ok "(D') branch: ssh gives up on the frozen server within $((M_DS[branch] + 10)) s"
    dump "${SSH_LOG[branch]}"
fi
sent_total=0
for s in "${SESSIONS[@]}"; do
    n=${NET_OF[$s]}
    J=$(ssh_for "$n" "${DEST[$s]}" serveraliveinterval)
    mapfile -t probes < <(times "${SSH_LOG[$s]}" "$CLIENT_PROBE" "${GAP_START[$s]}" "${SENT_AT[$s]}")
    all=("${GAP_START[$s]}" "${probes[@]}" "${SENT_AT[$s]}")
    mapfile -t steps < <(steps_ms "${probes[@]}")
    info "(C) $s: ServerAliveInterval J=${J}s; in the ${GAP[$s]}s gap ssh probed at [$(offsets_s "${GAP_START[$s]}" "${probes[@]}")] s (steps [$(fmt_ms_list "${steps[@]}")] s); longest silence on the path $(fmt_s "$(longest_ms "${all[@]}")") s (the router forgets after ${T[$n]}s)"
    check "(C) $s: the path was never silent for ${T[$n]}s" test "$(longest_ms "${all[@]}")" -lt $((T[$n] * 1000))
    # (from its own gap's start: type 80 is also the no-more-sessions request at login; up to its
    # freeze, if any)
    sent_total=$((sent_total + $(times "${SSH_LOG[$s]}" "$CLIENT_PROBE" "${GAP_START[$s]}" "${END_AT[$s]:-$T1}" | wc -l)))
done
# sshd logs a probe a little after ssh sent it: its window ends 300 ms later
got_total=$(times "$SSHD_LOG" "$SERVER_GOT_PROBE" "$T0" $((T1 + 300000)) | wc -l)
check "(C) sshd received every probe the clients sent ($got_total of $sent_total)" \
    test "$got_total" = "$sent_total"
check "(C) sshd sent no probe (server policy off)" \
    test "$(times "$SSHD_LOG" "$SERVER_PROBE" "$T0" "$T1" | wc -l)" = 0
end_phase

grep -qE "state (policy-invalid|sshd-config-broken)|last apply (rolled-back|policy-error)" \
    "${DAEMON_LOG[@]}" &&
    not_ok "the daemons never rolled back or rejected a policy" ||
    ok "the daemons never rolled back or rejected a policy"
finish
