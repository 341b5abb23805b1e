#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# truth_test.sh - keepalive-policyd's state tells the truth about what sshd serves (issue 15),
# under a real systemd (tests/lib/throwaway-systemd.sh) with the daemon as a transient Type=notify
# service, against the sandbox's own sshd and /etc. Each step asserts on `keepalivectl status
# --json` (State, StateReason, ConfigLines, ...), the journal, sshd -T and sshd's reload count:
#   0. after a reload the daemon reports sshd listening by its main PID's sockets (the listen
#      check, a transient unit) and sshd's journal shows no connection (no kex_exchange_
#      identification, [preauth], "Connection closed by 127.0.0.1": a connection from the test
#      does show them); an address sshd cannot bind is named in a warning, without a rollback;
#   a. a policy pushed while ssh.service is stopped (/run/sshd gone): sshd-stopped, the drop-in
#      installed, no rollback, no reload; `systemctl start ssh`: ok by itself, sshd -T agrees;
#   b. only ssh.socket listening: a push is ok with "socket-activated"; a connection starts sshd
#      on the new values; ssh.service alone again afterwards;
#   c. a shadowing drop-in (00-aaa.conf, ClientAliveInterval 7): shadowed, naming file:line;
#      removed: the daemon reloads sshd so that it serves our value again, state ok;
#   d. a tree broken by another writer: sshd-config-broken naming the file and line, no reload,
#      our drop-in untouched, a policy pushed meanwhile held back; the file removed: ok by
#      itself, the held-back policy applied with one reload;
#   e. a line after the Include in sshd_config: ConfigLines says "ineffective", status shows it
#      under "Ineffective:", the state stays ok;
#   f. a restart with an invalid policy: drop-ins unchanged byte for byte, policy-invalid with
#      the last good digest, PolicySince kept; a corrupt last-good-policy.json at restart is set
#      aside with a warning and the daemon runs.
# Bus restarts, replaced homes and late mounts have their own tests. Needs root, the packages of
# tests/lib/throwaway-systemd.sh, jq, and a build (KEEPALIVE_BUILD_DIR, default ../../build).
# Knobs: KP_QUIET_MS (500), KP_KEEP_LOG=FILE (the sandbox's journal), KP_STATE_WAIT (15 s: how
# long a state may take to follow an event).
# Output: "ok - ..." / "not ok - ..." per check, "# ..." for information; the last line is
# "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl
SW=${KP_STATE_WAIT:-15}

UNIT=keepalive-policyd.service
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml
DROPIN_DIR=/etc/ssh/sshd_config.d
SSHD_DROPIN=$DROPIN_DIR/00-keepalive-policy.conf
CLIENT_DROPIN=/etc/ssh/ssh_config.d/00-keepalive-policy.conf
GOOD_RECORD=/var/lib/keepalive-policy/last-good-policy.json
SCRATCH=/run/kp-test

TEST_NAME=truth_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 80 "$UNIT" ssh.service ssh.socket
    cleanup
    report
}
harness_begin

# ------------------------------------------------------------------ helpers --

start_daemon() {
    inside systemd-run --quiet --unit="${UNIT%.service}" \
        --description="keepalive-policyd (system test)" \
        --property=Type=notify --property=NotifyAccess=main \
        --property=WatchdogSec=10 --property=TimeoutStartSec=60 \
        --property=Restart=on-failure --property=RestartSec=100ms --property=LimitCORE=0 \
        /usr/local/sbin/keepalive-policyd "$@"
}
stop_daemon() {
    inside systemctl stop "$UNIT"
    inside systemctl reset-failed "$UNIT" 2>/dev/null
    return 0
}
# The status as keepalivectl gives it (one GetAll), read with jq on the host.
status_json() { inside keepalivectl status --json 2>/dev/null; }
sj() { status_json | jq -r "$1" 2>/dev/null; }   # sj JQ-FILTER
state_is() { [ "$(sj .State)" = "$1" ]; }
state_reason_has() { [ "$(sj .State)" = "$1" ] && grep -qF -- "$2" <<< "$(sj .StateReason)"; }
# what the status says, for the check descriptions and after a failure
said() { status_json | jq -c '{State, StateReason, LastApplyResult, SshdState, SshdSocket}' 2>/dev/null | cut -c1-400; }
show_on_fail() {  # after a check: on a failure, the whole status
    [ "$failed" -gt "${FAILS_SEEN:-0}" ] || return 0
    FAILS_SEEN=$failed
    info "status after that failure: $(status_json | jq -c 'del(.EffectiveClient, .Version, .PolicyFiles)' 2>/dev/null | cut -c1-1500)"
}
dropin_value() { inside awk '$1 == "ClientAliveInterval" { print $2; exit }' "$SSHD_DROPIN"; }
dropin_is() { [ "$(dropin_value)" = "$1" ]; }
dropin_digest() { inside sed -n 's/^# policy-digest: *//p' "$SSHD_DROPIN" | head -n 1; }
no_rollback_logged() { ! daemon_logged "$1" 'rolling back'; }
daemon_reloaded_since() { jsince "$1" | grep -c '^reloaded ssh.service'; }
active_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }
# the running sshd's value of a keyword cannot be asked directly: sshd -T reads the files. It
# serves them when it read them after their last change (its start or last SIGHUP).
ok_not_socket() { state_is ok && ! sj .StateReason | grep -q socket-activated; }
usec_of_ctime() { inside stat -c %.6Z "$1" | tr -d .; }

