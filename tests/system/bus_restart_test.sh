#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bus_restart_test.sh - keepalive-policyd under a real systemd while the system bus comes and goes
# (tests/lib/throwaway-systemd.sh; the daemon as a transient Type=notify service with
# Restart=on-failure, as daemon_reload_test.sh runs it), against the sandbox's real sshd:
#   1. the daemon follows ssh.service from systemd's signals (its debug line "sshd unit: ..."):
#      systemctl stop, start and reload of ssh.service each show up, with the main PID and the
#      time sshd read its configuration as systemd reports them;
#   2. systemctl restart dbus under the running daemon: keepalivectl status answers again within
#      seconds, the same process (no restart by systemd), with the same state;
#   3. a policy pushed afterwards still reloads sshd: the reload job's JobRemoved is followed on
#      the new bus (state ok, last apply applied, ReloadsTotal + 1, sshd -T shows the value), and
#      ssh.service's PropertiesChanged are followed again (systemctl reload ssh shows up);
#   3b. a reload job under way when dbus restarts: the daemon's wait for its JobRemoved ends at
#      once with "lost the system bus while waiting for job", not at its 15 s deadline, and the
#      daemon goes on (same process, status answers, the next push applies);
#   4. dbus-daemon killed (SIGKILL, no restart by its unit): dbus.socket's activation brings it
#      back when the daemon reconnects, and the daemon rejoins again;
#   5. the bus gone for good (dbus.socket and dbus.service stopped): after 60 s the daemon exits
#      with status 3 and Restart=on-failure restarts it (KP_GIVE_UP=0 skips this minute).
# Needs root, the packages listed at the top of tests/lib/throwaway-systemd.sh, and a build
# (KEEPALIVE_BUILD_DIR, default ../../build). Output: "ok - ..." / "not ok - ..." per check; the
# last line is "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$SRC/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl

UNIT=keepalive-policyd.service
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml

TEST_NAME=bus_restart_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 80 "$UNIT" ssh.service dbus.service
    cleanup
    report
}
harness_begin

start_daemon() {
    inside systemd-run --quiet --unit="${UNIT%.service}" \
        --description="keepalive-policyd (system test)" \
        --property=Type=notify --property=NotifyAccess=main \
        --property=WatchdogSec=30 --property=TimeoutStartSec=60 \
        --property=Restart=on-failure --property=RestartSec=100ms --property=LimitCORE=0 \
        /usr/local/sbin/keepalive-policyd --log-level debug
}
ctl_answers() { inside keepalivectl show -p State --value 2>/dev/null | grep -qx ok; }
ctl_reachable() { inside keepalivectl show -p State --value >/dev/null 2>&1; }
ctl_value() { inside keepalivectl show -p "$1" --value 2>/dev/null; }
reloads_total_is() { [ "$(ctl_value ReloadsTotal)" = "$1" ]; }
# unit_line CURSOR TEXT: the daemon's debug line about sshd's unit after CURSOR that contains TEXT
unit_line() { jsince "$1" | grep -F 'sshd unit: ' | grep -F -- "$2" | tail -n 1; }
unit_logged() { [ -n "$(unit_line "$1" "$2")" ]; }
# seconds since the epoch of a timestamp property of a unit, as systemd has it
unit_epoch() { inside systemctl show --timestamp=unix -P "$2" "$1" | tr -d '@'; }
# read_config_s LINE: the seconds of "read its configuration at USEC" in a unit line
read_config_s() { sed -n 's/.*read its configuration at \([0-9]*\).*/\1/p' <<< "$1" | awk '{ printf "%d", $1 / 1000000 }'; }

# ------------------------------------------------------------------- start --

require_root
for f in "$DAEMON_BIN" "$CTL_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build)"; finish; }
done
make_work kp-bus-restart-test
sandbox_start
"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
"$TSD" cp-in "$STATE" "$SRC/units/org.keepalivepolicy1.conf" /etc/dbus-1/system.d/org.keepalivepolicy1.conf
check "the bus policy org.keepalivepolicy1.conf is in force (systemctl reload dbus)" \
    inside systemctl reload dbus.service
inside mkdir -p "$POLICY_DIR"
policy 2m | inside sh -c 'cat > "$1"' sh "$POLICY"
SSH_PID=$(prop ssh.service MainPID)
mark=$(jcursor)
check "systemd-run starts $UNIT (READY=1 after its first apply)" start_daemon
DPID=$(prop "$UNIT" MainPID)
check "keepalivectl status answers: State ok" wait_for 10 ctl_answers
reloads0=$(ctl_value ReloadsTotal)
check "the first apply reloaded sshd: ReloadsTotal $reloads0" test "${reloads0:-0}" -ge 1

