#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds keepalive-policy's packages from this tree into OUTDIR: a source tarball
# (keepalive-policy-VERSION.tar.gz), the Debian package (dpkg-buildpackage -us -uc -b) and, with
# --rpm, the RPMs (rpmbuild -bb from that tarball). Never touches ./build or the tree itself: each
# build runs in a copy under a temporary directory, removed at the end.
#
#   scripts/package.sh [--rpm] [--no-deb] [--lintian] [--head] OUTDIR
#
#   --rpm      also build the RPMs (rpm/keepalive-policy.spec), with --nodeps: rpmbuild checks
#              BuildRequires against the rpm database, which is empty on Debian (the build
#              dependencies are there, as Debian packages)
#   --no-deb   skip the Debian package
#   --lintian  run lintian on the .changes, and with --rpm rpmlint on the spec and the RPMs;
#              exits non-zero on an error (warnings are printed)
#   --head     package the last commit (git archive HEAD) instead of the working tree
#              (tracked files as they are on disk, plus untracked ones that are not ignored)
#
# DEB_BUILD_OPTIONS is passed on (nocheck skips the test suite and its build dependencies, as the
# system test does); parallel= defaults to min(nproc, 2). Debian packages needed: dpkg-dev,
# debhelper, fakeroot, the build dependencies in debian/control; lintian; rpm (for rpmbuild); rpmlint;
# selinux-policy-dev (the -selinux RPM). scripts/deps.sh installs them all.
set -euo pipefail
export LC_ALL=C.UTF-8

rpm=0 deb=1 lint=0 head=0 out=
for a in "$@"; do
  case "$a" in
    --rpm) rpm=1 ;;
    --no-deb) deb=0 ;;
    --lintian) lint=1 ;;
    --head) head=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "package.sh: unknown option $a" >&2
      exit 2
      ;;
    *) out=$a ;;
  esac
done
if [[ -z $out ]]; then
  echo "usage: scripts/package.sh [--rpm] [--no-deb] [--lintian] [--head] OUTDIR" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)

version=$(sed -n 's/^project(keepalive-policy VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[[ -n $version ]] || { echo "package.sh: no version in CMakeLists.txt's project()" >&2; exit 1; }
changelog_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version 2>/dev/null || true)
if [[ $deb == 1 && $changelog_version != "$version" ]]; then
  echo "package.sh: debian/changelog is at $changelog_version, CMakeLists.txt at $version" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/keepalive-package.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
# The test suite runs built binaries as other users (the per-user helper as a test user, ssh -G
# as nobody): they must be able to reach the build tree.
chmod 0755 "$tmp"
name=keepalive-policy-$version
t0=$SECONDS

# 1. The source tarball: exactly what git knows of (no build directories, no editor files).
mkdir -p "$tmp/src/$name"
if [[ $head == 1 ]]; then
  git -C "$src" archive --format=tar HEAD | tar -C "$tmp/src/$name" -xf -
else
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$tmp/src/$name" -xf -
fi
tar -C "$tmp/src" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)" \
  -czf "$out/$name.tar.gz" "$name"
echo "package.sh: $out/$name.tar.gz"

jobs=$(nproc)
((jobs > 2)) && jobs=2
opts=${DEB_BUILD_OPTIONS:-}
[[ $opts == *parallel=* ]] || opts="${opts:+$opts }parallel=$jobs"

# 2. The Debian package, in a copy unpacked from the tarball.
if [[ $deb == 1 ]]; then
  profiles=()
  [[ " $opts " == *" nocheck "* ]] && profiles=(-Pnocheck)
  (cd "$tmp/src/$name" &&
    DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -us -uc -b "${profiles[@]}" >"$tmp/deb.log" 2>&1) || {
    cp "$tmp/deb.log" "$out/dpkg-buildpackage.log"
    tail -n 60 "$tmp/deb.log" >&2
    echo "package.sh: dpkg-buildpackage failed (the last 60 lines above; all of it in $out/dpkg-buildpackage.log)" >&2
    exit 1
  }
  grep -E '^(100% tests passed|[0-9]+% tests passed|The following tests FAILED)' "$tmp/deb.log" || true
  cp "$tmp"/src/*.deb "$tmp"/src/*.changes "$tmp"/src/*.buildinfo "$out"/
  for f in "$tmp"/src/*.deb; do echo "package.sh: $out/$(basename "$f")"; done
  if [[ $lint == 1 ]]; then
    changes=$(ls "$out"/keepalive-policy_"${version}"_*.changes)
    # --fail-on error: warnings are listed (and explained in docs/packaging.md), errors fail.
    lintian --fail-on error --info --display-info "$changes"
  fi
fi

# 3. The RPMs, from the tarball, as a distribution's build system would.
if [[ $rpm == 1 ]]; then
  mkdir -p "$tmp/rpm"
  rpmopts=()
  [[ " $opts " == *" nocheck "* ]] && rpmopts=(--without check)
  # Debian's rpm lacks the systemd and cmake macros that Fedora's systemd-rpm-macros and
  # cmake-rpm-macros define: rpm/debian-build.macros stands in for them when they are missing.
  if [[ $(rpm --eval '%{?systemd_post:yes}') != yes ]]; then
    rpmopts+=(--load "$src/rpm/debian-build.macros")
  fi
  rpmbuild -bb --nodeps "${rpmopts[@]}" \
    --define "_topdir $tmp/rpm" --define "_sourcedir $out" \
    --define "_smp_mflags -j$jobs" \
    "$src/rpm/keepalive-policy.spec" >"$tmp/rpm.log" 2>&1 || {
    cp "$tmp/rpm.log" "$out/rpmbuild.log"
    tail -n 60 "$tmp/rpm.log" >&2
    echo "package.sh: rpmbuild failed (the last 60 lines above; all of it in $out/rpmbuild.log)" >&2
    exit 1
  }
  find "$tmp/rpm/RPMS" -name '*.rpm' -exec cp {} "$out"/ \;
  find "$tmp/rpm/RPMS" -name '*.rpm' -printf "package.sh: $out/%f\n"
  if [[ $lint == 1 ]]; then
    # rpmlint exits non-zero on an error; warnings are listed (docs/packaging.md explains them).
    rpmlint -c "$src/rpm/rpmlint.toml" "$src/rpm/keepalive-policy.spec" $(find "$tmp/rpm/RPMS" -name '*.rpm' -printf "$out/%f\n")
  fi
fi
echo "package.sh: done in $((SECONDS - t0)) s"
