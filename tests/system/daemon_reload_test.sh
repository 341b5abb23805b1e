#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon_reload_test.sh - keepalive-policyd under a real systemd, against the real sshd of the
# sandbox's own /etc (no --root test root): boots a throwaway systemd
# (tests/lib/throwaway-systemd.sh), runs the daemon there as a transient Type=notify service with a
# watchdog and Restart=on-failure, and proves, through the journal, sshd -T, ssh -G and sshd's
# banner, that:
#   1. it reaches active only after its first apply (READY=1), with a readable StatusText;
#   2. the first apply writes the drop-ins and reloads ssh.service once (same MainPID, banner);
#   3. a policy pushed by rename reloads exactly once more and sshd -T shows the new value; a
#      change that leaves sshd's directives alone rewrites the drop-in without a reload;
#   4. a deleted or edited drop-in is restored (and sshd reloaded); the client drop-in is
#      restored without reloading sshd;
#   5. a restart with the same policy writes nothing and reloads nothing;
#   6. a reload that really fails (ExecReload=/bin/false) keeps the new drop-ins (sshd -t accepted
#      them) and says pending-reload, sshd keeps running on its old values; once reloads work
#      again, a SIGHUP to the daemon retries the reload and the state is ok;
#   7. an invalid policy changes nothing (state policy-invalid, the last good policy named), and
#      the good policy pushed back changes nothing either;
#   8. sshd answers with an SSH-2.0- banner after every step (and a background prober measures
#      how long sshd refuses connections while it re-executes on SIGHUP);
#   9. kill -9 of the daemon: systemd restarts it, it converges with no write and no reload;
#  10. the watchdog is fed;
#  11. a reload that takes longer than WatchdogSec (but less than the daemon's own 15 s job
#      timeout) completes without the watchdog killing the daemon;
#  12. kill -9 between the rename of the new drop-in and the reload (held there by a gate on the
#      daemon's ssh -G): the restarted daemon still reloads sshd, so sshd runs what it reports;
#  and over the whole run the number of sshd reloads is exactly the sum each step expects.
# Needs root, the packages listed at the top of tests/lib/throwaway-systemd.sh, and a build
# (KEEPALIVE_BUILD_DIR, default ../../build). Knobs: KP_WATCHDOG_SEC (5), KP_QUIET_MS (500, the
# window in which "nothing more happens" is checked), KP_FOREGROUND=1 (run the daemon with
# --foreground, logging to stderr instead of the journal's native protocol), KP_PROBE_MS (50, the
# background prober's period; 0 turns it off), KP_KEEP_LOG=FILE (save the sandbox's journal).
# Output: "ok - ..." / "not ok - ..." per check, "# ..." for information; the last line is
# "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEEPALIVE_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}
DAEMON_BIN=$BUILD/daemon/keepalive-policyd
CTL_BIN=$BUILD/cli/keepalivectl
WATCHDOG_SEC=${KP_WATCHDOG_SEC:-5}
FOREGROUND=${KP_FOREGROUND:-0}
PROBE_MS=${KP_PROBE_MS:-50}

UNIT=keepalive-policyd.service
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml
SSHD_DROPIN=/etc/ssh/sshd_config.d/00-keepalive-policy.conf
CLIENT_DROPIN=/etc/ssh/ssh_config.d/00-keepalive-policy.conf
SCRATCH=/run/kp-test            # inside the sandbox (tmpfs): saved copies, prober's stop flag

TEST_NAME=daemon_reload_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 60 "$UNIT" ssh.service
    cleanup
    report
}
harness_begin

# ------------------------------------------------------------------ helpers --
# (the shared ones, from journal marks to the reload ledger, are tests/lib/harness.sh's)

systemd_count() {  # systemd_count TEXT: systemd's messages about ssh.service containing TEXT
    inside journalctl -q --no-pager -u ssh.service -o cat | grep -cF -- "$1"
}
digest_line() { inside grep -m1 '^# policy-digest:' "$1"; }
directives() { inside grep -v '^#' "$1"; }

# The policies differ in server.client_alive_interval (sshd's ClientAliveInterval) or, for the
# comment-only change, in a top-level line that changes the policy digest but no sshd directive.
ms_between() {  # ms_between T0 T1 (epoch seconds with fractions)
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "?"; else printf "%.0f", (b - a) * 1000 }'
}
# timeline CURSOR: "EPOCH SOURCE: MESSAGE" for the daemon and ssh.service after CURSOR.
timeline() {
    inside journalctl -q --no-pager -u "$UNIT" -u ssh.service --cursor="$1" -o short-unix
}
first_ts() { awk -v p="$2" 'index($0, p) { print $1; exit }' "$1"; }  # first_ts FILE TEXT
first_ts_after() {  # first_ts_after FILE TEXT1 TEXT2: first TEXT2 after the first TEXT1
    awk -v p="$2" -v q="$3" 'index($0, p) { seen = 1 } seen && index($0, q) { print $1; exit }' "$1"
}