# ------------------------------------------------------- 1. unit tracking --
echo "# 1. ssh.service's state, from systemd's signals"
line=$(wait_for 10 unit_logged "$mark" 'active (running)'; unit_line "$mark" 'active (running)')
check "after the first apply's reload: '${line#*sshd unit: }'" \
    grep -q "sshd unit: ssh.service active (running), main PID $SSH_PID, " <<< "$line"
check "the socket unit is found from systemd (Debian 12: ssh.socket, loaded, not listening)" \
    grep -q ', ssh.socket not listening$' <<< "$line"
got=$(read_config_s "$line"); want=$(unit_epoch ssh.service StateChangeTimestamp)
check "it read its configuration at the end of that reload ($got s; systemd's StateChangeTimestamp $want s)" \
    test -n "$got" -a "$got" = "$want"

mark=$(jcursor)
inside systemctl stop ssh.service
check "systemctl stop ssh: 'inactive (dead)', no main PID" \
    wait_for 10 unit_logged "$mark" 'ssh.service inactive (dead), main PID 0'
mark=$(jcursor)
inside systemctl start ssh.service
SSH_PID=$(prop ssh.service MainPID)
check "systemctl start ssh: 'active (running)' with the new main PID $SSH_PID" \
    wait_for 10 unit_logged "$mark" "ssh.service active (running), main PID $SSH_PID,"
line=$(unit_line "$mark" "active (running)")
got=$(read_config_s "$line"); want=$(unit_epoch ssh.service ExecMainStartTimestamp)
check "it read its configuration when its main process started ($got s; ExecMainStartTimestamp $want s)" \
    test -n "$got" -a "$got" = "$want"
mark=$(jcursor)
inside systemctl reload ssh.service
check "systemctl reload ssh: 'reloading' seen" wait_for 10 unit_logged "$mark" 'ssh.service reloading'
check "... then 'active (running)' again, same main PID $SSH_PID" \
    wait_for 10 unit_logged "$mark" "ssh.service active (running), main PID $SSH_PID,"

# ------------------------------------------------------ 2. dbus restarted --
echo "# 2. systemctl restart dbus under the running daemon"
restarts0=$(prop "$UNIT" NRestarts)
generation0=$(ctl_value Generation)
mark=$(jcursor)
t0=$(now_ms)
check "systemctl restart dbus.service" inside systemctl restart dbus.service
if wait_for 20 ctl_answers; then
    ok "keepalivectl status answers again $(($(now_ms) - t0)) ms after the restart began"
else
    not_ok "keepalivectl status answers again within 20 s of systemctl restart dbus"
fi
check "journal: the daemon lost the bus and rejoined it" \
    wait_for 5 daemon_logged "$mark" 'rejoined the system bus as org.keepalivepolicy1'
check "the same process ($DPID), not restarted by systemd (NRestarts $restarts0)" \
    test "$(prop "$UNIT" MainPID)/$(prop "$UNIT" NRestarts)" = "$DPID/$restarts0"
check "the same state: Generation $generation0, ReloadsTotal $reloads0" \
    test "$(ctl_value Generation)/$(ctl_value ReloadsTotal)" = "$generation0/$reloads0"

# --------------------------------------------- 3. a push after the restart --
echo "# 3. a policy pushed after the restart reloads sshd (JobRemoved followed on the new bus)"
mark=$(jcursor)
push_policy < <(policy 3m)
check "journal: state ok, last apply applied (the reload job's result arrived)" \
    wait_for 20 daemon_logged_re "$mark" 'state ok: .*last apply applied'
check "ReloadsTotal $reloads0 -> $((reloads0 + 1))" \
    wait_for 5 reloads_total_is $((reloads0 + 1))
check "sshd -T shows clientaliveinterval 180" wait_for 5 sshd_T_is clientaliveinterval 180
check "no rollback, no timeout waiting for the job" \
    test -z "$(jsince "$mark" | grep -E 'rolled-back|no result for job')"
mark=$(jcursor)
inside systemctl reload ssh.service
check "systemctl reload ssh is seen again (PropertiesChanged followed on the new bus)" \
    wait_for 10 unit_logged "$mark" 'ssh.service reloading'

