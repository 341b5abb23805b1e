// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"

namespace keepalive::policy {

// Where the drop-ins live on a real system (the daemon and keepalivectl prefix --root).
inline constexpr const char* kPolicyDir = "/etc/keepalive-policy";
inline constexpr const char* kSshdDropIn = "/etc/ssh/sshd_config.d/00-keepalive-policy.conf";
inline constexpr const char* kClientDropIn = "/etc/ssh/ssh_config.d/00-keepalive-policy.conf";

// Deterministic drop-in texts. Only validated numbers and fixed words reach them, plus, for each
// network, its name ([A-Za-z0-9_.-], in a comment), its addresses as inet_ntop prints them and its
// host patterns (letters, digits, ".-_:*?", a leading '!'): no policy text can inject a directive.
// sshd: the global directives, then one "Match Address" block per network (sshd takes each keyword
// from the first matching Match block that sets it). ssh: one "Host" block per network first, then
// the global values under "Host *" (ssh keeps the first value it obtains).
std::string renderSshd(const Resolved& r, const std::string& digest);
std::string renderClient(const Resolved& r, const std::string& digest);

// The directives the drop-in for side sets, in the drop-in's order: keyword as the drop-in spells
// it ("ClientAliveInterval"; sshd -T and ssh -G print it in lower case) and value as sshd -T and
// ssh -G print it ("300", "yes"). What the daemon compares the effective configuration with, and
// what the per-user block of client.per_user_block repeats.
std::vector<std::pair<std::string, std::string>> renderedDirectives(const Resolved& r, Side side);
// The directives one network's block sets (its Match Address block for sshd, its Host block for
// ssh), as sshd -T -C addr=... and ssh -G print them for an address or name of that network.
std::vector<std::pair<std::string, std::string>> renderedDirectives(const ResolvedNetwork& n,
                                                                    Side side);

// One effective setting and the reason it has its value, for `keepalivectl render --explain`.
struct Explanation {
  std::string target;   // "sshd", "ssh", "users", "daemon"
  std::string keyword;  // "ClientAliveInterval", "users.action", ...
  std::string value;    // as rendered, or "-" when not set
  std::string source;   // "policy.yaml:7:26", "derived from ...", "default", ...
};
std::vector<Explanation> explain(const Resolved& r);

}  // namespace keepalive::policy
