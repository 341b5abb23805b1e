# Sourced by the system tests once TEST_NAME and TSD are set: the TAP-like counters and checks,
# timing, the sandbox's cleanup and the traps. Each test defines finish(), which calls
# journal_on_failure, cleanup and report.
# shellcheck shell=bash

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {  # check DESCRIPTION CMD...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
info() { echo "# $*"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
t_start=$(now_ms)

WORK='' STATE='' cleaned=''
cleanup() {
    [ -n "$cleaned" ] && return 0
    cleaned=1
    if [ -n "$STATE" ]; then
        if [ -n "${KP_KEEP_LOG:-}" ] && "$TSD" status "$STATE" >/dev/null 2>&1; then
            timeout 20 "$TSD" exec "$STATE" journalctl -b --no-pager -o short-precise \
                > "$KP_KEEP_LOG" 2>&1
        fi
        "$TSD" stop "$STATE" >&2 || echo "$TEST_NAME: stopping the sandbox failed" >&2
    fi
    # The sandbox's mounts lived in its own mount namespace, gone now: plain directories remain.
    if [ -n "$WORK" ] && [ -d "$WORK" ] && ! grep -qF "$WORK" /proc/self/mountinfo; then
        rm -rf -- "$WORK"
    fi
}

# journal_on_failure LINES UNIT...: after a failed check, the end of those units' journals.
journal_on_failure() {
    local n=$1 u args=()
    shift
    [ "$failed" -gt 0 ] && [ -n "$STATE" ] && "$TSD" status "$STATE" >/dev/null 2>&1 || return 0
    for u; do args+=(-u "$u"); done
    info "journal of $* (last $n lines):"
    timeout 20 "$TSD" exec "$STATE" journalctl --no-pager -o short-precise "${args[@]}" 2>&1 |
        grep -v -e kex_exchange_identification -e 'Connection closed by' |
        tail -n "$n" | cut -c1-400 | sed 's/^/#   /'
}

# report [DETAIL]: the total time and the counts; exits 0 only when something passed and
# nothing failed.
report() {
    local t=$(($(now_ms) - t_start))
    info "total time $((t / 1000)).$((t % 1000 / 100))s${1:+ ($1)}"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
    exit
}

trap cleanup EXIT
trap 'echo "$TEST_NAME: interrupted" >&2; finish' INT TERM HUP