# ------------------------------------- 3b. dbus restarted during a reload job --
echo "# 3b. dbus restarted while the daemon waits for a (slow) reload job of ssh.service"
override=/etc/systemd/system/ssh.service.d/zz-kp-slow-reload.conf
inside mkdir -p /etc/systemd/system/ssh.service.d
printf '[Service]\nExecReload=\nExecReload=/bin/sh -c "sleep 4; exec /bin/kill -HUP $MAINPID"\n' |
    inside sh -c 'cat > "$1"' sh "$override"
inside systemctl daemon-reload
mark=$(jcursor)
push_policy < <(policy 5m)
job_started() { inside journalctl -q --no-pager -u ssh.service --cursor="$mark" -o cat | grep -qF 'Reloading'; }
check "the reload job of ssh.service started" wait_for 10 job_started
t0=$(now_ms)
inside systemctl restart dbus.service
check "journal: the daemon's wait for the job ended with the bus, not at its deadline" \
    wait_for 3 daemon_logged "$mark" 'lost the system bus while waiting for job'
info "the wait ended $(($(now_ms) - t0)) ms after the restart began (the job itself takes 4 s)"
check "keepalivectl status answers again" wait_for 20 ctl_reachable
info "state after it: $(ctl_value StateReason | cut -c1-160)"
check "the same process ($DPID)" test "$(prop "$UNIT" MainPID)" = "$DPID"
# Whether sshd reloaded is unknown: once rejoined, the daemon applies the policy again (the
# reload-pending mark makes it reload), so the state ends on evidence, not on the lost job.
# The drop-ins were kept (the unit was still active when the job's answer was lost) or put back
# (it was not): either way the run after the rejoin ends ok, applied or unchanged.
check "journal: applied again after rejoining, state ok" \
    wait_for 30 daemon_logged_re "$mark" 'state ok: .*last apply (applied|unchanged)'
check "journal: the trigger was the rejoin" \
    daemon_logged "$mark" '(rejoined the system bus)'
check "sshd -T shows clientaliveinterval 300" wait_for 5 sshd_T_is clientaliveinterval 300
inside rm -f "$override"
inside systemctl daemon-reload

# ------------------------------------------------------- 4. dbus killed --
echo "# 4. dbus-daemon killed: socket activation brings it back, the daemon rejoins"
reloads1=$(ctl_value ReloadsTotal)
mark=$(jcursor)
inside systemctl kill --signal=SIGKILL dbus.service
if wait_for 20 ctl_reachable; then
    ok "keepalivectl status answers again (dbus.service $(prop dbus.service ActiveState))"
else
    not_ok "keepalivectl status answers again within 20 s of SIGKILL to dbus-daemon"
fi
check "journal: rejoined again" \
    wait_for 5 daemon_logged "$mark" 'rejoined the system bus as org.keepalivepolicy1'
mark=$(jcursor)
push_policy < <(policy 4m)
check "a push reloads sshd again: state ok, last apply applied" \
    wait_for 20 daemon_logged_re "$mark" 'state ok: .*last apply applied'
check "ReloadsTotal $reloads1 -> $((reloads1 + 1))" wait_for 5 reloads_total_is $((reloads1 + 1))
check "sshd -T shows clientaliveinterval 240" wait_for 5 sshd_T_is clientaliveinterval 240
check "the same process throughout ($DPID)" test "$(prop "$UNIT" MainPID)" = "$DPID"

# ------------------------------------------------- 5. the bus gone for good --
if [ "${KP_GIVE_UP:-1}" = 1 ]; then
    echo "# 5. dbus.socket and dbus.service stopped: the daemon gives up after 60 s, exit 3, restarted"
    restarts0=$(prop "$UNIT" NRestarts)
    mark=$(jcursor)
    t0=$(now_ms)
    inside systemctl stop dbus.socket dbus.service
    check "journal: 'could not rejoin the system bus within 60 s; exiting for systemd to restart'" \
        wait_for 80 daemon_logged "$mark" 'could not rejoin the system bus within 60 s'
    info "gave up $(($(now_ms) - t0)) ms after dbus stopped"
    restarted_after_3() {
        daemon_logged "$mark" 'status=3/' &&
            [ "$(prop "$UNIT" NRestarts)" -gt "$restarts0" ] && restarted_from "$DPID"
    }
    check "systemd saw exit status 3 and restarted it (Restart=on-failure)" wait_for 15 restarted_after_3
    inside systemctl start dbus.socket
    # A daemon that started while the bus was away runs without it (docs/daemon.md, 9.1).
    check "with the bus back, systemctl restart $UNIT" inside systemctl restart "$UNIT"
    check "keepalivectl status answers again" wait_for 10 ctl_answers
fi
finish