# ------------------------------------------------------------------- start --

require_root
command -v jq >/dev/null || { not_ok "jq is installed (status --json is read with it)"; finish; }
for f in "$DAEMON_BIN" "$CTL_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build)"; finish; }
done
make_work kp-truth-test
sandbox_start
inside mkdir -p "$SCRATCH"
"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
# The bus policy, so that the daemon may own org.keepalivepolicy1 and keepalivectl reach it.
"$TSD" cp-in "$STATE" "$HERE/../../units/org.keepalivepolicy1.conf" /usr/share/dbus-1/system.d/org.keepalivepolicy1.conf
check "the bus policy installed inside, the bus reloaded" \
    inside busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
SSH_PID=$(prop ssh.service MainPID)
check "ssh.service active (main PID $SSH_PID), ssh.socket $(prop ssh.socket ActiveState), before the daemon runs" \
    test "$(prop ssh.service ActiveState)" = active -a "$(prop ssh.socket ActiveState)" = inactive
inside mkdir -p "$POLICY_DIR"
policy 2m | inside sh -c 'cat > "$1"' sh "$POLICY"
mark=$(jcursor)
check "the daemon starts as a Type=notify service" start_daemon
check "state ok after its first apply: $(said)" wait_for "$SW" state_is ok
check "sshd -T: clientaliveinterval 120" sshd_T_is clientaliveinterval 120
expect_reloads 1 "first apply"
show_on_fail

# ------------------------------------------- 0. the listen check after a reload --
echo "# 0. after a reload the daemon checks sshd's sockets and never connects to it"
LISTEN_UNITS='keepalive-policyd-listen-*.service'
listen_unit_finished() {
    inside journalctl -q --no-pager -u "$LISTEN_UNITS" --cursor="$1" -o cat |
        grep -qE '^Finished keepalive-policyd-listen-[0-9]+-[0-9]+\.service'
}
listens_line() { jsince "$1" | grep -E '^sshd listens again: ' | tail -n 1; }
mark=$(jcursor)
policy 150s | push_policy
check "journal: the pushed policy was applied with a reload ('(policy changed): applied')" \
    wait_for "$SW" daemon_logged_re "$mark" '\(policy changed\): applied in .*reload [0-9.]+, probe [0-9.]+'
expect_reloads 1 "a push (the listen check's reload)"
line=$(listens_line "$mark")
check "journal: the daemon reports sshd listening by its main PID's sockets ('$line')" \
    grep -qE "^sshd listens again: ssh.service main PID $SSH_PID: listens on (0\.0\.0\.0:22, \[::\]:22|\[::\]:22, 0\.0\.0\.0:22)\$" <<< "$line"
check "journal: the check ran as a transient unit (listen check transient)" \
    listen_unit_finished "$mark"
jsync
conn=$(sshd_connection_lines "$mark")
check "sshd's journal since the push has no line of a connection (no kex_exchange_identification, [preauth], Connection closed by 127.0.0.1)${conn:+: $(head -n 2 <<< "$conn" | tr '\n' ' ')}" \
    test -z "$conn"
