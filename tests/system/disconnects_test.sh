#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# disconnects_test.sh - disconnect accounting from the real journal (issue 17), under a real
# systemd with journald (tests/lib/throwaway-systemd.sh), the daemon under the SHIPPED unit
# (units/keepalive-policyd.service, only its ExecStart pointed at the build: its sandbox must let
# it read the journal and write its store), on the sandbox's own root (so it follows the
# sandbox's journal), a real sshd 9.2 and a real ssh client:
#   a. policy ClientAliveInterval 2, ClientAliveCountMax 1; JournalState following;
#   b. a clean logout of a test user appears as `logout` for that user and 127.0.0.1 in
#      `keepalivectl disconnects --json`;
#   c. a session whose client is frozen (SIGSTOP) is cut by sshd's keepalive and appears as
#      `keepalive-timeout` for that user and 127.0.0.1 in `disconnects --json`, in the metrics
#      file (keepalive_policy_disconnects_total) and in `keepalivectl status`;
#   d. a daemon restart neither loses nor double-counts: the same events and totals after it, and
#      a new session after the restart is counted once; the store file is root's, 0600; lines a
#      user forges with logger -t sshd count nothing.
# Needs root, the packages of tests/lib/throwaway-systemd.sh, jq, and a build
# (KEEPALIVE_BUILD_DIR, default ../../build). Knobs: KP_KEEP_LOG=FILE (the sandbox's journal).
# Output: "ok - ..." / "not ok - ..." per check, "# ..." for information; the last line is
# "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl

UNIT=keepalive-policyd.service
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml
STORE=/var/lib/keepalive-policy/disconnects.json
PROM=/var/lib/prometheus/node-exporter/keepalive-policy.prom
TUSER=kpdisc
KEY=/root/kp-disconnects-key
SSH_OPTS=(-i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o ServerAliveInterval=0 -o ConnectTimeout=10)

TEST_NAME=disconnects_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 60 "$UNIT" ssh.service
    if [ "$failed" -gt 0 ] && [ -n "$STATE" ]; then
        info "sshd's lines (last 30):"
        timeout 20 "$TSD" exec "$STATE" journalctl --no-pager -o short-precise \
            -t sshd -t sshd-session 2>&1 | tail -n 30 | cut -c1-300 | sed 's/^/#   /'
    fi
    cleanup
    report
}
harness_begin

# ------------------------------------------------------------------ helpers --

start_daemon() { inside systemctl start "$UNIT"; }
stop_daemon() { inside systemctl stop "$UNIT"; }
sj() { inside keepalivectl status --json 2>/dev/null | jq -r "$1" 2>/dev/null; }
state_is() { [ "$(sj .State)" = "$1" ]; }
events() { inside keepalivectl disconnects --json 2>/dev/null; }
# count_of CAUSE: the test user's sessions from 127.0.0.1 that ended so
count_of() {
    events | jq --arg c "$1" --arg u "$TUSER" \
        '[.[] | select(.cause == $c and .user == $u and .address == "127.0.0.1")] | length' 2>/dev/null
}
count_is() { [ "$(count_of "$1")" = "$2" ]; }
total_of() {  # total_of CAUSE: DisconnectTotals' count for CAUSE on network default
    sj "[.DisconnectTotals[] | select(.cause == \"$1\" and .network == \"default\") | .count] | add // 0"
}
metric_of() {  # metric_of CAUSE: the counter's sample in the metrics file
    inside cat "$PROM" 2>/dev/null |
        awk -v k="keepalive_policy_disconnects_total{cause=\"$1\",network=\"default\"}" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric_of "$1")" = "$2" ]; }
# A session that logs in and out at once.
clean_session() { inside timeout 30 ssh "${SSH_OPTS[@]}" "$TUSER@127.0.0.1" true; }

# ------------------------------------------------------------------- start --

require_root
command -v jq >/dev/null || { not_ok "jq is installed (the JSON is read with it)"; finish; }
for f in "$DAEMON_BIN" "$CTL_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build)"; finish; }
done
make_work kp-disconnects-test
sandbox_start
"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
"$TSD" cp-in "$STATE" "$HERE/../../units/org.keepalivepolicy1.conf" /usr/share/dbus-1/system.d/org.keepalivepolicy1.conf
SRC=$(cd "$HERE/../.." && pwd)
sed 's|^ExecStart=.*|ExecStart=/usr/local/sbin/keepalive-policyd|' \
    "$SRC/units/keepalive-policyd.service" > "$WORK/$UNIT"