# start_daemon [ARG...]: keepalive-policyd as a transient service, as a packaged unit would run
# it: Type=notify, a watchdog, Restart=on-failure. LimitCORE=0: a watchdog's SIGABRT must not
# write a core through the host's core_pattern. systemd-run waits for the start job, which for
# Type=notify ends with READY=1.
# shellcheck disable=SC2120  # called with arguments through check
start_daemon() {
    local args=(/usr/local/sbin/keepalive-policyd)
    [ "$FOREGROUND" = 1 ] && args+=(--foreground)
    inside systemd-run --quiet --unit="${UNIT%.service}" \
        --description="keepalive-policyd (system test)" \
        --property=Type=notify --property=NotifyAccess=main \
        --property=WatchdogSec="$WATCHDOG_SEC" --property=TimeoutStartSec=60 \
        --property=Restart=on-failure --property=RestartSec=100ms --property=LimitCORE=0 \
        "${args[@]}" "$@"
}
# ssh_reload_override SCRIPT-LINE|"": an ExecReload= override for ssh.service (none with "")
ssh_reload_override() {
    local f=/etc/systemd/system/ssh.service.d/zz-kp-test-reload.conf
    if [ -n "$1" ]; then
        inside mkdir -p /etc/systemd/system/ssh.service.d
        printf '[Service]\nExecReload=\nExecReload=%s\n' "$1" | inside sh -c 'cat > "$1"' sh "$f"
    else
        inside rm -f "$f"
    fi
    inside systemctl daemon-reload
}
exec_reload_paths() { prop ssh.service ExecReload | grep -o 'path=[^ ;]*' | tr '\n' ' '; }
# epoch of sshd's last "Received SIGHUP"
last_sighup_ts() {
    inside journalctl -q --no-pager -u ssh.service -o short-unix | grep 'Received SIGHUP' |
        tail -n 1 | awk '{ print $1 }'
}

# ------------------------------------------------------------------- start --

require_root
for f in "$DAEMON_BIN" "$CTL_BIN"; do
    [ -x "$f" ] || { not_ok "$f is built (cmake --build build)"; finish; }
done
make_work kp-reload-test
sandbox_start
inside mkdir -p "$SCRATCH"
SSH_PID=$(prop ssh.service MainPID)
check "ssh.service is active with a main PID ($SSH_PID) before the daemon runs" \
    test "$(prop ssh.service ActiveState)" = active -a -n "$SSH_PID" -a "$SSH_PID" != 0
check "no keepalive drop-in before the daemon runs" \
    inside test ! -e "$SSHD_DROPIN" -a ! -e "$CLIENT_DROPIN"
sighups_before=$(sighups)
check "no reload of ssh.service before the daemon runs ('Received SIGHUP' x$sighups_before)" \
    test "$sighups_before" = 0
sshd_ok "at boot"
ai_default=$(sshd_T clientaliveinterval)

# Background prober (information, and a generous bound): connects to 127.0.0.1:22 every
# KP_PROBE_MS and records whether a banner came back.
PROBER_PID=
if [ "$PROBE_MS" -gt 0 ]; then
    # shellcheck disable=SC2016
    inside bash -c '
        period=$1 stop=$2
        while [ ! -e "$stop" ]; do
            t=$EPOCHREALTIME r=fail
            if { exec 3<>/dev/tcp/127.0.0.1/22; } 2>/dev/null; then
                IFS= read -r -t 2 -u 3 l && [[ $l == SSH-2.0-* ]] && r=ok
                exec 3<&-
            fi
            echo "$t $r"
            sleep "$period"
        done' bash "$(awk -v m="$PROBE_MS" 'BEGIN { printf "%.3f", m / 1000 }')" \
        "$SCRATCH/stop-prober" > "$WORK/prober.log" 2>/dev/null &
    PROBER_PID=$!
fi

# --------------------------------------------------- 1. start under systemd --
echo "# 1. the daemon as a transient Type=notify service"
"$TSD" cp-in "$STATE" "$DAEMON_BIN" /usr/local/sbin/keepalive-policyd
"$TSD" cp-in "$STATE" "$CTL_BIN" /usr/local/bin/keepalivectl
check "keepalive-policyd and keepalivectl copied into the sandbox and runnable there" \
    inside sh -c '/usr/local/sbin/keepalive-policyd --version && keepalivectl --version' \
    >/dev/null
