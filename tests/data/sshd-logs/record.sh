#!/bin/bash
# record.sh - records how the real sshd here (Debian 12, OpenSSH 9.2p1) logs the end of a session,
# with journald's _PID and SYSLOG_IDENTIFIER per line, for tests/unit/disconnects_test.cpp and
# docs/daemon.md ("Disconnect accounting"). Boots tests/lib/throwaway-systemd.sh (root; nothing
# reaches the host), adds a user kpuser with a key, a drop-in (ClientAliveInterval 1,
# ClientAliveCountMax 1, LogLevel VERBOSE, UsePAM as $1: yes|no), restarts ssh.service, then:
#   logout   ssh kpuser@127.0.0.1 'echo hi'                  (the client sends its disconnect)
#   freeze   ssh kpuser@127.0.0.1 sleep 60; SIGSTOP the client (ClientAlive probes unanswered)
#   kill     ssh kpuser@127.0.0.1 sleep 60; SIGKILL the client (its kernel closes TCP: FIN)
#   reset    through a ProxyCommand relay that closes with SO_LINGER 0 (an RST) while idle
#   reset-w  the same while the session writes (`yes`): the write may meet the RST first
#   root     the logout as root (no privilege separation after auth: one process)
#   timeout  ClientAliveInterval 0, net.ipv4.tcp_retries2=3 in the sandbox's own network
#            namespace, a session printing a line every 0.2 s; nft drops sshd's packets to the
#            client: TCP gives up retransmitting (ETIMEDOUT)
# A reset met while writing ("Connection reset by user ...", "...ssh_packet_write_poll: ...: Broken
# pipe") could not be produced here: after an RST the read in server_loop2 comes first
# (process_input before process_output) and takes the error; those lines are the source's.
# Usage: record.sh yes|no OUTFILE   (OUTFILE: "PID IDENTIFIER MESSAGE" lines per scenario)
set -u
PAM=${1:-yes}; OUT=${2:-/dev/stdout}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TSD=$HERE/../../lib/throwaway-systemd.sh
STATE=$(mktemp -d /tmp/kp-record.XXXXXX)
trap '"$TSD" stop "$STATE" >/dev/null 2>&1; rm -rf "$STATE"' EXIT
inside() { "$TSD" exec "$STATE" "$@"; }
"$TSD" start "$STATE" >/dev/null 2>&1 || { echo "no throwaway systemd" >&2; exit 1; }
inside sh -c '
set -e
useradd -m -s /bin/sh -p "*" kpuser
mkdir -p /root/k && ssh-keygen -q -t ed25519 -N "" -f /root/k/id
for h in /home/kpuser /root; do mkdir -p $h/.ssh; cp /root/k/id.pub $h/.ssh/authorized_keys; done
chown -R kpuser: /home/kpuser/.ssh; chmod 700 /home/kpuser/.ssh /root/.ssh
printf "ClientAliveInterval 1\nClientAliveCountMax 1\nLogLevel VERBOSE\nUsePAM %s\nPermitRootLogin prohibit-password\n" "$1" >/etc/ssh/sshd_config.d/00-record.conf
systemctl restart ssh.service
cat >/root/k/relay.py <<PY
import os, socket, signal, struct, sys, select
s = socket.create_connection(("127.0.0.1", 22))
open("/root/k/relay.pid", "w").write(str(os.getpid()))
def rst(*_):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close(); os._exit(0)
signal.signal(signal.SIGUSR1, rst)
while True:
    r, _, _ = select.select([0, s], [], [])
    if 0 in r:
        d = os.read(0, 65536)
        if not d: break
        s.sendall(d)
    if s in r:
        d = s.recv(65536)
        if not d: break
        os.write(1, d)
PY
' sh "$PAM" || exit 1
SSH="ssh -i /root/k/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ServerAliveInterval=0 -o LogLevel=ERROR"
cursor() { inside journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
since() { inside journalctl -q --no-pager --after-cursor="$1" -o json SYSLOG_IDENTIFIER=sshd SYSLOG_IDENTIFIER=sshd-session |
    jq -r '"\(._PID) \(.SYSLOG_IDENTIFIER) \(.MESSAGE)"'; }
accepted() { since "$1" | grep -q "Accepted"; }
poll() { local i; for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done; return 1; }
closed() { since "$1" | grep -qE "$2"; }
scenario() {  # scenario NAME DONE_REGEX SETUP_AND_END_COMMAND
    local c; c=$(cursor)
    inside timeout 40 bash -c "$3" >/dev/null 2>&1
    poll closed "$c" "$2"; sleep 1; inside journalctl --sync
    { echo "## $1 (UsePAM $PAM): $4"; since "$c"; echo; } >>"$OUT"
}
: >"$OUT"
END='session closed|Closing connection|Disconnected from|Timeout, client|Read error|Connection reset|ssh_packet_write_poll'
scenario logout "$END" "$SSH kpuser@127.0.0.1 'echo hi'" "ssh kpuser@127.0.0.1 'echo hi'"
scenario freeze "$END" "$SSH kpuser@127.0.0.1 sleep 60 & p=\$!; sleep 2; kill -STOP \$p; sleep 8; kill -KILL \$p" \
    "client SIGSTOPped 2 s after start, ClientAliveInterval 1, ClientAliveCountMax 1"
scenario kill "$END" "$SSH kpuser@127.0.0.1 sleep 60 & p=\$!; sleep 2; kill -KILL \$p; sleep 2" \
    "client SIGKILLed 2 s after start (its kernel sends FIN)"
scenario reset "$END" "$SSH -o ProxyCommand='python3 /root/k/relay.py' kpuser@127.0.0.1 sleep 60 & sleep 2; kill -USR1 \$(cat /root/k/relay.pid); sleep 2; kill %1" \
    "idle session; the relay closes its socket with SO_LINGER 0 (RST)"
scenario reset-w "$END" "$SSH -o ProxyCommand='python3 /root/k/relay.py' kpuser@127.0.0.1 'yes' >/dev/null & sleep 2; r=\$(cat /root/k/relay.pid); kill -STOP \$r; sleep 2; kill -CONT \$r; kill -USR1 \$r; sleep 2; kill %1" \
    "session writing (yes); the relay stops reading for 2 s, then closes with SO_LINGER 0 (RST)"
scenario root "$END" "$SSH root@127.0.0.1 'echo hi'" "ssh root@127.0.0.1 'echo hi' (no privsep child after auth)"
TIMEOUT_SCRIPT='sed -i "s/ClientAliveInterval 1/ClientAliveInterval 0/" /etc/ssh/sshd_config.d/00-record.conf
systemctl restart ssh.service; sysctl -qw net.ipv4.tcp_retries2=3
SSH_CMD "while :; do echo x; sleep 0.2; done" >/dev/null & sleep 2
p=$(ss -Htn state established "( sport = :22 )" | awk "{print \$4}" | sed "s/.*://" | head -1)
nft add table inet kp; nft add chain inet kp out "{ type filter hook output priority 0; }"
nft add rule inet kp out tcp sport 22 tcp dport $p drop; sleep 15; kill %1; nft delete table inet kp'
scenario timeout "$END" "${TIMEOUT_SCRIPT/SSH_CMD/$SSH kpuser@127.0.0.1}" \
    "ClientAliveInterval 0, tcp_retries2=3, nft drops sshd's packets to the client (ETIMEDOUT)"
