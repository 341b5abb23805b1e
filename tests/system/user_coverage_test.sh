#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# user_coverage_test.sh - no coverage holes for users (issue 15 §6), under a real systemd
# (tests/lib/throwaway-systemd.sh) with keepalive-policyd running as its packaged unit
# (units/keepalive-policyd.service: ProtectSystem=strict, PrivateMounts=yes, ReadWritePaths=/home),
# against the sandbox's own users and homes. It proves, by the modes of real files, that:
#   1. a home renamed away and made anew (mv ~ ~.old; mkdir ~) is watched again: its
#      ~/.ssh/config 664 is repaired to 600 within 2 s, and so is a later chmod there; the old
#      directory, no one's home now, is left alone;
#   2. a tmpfs mounted over a home (made complete elsewhere and bind-mounted there, so that only
#      the mount table tells) is checked: its 664 config is repaired, and a later chmod there too;
#   3. once unmounted, the home underneath is watched again (a chmod there is repaired);
#   4. a tmpfs mounted over /home itself: the homes on it are repaired, and a home replaced on it
#      is seen (the parent's watch moved to the new file system); after the unmount the old
#      homes are watched again;
#   5. nothing was mounted on the host.
# Needs root, the packages listed at the top of tests/lib/throwaway-systemd.sh, and a build
# (KEEPALIVE_BUILD_DIR, default ../../build).
# Output: "ok - ..." / "not ok - ..." per check, "# ..." for information; the last line is
# "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$SRC/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd

UNIT=keepalive-policyd.service
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml
A=kpcov-alice
B=kpcov-bob
STAGE=/run/kpcov-stage
# The daemon reacts in milliseconds; the margin is for a loaded machine.
WITHIN=2

TEST_NAME=user_coverage_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 60 "$UNIT"
    cleanup
    report
}
harness_begin

# --------------------------------------------------------------------- helpers --

cfg() { echo "/home/$1/.ssh/config"; }
# populate DIR USER MODE: DIR as USER's home, with ~/.ssh 0700 and ~/.ssh/config of MODE
populate() {
    # shellcheck disable=SC2016  # expanded by the shell inside
    inside sh -c '
        install -d -o "$2" -g "$2" -m 0755 "$1" &&
        install -d -o "$2" -g "$2" -m 0700 "$1/.ssh" &&
        printf "Host *\n    ServerAliveInterval 60\n" > "$1/.ssh/config" &&
        chown "$2:$2" "$1/.ssh/config" && chmod "$3" "$1/.ssh/config"' sh "$1" "$2" "$3"
}
repaired() { wait_for "$WITHIN" mode_is "$1" "600 $2:$2"; }  # repaired FILE USER
host_kpcov_mounts() { grep -c kpcov /proc/self/mountinfo; }
daemon_mounts() {  # the daemon's own view of the mount table, around a path
    local pid
    pid=$(prop "$UNIT" MainPID)
    inside grep -F -- "$1" "/proc/$pid/mountinfo" |
        awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i + 1); break } }' | tr '\n' ';'
}

# ----------------------------------------------------------------------- setup --

require_root
[ -x "$DAEMON_BIN" ] || { not_ok "$DAEMON_BIN is built (cmake --build build)"; finish; }
make_work kp-user-coverage
host_before=$(host_kpcov_mounts)
sandbox_start

"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
# The unit as packaged, only its ExecStart pointed at the build; the bus policy it needs.
sed 's|^ExecStart=.*|ExecStart=/usr/local/sbin/keepalive-policyd|' \
    "$SRC/units/keepalive-policyd.service" > "$WORK/$UNIT"
"$TSD" cp-in "$STATE" "$WORK/$UNIT" "/etc/systemd/system/$UNIT"
"$TSD" cp-in "$STATE" "$SRC/units/org.keepalivepolicy1.conf" \
    /etc/dbus-1/system.d/org.keepalivepolicy1.conf
inside busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    ReloadConfig >/dev/null
inside systemctl daemon-reload
check "the packaged unit, pointed at the build, is loaded (LoadState $(prop "$UNIT" LoadState))" \
    test "$(prop "$UNIT" LoadState)" = loaded

# On a real host systemd makes / shared at boot, so that a mount made later reaches the services'
# own namespaces (PrivateMounts=yes: slaves of it); it skips that in containers, which the
# sandbox is. Done here before the daemon's namespace is made, as the boot would have.
inside mount --make-rshared /
check "/ is shared in the sandbox, as on a host booted by systemd" \
    sh -c "'$TSD' exec '$STATE' findmnt -n -o PROPAGATION / | grep -q shared"

inside useradd -M -d "/home/$A" -u 41000 -s /bin/sh "$A"
inside useradd -M -d "/home/$B" -u 41001 -s /bin/sh "$B"
populate "/home/$A" "$A" 0600
populate "/home/$B" "$B" 0600
inside mkdir -p "$POLICY_DIR"
# shellcheck disable=SC2016  # expanded by the shell inside
printf 'version: 1\nserver: {client_alive_interval: 2m}\nusers: {action: enforce, min_uid: 41000}\n' |
    inside sh -c 'cat > "$1"' sh "$POLICY"