# The bus policy: step 6 reads `keepalivectl status --json`.
"$TSD" cp-in "$STATE" "$HERE/../../units/org.keepalivepolicy1.conf" /usr/share/dbus-1/system.d/org.keepalivepolicy1.conf
check "the bus policy installed inside, the bus reloaded" \
    inside busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
inside mkdir -p "$POLICY_DIR"
policy 2m | inside sh -c 'cat > "$1"' sh "$POLICY"
check "keepalivectl validate accepts the first policy (client_alive_interval 2m)" \
    inside keepalivectl validate --quiet "$POLICY"
mark=$(jcursor)
t0=$(now_ms)
if start_daemon; then
    t_started=$(($(now_ms) - t0))
    # systemd-run waits for the start job, which for Type=notify ends at READY=1.
    check "systemd-run returned after the start job ($t_started ms), and by then the first apply had written the drop-in (READY=1 comes after it)" \
        inside test -f "$SSHD_DROPIN"
else
    not_ok "systemd-run starts $UNIT"
    finish
fi
check "$UNIT is active (running)" \
    test "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" SubState)" = active/running
check "$UNIT runs as Type=notify, NotifyAccess=main, WatchdogUSec=${WATCHDOG_SEC}s" \
    test "$(prop "$UNIT" Type)/$(prop "$UNIT" NotifyAccess)/$(prop "$UNIT" WatchdogUSec)" \
    = "notify/main/${WATCHDOG_SEC}s"
DPID=$(prop "$UNIT" MainPID)
check "its main PID $DPID is keepalive-policyd, in the unit's cgroup" \
    inside sh -c "[ \"\$(readlink /proc/$DPID/exe)\" = /usr/local/sbin/keepalive-policyd ] &&
                  grep -q '/system.slice/$UNIT\$' /proc/$DPID/cgroup"
status=$(prop "$UNIT" StatusText)
check "StatusText is readable: '$status'" \
    grep -qE '^ok: policy sha256:[0-9a-f]{64} in force$' <<< "$status"
check "journal: the daemon detected ssh.service as sshd's unit" \
    wait_for 5 daemon_logged "$mark" 'unit ssh.service'
check "journal: the daemon logged 'state ok:' after its first apply" \
    wait_for 5 daemon_logged "$mark" 'state ok:'

# ----------------------------------------------------------- 2. first apply --
echo "# 2. the first apply"
check "the sshd drop-in is what 'keepalivectl render --sshd' prints, byte for byte" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN"
check "the ssh drop-in is what 'keepalivectl render --client' prints, byte for byte" \
    inside sh -c "keepalivectl render --client | cmp -s - $CLIENT_DROPIN"
check "sshd -T: clientaliveinterval 120 (was $ai_default), clientalivecountmax 3" \
    test "$(sshd_T clientaliveinterval)/$(sshd_T clientalivecountmax)" = 120/3
check "ssh -G: serveraliveinterval 240" test "$(ssh_G serveraliveinterval keepalive-test.invalid)" = 240
expect_reloads 1 "first apply"
check "systemd logged exactly one successful reload job of ssh.service" \
    test "$(systemd_count 'Reloaded ssh.service')" = 1
line=$(state_line "$mark" 'state ok: ')
check "the daemon's state line counts it: $(counters <<< "$line")" \
    grep -q 'last apply applied.*; reloads 1, writes 2, rollbacks 0' <<< "$line"
sshd_ok "after the first apply"

# --------------------------------------------------------- 3. policy rename --
echo "# 3. a new policy pushed by rename"
tmp=$(policy 3m | stage_policy)
check "keepalivectl validate accepts the staged policy (client_alive_interval 3m)" \
    inside keepalivectl validate --quiet "$tmp"
mark=$(jcursor)
t_mv=$(commit_policy "$tmp")
if wait_for 10 sshd_T_is clientaliveinterval 180; then
    t_seen=$EPOCHREALTIME
    ok "sshd -T shows clientaliveinterval 180 within $(ms_between "$t_mv" "$t_seen") ms of the rename"
else
    not_ok "sshd -T shows clientaliveinterval 180 after the rename (has $(sshd_T clientaliveinterval))"
fi
check "journal: state ok after the rename, last apply applied" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*last apply applied'
expect_reloads 1 "policy rename"
check "the drop-ins are what keepalivectl renders for the new policy" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN &&
                  keepalivectl render --client | cmp -s - $CLIENT_DROPIN"
