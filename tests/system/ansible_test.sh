#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ansible_test.sh - contrib/ansible's role keepalive_policy with Debian's ansible-core, run by
# ansible-playbook -i localhost, -c local inside a throwaway systemd (tests/lib/throwaway-systemd.sh:
# namespaces over an overlay of /), against the .deb built from this tree. It proves:
#   1. a first run installs the package from a local .deb, starts the service and pushes the
#      policy; the daemon picks it up by inotify (never restarted), its drop-ins are what
#      `keepalivectl render` prints, sshd -T and ssh -G show the policy's values, including a
#      value from the policy's own `hosts:` override and one from an Ansible host variable, and the
#      fact keepalive_policy_status says State ok with the pushed policy's digest;
#   2. a second run with the same variables changes nothing (changed=0): no file written, no
#      policy transaction, no reload of sshd; --check --diff shows a change and makes none;
#   3. a changed variable changes exactly the policy file: the daemon applies it (one reload of
#      sshd, same main PID of the daemon) before the play ends;
#   4. a bad policy (client_alive_interval above half of idle_timeout) is refused by `validate:`:
#      the play fails with keepalivectl's diagnostic, and policy.yaml, the drop-ins and the
#      daemon's generation are unchanged;
#   5. a valid policy that the daemon holds back (sshd's configuration broken by someone else:
#      state sshd-config-broken) fails the play at once with the daemon's reason, naming the file
#      and line; once the cause is gone, the daemon applies it by itself (one reload) and the
#      next run changes nothing;
#   6. the example inventory (contrib/ansible/inventory) gives every host a valid policy, with
#      its group's and host's overrides, and site.yml parses;
#   7. nothing reached the host.
# Needs root, the packages of tests/lib/throwaway-systemd.sh, ansible-core and python3-apt (the apt
# module), and dpkg-dev/debhelper to build the package (scripts/deps.sh installs them all).
# Knobs: KP_DEB=FILE (use that .deb instead of building one, as package_test.sh takes it),
# KP_KEEP_LOG=FILE (save the sandbox's journal).
# Output: "ok - ..." / "not ok - ..." per check, "# ..." for information; the last line is
# "N passed, M failed"; the exit status is non-zero on any failure.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

UNIT=keepalive-policyd.service
PKG=keepalive-policy
POLICY_DIR=/etc/keepalive-policy
POLICY=$POLICY_DIR/policy.yaml
SSHD_DROPIN=/etc/ssh/sshd_config.d/00-keepalive-policy.conf
CLIENT_DROPIN=/etc/ssh/ssh_config.d/00-keepalive-policy.conf
DEB_DIR=/var/cache/keepalive-policy-ansible   # the role's default keepalive_policy_deb_dir
SCRATCH=/run/kp-ansible-test                  # inside the sandbox (tmpfs)

TEST_NAME=ansible_test
# shellcheck source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
finish() {
    journal_on_failure 40 "$UNIT" ssh.service
    cleanup
    host_unchanged_checked || true
    report "package build ${T_BUILD:-?} s, ansible-playbook runs ${T_PLAYS:-?} s"
}
harness_begin

# ------------------------------------------------------------------ helpers --
# (the shared ones are tests/lib/harness.sh's)

