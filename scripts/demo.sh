#!/bin/bash
# The main job on a throwaway root: install dependencies, build, then validate and render the
# example policy exactly as keepalive-policyd would for this host and for a database host.
# Nothing outside the throwaway root (and ./build) is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ctl=build/cli/keepalivectl

root=$(mktemp -d /tmp/keepalive-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
install -d "$root/etc/keepalive-policy/policy.d"
install -m 0644 examples/policy.yaml "$root/etc/keepalive-policy/policy.yaml"
echo "Demo root: $root"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step $ctl validate --root "$root"
step $ctl render --root "$root" --host web-1.example.com
step $ctl render --root "$root" --host db-1.example.com --explain
step $ctl advise --idle-timeout 10m

# A bad push is refused with file, line and column, and what to write instead.
cat > "$root/etc/keepalive-policy/policy.d/50-bad.yaml" <<'YAML'
version: 1
network: {idle_timeout: 5m}
server: {client_alive_interval: 298, client_alive_count_max: 50}
YAML
printf '\n\033[1m$ %s\033[0m  (a bad fragment: expected to fail)\n' "$ctl validate --root $root"
if $ctl validate --root "$root"; then
  echo "demo: the bad fragment was accepted" >&2
  exit 1
fi
