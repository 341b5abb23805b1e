#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# keepalivectl's bash and zsh completion as the build generated them from the table of verbs and
# options (cli/completion.h): each loads the way its shell finds it once installed
# (bash-completion's loader, zsh's compinit and fpath) and completes verbs, options, users,
# policy files and disconnect causes. The zsh half types into a real interactive zsh (zsh/zpty).
# Usage: completion_test.sh COMPLETION_DIR KEEPALIVECTL. Exit 77 (skipped) when zsh or
# bash-completion is missing (scripts/deps.sh installs both).
set -u
DIR=$1
CTL=$2
fail=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

BASH_COMPLETION=/usr/share/bash-completion/bash_completion
if [[ ! -r $BASH_COMPLETION ]] || ! command -v zsh >/dev/null; then
    echo "# skipped: needs bash-completion and zsh"
    exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The verbs, as keepalivectl --help lists them.
verbs=$("$CTL" --help | awk '/^Verbs:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' | sort)
check "keepalivectl --help lists verbs" test -n "$verbs"

# ---- bash ----
# Installed as bash-completion's completions/keepalivectl, loaded on demand by its loader.
mkdir -p "$WORK/bash/completions" "$WORK/files/sub"
cp "$DIR/keepalivectl" "$WORK/bash/completions/keepalivectl"
touch "$WORK/files/a.yaml" "$WORK/files/b.txt"