check "the unit differs from the shipped one in its ExecStart= only" \
    test "$(diff "$SRC/units/keepalive-policyd.service" "$WORK/$UNIT" | grep -c '^[<>]')" = 2
"$TSD" cp-in "$STATE" "$WORK/$UNIT" "/etc/systemd/system/$UNIT"
inside systemctl daemon-reload
check "the bus policy installed inside, the bus reloaded" \
    inside busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
inside install -d -m 0755 "$(dirname "$PROM")"
# The test user, with a key root's ssh logs in with ('*': no password, not a locked account).
inside useradd -m -u 1600 -s /bin/sh "$TUSER"
inside usermod -p '*' "$TUSER"
inside ssh-keygen -q -t ed25519 -N '' -f "$KEY"
inside install -d -o "$TUSER" -g "$TUSER" -m 0700 "/home/$TUSER/.ssh"
inside install -o "$TUSER" -g "$TUSER" -m 0600 "$KEY.pub" "/home/$TUSER/.ssh/authorized_keys"

# ------------------------------------------------------------------ a. policy --
echo "# a. ClientAliveInterval 2, ClientAliveCountMax 1; the daemon follows the journal"
inside mkdir -p "$POLICY_DIR"
printf 'version: 1\nserver:\n  client_alive_interval: 2\n  client_alive_count_max: 1\n' |
    inside sh -c 'cat > "$1"' sh "$POLICY"
check "the daemon starts under the shipped unit" start_daemon
check "state ok after its first apply" wait_for 30 state_is ok
check "sshd -T: clientaliveinterval 2, clientalivecountmax 1" \
    eval 'sshd_T_is clientaliveinterval 2 && sshd_T_is clientalivecountmax 1'
check "JournalState following ($(sj .JournalState))" test "$(sj .JournalState)" = following
check "SshdLogLevel is sshd -T's ($(sj .SshdLogLevel))" test "$(sj .SshdLogLevel)" = "$(sshd_T loglevel)"

# ------------------------------------------------------------------ b. logout --
echo "# b. a clean logout"
check "$TUSER logs in over ssh and out" clean_session
check "disconnects --json: one logout for $TUSER from 127.0.0.1" wait_for 15 count_is logout 1
info "$(events | jq -c '.[0]' 2>/dev/null | cut -c1-300)"
check "its fields are exactly time, user, address, port, network, cause, duration_seconds" \
    test "$(events | jq -c '.[0] | keys_unsorted' 2>/dev/null)" = \
    '["time","user","address","port","network","cause","duration_seconds"]'
check "its time is ISO 8601 UTC, its port a number, its duration known" \
    test "$(events | jq -r '.[0] | [(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")), (.port | type), (.duration_seconds | type)] | @tsv' 2>/dev/null)" \
    = "$(printf 'true\tnumber\tnumber')"

# ------------------------------------------------------ c. keepalive-timeout --
echo "# c. a frozen client is cut by sshd's keepalive"
# shellcheck disable=SC2016  # expanded by the shell inside
CLIENT=$(inside sh -c 'ssh "$@" sleep 300 </dev/null >/dev/null 2>&1 & echo $!' sh \
    "${SSH_OPTS[@]}" "$TUSER@127.0.0.1")
session_up() { inside pgrep -u "$TUSER" -f 'sleep 300' >/dev/null; }
check "a session of $TUSER runs (client PID $CLIENT)" wait_for 15 session_up
check "the client frozen with SIGSTOP" inside kill -STOP "$CLIENT"
t0=$(now_ms)
# On sshd 9.2 the first probe goes after 2 x 2 s of silence and the second is the last: about 8 s.
check "disconnects --json: one keepalive-timeout for $TUSER from 127.0.0.1" \
    wait_for 40 count_is keepalive-timeout 1
info "cut and counted after $(($(now_ms) - t0)) ms: $(events | jq -c '[.[] | select(.cause == "keepalive-timeout")][0]' 2>/dev/null | cut -c1-300)"
inside kill -KILL "$CLIENT" 2>/dev/null
check "the metrics file: keepalive_policy_disconnects_total keepalive-timeout 1, logout 1" \
    wait_for 10 eval 'metric_is keepalive-timeout 1 && metric_is logout 1'
