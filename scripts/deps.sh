#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs everything keepalive-policy needs to build, test and demo on Debian 12, as root.
# Debian packages only (see README "Stack"); nothing is downloaded from anywhere else.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ make pkg-config
  libyaml-cpp-dev   # policy YAML parser (event API)
  libssl-dev        # SHA-256 for the policy digest
  libsdbus-c++-dev libsdbus-c++-bin  # D-Bus: systemd's API, our org.keepalivepolicy1
  libsystemd-dev    # sd-event, sd_notify
  libspdlog-dev     # logging, journald sink
  nlohmann-json3-dev  # keepalivectl's --json, and the tests that read it back
  # tests
  catch2            # Catch2 v2 unit and integration tests
  openssh-server    # the real sshd -t / sshd -T
  openssh-client    # the real ssh -G
  util-linux        # setpriv, unshare, nsenter
  systemd dbus iproute2 procps psmisc  # the throwaway systemd of the system tests
  ansible-core python3-apt  # tests/system/ansible_test.sh: contrib/ansible's role (apt needs python3-apt)
  fuse3 libfuse3-dev  # a FUSE home that hangs, for the daemon's bounded user checks
  inotify-tools     # bench/: the inotifywait + chmod baseline
  nftables conntrack  # tests/e2e: the NAT router namespace's firewall and its flow table
  jq                # tests/e2e/networks_e2e_test.sh reads `keepalivectl advise --json`
  bash-completion zsh  # tests/integration/completion_test.sh loads keepalivectl's completion in both
  clang-format-14   # style check
  clang-tidy-14     # scripts/tidy.sh: names and bugprone-* (.clang-tidy)
  clang libclang-rt-14-dev ninja-build  # libFuzzer targets (scripts/fuzz.sh builds with Ninja)
  # packaging (scripts/package.sh, tests/system/package_test.sh)
  dpkg-dev debhelper lintian groff-base  # the .deb and its checks (groff: tests/lib/man_paths.sh)
  rpm rpmlint                 # rpmbuild for rpm/keepalive-policy.spec, and its check
  selinux-policy-dev          # /usr/share/selinux/devel/Makefile for selinux/
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# promtool checks the daemon's metrics file and the alert rules of docs/metrics.md (tests/
# integration/metrics_test.cpp). It is in Debian's prometheus package, but installing that package
# also enables prometheus.service, a server that the throwaway systemd of the system tests (an
# overlay of this /) would start on every boot: take only the promtool binary out of it.
if ! command -v promtool >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: promtool is missing; run as root to install it" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chown _apt "$tmp" 2>/dev/null || true  # apt downloads as _apt
  download() { (cd "$tmp" && apt-get download -qq prometheus); }
  download || { apt-get update -qq && download; }
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
fi
