#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every source file git tracks carries the project's license as its first line (after a shebang,
# or after an XML declaration), in its own comment syntax:
#   // SPDX-License-Identifier: GPL-2.0-or-later          C++, C
#   # SPDX-License-Identifier: GPL-2.0-or-later           shell, CMake, Python, YAML, units, ...
#   <!-- SPDX-License-Identifier: GPL-2.0-or-later -->    XML (the D-Bus interface, the bus policy)
#   .\" SPDX-License-Identifier: GPL-2.0-or-later         man pages
#   {# SPDX-License-Identifier: GPL-2.0-or-later #}       Jinja templates (not in what they render)
#
#   scripts/spdx.sh           add the line where it is missing (only that line changes: re-run it
#                             after a merge that brought new files)
#   scripts/spdx.sh --check   list the files without it; exit 1 if any, 77 outside a git checkout
#                             (a build from the source tarball); the CTest "unit: spdx: ..."
#
# Exempt, because they are data or carry their license otherwise: LICENSE, debian/copyright (the
# license itself), debian/changelog and debian/source/format (formats without comments), docs
# (*.md), test data, golden files and fuzz corpora (tests/data/, tests/fuzz/corpus/: their bytes
# are what the tests compare). A tracked file of a type not listed below fails the check: give it
# a comment syntax here or an exemption.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: scripts/spdx.sh [--check]" >&2
    exit 2
    ;;
esac

ID='SPDX-License-Identifier: GPL-2.0-or-later'
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "spdx.sh: not a git checkout: nothing to check" >&2
  exit 77
fi

exempt() {
  case "$1" in
    LICENSE | debian/copyright | debian/changelog | debian/source/format) return 0 ;;
    *.md) return 0 ;;
    tests/data/* | tests/fuzz/corpus/*) return 0 ;;
  esac
  return 1
}

# The header line for FILE, or nothing when its type is unknown.
header() {
  case "$1" in
    *.cpp | *.h | *.c) echo "// $ID" ;;
    *.xml | units/org.keepalivepolicy1.conf) echo "<!-- $ID -->" ;;
    docs/man/*.[1-8]) echo ".\\\" $ID" ;;
    *.j2) echo "{# $ID #}" ;;
    *.sh | */CMakeLists.txt | CMakeLists.txt | *.cmake | *.py | *.yaml | *.yml | *.service | \
      *.conf | *.te | *.fc | *.if | *.spec | *.macros | *.cfg | *.toml | *.dict | *.supp | \
      .gitignore | .clang-format | .clang-tidy | .ci/run | scripts/tidy-base | \
      debian/rules | debian/control | debian/*.postinst | debian/*.postrm | debian/*.docs)
      echo "# $ID"
      ;;
  esac
}

# The line the header belongs on: 2 after a shebang or an XML declaration, else 1.
position() {
  local first
  IFS= read -r first <"$1" || true
  case "$first" in
    '#!'* | '<?xml'*) echo 2 ;;
    *) echo 1 ;;
  esac
}

missing=0 added=0 n=0
while IFS= read -r -d '' f; do
  [[ -f $f && ! -L $f ]] || continue
  exempt "$f" && continue
  h=$(header "$f")
  if [[ -z $h ]]; then
    echo "spdx.sh: $f: no comment syntax known for this file: give it one in scripts/spdx.sh, or an exemption" >&2
    missing=$((missing + 1))
    continue
  fi
  n=$((n + 1))
  at=$(position "$f")
  [[ $(sed -n "${at}p" "$f") == "$h" ]] && continue
  if [[ $check == 1 ]]; then
    echo "$f: line $at is not: $h"
    missing=$((missing + 1))
  else
    # Insert exactly one line; the rest of the file is untouched (mode kept: sed -i rewrites in
    # place through a temp file, so copy the mode explicitly).
    mode=$(stat -c %a "$f")
    if [[ $at == 1 ]]; then
      printf '%s\n' "$h" | cat - "$f" >"$f.spdx.tmp"
    else
      { head -n 1 "$f"; printf '%s\n' "$h"; tail -n +2 "$f"; } >"$f.spdx.tmp"
    fi
    chmod "$mode" "$f.spdx.tmp"
    mv -- "$f.spdx.tmp" "$f"
    added=$((added + 1))
  fi
done < <(git ls-files -z)

if [[ $check == 1 ]]; then
  if ((missing > 0)); then
    echo "spdx.sh: $missing of the tracked files lack the SPDX line; run scripts/spdx.sh" >&2
    exit 1
  fi
  echo "spdx.sh: all $n tracked source files carry it"
else
  echo "spdx.sh: added to $added of $n files"
  ((missing == 0)) || exit 1
fi
