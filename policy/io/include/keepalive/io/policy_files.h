// SPDX-License-Identifier: GPL-2.0-or-later
// Reading policy files: the I/O edge shared by keepalivectl and keepalive-policyd.
#pragma once

#include <string>
#include <vector>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"

namespace keepalive::io {

// "/etc/x" under root "/tmp/r" is "/tmp/r/etc/x"; an empty root is the real "/".
std::string underRoot(const std::string& root, const std::string& path);

inline constexpr long kMaxPolicyBytes = 1 << 20;
// A file that changes while read is read again, at most this many times in all.
inline constexpr int kReadAttempts = 5;

// Reads one file named on a command line (keepalivectl validate FILE, render FILE): a regular
// file of at most 1 MiB, opened without blocking on FIFOs, read whole (again when it changed
// while read). Symlinks are followed and owner and mode are not checked: the file is a proposal
// (Ansible's temporary copy), not what keepalive-policyd reads as root.
// On failure, records a FILE: error: reason in diags and returns false.
bool readPolicyFile(const std::string& path, policy::PolicyFile& out, policy::Diagnostics& diags);

// The system policy under root: /etc/keepalive-policy/policy.yaml, then
// /etc/keepalive-policy/policy.d/*.yaml in byte order (names starting with '.' are skipped: they
// are editors' and Ansible's temporary files). A missing policy.yaml is fine when policy.d holds
// a fragment; nothing at all is an error.
// Trusted only when root says so: both directories and every file are opened without following
// symlinks (openat beneath the directory fds) and checked on the fd: owned by root, not group- or
// other-writable, files regular and at most 1 MiB. Any breach is an error naming the file, so the
// whole policy is refused.
std::vector<policy::PolicyFile> readSystemPolicy(const std::string& root,
                                                 policy::Diagnostics& diags);

// The names this host answers to: --host when given, else the kernel's host name and, when
// resolvable, its fully qualified name.
policy::HostIdentity localHostIdentity(const std::string& hostOverride);

}  // namespace keepalive::io
