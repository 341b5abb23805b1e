#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job on a throwaway root: install dependencies, build, validate and render the example
# policy, then run keepalive-policyd on that root with the real sshd -t / sshd -T and ssh -G and a
# private system bus. It installs the drop-ins, shows `keepalivectl status` and `users`, applies a
# policy pushed by rename, restores a deleted drop-in, reports a shadowing file, keeps the last
# good policy when a bad one arrives, and repairs a user's world-writable ~/.ssh/config. Reloads are off
# (--unit none), so this host's sshd is never touched; tests/system shows the reload against a
# real systemd. Nothing outside the throwaway root (and ./build) changes.
#
# Every command that prints something or changes the demo root is shown before its output as
# `$ COMMAND`, exactly as run (pipes and redirections included: `run` prints the string, then
# evals it). Not shown: the waits for the daemon's log lines (wait_log) and the cleanup.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/lib/harness.sh
. tests/lib/harness.sh   # wait_for

# run 'COMMAND' [NOTE]: prints "$ COMMAND" (bold on a terminal, unless NO_COLOR), then runs it in
# this shell, so that pipes, redirections, & and $! work as written. Its exit status is the
# command's.
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
run() {
  printf '\n%s$ %s%s%s\n' "$bold" "$1" "$plain" "${2:+  ($2)}"
  eval "$1"
}
# say TEXT: a comment between the commands.
say() { printf '\n# %s\n' "$1"; }

run scripts/deps.sh
run scripts/build.sh
ctl=build/cli/keepalivectl
policyd=build/daemon/keepalive-policyd