check "no temporary file left in $POLICY_DIR or the drop-in directories" \
    test -z "$(inside find "$POLICY_DIR" /etc/ssh/sshd_config.d /etc/ssh/ssh_config.d -name '.*' -type f)"
# Timings from the journal (same clock inside and out): rename -> write -> reload job -> SIGHUP.
timeline "$mark" > "$WORK/t3"
t_write=$(inside stat -c %.9Y "$SSHD_DROPIN")
t_job0=$(first_ts "$WORK/t3" 'Reloading ssh.service')
t_job1=$(first_ts "$WORK/t3" 'Reloaded ssh.service')
t_hup=$(first_ts "$WORK/t3" 'Received SIGHUP')
t_listen=$(first_ts_after "$WORK/t3" 'Received SIGHUP' 'Server listening')
t_state=$(first_ts "$WORK/t3" 'state ok:')
TIMING_RENAME="rename -> drop-in written +$(ms_between "$t_mv" "$t_write") ms -> reload job started +$(ms_between "$t_mv" "$t_job0") ms -> job done +$(ms_between "$t_mv" "$t_job1") ms -> sshd 'Received SIGHUP' +$(ms_between "$t_mv" "$t_hup") ms -> sshd listening again +$(ms_between "$t_mv" "$t_listen") ms -> daemon's state line +$(ms_between "$t_mv" "$t_state") ms"
TIMING_RENAME_DAEMON=$(jsince "$mark" "$UNIT" | grep -o '(policy changed): applied in .*' | head -n 1)
info "timing: $TIMING_RENAME"
info "timing, as the daemon measured its transaction: ${TIMING_RENAME_DAEMON:-not logged}"
sshd_ok "after the policy rename"

echo "# 3b. a policy change that leaves sshd's directives alone"
before_directives=$(directives "$SSHD_DROPIN")
before_digest=$(digest_line "$SSHD_DROPIN")
tmp=$(policy 3m 'reconcile_interval: 2h' | stage_policy)
mark=$(jcursor)
commit_policy "$tmp" >/dev/null
check "journal: state ok, last apply applied" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*last apply applied'
check "the drop-in was rewritten (new policy digest) with the same directives" \
    test "$(digest_line "$SSHD_DROPIN")" != "$before_digest" -a \
    "$(directives "$SSHD_DROPIN")" = "$before_directives"
check "journal: the daemon says only comments changed, no reload needed" \
    wait_for 5 daemon_logged "$mark" 'no reload needed'
expect_reloads 0 "comment-only change"
sshd_ok "after the comment-only change"

# ------------------------------------------------------------------ 4. drift --
echo "# 4. drift: our drop-in deleted, the client drop-in deleted, our drop-in edited"
inside cp -p "$SSHD_DROPIN" "$SCRATCH/sshd.good"
inside cp -p "$CLIENT_DROPIN" "$SCRATCH/client.good"
mark=$(jcursor)
t_rm=$(inside bash -c 'echo "$EPOCHREALTIME"; exec rm -f -- "$1"' bash "$SSHD_DROPIN")
if wait_for 5 same_bytes "$SSHD_DROPIN" "$SCRATCH/sshd.good"; then
    ok "deleted sshd drop-in restored byte for byte, written $(ms_between "$t_rm" "$(inside stat -c %.9Y "$SSHD_DROPIN")") ms after the delete"
else
    not_ok "deleted sshd drop-in restored within 5 s"
fi
check "journal: state ok with 1 drift repair" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*, drift repairs 1$'
check "journal: 'drop-ins restored to policy ...' logged" wait_for 5 daemon_logged "$mark" 'drop-ins restored'
expect_reloads 1 "drop-in deleted and restored"
timeline "$mark" > "$WORK/t4"
TIMING_DRIFT="delete -> restored +$(ms_between "$t_rm" "$(inside stat -c %.9Y "$SSHD_DROPIN")") ms -> reload job done +$(ms_between "$t_rm" "$(first_ts "$WORK/t4" 'Reloaded ssh.service')") ms -> state line +$(ms_between "$t_rm" "$(first_ts "$WORK/t4" 'state ok:')") ms"
info "timing: $TIMING_DRIFT"
check "sshd -T still shows clientaliveinterval 180" sshd_T_is clientaliveinterval 180
sshd_ok "after the drop-in was restored"

mark=$(jcursor)
inside rm -f -- "$CLIENT_DROPIN"
check "deleted ssh client drop-in restored byte for byte" \
    wait_for 5 same_bytes "$CLIENT_DROPIN" "$SCRATCH/client.good"
check "journal: state ok with 2 drift repairs" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*, drift repairs 2$'
expect_reloads 0 "client drop-in restored (sshd does not read it)"

