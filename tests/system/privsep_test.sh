#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# privsep_test.sh - keepalive-policyd under the SHIPPED unit (units/keepalive-policyd.service, only
# its ExecStart pointed at the build) in a throwaway systemd (tests/lib/throwaway-systemd.sh),
# while ssh.service is stopped: systemd has removed /run/sshd (RuntimeDirectory=sshd), so plain
# `sshd -t` fails with "Missing privilege separation directory: /run/sshd", and the unit has no
# CAP_SYS_ADMIN and RestrictNamespaces=yes, so the daemon cannot build a private /run itself. It
# checks that:
#   1. a pushed policy is validated through a transient unit (keepalive-policyd-privsep-*.service,
#      TemporaryFileSystem=/run): the drop-in holds the new value, nothing is rolled back, the state
#      is sshd-stopped, /run/sshd is still absent and no such unit is left loaded;
#  1b. an sshd -T of about 190 KB (more than a pipe holds) is read whole as it comes; one over the
#      daemon's 256 KiB cap fails the check and says so;
#   2. a real error still fails through that unit with sshd's own message: a file of another
#      writer (50-broken.conf: "NoSuchOption yes") gives sshd-config-broken naming that file;
#   3. with the file gone, the pushed policy is installed by itself (state sshd-stopped);
#   4. a retry that fails (a prefix drop-in gives its units a failing ExecStartPre=) fails the push
#      with that unit's message (sshd-config-broken), and shows the unit's uid 0, empty capability
#      bounding set and tmpfs /run; the next push after the drop-in is gone applies;
#   5. ssh.service started: the state turns ok and sshd serves the policy.
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
SSHD_DROPIN=/etc/ssh/sshd_config.d/00-keepalive-policy.conf
BROKEN=/etc/ssh/sshd_config.d/50-broken.conf
PRIVSEP_UNITS='keepalive-policyd-privsep-*.service'

TEST_NAME=privsep_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 60 "$UNIT" ssh.service "$PRIVSEP_UNITS"
    cleanup
    report
}
harness_begin

# A field of `keepalivectl status --json`.
status_field() {
    inside keepalivectl status --json 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>/dev/null
}
state_is() { [ "$(status_field State)" = "$1" ]; }
dropin_interval() { inside sed -n 's/^ClientAliveInterval[[:space:]]\+//Ip' "$SSHD_DROPIN" 2>/dev/null; }
dropin_holds() { [ "$(dropin_interval)" = "$1" ]; }
privsep_units_loaded() {
    inside systemctl list-units --all --no-legend --plain "$PRIVSEP_UNITS" | awk '{ print $1 }'
}
no_privsep_units_loaded() { [ -z "$(privsep_units_loaded)" ]; }
privsep_journal() { inside journalctl -q --no-pager -u "$PRIVSEP_UNITS" --cursor="$1" -o cat; }
privsep_ran() { privsep_journal "$1" | grep -qE "keepalive-policyd-privsep-[0-9]+-[0-9]+\.service"; }
no_run_sshd() { inside test ! -e /run/sshd; }
no_privsep_ran() { ! privsep_ran "$1"; }
no_rollback() { ! jsince "$1" | grep -qiE 'rolled back|rolling back'; }
has() { grep -qF -- "$2" <<< "$1"; }         # has TEXT PART
has_not() { ! grep -qF -- "$2" <<< "$1"; }   # has_not TEXT PART
no_cap_sys_admin() { has_not "$(prop "$UNIT" CapabilityBoundingSet)" cap_sys_admin; }
# A prefix drop-in for the retry's units: an ExecStartPre= that fails with a message of its own.
FAIL_DROPIN=/etc/systemd/system/keepalive-policyd-privsep-.service.d/kp-test-fail.conf

# ----------------------------------------------------------------------- setup --

require_root
for f in "$DAEMON_BIN" "$CTL_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build)"; finish; }
done
make_work kp-privsep-test
sandbox_start

"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
# The unit as shipped, only its ExecStart pointed at the build; the bus policy it needs.
sed 's|^ExecStart=.*|ExecStart=/usr/local/sbin/keepalive-policyd|' \
    "$SRC/units/keepalive-policyd.service" > "$WORK/$UNIT"
check "the unit differs from the shipped one in its ExecStart= only" \
    test "$(diff "$SRC/units/keepalive-policyd.service" "$WORK/$UNIT" | grep -c '^[<>]')" = 2
"$TSD" cp-in "$STATE" "$WORK/$UNIT" "/etc/systemd/system/$UNIT"
"$TSD" cp-in "$STATE" "$SRC/units/org.keepalivepolicy1.conf" \
    /etc/dbus-1/system.d/org.keepalivepolicy1.conf
inside busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    ReloadConfig >/dev/null
inside systemctl daemon-reload
check "the unit is loaded from /etc/systemd/system, without drop-ins ($(prop "$UNIT" FragmentPath); drop-ins: '$(prop "$UNIT" DropInPaths)')" \
    test "$(prop "$UNIT" LoadState)/$(prop "$UNIT" FragmentPath)/$(prop "$UNIT" DropInPaths)" = \
    "loaded//etc/systemd/system/$UNIT/"