# The daemon's own start lines in this boot: one means it was never restarted.
daemon_starts() { inside journalctl -q --no-pager -u "$UNIT" -o cat | grep -c '^starting: '; }
# A field of `keepalivectl status --json` (python3 is there: ansible-core needs it).
status_field() {
    inside keepalivectl status --json |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
render_digest() { inside keepalivectl render --explain | awk '$1 == "Digest:" { print $2 }'; }

# One run of the role: ansible-playbook on localhost, inside the sandbox. Prints its output to
# $WORK/run-N.log and sets RC and RECAP ("ok=N changed=N ... failed=N ...").
RUNS=0 T_PLAYS=0
play() {  # play NAME [ansible-playbook ARGS...]
    local name=$1 t0 t; shift
    RUNS=$((RUNS + 1))
    t0=$(now_ms)
    inside env HOME=/root ANSIBLE_ROLES_PATH="$SCRATCH/ansible/roles" ANSIBLE_NOCOLOR=1 \
        ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
        ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0 \
        ANSIBLE_DEPRECATION_WARNINGS=0 \
        ansible-playbook -i localhost, -c local "$SCRATCH/play.yml" \
        -e "@$SCRATCH/vars.yml" "$@" > "$WORK/run-$RUNS.log" 2>&1
    RC=$?
    t=$(($(now_ms) - t0)); T_PLAYS=$((T_PLAYS + t / 1000)); T_LAST=$((t / 1000))
    RECAP=$(sed -n 's/^localhost *: *//p' "$WORK/run-$RUNS.log" | tr -s ' ')
    info "run $RUNS ($name): exit $RC in $((t / 1000)).$((t % 1000 / 100)) s: ${RECAP:-no recap}"
}
recap() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<< "$RECAP"; }
show_run() { sed 's/^/#   /' "$WORK/run-$RUNS.log" | grep -v '^#   *$' | tail -n 40 | cut -c1-300; }

# What must never change on the host (tests/lib/harness.sh's host_snapshot): our paths there,
# the drop-in directories, dpkg's record.
HOST_PATHS=("$SSHD_DROPIN" "$CLIENT_DROPIN" /var/lib/keepalive-policy "$POLICY_DIR" "$DEB_DIR" \
    "/lib/systemd/system/$UNIT" /usr/sbin/keepalive-policyd /usr/bin/keepalivectl \
    "/etc/systemd/system/multi-user.target.wants/$UNIT")
HOST_WHAT="our paths, $DEB_DIR, the drop-in directories, dpkg's status of $PKG"

# ------------------------------------------------------------------- start --

require_root
for c in ansible-playbook ansible-inventory; do
    command -v "$c" >/dev/null || { not_ok "$c is missing (scripts/deps.sh installs ansible-core)"; finish; }
done
/usr/bin/python3 -c 'import apt' 2>/dev/null ||
    { not_ok "python3-apt is missing (scripts/deps.sh installs it; the apt module needs it)"; finish; }
HOST_BEFORE=$(host_snapshot)
make_work kp-ansible-test
info "$(LC_ALL=C.UTF-8 ansible-playbook --version | head -n 1)"

echo "# 0. the package and the sandbox"
build_deb

sandbox_start
inside mkdir -p "$SCRATCH"
sandbox_allow_packages "$UNIT"
check "$PKG is not installed in the sandbox, no $UNIT, no drop-ins" \
    test "$(inside dpkg-query -W -f='${Status}' $PKG 2>/dev/null)" != "install ok installed" \
    -a "$(prop "$UNIT" LoadState)" = not-found \
    -a "$(inside sh -c "ls $SSHD_DROPIN $CLIENT_DROPIN 2>/dev/null | wc -l")" = 0
SSH_PID=$(prop ssh.service MainPID)
HN=$(inside hostname)
info "sandbox host name '$HN'; sshd's clientaliveinterval before: $(sshd_T clientaliveinterval)"

# The role and the package go in as files (the role as this tree has it now). The playbook is the
# smallest use of the role: no facts gathered (the role needs none), the fact printed after.
"$TSD" cp-in "$STATE" "$SRC/contrib/ansible" "$SCRATCH/ansible"
"$TSD" cp-in "$STATE" "$DEB" "$SCRATCH/$(basename "$DEB")"
cat > "$WORK/play.yml" <<'EOF'
- name: keepalive_policy on this host
  hosts: all
  gather_facts: false
  roles:
    - keepalive_policy
  post_tasks:
    - name: The fact keepalive_policy_status
      ansible.builtin.debug:
        var: keepalive_policy_status