mark=$(jcursor)
inside sh -c "printf 'ClientAliveInterval 7\n' > $SSHD_DROPIN"
check "edited sshd drop-in restored byte for byte" \
    wait_for 5 same_bytes "$SSHD_DROPIN" "$SCRATCH/sshd.good"
check "journal: state ok with 3 drift repairs" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*, drift repairs 3$'
expect_reloads 1 "drop-in edited and restored"
check "sshd -T shows clientaliveinterval 180, not the edited 7" sshd_T_is clientaliveinterval 180
sshd_ok "after the edited drop-in was restored"

mark=$(jcursor)
inside sh -c "echo '# a note an admin added' >> $SSHD_DROPIN"
check "sshd drop-in with a comment appended restored byte for byte" \
    wait_for 5 same_bytes "$SSHD_DROPIN" "$SCRATCH/sshd.good"
check "journal: state ok with 4 drift repairs" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*, drift repairs 4$'
expect_reloads 0 "comment appended and removed (sshd's directives never changed)"

# ---------------------------------------------------------------- 5. restart --
echo "# 5. systemctl restart with the same policy"
fp_before=$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")
old_pid=$(prop "$UNIT" MainPID)
mark=$(jcursor)
check "systemctl restart $UNIT" inside systemctl restart "$UNIT"
DPID=$(prop "$UNIT" MainPID)
check "active again with a new main PID ($old_pid -> $DPID)" \
    test "$(prop "$UNIT" ActiveState)" = active -a "$DPID" != "$old_pid" -a "$DPID" != 0
line=$(state_line "$mark" 'state [a-z-]+: ')
check "state line of the new process: ok, last apply unchanged, $(counters <<< "$line") ('${line:0:150}...')" \
    grep -q 'state ok: .*last apply unchanged.*; reloads 0, writes 0, rollbacks 0' <<< "$line"
check "drop-ins not written (inode, mtime, size unchanged: $fp_before)" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp_before"
expect_reloads 0 "restart with an unchanged policy"
sshd_ok "after the restart"

# --------------------------------------------------------- 6. reload refused --
echo "# 6. the reload of ssh.service fails for real: the accepted drop-ins stay, pending-reload"
ssh_reload_override /bin/false
check "ssh.service's ExecReload is now only /bin/false" \
    test "$(exec_reload_paths)" = "path=/bin/false "
failed_jobs_before=$(systemd_count 'Reload failed for ssh.service')
reload_failed_logged() { [ "$(systemd_count 'Reload failed for ssh.service')" -gt "$failed_jobs_before" ]; }
tmp=$(policy 1m | stage_policy)
mark=$(jcursor)
commit_policy "$tmp" >/dev/null
check "journal: state pending-reload" \
    wait_for 15 daemon_logged "$mark" 'state pending-reload: reload of ssh.service failed'
status=$(prop "$UNIT" StatusText)
check "StatusText says why: '${status:0:140}...'" \
    grep -q '^pending-reload: reload of ssh.service failed (' <<< "$status"
check "journal: systemd's reload job of ssh.service failed" \
    wait_for 5 reload_failed_logged
# One push, one reload job: the refused reload is retried by the next transaction (a SIGHUP, a
# push, keepalivectl reload, the periodic reconcile), never in a loop of its own (the unit's
# reloading -> active after each refused job is not a reason to try again).
failed_jobs() { echo $(($(systemd_count 'Reload failed for ssh.service') - failed_jobs_before)); }
failed_jobs_are() { [ "$(failed_jobs)" = "$1" ]; }
check "the refused reload is not retried in a loop: 1 failed reload job over a 2 s window (systemd logged $(stays_for 2000 failed_jobs_are 1; failed_jobs))" \
    failed_jobs_are 1
check "journal: no rollback ('rolling back' not logged)" \
    bash -c '! grep -q "rolling back" <<< "$1"' sh "$(jsince "$mark")"
check "the sshd drop-in has the NEW content, byte for byte (what keepalivectl renders; sshd -t accepted it)" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN"
check "the ssh drop-in has the NEW content, byte for byte" \
    inside sh -c "keepalivectl render --client | cmp -s - $CLIENT_DROPIN"
check "sshd -T (the files) shows clientaliveinterval 60" sshd_T_is clientaliveinterval 60
check "$UNIT still active with the same main PID $DPID" \
    test "$(prop "$UNIT" ActiveState)/$(prop "$UNIT" MainPID)" = "active/$DPID"
