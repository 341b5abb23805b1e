#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs clang-tidy 14 with the repository's .clang-tidy (the project's names and bugprone-*) over
# the C++ files changed since a base commit, or over every C++ file with --all, and fails on any
# finding (.clang-tidy makes every warning an error). CI runs it from scripts/test.sh right after
# the build; docs/testing.md describes it.
#
#   scripts/tidy.sh              the files changed since the merge-base of HEAD and scripts/tidy-base
#   scripts/tidy.sh BASE         the files changed since the merge-base of HEAD and BASE (a commit;
#                                without that history, a shallow clone, every file)
#   scripts/tidy.sh --all        every C++ file
#   scripts/tidy.sh FILE...      those files (paths inside the tree)
#
# "Changed" compares BASE with the working tree, so uncommitted edits count too; deleted files do
# not. A changed header is analysed in the first translation unit that includes it (from the
# compiler's dependency files in the build directory); only findings in the files judged count,
# so an untouched file never fails someone else's change.
#
# Environment:
#   KEEPALIVE_TIDY_BASE       the base commit (instead of the argument or scripts/tidy-base)
#   KEEPALIVE_BUILD_DIR       the configured and built build directory, default <repo>/build
#                             (scripts/build.sh; CMake writes compile_commands.json there)
#   KEEPALIVE_FUZZ_BUILD_DIR  where the libFuzzer harnesses are configured, default <repo>/build-fuzz
#                             (configured, not built, when one of them is judged and it is missing)
#   KEEPALIVE_TIDY_JOBS       parallel clang-tidy processes, default nproc
#
# Not judged, on purpose:
#   - *.c: tests/fault/fault_shim.c, tests/hang/hangfs.c and tests/sanitize/sanitizer_defaults.c
#     are C, and their names are libc's, FUSE's and the sanitizers' (interposed or required hooks);
#   - the build directories: the sdbus-c++-xml2cpp glue is generated from the D-Bus XML, never
#     edited (the header filter below reaches only the tree's own directories).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${KEEPALIVE_BUILD_DIR:-$root/build}
fuzz_build=${KEEPALIVE_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${KEEPALIVE_TIDY_JOBS:-$(nproc)}
tidy=clang-tidy-14
# The directories whose headers are the project's own (never build*/ nor the system's).
project_dirs='policy|daemon|cli|tests|bench'

die() { echo "tidy.sh: $*" >&2; exit 2; }
command -v "$tidy" >/dev/null || die "$tidy not found (scripts/deps.sh installs clang-tidy-14)"
[[ -f $build/compile_commands.json ]] ||
  die "no $build/compile_commands.json: configure and build first (scripts/build.sh)"

judged() {  # judged PATH: a C++ file of the tree that this script checks
  [[ $1 =~ ^($project_dirs)/.*\.(cpp|h)$ ]]
}

# ------------------------------------------------------------------------ which files --
files=()
all() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- '*.cpp' '*.h')
  else
    mapfile -t files < <(find policy daemon cli tests bench -name '*.cpp' -o -name '*.h')
  fi
  what="every C++ file"
}
case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  --all) ;;
  -*) die "unknown option '$1' (--all, a base commit or files; --help)" ;;
esac
if [[ ${1:-} == --all ]]; then
  all