mark=$(jcursor)
if inside systemctl start "$UNIT"; then
    ok "systemctl start $UNIT (Type=notify: returns after the first apply)"
else
    not_ok "systemctl start $UNIT"
    finish
fi
check "$UNIT is active (running)" \
    test "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" SubState)" = active/running
check "journal: the daemon covers the users, none non-compliant" \
    wait_for 10 daemon_logged_re "$mark" 'users: [0-9]+ covered, 0 non-compliant'
info "the daemon's mounts at /home: $(daemon_mounts /home)"

# ------------------------------------------------------------ 1. home replaced --
echo "# 1. a home renamed away and made anew"
mark=$(jcursor)
inside mv "/home/$A" "/home/$A.old"
populate "/home/$A" "$A" 0664
check "the new home's ~/.ssh/config 664 is repaired to 600 within ${WITHIN} s" repaired "$(cfg "$A")" "$A"
inside chmod 0664 "$(cfg "$A")"
check "a later chmod 664 in the new home is repaired too (it is watched)" repaired "$(cfg "$A")" "$A"
# A home put back by a rename onto its name (from a backup), complete before it appears: only
# the parent's watch sees it.
populate "/home/$A.restored" "$A" 0646
inside mv "/home/$A" "/home/$A.older"
inside mv "/home/$A.restored" "/home/$A"
check "a home renamed onto the name (complete before it appears) is repaired within ${WITHIN} s" \
    repaired "$(cfg "$A")" "$A"
check "journal: that repair says the home was replaced" \
    wait_for 5 daemon_logged "$mark" "repaired \"/home/$A/.ssh\" of $A: ~/.ssh/config: mode set to 0600 (home replaced)"
inside chmod 0666 "/home/$A.old/.ssh/config"
inside chmod 0664 "$(cfg "$A")"
check "(after one more repair in the new home)" repaired "$(cfg "$A")" "$A"
check "the old directory, no one's home now, is left alone (666)" \
    mode_is "/home/$A.old/.ssh/config" "666 $A:$A"

# --------------------------------------------------------- 2. mount over a home --
echo "# 2. a tmpfs mounted over a home, then unmounted"
mark=$(jcursor)
inside mkdir -p "$STAGE"
inside mount -t tmpfs -o mode=0755,size=1m kpcov-stage "$STAGE"
populate "$STAGE/b" "$B" 0664
inside mount --bind "$STAGE/b" "/home/$B"
inside umount "$STAGE"
check "the tmpfs is at /home/$B in the sandbox, with a 664 config" \
    inside sh -c "findmnt -n -o FSTYPE /home/$B | grep -q tmpfs"
check "the daemon's namespace sees it ($(daemon_mounts "/home/$B"))" \
    wait_for 5 sh -c "'$TSD' exec '$STATE' grep -q ' /home/$B ' /proc/$(prop "$UNIT" MainPID)/mountinfo"
check "the config on the new mount is repaired to 600 within ${WITHIN} s" repaired "$(cfg "$B")" "$B"
check "journal: the repair says the mount changed" \
    wait_for 5 daemon_logged "$mark" "repaired \"/home/$B/.ssh\" of $B: ~/.ssh/config: mode set to 0600 (mount changed)"
inside chmod 0664 "$(cfg "$B")"
check "a later chmod 664 on the mount is repaired too (watched there)" repaired "$(cfg "$B")" "$B"
inside umount "/home/$B"
check "unmounted: the home underneath is back (its config 600)" \
    sh -c "! '$TSD' exec '$STATE' findmnt -n /home/$B >/dev/null && '$TSD' exec '$STATE' stat -c %a $(cfg "$B") | grep -qx 600"
inside chmod 0664 "$(cfg "$B")"
check "a chmod 664 in the home underneath is repaired (watched again)" repaired "$(cfg "$B")" "$B"

# -------------------------------------------------------------- 3. mount over /home --
echo "# 3. a tmpfs mounted over /home, then unmounted"
mark=$(jcursor)
inside mount -t tmpfs -o mode=0755,size=1m kpcov-stage "$STAGE"
populate "$STAGE/$A" "$A" 0664
populate "$STAGE/$B" "$B" 0646
inside mount --bind "$STAGE" /home
inside umount "$STAGE"
check "over /home: $A's config there is repaired" repaired "$(cfg "$A")" "$A"
check "over /home: $B's config there is repaired" repaired "$(cfg "$B")" "$B"
inside mv "/home/$B" "/home/$B.old"
populate "/home/$B" "$B" 0664
check "a home replaced on the new /home is seen (the parent's watch moved there too)" \
    repaired "$(cfg "$B")" "$B"
inside umount /home
inside chmod 0664 "$(cfg "$A")"
check "/home unmounted: a chmod in the home underneath is repaired" repaired "$(cfg "$A")" "$A"
check "the daemon is still active, never restarted (NRestarts $(prop "$UNIT" NRestarts))" \
    test "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" NRestarts)" = active/0

# ------------------------------------------------------------------ 4. the host --
check "nothing was mounted on the host (kpcov mounts: $host_before before, $(host_kpcov_mounts) now)" \
    test "$(host_kpcov_mounts)" = "$host_before"

finish
