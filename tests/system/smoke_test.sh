#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke test for tests/lib/throwaway-systemd.sh: boots a throwaway
# systemd, checks ssh.service, D-Bus, the journal and isolation from the host,
# stops it and checks that nothing is left on the host.
# Needs root and the packages listed at the top of that script.
# Output: "ok - ..." / "not ok - ..." per check; the last line is "N passed, M failed"; exit
# status non-zero on failure.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=smoke_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    cleanup
    report
}
harness_begin

require_root
make_work tsd-smoke
STATE=$WORK/tsd

marker=tsd-smoke-$$-$RANDOM
host_hostname=$(hostname)
host_listen22=$(ss -Hltn 'sport = :22' | wc -l)

# ------------------------------------------------------------------ boot --
# (not sandbox_start: this test checks the tool's own start, output and all)
t0=$(now_ms)
if "$TSD" start "$STATE"; then
    t1=$(now_ms)
    ok "start ($(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))s)"
else
    not_ok "start"; finish
fi
pid=$("$TSD" pid "$STATE")
pidns=$(readlink "/proc/$pid/ns/pid")
mntns=$(readlink "/proc/$pid/ns/mnt")
cgname=$(cat "$STATE/cgroup")
echo "systemd pid $pid, $pidns, $mntns, cgroup $cgname"

# ---------------------------------------------------------------- inside --
state=$(inside systemctl is-system-running)
check "is-system-running is running/degraded ($state)" \
    test "$state" = running -o "$state" = degraded
check "systemd is PID 1 inside" test "$(inside cat /proc/1/comm)" = systemd
check "ssh.service is active" test "$(inside systemctl is-active ssh.service)" = active
check "dbus.service is active" test "$(inside systemctl is-active dbus.service)" = active
check "systemd-journald is active" \
    test "$(inside systemctl is-active systemd-journald.service)" = active

mainpid_before=$(inside systemctl show -P MainPID ssh.service)
check "no 'Received SIGHUP' in the journal before the reload" \
    sh -c "! '$TSD' exec '$STATE' journalctl -u ssh.service --no-pager -o cat | grep -q 'Received SIGHUP'"
if inside busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager ReloadUnit ss ssh.service replace >/dev/null; then
    ok "busctl ReloadUnit ssh.service"
else
    not_ok "busctl ReloadUnit ssh.service"
fi
# the reload job and sshd's log line are asynchronous
check "journal of ssh.service shows 'Received SIGHUP'" wait_for 15 sighups_are 1
mainpid_after=$(inside systemctl show -P MainPID ssh.service)
check "ssh MainPID unchanged by reload ($mainpid_before -> $mainpid_after)" \
    test -n "$mainpid_before" -a "$mainpid_before" != 0 -a "$mainpid_before" = "$mainpid_after"
check "ssh.service still active after reload" \
    test "$(inside systemctl is-active ssh.service)" = active

banner=$(inside timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22; head -c 8 <&3')
check "SSH-2.0- banner from 127.0.0.1:22 inside (got '$banner')" test "$banner" = SSH-2.0-

check "lo is up inside" inside sh -c 'ip -o link show lo | grep -q "UP"'
check "only lo exists in the sandbox's net namespace" \
    test "$(inside ls /sys/class/net)" = lo

# ------------------------------------------------------------- isolation --
inside sh -c "echo $marker > /etc/$marker.conf && echo $marker > /root/$marker"
check "file written inside /etc is there inside" \
    test "$(inside cat "/etc/$marker.conf")" = "$marker"
check "file written inside /etc does not appear on the host" \
    test ! -e "/etc/$marker.conf" -a ! -e "/root/$marker"

echo "$marker" > "$WORK/cpin"
"$TSD" cp-in "$STATE" "$WORK/cpin" "/etc/$marker.d/copied"
check "cp-in copies a host file into the sandbox" \
    test "$(inside cat "/etc/$marker.d/copied")" = "$marker"
check "cp-in leaves the host's /etc alone" test ! -e "/etc/$marker.d"
rm -f "$WORK/cpin"

check "machine-id inside differs from the host's" \
    test "$(inside cat /etc/machine-id)" != "$(cat /etc/machine-id 2>/dev/null)"
check "hostname change inside does not reach the host" \
    sh -c "'$TSD' exec '$STATE' hostname $marker && test \"\$(hostname)\" = '$host_hostname'"
check "sshd of the sandbox does not listen in the host's net namespace" \
    test "$(ss -Hltn 'sport = :22' | wc -l)" = "$host_listen22"
check "setting the clock inside is refused" \
    sh -c "! '$TSD' exec '$STATE' date -s @0 >/dev/null 2>&1"
check "no host mount shows the sandbox's mounts" \
    sh -c "! grep -qE 'throwaway-systemd|$STATE' /proc/self/mountinfo"

# ------------------------------------------------------------------ stop --
t0=$(now_ms)
if "$TSD" stop "$STATE"; then
    t1=$(now_ms); ok "stop ($(( t1 - t0 ))ms)"
else
    not_ok "stop"
fi
check "stop is idempotent" "$TSD" stop "$STATE"
check "systemd pid $pid is gone" \
    sh -c "! grep -qs '^State:[[:space:]]*[^ZX]' /proc/$pid/status"

leftover=
for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$pidns" ] ||
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ] || continue
    grep -qs '^State:[[:space:]]*[ZX]' "$p/status" && continue   # dead, not yet reaped
    leftover="$leftover ${p#/proc/}"
done
check "no process left in the sandbox's PID or mount namespace${leftover:+:$leftover}" \
    test -z "$leftover"
check "no leftover mounts in /proc/self/mountinfo" \
    sh -c "! grep -qE 'throwaway-systemd|$STATE' /proc/self/mountinfo"
mentions=
for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    { cmd=$(tr '\0' ' ' < "$p/cmdline"); } 2>/dev/null || continue   # gone meanwhile
    case "$cmd" in *"$STATE"*) mentions="$mentions ${p#/proc/}" ;; esac
done
check "no process mentions the state directory${mentions:+:$mentions}" test -z "$mentions"
check "cgroup $cgname removed" \
    sh -c "! grep -qs '$cgname' /proc/[0-9]*/cgroup &&
           ! find /sys/fs/cgroup -maxdepth 2 -name '$cgname' 2>/dev/null | grep -q ."
check "state directory removed" test ! -e "$STATE"
check "host /etc untouched" test ! -e "/etc/$marker.conf"

finish