# The control: a connection that hangs up after the banner, as the banner probe did, leaves such
# lines, so the check above could have seen them.
mark2=$(jcursor)
b=$(banner)
has_connection_lines() { jsync; [ -n "$(sshd_connection_lines "$1")" ]; }
check "control: a connection from the test that hangs up after '$b' is in sshd's journal ($(wait_for 5 has_connection_lines "$mark2"; sshd_connection_lines "$mark2" | head -n 1))" \
    has_connection_lines "$mark2"
show_on_fail

# sshd that cannot bind one of its addresses (192.0.2.1 is on no interface here): it goes on
# with the others, and the daemon says which address has no socket, without a rollback.
LISTEN_CONF=/etc/ssh/sshd_config.d/50-kp-test-listen.conf
printf 'ListenAddress 0.0.0.0:22\nListenAddress 192.0.2.1:22\n' | inside sh -c 'cat > "$1"' sh "$LISTEN_CONF"
mark=$(jcursor)
policy 160s | push_policy
warned() { daemon_logged_re "$1" "sshd listens after the reload, but not on every address of sshd -T: ssh.service main PID $SSH_PID: no listening socket on 192\\.0\\.2\\.1:22 \\(listens on 0\\.0\\.0\\.0:22\\)"; }
check "journal: a warning names the address without a socket ($(wait_for "$SW" warned "$mark"; jsince "$mark" | grep -m1 'not on every address' | cut -c1-200))" \
    warned "$mark"
check "... and it is no rollback: the push is applied, the drop-in holds $(dropin_value) (want 160)" \
    sh -c 'test "$1/$2" = yes/yes' sh "$(no_rollback_logged "$mark" && echo yes)" "$(dropin_is 160 && echo yes)"
check "sshd logged why it could not bind 192.0.2.1:22" \
    sh -c "\"$TSD\" exec \"$STATE\" journalctl -q --no-pager -u ssh.service --cursor='$mark' -o cat | grep -q 'Bind to port 22 on 192.0.2.1 failed'"
expect_reloads 1 "a push while sshd cannot bind one address"
inside rm -f "$LISTEN_CONF"
inside systemctl reload ssh.service
expect_reloads 1 "systemctl reload ssh.service without the test's ListenAddress lines"
check "ssh.service listens on its defaults again, same main PID $SSH_PID" \
    test "$(prop ssh.service ActiveState)/$(prop ssh.service MainPID)" = "active/$SSH_PID"
show_on_fail

# ------------------------------------------------- a. ssh.service stopped --
echo "# a. a policy pushed while ssh.service is stopped"
inside systemctl stop ssh.service
check "ssh.service is inactive and /run/sshd is gone (RuntimeDirectory=sshd)" \
    sh -c "[ \"\$1\" = inactive ] && \"$TSD\" exec \"$STATE\" test ! -e /run/sshd" sh "$(prop ssh.service ActiveState)"
check "the daemon follows the unit: state sshd-stopped by itself ($(wait_for "$SW" state_is sshd-stopped; said))" \
    state_is sshd-stopped
rollbacks=$(sj .RollbacksTotal)
hups=$(sighups)
mark=$(jcursor)
policy 3m | push_policy
check "journal: the pushed policy was applied ('(policy changed): applied')" \
    wait_for "$SW" daemon_logged_re "$mark" '\(policy changed\): applied'
check "the drop-in holds the new value: ClientAliveInterval $(dropin_value) (want 180)" dropin_is 180
check "the drop-in is what keepalivectl renders for the policy" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN"
stopped_installed() {
    [ "$(sj '[.State, .LastApplyResult] | join("/")')" = sshd-stopped/applied ] &&
        sj .StateReason | grep -q "is installed and accepted by sshd -t"
}
check "state sshd-stopped, installed and accepted by sshd -t, last apply applied: $(wait_for 5 stopped_installed; said)" \
    stopped_installed
check "no rollback: RollbacksTotal still $rollbacks, no 'rolling back' in the journal" \
    sh -c '[ "$1" = "$2" ]' sh "$(sj .RollbacksTotal)" "$rollbacks"
check "... and no 'rolling back' in the journal" no_rollback_logged "$mark"
check "the push did not start ssh.service (still inactive), nor reload it ('Received SIGHUP' $(sighups), was $hups)" \
    test "$(prop ssh.service ActiveState)/$(sighups)" = "inactive/$hups"