# shellcheck disable=SC2016 # run evals it
run 'root=$(mktemp -d /tmp/keepalive-demo.XXXXXX)'
# Every path below is under $root: refuse to go on without one.
[[ -n $root && $root == /tmp/keepalive-demo.* && -d $root ]] || exit 1
daemon_pid=
bus_pid=
cleanup() {
  [[ -z $bus_pid ]] || kill "$bus_pid" 2>/dev/null || true
  if [[ -n $daemon_pid ]]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT
run "chmod 0755 $root"
run "install -d -m 0755 $root/etc $root/etc/keepalive-policy $root/etc/keepalive-policy/policy.d"
run "install -m 0644 examples/policy.yaml $root/etc/keepalive-policy/policy.yaml"

run "$ctl validate --root $root"
run "$ctl render --root $root --host web-1.example.com"
run "$ctl render --root $root --host db-1.example.com --explain"
run "$ctl advise --idle-timeout 10m"

say "A bad push is refused with file, line and column, and what to write instead."
bad="$root/etc/keepalive-policy/policy.d/50-bad.yaml"
run "printf 'version: 1\\nnetwork: {idle_timeout: 5m}\\nserver: {client_alive_interval: 298, client_alive_count_max: 50}\\n' >$bad"
if run "$ctl validate --root $root" "a bad fragment: expected to fail"; then
  echo "demo: the bad fragment was accepted" >&2
  exit 1
fi
run "rm $bad"

say "A host to enforce on: sshd and ssh configured as Debian does, under the demo root."
run "install -d -m 0755 $root/etc/ssh $root/etc/ssh/sshd_config.d $root/etc/ssh/ssh_config.d $root/run"
run "ssh-keygen -q -t ed25519 -N '' -f $root/etc/ssh/ssh_host_ed25519_key"
run "printf 'Include %s/etc/ssh/sshd_config.d/*.conf\\nHostKey %s/etc/ssh/ssh_host_ed25519_key\\nPidFile %s/run/sshd.pid\\nListenAddress 127.0.0.1:2222\\n' $root $root $root >$root/etc/ssh/sshd_config"
run "printf 'Include %s/etc/ssh/ssh_config.d/*.conf\\n' $root >$root/etc/ssh/ssh_config"
# sshd -t wants its privilege separation directory.
[[ -d /run/sshd ]] || run "install -d -m 0755 /run/sshd"

say "A user whose ~/.ssh/config is group- and world-writable, as umask or a dotfile copy leave it."
run "printf 'root:x:0:0:root:/root:/bin/bash\\nalice:x:41000:41000::/home/alice:/bin/sh\\n' >$root/etc/passwd"
run "install -d -m 0755 -o 41000 -g 41000 $root/home $root/home/alice"
run "install -d -m 0700 -o 41000 -g 41000 $root/home/alice/.ssh"
run "printf 'Host *\\n  ServerAliveInterval 60\\n' >$root/home/alice/.ssh/config"
run "chown 41000:41000 $root/home/alice/.ssh/config"
run "chmod 0666 $root/home/alice/.ssh/config"

say "A private system bus for keepalivectl: configured as Debian's system bus, with our bus policy (units/org.keepalivepolicy1.conf) included."
run "cat >$root/bus.conf <<'EOF'
<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"
 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">
<busconfig>
  <type>system</type>
  <listen>unix:path=$root/run/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context=\"default\">
    <allow user=\"*\"/>
    <deny own=\"*\"/>
    <deny send_type=\"method_call\"/>
    <allow send_type=\"signal\"/>
    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>
    <allow send_requested_reply=\"true\" send_type=\"error\"/>
    <allow receive_type=\"*\"/>
    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>
    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>
    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>
  </policy>
  <include>$PWD/units/org.keepalivepolicy1.conf</include>
</busconfig>
EOF"
run "bus_pid=\$(dbus-daemon --config-file=$root/bus.conf --fork --print-pid)"
run "export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$root/run/bus"

log="$root/daemon.log"
# Polls the daemon's log for TEXT (at least COUNT times) with a deadline (the harness's wait_for).
log_has() { (($(grep -cF -- "$1" "$log" || true) >= ${2:-1})); }
wait_log() {
  wait_for 10 log_has "$@" && return 0
  echo "demo: timed out waiting for: $1" >&2
  cat "$log" >&2
  exit 1
}

say "The daemon on the demo root, in the background; its log goes to $log (shown at the end)."
run "$policyd --root $root --foreground --unit none --host web-1 >$log 2>&1 &"
daemon_pid=$!
wait_log "state ok:"
wait_log "users: 1 covered"
run "$ctl status"
say "users.action is report in the example: the journal and users say what enforce would fix."
run "$ctl users"
run "cat $root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
run "/usr/sbin/sshd -T -f $root/etc/ssh/sshd_config -C user=root,host=x,addr=192.0.2.1 | grep -E '^clientalive'"

say "Ansible pushes a new policy by rename:"
run "sed 's/client_alive_interval: 2m /client_alive_interval: 90s/' examples/policy.yaml >$root/etc/keepalive-policy/.policy.yaml.tmp"
run "mv $root/etc/keepalive-policy/.policy.yaml.tmp $root/etc/keepalive-policy/policy.yaml"
wait_log "(policy changed): applied"
run "grep ClientAliveInterval $root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"

say "Someone deletes the drop-in; someone else adds a file that shadows it:"
run "rm $root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
wait_log "drop-ins restored"
run "printf 'ClientAliveInterval 0\\n' >$root/etc/ssh/sshd_config.d/00-aaa.conf"
wait_log "state shadowed:"
run "rm $root/etc/ssh/sshd_config.d/00-aaa.conf"
wait_log "no file shadows the policy any more"

say "A bad policy arrives; the last good one stays in force:"
run "printf 'version: 1\\nserver: {client_alive_interval: yes}\\n' >$bad"
wait_log "state policy-invalid:"
run "$ctl status"
run "rm $bad"

say "The admin switches users.action to enforce: alice's config is repaired at once."
run "sed 's/action: report /action: enforce/' examples/policy.yaml >$root/etc/keepalive-policy/.policy.yaml.tmp"
run "mv $root/etc/keepalive-policy/.policy.yaml.tmp $root/etc/keepalive-policy/policy.yaml"
wait_log 'repaired "/home/alice/.ssh" of alice'
run "stat -c '%A uid %u %n' $root/home/alice/.ssh/config"
run "$ctl users"
run "kill $daemon_pid"
wait "$daemon_pid" || true
daemon_pid=

say "The daemon's log:"
run "cat $log"
