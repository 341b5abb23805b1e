#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# man_paths.sh DEB - every path the .deb's man pages name is on the installed system.
#
# Renders each man page the package ships (from the .deb itself, with groff, at a width where no
# line wraps) and extracts every absolute path under /usr, /etc, /var, /run and /lib, and every
# documentation file it names (NAME.md, docs/...). Each must be one of:
#   - a path in the .deb (dpkg-deb -c), or a glob (policy.d/*.yaml) whose directory is in it;
#   - a documented exception below: what the daemon or systemd creates at run time, and what the
#     packages we depend on ship (openssh, dbus, base-passwd);
# and no man page may send the reader to the source tree (docs/..., "in the source").
# Prints one line per path that fails ("MAN: PATH: why") and a summary "# N paths checked in M
# man pages"; exit 1 when any fails, 2 on a usage or tool error. tests/system/package_test.sh
# runs it on the .deb it built.
set -u
export LC_ALL=C.UTF-8
deb=${1:?usage: man_paths.sh DEB}
[ -f "$deb" ] || { echo "man_paths.sh: no such file: $deb" >&2; exit 2; }
command -v groff >/dev/null || { echo "man_paths.sh: groff is missing" >&2; exit 2; }

# Paths the package does not ship and that are right all the same, as globs. Keep each with why.
EXCEPTIONS=(
  # written by keepalive-policyd at run time (removed by the postrm)
  /etc/ssh/sshd_config.d/00-keepalive-policy.conf
  /etc/ssh/ssh_config.d/00-keepalive-policy.conf
  # the state directory: systemd creates it (StateDirectory=), the daemon fills it
  /var/lib/keepalive-policy
  '/var/lib/keepalive-policy/*'
  # the admin's policy fragments (the package ships the directory, policy.d/)
  '/etc/keepalive-policy/policy.d/*.yaml'
  # openssh-server and openssh-client (Depends:)
  /etc/ssh
  /etc/ssh/sshd_config
  /etc/ssh/ssh_config
  /etc/ssh/sshd_config.d
  /etc/ssh/ssh_config.d
  '/etc/ssh/sshd_config.d/*.conf'
  '/etc/ssh/ssh_config.d/*.conf'
  /usr/sbin/sshd
  /usr/bin/ssh
  # base-passwd / the system's users
  /etc/passwd
  # dbus (Depends: default-dbus-system-bus): the system bus socket
  /run/dbus/system_bus_socket
  # prometheus-node-exporter's textfile directory (docs/metrics.md), where the metrics go if it
  # is installed
  /var/lib/prometheus/node-exporter
)

work=$(mktemp -d /tmp/man-paths.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | sort -u >"$work/contents" || exit 2
dpkg-deb -x "$deb" "$work/root" || exit 2

in_deb() { grep -qxF -- "$1" "$work/contents"; }
excepted() {
  local e
  for e in "${EXCEPTIONS[@]}"; do
    # shellcheck disable=SC2053 # a glob on purpose
    [[ $1 == $e ]] && return 0
  done
  return 1
}

fail=0 n=0 pages=0
while IFS= read -r page; do
  pages=$((pages + 1))
  name=$(basename "$page" .gz)
  # Wide lines, no hyphenation, no formatting characters: a path is never split.
  zcat -f "$page" | groff -man -Tutf8 -P-cbou -rLL=5000n -rHY=0 2>/dev/null >"$work/$name.txt"
  if grep -n -o -E '.{0,40}((^|[^[:alnum:]_./-])docs/[^ ]*|in the source( tree)?\b).{0,20}' \
    "$work/$name.txt" >"$work/src"; then
    while IFS= read -r l; do
      echo "$name: sends the reader to the source tree: line $l"
    done <"$work/src"
    fail=1
  fi
  # Absolute paths: a / not preceded by a word character, a dot or another path's characters.
  # A trailing "..." ("/usr/libexec/...") is a glob; trailing punctuation is not part of a path.
  grep -oP '(?<![[:alnum:]_.~/-])/(usr|etc|var|run|lib)(/[[:alnum:]_.*+@:-]+)*/?' "$work/$name.txt" |
    sed -E 's|/\.\.\.$|/*|; s|[.,:;]+$||; s|(.)/$|\1|' | sort -u >"$work/paths"
  # Documentation files named by their file name alone (daemon.md): shipped in the doc directory.
  grep -oP '(?<![[:alnum:]_./-])[[:alnum:]_-]+\.md(\.gz)?\b' "$work/$name.txt" | sort -u |
    while IFS= read -r d; do
      grep -qE "/usr/share/doc/keepalive-policy/${d%.gz}(\.gz)?$" "$work/contents" ||
        echo "$name: $d: no such file in /usr/share/doc/keepalive-policy of the package"
    done >"$work/docs"
  if [ -s "$work/docs" ]; then cat "$work/docs"; fail=1; fi
  while IFS= read -r p; do
    n=$((n + 1))
    if in_deb "$p" || excepted "$p"; then continue; fi
    if [[ $p == *'*'* ]]; then
      # A glob: some file of the package matches it, or the package ships its directory.
      # shellcheck disable=SC2053
      while IFS= read -r c; do [[ $c == $p ]] && continue 2; done <"$work/contents"
      in_deb "${p%/*}" && continue
    fi
    echo "$name: $p: neither in the package nor a listed run-time path"
    fail=1
  done <"$work/paths"
done < <(find "$work/root/usr/share/man" -type f -name '*.[0-9]*' | sort)
echo "# $n paths checked in $pages man pages"
[ "$pages" -gt 0 ] || { echo "man_paths.sh: the package ships no man page" >&2; exit 1; }
exit "$fail"