out=$(inside keepalivectl check 2>&1); rc=$?
check "keepalivectl check exits 0 while sshd is stopped (exit $rc): $(head -n 1 <<< "$out" | cut -c1-120)" test "$rc" = 0
show_on_fail

mark=$(jcursor)
inside systemctl start ssh.service
SSH_PID=$(prop ssh.service MainPID)
check "ssh.service started again (main PID $SSH_PID)" active_is ssh.service active
ok_running() { [ "$(sj '.State + "/" + .SshdState')" = "ok/active (running)" ]; }
check "state ok by itself within ${SW}s of the start, SshdState 'active (running)': $(wait_for "$SW" ok_running; said)" ok_running
check "sshd -T: clientaliveinterval 180 (the value pushed while it was stopped)" sshd_T_is clientaliveinterval 180
check "SshdReadConfigTime is after the drop-in's last change ($(sj .SshdReadConfigTime) >= $(usec_of_ctime "$SSHD_DROPIN"))" \
    sh -c '[ "${1:-0}" -ge "$2" ]' sh "$(sj .SshdReadConfigTime)" "$(usec_of_ctime "$SSHD_DROPIN")"
check "the daemon did not reload the freshly started sshd (no 'reloaded ssh.service' since the start)" \
    test "$(daemon_reloaded_since "$mark")" = 0
expect_reloads 0 "policy pushed while stopped, then ssh.service started (a start, not a reload)"
sshd_ok "after the start"
show_on_fail

# --------------------------------------------------- b. ssh.socket only --
echo "# b. only ssh.socket listening"
ACCEPT=$(prop ssh.socket Accept)
info "ssh.socket in the sandbox: Accept=$ACCEPT, Conflicts=$(prop ssh.socket Conflicts), ListenStream $(prop ssh.socket Listen)"
inside systemctl stop ssh.service
inside systemctl start ssh.socket
check "ssh.service inactive, ssh.socket listening" \
    test "$(prop ssh.service ActiveState)/$(prop ssh.socket ActiveState)/$(prop ssh.socket SubState)" = inactive/active/listening
check "state ok with 'socket-activated' by itself: $(wait_for "$SW" state_reason_has ok socket-activated; said)" \
    state_reason_has ok "socket-activated: sshd reads the policy when it next starts"
check "SshdSocket: '$(sj .SshdSocket)'" test "$(sj .SshdSocket)" = "ssh.socket (listening)"
hups=$(sighups)
mark=$(jcursor)
policy 4m | push_policy
check "journal: the pushed policy was applied" \
    wait_for "$SW" daemon_logged_re "$mark" '\(policy changed\): applied'
check "the drop-in holds ClientAliveInterval $(dropin_value) (want 240)" dropin_is 240
ok_socket_applied() {
    [ "$(sj '[.State, .LastApplyResult] | join("/")')" = ok/applied ] &&
        sj .StateReason | grep -q "socket-activated"
}
check "state ok, socket-activated, last apply applied: $(wait_for 5 ok_socket_applied; said)" ok_socket_applied
check "no rollback, and the push started nothing: ssh.service $(prop ssh.service ActiveState), no SIGHUP" \
    sh -c "[ \"\$1\" = inactive/$hups ]" sh "$(prop ssh.service ActiveState)/$(sighups)" &&
    no_rollback_logged "$mark"
show_on_fail

pushed_at=$(usec_of_ctime "$SSHD_DROPIN")
b=$(banner)
check "a connection to 127.0.0.1:22 is answered by a socket-started sshd: '$b'" test "${b#SSH-2.0-}" != "$b"
if [ "$ACCEPT" = no ]; then
    check "the connection started ssh.service" wait_for 10 active_is ssh.service active
    started=$(inside systemctl show --timestamp=us+utc -P ExecMainStartTimestamp ssh.service)
    started_us=$(inside date -d "$started" +%s%6N 2>/dev/null)
    check "sshd started after the push ($started), so it read the new drop-in" \
        test "${started_us:-0}" -ge "$pushed_at"
    check "sshd -T: clientaliveinterval 240" sshd_T_is clientaliveinterval 240
    check "state ok, no longer only socket-activated: $(wait_for "$SW" ok_not_socket; said)" ok_not_socket