check "its sandbox has no CAP_SYS_ADMIN ($(prop "$UNIT" CapabilityBoundingSet))" no_cap_sys_admin
check "... and RestrictNamespaces=yes" test "$(prop "$UNIT" RestrictNamespaces)" = yes
inside mkdir -p "$POLICY_DIR"
policy 2m | inside sh -c 'cat > "$1"' sh "$POLICY"

inside systemctl stop ssh.service
check "ssh.service stopped ($(prop ssh.service ActiveState)); systemd removed /run/sshd" \
    sh -c "[ '$(prop ssh.service ActiveState)' = inactive ] && '$TSD' exec '$STATE' test ! -e /run/sshd"
out=$(inside sshd -t 2>&1); rc=$?
out=${out//$'\r'/}
check "plain sshd -t fails (exit $rc): '$out'" \
    test "$rc" != 0 -a "$out" = "Missing privilege separation directory: /run/sshd"

# ---------------------------------------------------------- 1. a push, sshd stopped --
echo "# 1. the daemon under the shipped unit, ssh.service stopped"
mark=$(jcursor)
if inside systemctl start "$UNIT"; then
    ok "systemctl start $UNIT (Type=notify: returns after the first apply)"
else
    not_ok "systemctl start $UNIT"
    finish
fi
check "journal: the listen check is transient (so is the privsep retry)" \
    wait_for 5 daemon_logged "$mark" 'listen check transient'
check "the first apply: state sshd-stopped" wait_for 10 state_is sshd-stopped
check "the first apply wrote the drop-in: ClientAliveInterval $(dropin_interval)" dropin_holds 120
check "journal: systemd ran the retry as a transient unit ($(privsep_journal "$mark" | grep -m1 -o 'keepalive-policyd-privsep-[0-9-]*\.service'))" \
    wait_for 5 privsep_ran "$mark"

mark=$(jcursor)
t0=$(now_ms)
push_policy < <(policy 3m)
check "the pushed value is installed: the drop-in holds ClientAliveInterval 180" \
    wait_for 20 dropin_holds 180
info "installed $(($(now_ms) - t0)) ms after the rename"
if wait_for 10 state_is sshd-stopped; then
    ok "state (keepalivectl status --json State): sshd-stopped ($(status_field StateReason | cut -c1-120)...)"
else
    not_ok "state (keepalivectl status --json State): $(status_field State), want sshd-stopped"
fi
check "journal: the push was not rolled back" no_rollback "$mark"
check "journal: the push's sshd -t / sshd -T ran as transient units" privsep_ran "$mark"
info "$(privsep_journal "$mark" | grep -m2 -E 'privsep' | tr '\n' ';' | cut -c1-300)"
check "/run/sshd is still absent" no_run_sshd
check "no $PRIVSEP_UNITS is left loaded ($(privsep_units_loaded | tr '\n' ' '))" \
    wait_for 5 no_privsep_units_loaded
check "ssh.service is still stopped (nothing started it)" \
    test "$(prop ssh.service ActiveState)" = inactive

# ------------------------------------------- 1b. sshd -T longer than a pipe holds --
echo "# 1b. sshd -T prints more than a pipe holds (64 KiB): read on the loop as it comes"
MANY=/etc/ssh/sshd_config.d/60-many.conf
# 6000 lines of "acceptenv KP_TEST_VARIABLE_N" in sshd -T's output: about 170 KB.
# shellcheck disable=SC2016  # expanded by the shell inside
inside sh -c 'umask 022; for i in $(seq 6000); do echo "AcceptEnv KP_TEST_VARIABLE_$i"; done > "$1"' \
    sh "$MANY"
info "$MANY: $(inside sh -c 'wc -c < "$1"' sh "$MANY") bytes"
mark=$(jcursor)
push_policy < <(policy 4m)
check "the drop-in holds 240" wait_for 20 dropin_holds 240
check "journal: the effective values come from the retried sshd -T (clientaliveinterval=240)" \
    wait_for 10 daemon_logged_re "$mark" 'state sshd-stopped: .*effective sshd: clientaliveinterval=240'
check "journal: not rolled back" no_rollback "$mark"
# Over the 256 KiB the daemon keeps of it: the check fails and says so, rather than reading a cut
# dump as the whole (which it would if sshd's writes were lost instead of waited for).
# shellcheck disable=SC2016  # expanded by the shell inside
inside sh -c 'umask 022; for i in $(seq 12000); do echo "AcceptEnv KP_TEST_VARIABLE_$i"; done > "$1"' \
    sh "$MANY"
mark=$(jcursor)
push_policy < <(policy 3m)
check "with sshd -T over 256 KiB: journal says its output was longer than the daemon keeps" \
    wait_for 30 daemon_logged "$mark" 'its output was longer than the runner keeps'
info "state: $(status_field State): $(status_field StateReason | cut -c1-200)"
inside rm -f "$MANY"
push_policy < <(policy 3m20s)
check "without the long file, the next push applies: 200" wait_for 20 dropin_holds 200
check "state sshd-stopped" wait_for 10 state_is sshd-stopped

# --------------------------------------------------- 2. a real error, through the unit --
echo "# 2. a broken file of another writer, sshd stopped"
mark=$(jcursor)
# Whole at once (a dot file renamed into place): an empty file seen half-written would be a tree
# sshd -t accepts, whose missing /run/sshd the daemon rightly checks again.
echo 'NoSuchOption yes' |
    inside sh -c 'umask 022; cat > "${1%/*}/.${1##*/}" && mv "${1%/*}/.${1##*/}" "$1"' sh "$BROKEN"
push_policy < <(policy 4m)
check "state sshd-config-broken" wait_for 20 state_is sshd-config-broken
reason=$(status_field StateReason)
check "its reason names $BROKEN with sshd's own message: '$(cut -c1-160 <<< "$reason")'" \
    has "$reason" "$BROKEN: line 1: Bad configuration option: NoSuchOption"
check "... and not the privilege separation directory's" \
    has_not "$reason" 'Missing privilege separation'
check "the drop-in still holds the last good value (200)" dropin_holds 200
# sshd reads its whole configuration before it looks for /run/sshd: the first run already fails
# on the bad option, and there is nothing to retry.
# (A retry may still run for the reconcile the previous step's last change started; what counts
# is the reason above: sshd's own message, not the privilege separation directory's.)
if no_privsep_ran "$mark"; then info "no retry ran for it"; else info "a retry ran meanwhile"; fi
check "/run/sshd is still absent" no_run_sshd
check "no $PRIVSEP_UNITS is left loaded ($(privsep_units_loaded | tr '\n' ' '))" \
    wait_for 5 no_privsep_units_loaded

# ------------------------------------------------------ 3. the broken file gone --
echo "# 3. the broken file removed"
inside rm -f "$BROKEN"
check "with $BROKEN gone: state sshd-stopped again, the drop-in holds 240" \
    wait_for 20 sh -c "[ \"\$('$TSD' exec '$STATE' keepalivectl show -p State --value 2>/dev/null)\" = sshd-stopped ] && '$TSD' exec '$STATE' grep -qix 'ClientAliveInterval 240' '$SSHD_DROPIN'"

# ------------------------------------------------------- 4. a failing retry --
echo "# 4. the retry itself fails (a prefix drop-in gives its units a failing ExecStartPre=)"
# It reports what it runs as and in, on stderr: uid, capability bounding set, /run's file system.
# shellcheck disable=SC2016  # expanded by the unit's shell ($$ is systemd's escape for $)
printf '[Service]\nExecStartPre=/bin/sh -c "echo kp-test: injected failure: uid $$(id -u), $$(grep CapBnd /proc/self/status | tr -d \\"\\t\\"), /run $$(findmnt -n -o FSTYPE /run) >&2; exit 1"\n' |
    inside sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1"' sh "$FAIL_DROPIN"
inside systemctl daemon-reload
mark=$(jcursor)
push_policy < <(policy 5m)
check "the failed retry fails the push: state sshd-config-broken" \
    wait_for 20 state_is sshd-config-broken
reason=$(status_field StateReason)
check "with the unit's own message, not sshd's first one: '$(cut -c1-160 <<< "$reason")'" \
    has "$reason" 'kp-test: injected failure'
check "the unit runs as root with no capabilities and a tmpfs on /run" \
    has "$reason" 'injected failure: uid 0, CapBnd:0000000000000000, /run tmpfs'
check "the drop-in still holds 240 (the candidate was rolled back)" dropin_holds 240
check "/run/sshd is still absent" no_run_sshd
check "no failed $PRIVSEP_UNITS is left loaded ($(privsep_units_loaded | tr '\n' ' '))" \
    wait_for 5 no_privsep_units_loaded
inside rm -f "$FAIL_DROPIN"
inside systemctl daemon-reload
push_policy < <(policy 90s)
check "without the drop-in, the next push applies: state sshd-stopped, the drop-in holds 90" \
    wait_for 20 sh -c "[ \"\$('$TSD' exec '$STATE' keepalivectl show -p State --value 2>/dev/null)\" = sshd-stopped ] && '$TSD' exec '$STATE' grep -qix 'ClientAliveInterval 90' '$SSHD_DROPIN'"

# ------------------------------------------------------------ 5. back to ok --
echo "# 5. ssh.service started"
check "systemctl start ssh.service" inside systemctl start ssh.service
check "state ok" wait_for 20 state_is ok
check "sshd -T shows clientaliveinterval 90" wait_for 5 sshd_T_is clientaliveinterval 90
check "no $PRIVSEP_UNITS is left loaded" wait_for 5 no_privsep_units_loaded
check "the daemon ran throughout (NRestarts $(prop "$UNIT" NRestarts))" \
    test "$(prop "$UNIT" NRestarts)/$(prop "$UNIT" ActiveState)" = 0/active
finish