elif [[ $# -gt 0 && -e $1 ]]; then
  files=("$@")
  what="the files given"
else
  base=${1:-${KEEPALIVE_TIDY_BASE:-}}
  if [[ -z $base ]]; then
    read -r base < scripts/tidy-base || die "scripts/tidy-base is missing"
  fi
  if git rev-parse -q --verify "$base^{commit}" >/dev/null 2>&1 &&
    merge_base=$(git merge-base HEAD "$base" 2>/dev/null); then
    mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$merge_base" -- '*.cpp' '*.h')
    what="the C++ files changed since $(git rev-parse --short "$merge_base")"
  else
    # A shallow clone, a tarball: what changed is unknown, so nothing is taken on trust.
    echo "tidy.sh: no merge-base with '$base' here (a shallow clone or no git?): checking every file"
    all
  fi
fi
targets=()
for f in "${files[@]}"; do
  f=${f#./}
  judged "$f" && [[ -f $f ]] && targets+=("$f")
done
if ((${#targets[@]} == 0)); then
  echo "tidy.sh: no C++ file to check among $what"
  exit 0
fi

# ---------------------------------------------- translation units and their databases --
in_db() { grep -qF "\"file\": \"$root/$1\"" "$2/compile_commands.json"; }
# includer HEADER: the first source file whose object depends on HEADER, from the compiler's
# dependency files (*.o.d) of the build; the source of the same name first when it has one.
# Prints nothing when no source includes it.
includer() {
  local h=$root/$1 same=${1%.h}.cpp base=${1##*/} d deps dep
  if [[ -f $same ]] && in_db "$same" "$build"; then echo "$same"; return; fi
  # a depfile is "OBJECT: SOURCE HEADER...", continued over lines ending in a backslash, and
  # its paths are as the compiler joined them ("daemon/user_block/../user_block/x.h")
  for d in $(grep -rlF --include='*.o.d' -- "/$base" "$build" 2>/dev/null | sort | head -n 50); do
    deps=$(sed 's/\\$//' "$d" | tr '\n' ' ' | sed 's/^[^:]*: *//')
    for dep in $deps; do
      if [[ $dep == */"$base" && $(realpath -m "$dep") == "$h" ]]; then
        awk '{ print $1 }' <<< "$deps" | sed "s|^$root/||"
        return
      fi
    done
  done
  # not built here (the fuzz harnesses' headers): a source that names it in an #include
  grep -rlE --include='*.cpp' "^#include [\"<]([^\">]*/)?${base//./\\.}[\">]" ${project_dirs//|/ } 2>/dev/null |
    sort | head -n 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/keepalive-tidy.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '%s\n' "${targets[@]/#/$root/}" > "$work/judged"
: > "$work/units"
for f in "${targets[@]}"; do
  if [[ $f == *.h ]]; then
    if u=$(includer "$f") && [[ -n $u ]]; then
      f=$u
    else
      echo "tidy.sh: $f: no translation unit of $build includes it; checked on its own"
    fi
  fi
  db=$build
  if [[ $f == tests/fuzz/* ]] && ! in_db "$f" "$build"; then
    # the harnesses are configured only with -DKEEPALIVE_FUZZ=ON and clang++ (scripts/fuzz.sh)
    if [[ ! -f $fuzz_build/compile_commands.json ]]; then
      KEEPALIVE_FUZZ_CONFIGURE_ONLY=1 KEEPALIVE_FUZZ_BUILD_DIR=$fuzz_build scripts/fuzz.sh >/dev/null
    fi
    db=$fuzz_build
  fi
  echo "$db $f" >> "$work/units"
done
sort -u -o "$work/units" "$work/units"

# ----------------------------------------------------------------------------- run --
# One clang-tidy per unit, in parallel; each writes its own log, read back in order. gcc's
# warning flags in the database that clang does not know are not findings.
run_one() {  # run_one DB FILE
  local log=$work/log.${2//\//_}
  "$tidy" -p "$1" --quiet --header-filter="^$root/($project_dirs)/" \
    --extra-arg=-Wno-unknown-warning-option "$root/$2" > "$log" 2>&1 || true
}
export -f run_one
export work root tidy project_dirs
t0=$SECONDS
# shellcheck disable=SC2016  # expanded by the bash that xargs starts
xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1"' < "$work/units"
n_units=$(wc -l < "$work/units")

# Every diagnostic block ("FILE:LINE:COL: error: MESSAGE [CHECK,...]" and the lines that show it)
# in a judged file, once (a header is seen from several units); compiler errors anywhere count.
cat "$work"/log.* | awk -v judged="$work/judged" -v out="$work/findings" '
  # "/a/b/../c/x.h" -> "/a/c/x.h": clang prints paths as the includes joined them
  function norm(path,   n, i, k, part, st) {
    n = split(path, part, "/"); k = 0
    for (i = 2; i <= n; i++) {
      if (part[i] == "..") { if (k > 0) k-- }
      else if (part[i] != "." && part[i] != "") st[++k] = part[i]
    }
    path = ""
    for (i = 1; i <= k; i++) path = path "/" st[i]
    return path
  }
  BEGIN { while ((getline f < judged) > 0) want[f] = 1 }
  /^\/[^:]+:[0-9]+:[0-9]+: (warning|error): / {
    split($0, p, ":"); file = norm(p[1])
    check = $0; sub(/.*\[/, "", check); sub(/[],].*/, "", check)
    key = file ":" p[2] ":" p[3] ":" check
    keep = (file in want || check == "clang-diagnostic-error") && !(key in seen)
    if (keep) { seen[key] = 1; print file "\t" check > out }
    if (keep) print; next
  }
  /^\/[^:]+:[0-9]+:[0-9]+: note: / { if (keep) print; next }
  /^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$/ || /^Suppressed [0-9]+ warnings/ ||
    /^Use -header-filter=/ || /^Error while processing / || /^Found compiler error/ { next }
  { if (keep) print }'

n=0
[[ -f $work/findings ]] && n=$(wc -l < "$work/findings")
echo "tidy.sh: $what: ${#targets[@]} files in $n_units translation units, $((SECONDS - t0)) s"
if ((n > 0)); then
  echo "tidy.sh: $n findings, by check:"
  cut -f2 "$work/findings" | sort | uniq -c | sort -rn | sed 's/^/  /'
  echo "tidy.sh: by file:"
  cut -f1 "$work/findings" | sed "s|^$root/||" | sort | uniq -c | sort -rn | sed 's/^/  /'
  exit 1
fi
echo "tidy.sh: clean"