status_text=$(inside keepalivectl status 2>/dev/null)
line=$(grep -F 'Disconnects (24h):' <<< "$status_text")
info "status: $line"
check "status: 1 keepalive-timeout and 1 logout in 24 h, the last one $TUSER's from 127.0.0.1" \
    eval 'grep -qF "1 keepalive-timeout" <<< "$line" && grep -qF "1 logout" <<< "$line" &&
          grep -qE "last keepalive-timeout [0-9a-z ]+ ago, $TUSER from 127\.0\.0\.1" <<< "$line"'
sed -n '/Disconnects (24h):/,/Users:/p' <<< "$status_text" | sed '$d' | sed 's/^/#   /'
# sshd 9.2 logs the read errors (reset, timed-out) at VERBOSE only (serverloop.c, packet.c): at
# its default LogLevel INFO status says so, with the fix.
if [ "$(sshd_T loglevel)" = INFO ]; then
    check "status: LogLevel INFO hides closed, reset and timed-out in part; the fix on the next line" \
        eval 'grep -qE "LogLevel INFO hides closed; reset, timed-out in part$" <<< "$status_text" &&
              grep -qE "count as unknown\): set server.log_level: verbose$" <<< "$status_text"'
fi
check "status --json: DisconnectCounts and LastKeepaliveTimeout" \
    test "$(sj '[.DisconnectCounts[] | select(.cause == "keepalive-timeout") | .count] | add')/$(sj '.LastKeepaliveTimeout > 0')" = 1/true
# The user sees their own sessions; nobody sees none.
check "$TUSER's own disconnects: both, restricted" \
    test "$(inside runuser -u "$TUSER" -- keepalivectl disconnects --json 2>/dev/null | jq length)" = 2
check "nobody's disconnects: none" \
    test "$(inside runuser -u nobody -- keepalivectl disconnects --json 2>/dev/null | jq length)" = 0

# -------------------------------------------------------------- d. restart --
echo "# d. a restart neither loses nor double-counts"
before_events=$(events | jq -c 'sort_by(.time, .cause)' 2>/dev/null)
before_totals=$(sj '.DisconnectTotals | sort_by(.cause, .network) | tostring')
stop_daemon
check "the store is root's, mode 0600" test "$(inside stat -c '%u %a' "$STORE" 2>/dev/null)" = "0 600"
check "the store holds the journal cursor" test -n "$(inside jq -r .cursor "$STORE" 2>/dev/null)"
check "the daemon starts again" start_daemon
check "state ok after the restart" wait_for 30 state_is ok
# Whatever the follower reads again after its cursor must not count twice: the same events and
# totals, held for a moment after it caught up (the journal has nothing new of sshd's).
same_events() { [ "$(events | jq -c 'sort_by(.time, .cause)' 2>/dev/null)" = "$before_events" ]; }
same_totals() { [ "$(sj '.DisconnectTotals | sort_by(.cause, .network) | tostring')" = "$before_totals" ]; }
check "after the restart: the same events and totals" eval 'wait_for 10 same_events && same_totals'
check "... and they stay so (nothing counted twice)" stays_for 2000 eval 'same_events && same_totals'
# A user forging sshd's lines (logger -t sshd) opens no session, so its forged end counts nothing.
inside runuser -u "$TUSER" -- logger -t sshd "Accepted password for root from 10.9.9.9 port 1 ssh2"
inside runuser -u "$TUSER" -- logger -t sshd "Timeout, client not responding from user root 10.9.9.9 port 1"
check "a new session after the restart logs out" clean_session
check "it is counted once: 2 logouts, 1 keepalive-timeout" \
    wait_for 15 eval 'count_is logout 2 && count_is keepalive-timeout 1'
check "the forged lines of a user counted nothing" \
    test "$(events | jq '[.[] | select(.address == "10.9.9.9")] | length')" = 0
check "totals: logout 2, keepalive-timeout 1 (monotonic across the restart)" \
    test "$(total_of logout)/$(total_of keepalive-timeout)" = 2/1
check "the metrics file follows: logout 2" wait_for 10 metric_is logout 2

finish