expect_reloads 0 "failed reload (sshd never got SIGHUP: the running sshd keeps its old values)"
# The running sshd read its files before the new drop-in: it serves the old values.
read_at=$(inside keepalivectl status --json | jq -r .SshdReadConfigTime)
dropin_at=$(inside stat -c %.6Z "$SSHD_DROPIN" | tr -d .)
check "SshdReadConfigTime ($read_at) is before the drop-in's change ($dropin_at): sshd has not read it" \
    test "${read_at:-0}" -gt 0 -a "${read_at:-0}" -lt "$dropin_at"
line=$(last_state_line "$mark")
# Failed reload jobs are not reloads: the counter must match what sshd saw (none here).
check "the daemon counts neither a reload nor a rollback: $(counters <<< "$line")" \
    grep -q '; reloads 0, writes [0-9]*, rollbacks 0' <<< "$line"
check "LastApplyResult applied (the policy is installed), LastError names the failed reload" \
    test "$(inside keepalivectl status --json | jq -r '.LastApplyResult + "/" + (.LastError | startswith("reload of ssh.service failed") | tostring)')" = applied/true
sshd_ok "after the refused reload"

ssh_reload_override ""
check "ssh.service's ExecReload is back to Debian's (sshd -t, kill -HUP)" \
    test "$(exec_reload_paths)" = "path=/usr/sbin/sshd path=/bin/kill "
mark=$(jcursor)
inside systemctl kill -s HUP --kill-whom=main "$UNIT"
check "SIGHUP to the daemon retries the refused reload (journal: 'retrying the reload of sshd the unit refused')" \
    wait_for 15 daemon_logged "$mark" 'retrying the reload of sshd the unit refused'
check "then state ok" \
    wait_for 15 daemon_logged_re "$mark" 'state ok: '
expect_reloads 1 "the retried reload"
check "sshd -T shows clientaliveinterval 60" sshd_T_is clientaliveinterval 60
read_at=$(inside keepalivectl status --json | jq -r .SshdReadConfigTime)
check "SshdReadConfigTime ($read_at) is now after the drop-in's change ($dropin_at)" \
    test "${read_at:-0}" -ge "$dropin_at"
check "StatusText: '$(prop "$UNIT" StatusText | cut -c1-100)'" \
    grep -qE '^ok: policy sha256:[0-9a-f]{64} in force$' <<< "$(prop "$UNIT" StatusText)"
check "the drop-ins were not rewritten by the retry (still what keepalivectl renders)" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN &&
                  keepalivectl render --client | cmp -s - $CLIENT_DROPIN"
sshd_ok "after the retried reload"

# --------------------------------------------------------- 7. invalid policy --
echo "# 7. an invalid policy"
fp_before=$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")
inside cp -p "$SSHD_DROPIN" "$SCRATCH/sshd.good"
tmp=$(policy 6m | stage_policy)     # above half of idle_timeout 11m
out=$(inside keepalivectl validate "$tmp" 2>&1); rc=$?
check "keepalivectl validate rejects it (exit $rc, want 1): $(grep -m1 -o 'error: .*above half of network.idle_timeout [^:]*' <<< "$out")" \
    test "$rc" = 1 -a -n "$(grep 'above half' <<< "$out")"
mark=$(jcursor)
commit_policy "$tmp" >/dev/null      # pushed anyway, as a push that skips validate: would
check "journal: state policy-invalid, last apply policy-error" \
    wait_for 10 daemon_logged_re "$mark" 'state policy-invalid: .*last apply policy-error'
status=$(prop "$UNIT" StatusText)
check "StatusText says why: '${status:0:110}...${status: -90}'" \
    grep -qE '^policy-invalid: policy rejected \(1 error, first: .*above half.*; the last good policy sha256:[0-9a-f]{64} stays in force; keepalivectl validate lists every error$' <<< "$status"
check "the drop-ins were not touched (inode, mtime, size: $fp_before)" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp_before"
check "sshd -T still shows clientaliveinterval 60" sshd_T_is clientaliveinterval 60
expect_reloads 0 "invalid policy"
sshd_ok "after the invalid policy"

tmp=$(policy 1m | stage_policy)
mark=$(jcursor)
commit_policy "$tmp" >/dev/null
check "the good policy pushed back: state ok, last apply unchanged" \
    wait_for 10 daemon_logged_re "$mark" 'state ok: .*last apply unchanged'
check "the drop-ins were not touched" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp_before"
expect_reloads 0 "good policy back after the invalid one"

