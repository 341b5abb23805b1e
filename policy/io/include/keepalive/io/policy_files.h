// Reading policy files: the I/O edge shared by keepalivectl and keepalive-policyd.
#pragma once

#include <string>
#include <vector>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"

namespace keepalive::io {

// "/etc/x" under root "/tmp/r" is "/tmp/r/etc/x"; an empty root is the real "/".
std::string underRoot(const std::string& root, const std::string& path);

// Reads one file: a regular file of at most 1 MiB, opened without blocking on FIFOs or devices.
// On failure, records a FILE: error: reason in diags and returns false.
bool readPolicyFile(const std::string& path, policy::PolicyFile& out, policy::Diagnostics& diags);

// The system policy under root: /etc/keepalive-policy/policy.yaml, then
// /etc/keepalive-policy/policy.d/*.yaml in byte order (names starting with '.' are skipped: they
// are editors' and Ansible's temporary files). A missing policy.yaml is fine when policy.d holds
// a fragment; nothing at all is an error.
std::vector<policy::PolicyFile> readSystemPolicy(const std::string& root,
                                                 policy::Diagnostics& diags);

// The names this host answers to: --host when given, else the kernel's host name and, when
// resolvable, its fully qualified name.
policy::HostIdentity localHostIdentity(const std::string& hostOverride);

}  // namespace keepalive::io