# bash_complete WORD...: runs the completion function as bash does for `keepalivectl WORD...`,
# the last word being completed, and prints COMPREPLY one a line, sorted.
bash_complete() {
    (cd "$WORK/files" && BASH_COMPLETION_USER_DIR="$WORK/bash" bash --norc --noprofile -c '
        source "$0"
        __load_completion keepalivectl || exit 1
        COMP_WORDS=(keepalivectl "$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        fn=$(complete -p keepalivectl | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
        "$fn" keepalivectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' "$BASH_COMPLETION" "$@") | sed '/^$/d' | sort
}

loaded=$(cd / && BASH_COMPLETION_USER_DIR="$WORK/bash" bash --norc --noprofile -c \
    'source "$0"; __load_completion keepalivectl; complete -p keepalivectl' "$BASH_COMPLETION")
check "bash: bash-completion loads it: $loaded" test "$loaded" = "complete -F _keepalivectl keepalivectl"
check "bash: keepalivectl <TAB> lists exactly the verbs" test "$(bash_complete '')" = "$verbs"
check "bash: keepalivectl st<TAB> is status" test "$(bash_complete st)" = status
check "bash: keepalivectl --v<TAB>: --verbose, --version" \
    test "$(bash_complete --v)" = "$(printf -- '--verbose\n--version')"
check "bash: keepalivectl --verbose re<TAB>: reload, render" \
    test "$(bash_complete --verbose re)" = "$(printf 'reload\nrender')"
check "bash: users --no<TAB>: --no-pager, --noncompliant" \
    test "$(bash_complete users --no)" = "$(printf -- '--no-pager\n--noncompliant')"
check "bash: probe --l<TAB> is --ladder" test "$(bash_complete probe --l)" = --ladder
check "bash: users ro<TAB> is root" test "$(bash_complete users ro)" = root
check "bash: disconnects --user ro<TAB> is root" test "$(bash_complete disconnects --user ro)" = root
check "bash: disconnects --cause <TAB> lists the causes" \
    test "$(bash_complete disconnects --cause '' | tr '\n' ' ')" = \
    "broken-pipe closed keepalive-timeout logout reset timed-out unknown "
check "bash: disconnects --cause=k<TAB> is keepalive-timeout" \
    test "$(bash_complete disconnects --cause = k)" = keepalive-timeout
check "bash: validate <TAB>: *.yaml files and directories" \
    test "$(bash_complete validate '')" = "$(printf 'a.yaml\nsub')"
check "bash: render --root <TAB>: directories" test "$(bash_complete render --root '')" = sub
check "bash: advise --baseline <TAB>: stig, cis, lynis" \
    test "$(bash_complete advise --baseline '' | tr '\n' ' ')" = "cis lynis stig "
check "bash: help re<TAB>: reload, render" test "$(bash_complete help re)" = "$(printf 'reload\nrender')"

# ---- zsh ----
# Installed as _keepalivectl in a directory of fpath, found by compinit.
mkdir -p "$WORK/zsh/site" "$WORK/zsh/home"
cp "$DIR/_keepalivectl" "$WORK/zsh/site/_keepalivectl"
zsh_defined=$(ZDOTDIR="$WORK/zsh/home" zsh -f -c '
    fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2/zcompdump"
    print -r -- "$_comps[keepalivectl]"' _ "$WORK/zsh/site" "$WORK/zsh/home")
check "zsh: compinit maps keepalivectl to _keepalivectl: $zsh_defined" test "$zsh_defined" = _keepalivectl

# zsh_complete LINE: types LINE and a TAB into an interactive zsh on a pty and prints what the
# completion listed or inserted (the pty's output, escapes removed), reading until the shell
# answers the command typed after it (a deadline of 10 s, no fixed wait).
zsh_complete() {
    ZDOTDIR="$WORK/zsh/home" zsh -f -c '
        zmodload zsh/zpty || exit 1
        zpty -b z zsh -f -i
        zpty -w z "PS1=\"PROMPT> \"; unsetopt beep; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -d $2/zcompdump; zstyle \":completion:*\" list-prompt \"\"; zstyle \":completion:*\" menu no; LISTMAX=1000; cd $3"
        zpty -w z "print REA\"\"DY"
        out=
        while zpty -r -t z line; do :; done
        typeset -F SECONDS=0
        until [[ $out == *READY* ]] || (( SECONDS > 10 )); do zpty -r -t z line && out+=$line; done
        # The line and a TAB, then (the listing printed) Ctrl-U and a command whose output,
        # unlike its echo, says the shell got past the completion.
        zpty -w -n z "$4"$'"'"'\t'"'"'
        zpty -w z $'"'"'\x15print DO""NE'"'"'
        out=
        typeset -F SECONDS=0
        until [[ $out == *DONE* ]] || (( SECONDS > 10 )); do zpty -r -t z line && out+=$line; done
        print -r -- "$out"
        zpty -d z' _ "$WORK/zsh/site" "$WORK/zsh/home" "$WORK/files" "$1" |
        sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\r//g'
}

out=$(zsh_complete 'keepalivectl ')
missing=''
for v in $verbs; do grep -qE -- "(^|[^a-z-])$v +-- " <<< "$out" || missing+=" $v"; done
check "zsh: keepalivectl <TAB> lists every verb${missing:+ (missing:$missing)}" test -z "$missing"
check "zsh: keepalivectl <TAB> describes them" grep -q 'check policy files' <<< "$out"
check "zsh: keepalivectl stat<TAB> completes status" grep -q 'keepalivectl status' <<< "$(zsh_complete 'keepalivectl stat')"
out=$(zsh_complete 'keepalivectl disconnects --cause ')
check "zsh: disconnects --cause <TAB> lists the causes" \
    sh -c 'grep -q keepalive-timeout <<EOT && grep -q broken-pipe <<EOT2
$1
EOT
$1
EOT2' _ "$out"
check "zsh: users --no<TAB>: --no-pager and --noncompliant" \
    sh -c 'echo "$1" | grep -q -- --no-pager && echo "$1" | grep -q -- --noncompliant' _ \
    "$(zsh_complete 'keepalivectl users --no')"
check "zsh: validate <TAB> offers a.yaml, not b.txt" \
    sh -c 'echo "$1" | grep -q a.yaml && ! echo "$1" | grep -q b.txt' _ "$(zsh_complete 'keepalivectl validate ')"

echo "1..$n"
exit $fail
