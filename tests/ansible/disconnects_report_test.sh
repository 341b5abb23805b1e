#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# disconnects_report_test.sh - contrib/ansible/disconnects-report.yml with Debian's ansible-core,
# on three inventory hosts that are all this machine (connection local), each with a fake
# keepalivectl that prints a fixed `disconnects --json` list (or fails, as a host whose
# keepalivectl has no such verb). It proves:
#   1. the playbook parses (--syntax-check);
#   2. each host is asked `keepalivectl disconnects --json --since 24h` (and --since 1h, --cause
#      ... when given);
#   3. the report holds every host's events, each tagged with its host and otherwise as the host
#      printed it, newest first; counts per cause and network; the failing host under "hosts"
#      with its error, without failing the play; the file's mode 0600;
#   4. a second run with --check writes the report all the same (it changes no host).
# Needs ansible-playbook (ansible-core) and python3; no root, nothing outside a temporary
# directory. Exit 77 (skipped) without ansible-playbook.
# Output: "ok - ..." / "not ok - ..." per check; the last line is "N passed, M failed".

set -u
export LC_ALL=C.UTF-8   # ansible-playbook refuses any other encoding
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PLAYBOOK=$SRC/contrib/ansible/disconnects-report.yml

if ! command -v ansible-playbook >/dev/null; then
    echo "# ansible-playbook is missing: skipped (scripts/deps.sh installs ansible-core)"
    exit 77
fi

passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

T=$(mktemp -d /tmp/kp-disconnects-report.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/home"
export HOME=$T/home ANSIBLE_LOCAL_TEMP=$T/home/.ansible/tmp ANSIBLE_NOCOLOR=1
export ANSIBLE_CONFIG=$SRC/contrib/ansible/ansible.cfg

# h1 finds this one on PATH; it records how it was called.
cat >"$T/bin/keepalivectl" <<EOF
#!/bin/sh
echo "\$*" >>"$T/calls-h1"
cat <<'JSON'
[{"time": "2026-12-07T10:11:12Z", "user": "alice", "address": "10.20.3.4", "port": 50122,
  "network": "branch-nat", "cause": "keepalive-timeout", "duration_seconds": 3605},
 {"time": "2026-12-07T08:00:00Z", "user": "bob", "address": "192.0.2.7", "port": 40000,
  "network": "default", "cause": "logout", "duration_seconds": null}]
JSON
EOF
# h2's, through the playbook's disconnects_keepalivectl.
cat >"$T/bin/keepalivectl-h2" <<EOF
#!/bin/sh
echo "\$*" >>"$T/calls-h2"
echo '[{"time": "2026-12-07T11:00:00Z", "user": "carol", "address": "10.20.9.9", "port": 2222, "network": "branch-nat", "cause": "keepalive-timeout", "duration_seconds": 60}]'
EOF
# h3: an older keepalivectl without the verb.
cat >"$T/bin/keepalivectl-h3" <<'EOF'
#!/bin/sh
echo "keepalivectl: unknown verb 'disconnects'; run keepalivectl help" >&2
exit 2
EOF
chmod 0755 "$T/bin/"*
PY=$(command -v python3)
cat >"$T/hosts.yml" <<EOF
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $PY
  hosts:
    h1:
    h2:
      disconnects_keepalivectl: $T/bin/keepalivectl-h2
    h3:
      disconnects_keepalivectl: $T/bin/keepalivectl-h3
EOF

run_play() {
    PATH=$T/bin:$PATH ansible-playbook -i "$T/hosts.yml" "$PLAYBOOK" \
        -e disconnects_become=false -e "disconnects_report=$T/report.json" "$@" >"$T/play.log" 2>&1
}

syntax_check() { ansible-playbook -i "$T/hosts.yml" --syntax-check "$PLAYBOOK" >/dev/null; }
check "the playbook parses" syntax_check

run_play
rc=$?
check "the play succeeds although h3 cannot answer (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# /' "$T/play.log"
check "h1 was asked: disconnects --json --since 24h" \
    test "$(cat "$T/calls-h1" 2>/dev/null)" = "disconnects --json --since 24h"
check "h2 was asked through disconnects_keepalivectl" \
    test "$(cat "$T/calls-h2" 2>/dev/null)" = "disconnects --json --since 24h"
check "the report is mode 0600" test "$(stat -c %a "$T/report.json" 2>/dev/null)" = 600

# The merged report, field by field.
if python3 - "$T/report.json" <<'EOF'; then ok "the report merges every host's events, tagged by host, newest first"; else not_ok "the report merges every host's events, tagged by host, newest first"; fi
import json, sys
r = json.load(open(sys.argv[1]))
want_events = [
    {"host": "h2", "time": "2026-12-07T11:00:00Z", "user": "carol", "address": "10.20.9.9",
     "port": 2222, "network": "branch-nat", "cause": "keepalive-timeout", "duration_seconds": 60},
    {"host": "h1", "time": "2026-12-07T10:11:12Z", "user": "alice", "address": "10.20.3.4",
     "port": 50122, "network": "branch-nat", "cause": "keepalive-timeout",
     "duration_seconds": 3605},
    {"host": "h1", "time": "2026-12-07T08:00:00Z", "user": "bob", "address": "192.0.2.7",
     "port": 40000, "network": "default", "cause": "logout", "duration_seconds": None},
]
problems = []
if r.get("since") != "24h":
    problems.append("since %r" % r.get("since"))
if r.get("events") != want_events:
    problems.append("events %s" % json.dumps(r.get("events"), indent=1))
if r.get("counts") != [{"cause": "keepalive-timeout", "network": "branch-nat", "events": 2},
                       {"cause": "logout", "network": "default", "events": 1}]:
    problems.append("counts %s" % json.dumps(r.get("counts")))
hosts = r.get("hosts", {})
if hosts.get("h1") != {"events": 2} or hosts.get("h2") != {"events": 1}:
    problems.append("hosts %s" % json.dumps(hosts))
if "unknown verb 'disconnects'" not in hosts.get("h3", {}).get("error", ""):
    problems.append("h3 %s" % json.dumps(hosts.get("h3")))
for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
EOF
check "the summary counts causes per network and names the host without an answer" \
    grep -q '3 session ends since 24h (2 keepalive-timeout on branch-nat, 1 logout on default); answered: 2 hosts, no answer: h3' "$T/play.log"

# Options pass through; --check still writes the report.
rm -f "$T/calls-h1" "$T/report.json"
run_play --check -e disconnects_since=1h -e '{"disconnects_filter": ["--cause", "keepalive-timeout"]}'
check "--check runs too, with --since 1h and the filter passed on" \
    test "$(cat "$T/calls-h1" 2>/dev/null)" = "disconnects --json --since 1h --cause keepalive-timeout"
check "--check writes the report" python3 -c '
import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["since"] != "1h" or len(r["events"]) != 3)' "$T/report.json"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
