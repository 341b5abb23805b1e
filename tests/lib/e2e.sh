# SPDX-License-Identifier: GPL-2.0-or-later
# e2e.sh - what the NAT lab tests (tests/e2e/*.sh) share on top of harness.sh: their finish(),
# failure dumps, time formatting and preflight. Source after harness.sh; call e2e_preflight TAG
# [COMMAND...] once harness_begin has run.

finish() {
    cleanup
    local left
    left=$(netns_leftovers)
    if [ -n "$left" ]; then not_ok "cleanup left: $left"; else ok "cleanup: no namespace or process left"; fi
    report
}
# ms_between US1 US2: milliseconds from US1 to US2 (now_us, and the stamps of spawn_logged's logs)
ms_between() { echo $((($2 - $1) / 1000)); }
# fmt_s MS: "12.345"
fmt_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# offsets_s FROM US...: "+4.002 +8.004", each stamp's offset from FROM
offsets_s() {
    local from=$1 t out=; shift
    for t in "$@"; do out+="+$(fmt_s $(((t - from) / 1000))) "; done
    echo "${out% }"
}
# dump LOG...: on failure, the end of each log, for CI.
dump() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        echo "# ---- last lines of ${f#"$WORK"/}:"
        tail -n 25 "$f" | sed 's/^/#   /'
    done
}
# fatal MESSAGE [LOG...]: a step without which the rest means nothing.
fatal() {
    local m=$1; shift
    not_ok "$m"
    dump "$@"
    finish
}
# e2e_preflight TAG [COMMAND...]: root, the binaries, the lab's commands (and COMMANDs), then
# the namespaces a killed earlier run of TAG left behind are reaped.
e2e_preflight() {
    local tag=$1 b c; shift
    [ "$(id -u)" = 0 ] || fatal "must run as root (network namespaces, sshd)"
    for b in "$DAEMON_BIN" "$CTL_BIN" "$SSHD_BIN" "$SSH_BIN"; do
        [ -x "$b" ] || fatal "missing $b (build keepalive-policyd and keepalivectl; install openssh)"
    done
    for c in ip nft conntrack ss ssh-keygen pgrep "$@"; do
        command -v "$c" >/dev/null || fatal "missing $c (scripts/deps.sh installs it)"
    done
    netns_reap_stale "$tag"
}