# ------------------------------------------------------------ 9. kill -9 -----
echo "# 9. kill -9 of the daemon under Restart=on-failure"
fp_before=$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")
old_pid=$(prop "$UNIT" MainPID)
restarts_before=$(prop "$UNIT" NRestarts)
mark=$(jcursor)
inside kill -9 "$old_pid"
if wait_for 15 restarted_from "$old_pid"; then
    DPID=$(prop "$UNIT" MainPID)
    ok "systemd restarted it: main PID $old_pid -> $DPID, NRestarts $restarts_before -> $(prop "$UNIT" NRestarts)"
else
    not_ok "systemd restarts $UNIT after kill -9 (ActiveState $(prop "$UNIT" ActiveState), MainPID $(prop "$UNIT" MainPID))"
fi
killed_and_rescheduled() {
    daemon_logged "$mark" 'status=9/KILL' && daemon_logged "$mark" 'Scheduled restart job'
}
check "journal: systemd saw the SIGKILL and scheduled the restart" \
    wait_for 5 killed_and_rescheduled
line=$(state_line "$mark" 'state [a-z-]+: ')
check "state line of the new process: ok, last apply unchanged, $(counters <<< "$line")" \
    grep -q 'state ok: .*last apply unchanged.*; reloads 0, writes 0, rollbacks 0' <<< "$line"
check "the drop-ins were not touched" \
    test "$(fingerprint "$SSHD_DROPIN" "$CLIENT_DROPIN")" = "$fp_before"
expect_reloads 0 "restart after kill -9"
sshd_ok "after kill -9 and restart"

# ------------------------------------------------------------ 10. watchdog --
echo "# 10. the watchdog"
wd0=$(prop "$UNIT" WatchdogTimestampMonotonic)
watchdog_fed() { [ "$(prop "$UNIT" WatchdogTimestampMonotonic)" != "$wd0" ]; }
check "the watchdog is fed (WatchdogTimestamp advances within ${WATCHDOG_SEC}s)" \
    wait_for "$WATCHDOG_SEC" watchdog_fed
nrestarts=$(prop "$UNIT" NRestarts)
check "no watchdog timeout so far, and only the one restart after kill -9 (NRestarts $nrestarts)" \
    test -z "$(inside journalctl -q -u "$UNIT" -o cat | grep -i 'watchdog timeout')" \
    -a "$nrestarts" = $((restarts_before + 1))

# ------------------------------------------------ 11. a slow reload, watchdog --
SLOW=$((WATCHDOG_SEC + 2))
echo "# 11. a reload that takes ${SLOW}s (longer than WatchdogSec=${WATCHDOG_SEC}, shorter than the daemon's 15 s job timeout)"
# A slow but successful reload (a loaded host, an ExecReload that waits on something): the daemon
# waits for JobRemoved, and meanwhile it must keep feeding its watchdog.
ssh_reload_override "/bin/sh -c 'sleep $SLOW; exec /bin/kill -HUP \$MAINPID'"
check "ssh.service's ExecReload now sleeps ${SLOW}s before its kill -HUP" \
    test "$(exec_reload_paths)" = "path=/bin/sh "
DPID=$(prop "$UNIT" MainPID)
restarts_before=$(prop "$UNIT" NRestarts)
tmp=$(policy 2m | stage_policy)
mark=$(jcursor)
commit_policy "$tmp" >/dev/null
line=$(wait_for $((SLOW + 15)) daemon_logged_re "$mark" 'state [a-z-]+: '; last_state_line "$mark")
check "state ok, last apply applied, after the slow reload: ${line:0:60}..." \
    grep -q 'state ok: .*last apply applied' <<< "$line"
watchdog_line=$(jsince "$mark" "$UNIT" | grep -i -m1 'watchdog timeout')
check "the daemon was not killed by its watchdog while it waited (${watchdog_line:-no watchdog timeout}; main PID $DPID -> $(prop "$UNIT" MainPID), NRestarts $restarts_before -> $(prop "$UNIT" NRestarts))" \
    test -z "$watchdog_line" -a "$(prop "$UNIT" MainPID)" = "$DPID" \
    -a "$(prop "$UNIT" NRestarts)" = "$restarts_before"
check "sshd -T shows clientaliveinterval 120" wait_for 5 sshd_T_is clientaliveinterval 120
expect_reloads 1 "slow reload"
ssh_reload_override ""
check "ssh.service's ExecReload is back to Debian's" \
    test "$(exec_reload_paths)" = "path=/usr/sbin/sshd path=/bin/kill "
sshd_ok "after the slow reload"

