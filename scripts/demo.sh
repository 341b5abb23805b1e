#!/bin/bash
# The main job on a throwaway root: install dependencies, build, validate and render the example
# policy, then run keepalive-policyd on that root with the real sshd -t / sshd -T and ssh -G and a
# private system bus. It installs the drop-ins, shows `keepalivectl status` and `users`, applies a
# policy pushed by rename, restores a deleted drop-in, reports a shadowing file, keeps the last
# good policy when a bad one arrives, and repairs a user's world-writable ~/.ssh/config. Reloads are off
# (--unit none), so this host's sshd is never touched; tests/system shows the reload against a
# real systemd. Nothing outside the throwaway root (and ./build) changes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/lib/harness.sh
. tests/lib/harness.sh   # wait_for
scripts/deps.sh
scripts/build.sh
ctl=build/cli/keepalivectl
policyd=build/daemon/keepalive-policyd

root=$(mktemp -d /tmp/keepalive-demo.XXXXXX)
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
chmod 0755 "$root"
install -d -m 0755 "$root/etc" "$root/etc/keepalive-policy" "$root/etc/keepalive-policy/policy.d"
install -m 0644 examples/policy.yaml "$root/etc/keepalive-policy/policy.yaml"
echo "Demo root: $root"

step() {
  printf '\n\033[1m$ %s\033[0m\n' "$*"
  "$@"
}
step $ctl validate --root "$root"
step $ctl render --root "$root" --host web-1.example.com
step $ctl render --root "$root" --host db-1.example.com --explain
step $ctl advise --idle-timeout 10m

# A bad push is refused with file, line and column, and what to write instead.
bad="$root/etc/keepalive-policy/policy.d/50-bad.yaml"
printf 'version: 1\nnetwork: {idle_timeout: 5m}\nserver: {client_alive_interval: 298, client_alive_count_max: 50}\n' >"$bad"
printf '\n\033[1m$ %s\033[0m  (a bad fragment: expected to fail)\n' "$ctl validate --root $root"
if $ctl validate --root "$root"; then
  echo "demo: the bad fragment was accepted" >&2
  exit 1
fi
rm "$bad"

# A host to enforce on: sshd and ssh configured as Debian does, under the demo root.
install -d -m 0755 "$root/etc/ssh" "$root/etc/ssh/sshd_config.d" "$root/etc/ssh/ssh_config.d" "$root/run"
ssh-keygen -q -t ed25519 -N "" -f "$root/etc/ssh/ssh_host_ed25519_key"
printf 'Include %s/etc/ssh/sshd_config.d/*.conf\nHostKey %s/etc/ssh/ssh_host_ed25519_key\nPidFile %s/run/sshd.pid\nListenAddress 127.0.0.1:2222\n' \
  "$root" "$root" "$root" >"$root/etc/ssh/sshd_config"
printf 'Include %s/etc/ssh/ssh_config.d/*.conf\n' "$root" >"$root/etc/ssh/ssh_config"
[[ -d /run/sshd ]] || install -d -m 0755 /run/sshd # sshd -t wants its privilege separation dir

# A user whose ~/.ssh/config is group- and world-writable, as umask or a dotfile copy leave it.
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:41000:41000::/home/alice:/bin/sh\n' \
  >"$root/etc/passwd"
install -d -m 0755 -o 41000 -g 41000 "$root/home" "$root/home/alice"
install -d -m 0700 -o 41000 -g 41000 "$root/home/alice/.ssh"
printf 'Host *\n  ServerAliveInterval 60\n' >"$root/home/alice/.ssh/config"
chown 41000:41000 "$root/home/alice/.ssh/config"
chmod 0666 "$root/home/alice/.ssh/config"

# A private system bus for `keepalivectl status`: configured as Debian's system bus, with our bus
# policy (units/org.keepalivepolicy1.conf) included.
printf '%s\n' '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"' \
  ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">' '<busconfig>' \
  '<type>system</type>' "<listen>unix:path=$root/run/bus</listen>" '<auth>EXTERNAL</auth>' \
  '<policy context="default"><allow user="*"/><deny own="*"/><deny send_type="method_call"/>' \
  '<allow send_type="signal"/><allow send_requested_reply="true" send_type="method_return"/>' \
  '<allow send_requested_reply="true" send_type="error"/><allow receive_type="*"/>' \
  '<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>' \
  '<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>' \
  '<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>' \
  '</policy>' "<include>$PWD/units/org.keepalivepolicy1.conf</include>" '</busconfig>' \
  >"$root/bus.conf"
bus_pid=$(dbus-daemon --config-file="$root/bus.conf" --fork --print-pid)
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$root/run/bus

log="$root/daemon.log"
# Polls the daemon's log for TEXT (at least COUNT times) with a deadline (the harness's wait_for).
log_has() { (($(grep -cF -- "$1" "$log" || true) >= ${2:-1})); }
wait_log() {
  wait_for 10 log_has "$@" && return 0
  echo "demo: timed out waiting for: $1" >&2
  cat "$log" >&2
  exit 1
}

printf '\n\033[1m$ %s\033[0m\n' "keepalive-policyd --root $root --foreground --unit none --host web-1"
$policyd --root "$root" --foreground --unit none --host web-1 >"$log" 2>&1 &
daemon_pid=$!
wait_log "state ok:"
wait_log "users: 1 covered"
step $ctl status
printf '\n# users.action is report in the example: the journal and `users` say what enforce would fix.\n'
step $ctl users
step cat "$root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
step /usr/sbin/sshd -T -f "$root/etc/ssh/sshd_config" -C user=root,host=x,addr=192.0.2.1 |
  grep -E '^clientalive'

printf '\n# Ansible pushes a new policy by rename:\n'
sed 's/client_alive_interval: 2m /client_alive_interval: 90s/' examples/policy.yaml \
  >"$root/etc/keepalive-policy/.policy.yaml.tmp"
mv "$root/etc/keepalive-policy/.policy.yaml.tmp" "$root/etc/keepalive-policy/policy.yaml"
wait_log "(policy changed): applied"
step grep ClientAliveInterval "$root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"

printf '\n# Someone deletes the drop-in; someone else adds a file that shadows it:\n'
rm "$root/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
wait_log "drop-ins restored"
printf 'ClientAliveInterval 0\n' >"$root/etc/ssh/sshd_config.d/00-aaa.conf"
wait_log "state shadowed:"
rm "$root/etc/ssh/sshd_config.d/00-aaa.conf"
wait_log "no file shadows the policy any more"

printf '\n# A bad policy arrives; the last good one stays in force:\n'
printf 'version: 1\nserver: {client_alive_interval: yes}\n' >"$bad"
wait_log "state policy-invalid:"
step $ctl status
rm "$bad"

printf '\n# The admin switches users.action to enforce: alice'"'"'s config is repaired at once.\n'
sed 's/action: report /action: enforce/' examples/policy.yaml >"$root/etc/keepalive-policy/.policy.yaml.tmp"
mv "$root/etc/keepalive-policy/.policy.yaml.tmp" "$root/etc/keepalive-policy/policy.yaml"
wait_log 'repaired "/home/alice/.ssh" of alice'
step stat -c '%A uid %u %n' "$root/home/alice/.ssh/config"
step $ctl users
kill "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=

printf '\n# The daemon'"'"'s log:\n'
cat "$log"