else
    inst_started() { inside journalctl -q --no-pager -u 'ssh@*' -o cat | grep -q 'Started\|Connection closed\|kex_exchange\|Accepted\|Server listening'; }
    check "the connection started an ssh@ instance (journal of ssh@*.service)" wait_for 10 inst_started
    check "sshd -T (what a per-connection sshd -i reads): clientaliveinterval 240" sshd_T_is clientaliveinterval 240
fi
expect_reloads 0 "socket activation (starts, not reloads)"
# back to ssh.service alone, listening itself
inside systemctl stop ssh.socket ssh.service
inside systemctl start ssh.service
SSH_PID=$(prop ssh.service MainPID)
check "restored: ssh.service active alone (main PID $SSH_PID), ssh.socket inactive" \
    test "$(prop ssh.service ActiveState)/$(prop ssh.socket ActiveState)" = active/inactive
check "state ok without 'socket-activated': $(wait_for "$SW" ok_not_socket; said)" ok_not_socket
sshd_ok "after socket activation, ssh.service alone again"
show_on_fail

# ------------------------------------------------------- c. shadowing --
echo "# c. a drop-in read before ours shadows our value"
SHADOW=$DROPIN_DIR/00-aaa.conf
mark=$(jcursor)
hups=$(sighups)
printf 'ClientAliveInterval 7\n' | inside sh -c "cat > $SHADOW"
check "state shadowed within ${SW}s: $(wait_for "$SW" state_is shadowed; said)" state_is shadowed
check "StateReason names the file and line: \"$SHADOW\":1 ... ClientAliveInterval 7" \
    grep -qF "\"$SHADOW\":1 sets ClientAliveInterval 7" <<< "$(sj .StateReason)"
row=$(sj "[.ConfigLines[] | select(.file == \"$SHADOW\")][0] | [.target, .effect, .keyword, .value, .ours, .line] | map(tostring) | join(\" \")")
check "ConfigLines: '$row' (want sshd shadows ClientAliveInterval 7 240 1)" \
    test "$row" = "sshd shadows ClientAliveInterval 7 240 1"
text=$(inside keepalivectl status 2>/dev/null)
check "keepalivectl status shows it under Shadowed: \"$SHADOW\":1" \
    grep -qE "^ *Shadowed: \"$SHADOW\":1 sets ClientAliveInterval 7" <<< "$text"
check "sshd -T: clientaliveinterval 7 (the files' value is theirs now)" sshd_T_is clientaliveinterval 7
jsync
added_hups=$(($(sighups) - hups))
info "adding the shadowing file reloaded sshd ${added_hups}x (the daemon reloads when another writer changes a value sshd serves)"
RELOADS=$(sighups)
check "the drop-in is untouched (ClientAliveInterval 240)" dropin_is 240
show_on_fail

mark=$(jcursor)
inside rm -f "$SHADOW"
check "removed: journal says '...: reloading ssh.service so that it serves the files'" \
    wait_for "$SW" daemon_logged "$mark" 'reloading ssh.service so that it serves the files'