# ------------------------------------------ 12. kill -9 mid-transaction -----
echo "# 12. kill -9 after the drop-in was renamed into place, before the reload"
# The daemon runs ssh -G through a pass-through gate: it checks the new client drop-in after
# sshd -t and right before ReloadUnit. While the gate is closed, ssh waits there, so the kill
# lands deterministically in the window between the rename and the reload.
cat > "$WORK/kp-ssh-gate" <<'GATE'
#!/bin/sh
# /usr/bin/ssh, held at a gate while /run/kp-gate/closed exists (system test fault injection)
if [ -e /run/kp-gate/closed ]; then
    : > "/run/kp-gate/arrived.$$"
    while [ -e /run/kp-gate/closed ]; do sleep 0.02; done
fi
exec /usr/bin/ssh "$@"
GATE
chmod 0755 "$WORK/kp-ssh-gate"
"$TSD" cp-in "$STATE" "$WORK/kp-ssh-gate" /usr/local/bin/kp-ssh-gate
inside mkdir -p -m 1777 /run/kp-gate    # ssh -G runs as nobody
inside systemctl stop "$UNIT"
inside systemctl reset-failed "$UNIT" 2>/dev/null
check "$UNIT started again, with --ssh /usr/local/bin/kp-ssh-gate" \
    start_daemon --ssh /usr/local/bin/kp-ssh-gate
gate_reached() { inside sh -c 'ls /run/kp-gate/arrived.* >/dev/null 2>&1'; }
inside touch /run/kp-gate/closed
# The client value changes too: the daemon checks a client drop-in with ssh -G (before the
# reload) only when its directives change, and that check is where the gate holds it.
tmp=$(policy 3m | sed 's/server_alive_interval: 4m/server_alive_interval: 3m/' | stage_policy)
mark=$(jcursor)
commit_policy "$tmp" >/dev/null
check "the daemon reached the gate (ssh -G of the new drop-in)" wait_for 10 gate_reached
check "the new sshd drop-in is already in place (ClientAliveInterval 180), sshd not reloaded yet" \
    test "$(inside grep '^ClientAliveInterval' "$SSHD_DROPIN")" = "ClientAliveInterval 180" \
    -a "$(sighups)" = "$RELOADS"
old_pid=$(prop "$UNIT" MainPID)
inside kill -9 "$old_pid"
inside rm -f /run/kp-gate/closed
check "systemd restarted the daemon (main PID $old_pid -> ...)" wait_for 15 restarted_from "$old_pid"
line=$(state_line "$mark" 'state [a-z-]+: ')
info "state line of the restarted daemon: ${line:0:140}..."
expect_reloads 1 "kill -9 between rename and reload: the restarted daemon reloads what its predecessor wrote"
t_hup=$(last_sighup_ts)
t_write=$(inside stat -c %.9Y "$SSHD_DROPIN")
check "sshd was reloaded after the drop-in was written (last SIGHUP ${t_hup:-none}, drop-in written $t_write): it runs what the state line says is in force" \
    awk -v h="${t_hup:-0}" -v w="$t_write" 'BEGIN { exit !(h > w) }'
sshd_ok "after kill -9 mid-transaction"

# ------------------------------------------- 8. listening, and the whole run --
echo "# 8. sshd kept listening; the whole run"
jsync
check "over the whole run sshd was reloaded exactly $RELOADS times ('Received SIGHUP' x$(sighups))" \
    sighups_are "$RELOADS"
check "ssh.service kept its main PID $SSH_PID through the whole run" \
    test "$(prop ssh.service MainPID)" = "$SSH_PID"

if [ -n "$PROBER_PID" ]; then
    inside touch "$SCRATCH/stop-prober"
    prober_gone() { ! kill -0 "$PROBER_PID" 2>/dev/null; }
    wait_for 5 prober_gone
    # longest stretch without an answer: from the last answered probe to the next answered one
    read -r total fails gap_ms < <(awk '
        { n++ }
        $2 == "ok" { if (bad && last_ok != "") { g = ($1 - last_ok) * 1000; if (g > max) max = g }
                     bad = 0; last_ok = $1 }
        $2 == "fail" { f++; bad = 1 }
        END { printf "%d %d %.0f\n", n, f, max }' "$WORK/prober.log")
    info "background prober: $fails of $total connections to 127.0.0.1:22 got no banner; longest gap between answers ${gap_ms} ms (sshd closes its listeners while it re-executes on SIGHUP)"
    check "sshd never stopped answering for long: longest gap ${gap_ms} ms < 2000 ms" \
        test "${total:-0}" -gt 0 -a "${gap_ms:-99999}" -lt 2000
fi
info "timing: $TIMING_RENAME"
info "timing, as the daemon measured its transaction: ${TIMING_RENAME_DAEMON:-not logged}"
info "timing: $TIMING_DRIFT"
finish