EOF
# The fleet's policy with an override of its own for this host name (the policy's `hosts:`), and
# a change through Ansible's variables (keepalive_policy_host, merged over keepalive_policy).
cat > "$WORK/vars.yml" <<EOF
keepalive_policy_deb: $SCRATCH/$(basename "$DEB")
keepalive_policy:
  network:
    idle_timeout: 10m
  server:
    client_alive_interval: 90s
  client:
    server_alive_interval: 4m
  users:
    action: report
  hosts:
    - match: ["$HN"]
      server: {client_alive_count_max: 2}
keepalive_policy_host:
  client:
    server_alive_interval: 3m
EOF
"$TSD" cp-in "$STATE" "$WORK/play.yml" "$SCRATCH/play.yml"
"$TSD" cp-in "$STATE" "$WORK/vars.yml" "$SCRATCH/vars.yml"

# ---------------------------------------------------------- 1. first run --
echo "# 1. first run: install, start, push; the daemon picks the policy up"
play "first"
check "ansible-playbook succeeded (exit $RC), changed=$(recap changed) > 0, failed=$(recap failed)" \
    test "$RC" = 0 -a "$(recap changed)" -gt 0 -a "$(recap failed)" = 0
[ "$RC" = 0 ] || show_run
check "$PKG installed from the local .deb, copied to $DEB_DIR" \
    test "$(inside dpkg-query -W -f='${Status}' $PKG 2>/dev/null)" = "install ok installed" \
    -a "$(inside sh -c "ls $DEB_DIR/*.deb 2>/dev/null | wc -l")" = 1
DPID=$(prop "$UNIT" MainPID)
check "$UNIT enabled and active/running (main PID $DPID)" \
    test "$(inside systemctl is-enabled "$UNIT")/$(prop "$UNIT" ActiveState)/$(prop "$UNIT" SubState)" = enabled/active/running
check "$POLICY is the role's (Managed by Ansible), root:root 0644, and valid" \
    sh -c "[ \"\$(\"$TSD\" exec \"$STATE\" stat -c '%a %U:%G' $POLICY)\" = '644 root:root' ] &&
           \"$TSD\" exec \"$STATE\" grep -q '^# Managed by Ansible' $POLICY &&
           \"$TSD\" exec \"$STATE\" keepalivectl validate --quiet $POLICY"
DIGEST=$(render_digest)
check "keepalivectl status --json: State ok, PolicyDigest the pushed policy's ($DIGEST)" \
    test "$(status_field State)/$(status_field PolicyDigest)" = "ok/$DIGEST" -a -n "$DIGEST"
check "the play printed the fact keepalive_policy_status with State ok and that digest" \
    sh -c "grep -q '\"State\": \"ok\"' '$WORK/run-$RUNS.log' && grep -qF '\"PolicyDigest\": \"$DIGEST\"' '$WORK/run-$RUNS.log'"
check "the drop-ins are what keepalivectl renders for the pushed policy" \
    inside sh -c "keepalivectl render --sshd | cmp -s - $SSHD_DROPIN &&
                  keepalivectl render --client | cmp -s - $CLIENT_DROPIN"
check "sshd -T: clientaliveinterval 90 (keepalive_policy), clientalivecountmax 2 (the policy's hosts: override for $HN)" \
    test "$(sshd_T clientaliveinterval)/$(sshd_T clientalivecountmax)" = 90/2
check "ssh -G: serveraliveinterval 180 (keepalive_policy_host over keepalive_policy's 4m)" \
    test "$(ssh_G serveraliveinterval)" = 180
check "journal: the daemon applied the pushed policy on its own ('(policy changed): applied')" \
    sh -c "\"$TSD\" exec \"$STATE\" journalctl -q --no-pager -u $UNIT -o cat | grep -q '(policy changed): applied'"
check "the daemon was started once and never restarted (start lines: $(daemon_starts), NRestarts $(prop "$UNIT" NRestarts))" \
    test "$(daemon_starts)/$(prop "$UNIT" NRestarts)" = 1/0
check "ssh.service still runs with its boot main PID $SSH_PID" \
    test "$(prop ssh.service MainPID)/$(prop ssh.service ActiveState)" = "$SSH_PID/active"

# --------------------------------------------------------- 2. second run --
echo "# 2. second run, same variables: nothing changes; check mode changes nothing either"
FILES=("$POLICY" "$SSHD_DROPIN" "$CLIENT_DROPIN")
fp=$(fingerprint "${FILES[@]}")
gen=$(status_field Generation)
hups=$(sighups)
play "again"
check "ansible-playbook succeeded (exit $RC) with changed=$(recap changed), failed=$(recap failed)" \
    test "$RC" = 0 -a "$(recap changed)" = 0 -a "$(recap failed)" = 0
if [ "$RC" != 0 ] || [ "$(recap changed)" != 0 ]; then show_run; fi
check "policy.yaml and the drop-ins untouched (inode, mtime, size, mode)" \
    test "$(fingerprint "${FILES[@]}")" = "$fp"
check "no policy transaction (generation still $gen), no reload of sshd, same daemon (PID $DPID)" \
    test "$(status_field Generation)/$(sighups)/$(prop "$UNIT" MainPID)" = "$gen/$hups/$DPID"

play "check mode" --check --diff -e '{"keepalive_policy_group": {"server": {"client_alive_interval": "75s"}}}'
check "--check --diff with a changed variable: exit $RC, changed=$(recap changed), the diff shows 90s -> 75s" \
    sh -c "[ '$RC' = 0 ] && [ '$(recap changed)' = 1 ] &&
           grep -q '^- *client_alive_interval: 90s$' '$WORK/run-$RUNS.log' &&
           grep -q '^+ *client_alive_interval: 75s$' '$WORK/run-$RUNS.log'"
[ "$RC" = 0 ] || show_run
check "... and wrote nothing: files, generation, reloads as they were" \
    test "$(fingerprint "${FILES[@]}")/$(status_field Generation)/$(sighups)" = "$fp/$gen/$hups"

# -------------------------------------------------------- 3. a new value --
echo "# 3. a changed variable: only the policy file changes, the daemon applies it"
play "changed" -e '{"keepalive_policy_group": {"server": {"client_alive_interval": "75s"}}}'
check "ansible-playbook succeeded (exit $RC) with changed=$(recap changed) (the policy file only), failed=$(recap failed)" \
    test "$RC" = 0 -a "$(recap changed)" = 1 -a "$(recap failed)" = 0
[ "$RC" = 0 ] || show_run
DIGEST=$(render_digest)
check "when the play ended the daemon had it in force: State ok, PolicyDigest $DIGEST" \
    test "$(status_field State)/$(status_field PolicyDigest)" = "ok/$DIGEST"
check "sshd -T: clientaliveinterval 75" test "$(sshd_T clientaliveinterval)" = 75
check "ssh.service reloaded once by the daemon ('Received SIGHUP' $hups -> $((hups + 1)))" \
    wait_for 10 sighups_are $((hups + 1))
check "the daemon was not restarted (main PID $DPID, start lines $(daemon_starts))" \
    test "$(prop "$UNIT" MainPID)/$(daemon_starts)" = "$DPID/1"

# ------------------------------------------------------- 4. a bad policy --
echo "# 4. a bad policy is refused by validate and never reaches the host"
fp=$(fingerprint "${FILES[@]}")
inside cp -p "$POLICY" "$SCRATCH/policy.good"
gen=$(status_field Generation)
hups=$(sighups)
play "bad" -e '{"keepalive_policy_group": {"server": {"client_alive_interval": "6m"}}}'
check "ansible-playbook failed (exit $RC, want 2) with failed=$(recap failed)" \
    test "$RC" = 2 -a "$(recap failed)" = 1
diag=$(grep -o 'error: server.client_alive_interval 6m is above half of network.idle_timeout 10m[^"\\]*' \
    "$WORK/run-$RUNS.log" | head -n 1)
check "the template task failed to validate, showing keepalivectl's diagnostic: '${diag:0:100}...'" \
    sh -c "grep -q 'failed to validate' '$WORK/run-$RUNS.log' && [ -n \"\$1\" ]" sh "$diag"
[ -n "$diag" ] || show_run
check "policy.yaml is unchanged, byte for byte and inode, and so are the drop-ins" \
    sh -c "[ \"\$1\" = \"\$2\" ] && \"$TSD\" exec \"$STATE\" cmp -s $POLICY $SCRATCH/policy.good" \
    sh "$(fingerprint "${FILES[@]}")" "$fp"
check "nothing but policy.yaml and policy.d in $POLICY_DIR (no temporary file left): $(inside ls -A "$POLICY_DIR" | tr '\n' ' ')" \
    test "$(inside ls -A "$POLICY_DIR" | tr '\n' ' ')" = "policy.d policy.yaml "
check "the daemon saw nothing: generation still $gen, State ok, no reload, sshd -T still 75" \
    test "$(status_field Generation)/$(status_field State)/$(sighups)/$(sshd_T clientaliveinterval)" = "$gen/ok/$hups/75"

# ------------------------------------------- 5. what validate cannot see --
echo "# 5. a valid policy the daemon holds back (sshd's configuration broken by someone else)"
BROKEN=/etc/ssh/sshd_config.d/50-broken.conf
echo 'ThisIsNotAnSshdOption yes' | inside sh -c "cat > $BROKEN"
state_is() { [ "$(status_field State)" = "$1" ]; }
check "the daemon sees the broken tree by itself: State $(wait_for 15 state_is sshd-config-broken; status_field State)" \
    state_is sshd-config-broken
inside cp -p "$SSHD_DROPIN" "$SCRATCH/sshd.good"
inside cp -p "$CLIENT_DROPIN" "$SCRATCH/ssh.good"
hups=$(sighups)
digest_before=$(status_field PolicyDigest)
play "held back" -e '{"keepalive_policy_group": {"server": {"client_alive_interval": "80s"}}}'
check "the play failed (exit $RC, failed=$(recap failed)): the policy passed validate and reached the host, the daemon held it back" \
    test "$RC" = 2 -a "$(recap failed)" = 1 -a "$(inside grep -c 'client_alive_interval: 80s' $POLICY)" = 1
reason=$(grep -o 'has not put policy[^"]*' "$WORK/run-$RUNS.log" | head -n 1)
check "the role's message names the state, the file and the line: '${reason:0:220}...'" \
    bash -c 'grep -q "state sshd-config-broken: sshd -t rejects the sshd configuration" <<< "$1" &&
             grep -q "50-broken.conf: line 1: Bad configuration option: ThisIsNotAnSshdOption" <<< "$1"' sh "$reason"
[ -n "$reason" ] || show_run
check "the role stopped waiting at the daemon's answer, well before keepalive_policy_apply_timeout (60 s): run took ${T_LAST} s (LastApplyResult $(status_field LastApplyResult))" \
    test "$T_LAST" -lt 30
same_dropins() {
    inside sh -c "cmp -s $SCRATCH/sshd.good $SSHD_DROPIN && cmp -s $SCRATCH/ssh.good $CLIENT_DROPIN"
}
check "the drop-ins hold the last good policy, byte for byte" same_dropins
st=$(status_field State)/$(status_field PolicyDigest)/$(sighups)
check "State sshd-config-broken, PolicyDigest the old one, sshd not reloaded ($st; 'Received SIGHUP' $hups before)" \
    test "$st" = "sshd-config-broken/$digest_before/$hups"
inside rm -f "$BROKEN"
digest_80=$(render_digest)
in_force() { [ "$(status_field State)/$(status_field PolicyDigest)" = "ok/$digest_80" ]; }
check "the cause removed: the daemon applies the held-back policy by itself (State ok, PolicyDigest ${digest_80:0:20}...)" \
    wait_for 15 in_force
check "sshd -T clientaliveinterval 80, sshd reloaded once, the daemon not restarted" \
    test "$(sshd_T clientaliveinterval)/$(sighups)/$(prop "$UNIT" MainPID)" = "80/$((hups + 1))/$DPID"
play "cause fixed, same variables" -e '{"keepalive_policy_group": {"server": {"client_alive_interval": "80s"}}}'
check "the next run finds it in force and succeeds, with nothing to retry: exit $RC, changed=$(recap changed), failed=$(recap failed)" \
    test "$RC" = 0 -a "$(recap changed)" = 0 -a "$(recap failed)" = 0
[ "$RC" = 0 ] || show_run
check "no further reload of sshd ('Received SIGHUP' $(sighups))" test "$(sighups)" = $((hups + 1))

# ------------------------------------------------ 6. the example inventory --
echo "# 6. the example inventory"
out=$(inside sh -c "cd $SCRATCH/ansible && ANSIBLE_NOCOLOR=1 HOME=/root ansible-playbook --syntax-check site.yml" 2>&1); rc=$?
check "ansible-playbook --syntax-check site.yml (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/#   /' <<< "$out" | tail -n 10
# Each inventory host's policy, rendered from the role's template with that host's variables, on
# this machine (connection local), checked by the same validate as the role's.
cat > "$WORK/inventory.yml" <<EOF
- name: Render each host's policy
  hosts: all
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.template:
        src: $SCRATCH/ansible/roles/keepalive_policy/templates/policy.yaml.j2
        dest: $SCRATCH/inventory/{{ inventory_hostname }}.yaml
        mode: "0644"
        validate: keepalivectl validate --strict %s
EOF
"$TSD" cp-in "$STATE" "$WORK/inventory.yml" "$SCRATCH/inventory.yml"
inside mkdir -p "$SCRATCH/inventory"
out=$(inside sh -c "cd $SCRATCH/ansible && ANSIBLE_NOCOLOR=1 HOME=/root ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
    ansible-playbook $SCRATCH/inventory.yml" 2>&1); rc=$?
n=$(inside sh -c "ls $SCRATCH/inventory/*.yaml 2>/dev/null | wc -l")
check "every host of inventory/hosts.yml gets a policy that validates --strict (exit $rc, $n hosts)" \
    test "$rc" = 0 -a "$n" = 6
[ "$rc" = 0 ] || sed 's/^/#   /' <<< "$out" | tail -n 20
host_values() {  # host_values HOST: its ClientAliveInterval/ClientAliveCountMax/users.action
    inside keepalivectl render --explain --host "$1" "$SCRATCH/inventory/$1.yaml" |
        awk '$2 == "ClientAliveInterval" { i = $3 } $2 == "ClientAliveCountMax" { c = $3 }
             $1 == "users" && $2 == "action" { a = $3 } END { print i "/" c "/" a }'
}
check "web-1: the fleet's policy: ClientAliveInterval 200 (10m / 3), count 3, users report ($(host_values web-1.example.com))" \
    test "$(host_values web-1.example.com)" = 200/3/report
check "db-1: the policy's hosts: override for db-*: 60, 2 ($(host_values db-1.example.com))" \
    test "$(host_values db-1.example.com)" = 60/2/report
check "bastion-1: group_vars/bastion.yml's idle_timeout 5m50s: 116 ($(host_values bastion-1.example.com))" \
    test "$(host_values bastion-1.example.com)" = 116/3/report
check "web-3: host_vars' users.action enforce ($(host_values web-3.example.com))" \
    test "$(host_values web-3.example.com)" = 200/3/enforce
check "the hosts that share a policy share its digest (web-1, web-2, db-1, db-2), the bastion's differs" \
    test "$(inside sh -c "cd $SCRATCH/inventory && for h in web-1 web-2 db-1 db-2 bastion-1; do
            keepalivectl render --explain \$h.example.com.yaml | awk '\$1 == \"Digest:\" { print \$2 }'; done" |
            sort | uniq -c | awk '{ print $1 }' | sort | tr '\n' ' ')" = "1 4 "

host_unchanged_checked
finish