expect_reloads 1 "shadowing file removed: sshd reloaded to serve our value"
check "state ok again: $(wait_for "$SW" state_is ok; said)" state_is ok
check "ConfigLines no longer mentions $SHADOW" \
    test "$(sj "[.ConfigLines[] | select(.file == \"$SHADOW\")] | length")" = 0
check "sshd -T: clientaliveinterval 240" sshd_T_is clientaliveinterval 240
check "the running sshd read the files after the removal (its last SIGHUP after the change): SshdReadConfigTime $(sj .SshdReadConfigTime), LastReloadTime $(sj .LastReloadTime)" \
    sh -c '[ "${1:-0}" -ge "$2" ] || [ "${3:-0}" -ge "$2" ]' sh "$(sj .SshdReadConfigTime)" "$(usec_of_ctime "$DROPIN_DIR")" "$(sj .LastReloadTime)"
sshd_ok "after the shadowing file came and went"
show_on_fail

# ------------------------------------------------------ d. broken tree --
echo "# d. sshd's configuration broken by another writer"
BROKEN=$DROPIN_DIR/50-broken.conf
fp=$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")
digest_before=$(sj .PolicyDigest)
mark=$(jcursor)
printf 'ThisIsNotAnSshdOption yes\n' | inside sh -c "cat > $BROKEN"
check "state sshd-config-broken within ${SW}s: $(wait_for "$SW" state_is sshd-config-broken; said)" \
    state_is sshd-config-broken
reason=$(sj .StateReason)
check "StateReason names the file and line sshd reports: '${reason:0:200}'" \
    grep -qE "^sshd -t rejects the sshd configuration.*: $BROKEN: line 1: Bad configuration option: ThisIsNotAnSshdOption" <<< "$reason"
check "journal: the daemon said so" wait_for 5 daemon_logged "$mark" "$BROKEN: line 1: Bad configuration option"
expect_reloads 0 "tree broken by another writer (never reloaded)"
check "our drop-ins untouched (inode, mtime, size)" test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp"
show_on_fail

mark=$(jcursor)
policy 5m | push_policy
check "a policy pushed meanwhile waits: journal 'policy sha256:... (policy changed) waits: sshd -t rejects ...'" \
    wait_for "$SW" daemon_logged_re "$mark" 'policy sha256:[0-9a-f]{64} \(policy changed\) waits: sshd -t rejects'
check "... and is not installed: drop-ins untouched, ClientAliveInterval still $(dropin_value)" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp"
check "state still sshd-config-broken, PolicyDigest still the old one: $(said)" \
    test "$(sj .State)/$(sj .PolicyDigest)" = "sshd-config-broken/$digest_before"
info "LastApplyResult after the held-back push: $(sj .LastApplyResult), Generation $(sj .Generation)"
expect_reloads 0 "a push while the tree is broken"
show_on_fail

mark=$(jcursor)
inside rm -f "$BROKEN"
# The reconcile that sees the tree whole, then the apply of the held-back policy (with its reload):
# the state passes through ok (old policy) and pending-reload on its way.
held_back_in_force() { dropin_is 300 && state_is ok && [ "$(sj .PolicyDigest)" = "$(dropin_digest)" ]; }
check "the file removed: state ok by itself, with the held-back policy in force: $(wait_for "$SW" held_back_in_force; said)" \
    held_back_in_force
check "journal: 'sshd -t accepts the sshd configuration again'" \
    wait_for 5 daemon_logged "$mark" 'sshd -t accepts the sshd configuration again'
check "the held-back policy was applied: the drop-in has ClientAliveInterval $(dropin_value) (want 300)" \
    dropin_is 300
check "PolicyDigest is the drop-in's digest ($(dropin_digest | cut -c1-20)...), not the old one" \
    sh -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ "$1" != "$3" ]' sh "$(sj .PolicyDigest)" "$(dropin_digest)" "$digest_before"
expect_reloads 1 "the held-back policy applied once the tree was whole"
check "sshd -T: clientaliveinterval 300" sshd_T_is clientaliveinterval 300
sshd_ok "after the broken tree was fixed"
show_on_fail

# --------------------------------------------------- e. ineffective line --
echo "# e. a line after the Include, never used"
inside cp -p /etc/ssh/sshd_config "$SCRATCH/sshd_config.orig"
mark=$(jcursor)
inside sh -c 'printf "ClientAliveInterval 33\n" >> /etc/ssh/sshd_config'
LN=$(inside grep -n '^ClientAliveInterval 33$' /etc/ssh/sshd_config | cut -d: -f1)
ineffective_row() {
    [ "$(sj "[.ConfigLines[] | select(.file == \"/etc/ssh/sshd_config\" and .line == $LN)][0] | [.effect, .keyword, .value] | join(\" \")")" = "ineffective ClientAliveInterval 33" ]
}
check "ConfigLines: /etc/ssh/sshd_config:$LN ClientAliveInterval 33 is 'ineffective'" \
    wait_for "$SW" ineffective_row
text=$(inside keepalivectl status 2>/dev/null)
check "keepalivectl status lists it under Ineffective: \"/etc/ssh/sshd_config\":$LN" \
    grep -qE "^ *Ineffective: \"/etc/ssh/sshd_config\":$LN sets ClientAliveInterval 33 after our drop-in" <<< "$text"
check "state stays ok: $(said)" state_is ok
check "sshd -T still clientaliveinterval 300 (sshd keeps the first value)" sshd_T_is clientaliveinterval 300
expect_reloads 0 "an ineffective line (no served value changed)"
inside cp -p "$SCRATCH/sshd_config.orig" /etc/ssh/sshd_config
no_main_config_row() { [ "$(sj '[.ConfigLines[] | select(.file == "/etc/ssh/sshd_config")] | length')" = 0 ]; }
check "sshd_config restored: ConfigLines has no sshd_config line" wait_for "$SW" no_main_config_row
expect_reloads 0 "the ineffective line removed"
show_on_fail

# -------------------------------------- f. restart with an invalid policy --
echo "# f. a restart with an invalid policy; a corrupt last-good record"
# Step e's edits of sshd_config were never reloaded (no served value changed): a daemon started
# now could not know what sshd serves (pending-reload by design, docs/daemon.md §4.1). The admin
# reloads sshd first, so that the restarts below start from an sshd that read every file.
inside systemctl reload ssh.service
expect_reloads 1 "the admin's own systemctl reload ssh"
record_digest() { inside cat "$GOOD_RECORD" 2>/dev/null | jq -r .digest 2>/dev/null; }
record_is() { [ "$(record_digest)" = "$1" ]; }
check "the last good policy is kept in $GOOD_RECORD, with the digest in force ($(record_digest | cut -c1-20)...)" \
    record_is "$(sj .PolicyDigest)"
inside cp -p "$SSHD_DROPIN" "$SCRATCH/sshd.good"
inside cp -p "$CLIENT_DROPIN" "$SCRATCH/client.good"
inside cp -p "$POLICY" "$SCRATCH/policy.good"
fp=$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")
digest=$(sj .PolicyDigest)
since=$(sj .PolicySince)
stop_daemon
policy 6m | inside sh -c 'cat > "$1"' sh "$POLICY"    # above half of idle_timeout 11m
mark=$(jcursor)
check "the daemon starts with the invalid policy" start_daemon
check "state policy-invalid: $(wait_for "$SW" state_is policy-invalid; said)" state_is policy-invalid
check "StateReason: the last good policy $digest stays in force" \
    grep -qF "the last good policy $digest stays in force" <<< "$(sj .StateReason)"
check "PolicyDigest $digest and PolicySince $since kept across the restart (now $(sj .PolicySince)), LastApplyResult $(sj .LastApplyResult)" \
    test "$(sj .PolicyDigest)/$(sj .PolicySince)/$(sj .LastApplyResult)" = "$digest/$since/policy-error"
check "the drop-ins unchanged byte for byte, not rewritten (inode, mtime)" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp"
check "... and their bytes are the last good policy's" \
    inside sh -c "cmp -s $SCRATCH/sshd.good $SSHD_DROPIN && cmp -s $SCRATCH/client.good $CLIENT_DROPIN"
check "sshd -T still clientaliveinterval 300" sshd_T_is clientaliveinterval 300
expect_reloads 0 "restart with an invalid policy"
show_on_fail

stop_daemon
inside cp -p "$SCRATCH/policy.good" "$POLICY"
printf '{"format": 1, "digest": "sha256:trunc' | inside sh -c "cat > $GOOD_RECORD"
mark=$(jcursor)
check "the daemon starts with a corrupt $GOOD_RECORD" start_daemon
check "journal: a warning that it was set aside" \
    wait_for 10 daemon_logged_re "$mark" "the last good policy \"$GOOD_RECORD\" cannot be read .*set aside as \"last-good-policy.json.corrupt\""
check "the corrupt record is kept as last-good-policy.json.corrupt" \
    inside grep -q 'sha256:trunc' "$GOOD_RECORD.corrupt"
check "$UNIT runs: active (running), state ok: $(wait_for "$SW" state_is ok; said)" \
    test "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" SubState)/$(sj .State)" = active/running/ok
check "the drop-ins unchanged (inode, mtime, size)" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp"
check "a fresh record of the policy in force was written ($(wait_for 5 record_is "$digest"; record_digest | cut -c1-20)...)" \
    record_is "$digest"
expect_reloads 0 "restart with a corrupt last-good record"
show_on_fail

jsync
check "over the whole run sshd was reloaded exactly $RELOADS times ('Received SIGHUP' x$(sighups))" \
    sighups_are "$RELOADS"
finish
