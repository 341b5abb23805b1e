// SPDX-License-Identifier: GPL-2.0-or-later
// Per-network policy (networks:): validation of addresses and host patterns, and the sample
// addresses and names that prove the rendered Match Address and Host blocks with the real
// `sshd -T -C addr=...` and `ssh -G NAME`. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"

namespace keepalive::policy {

// "10.20.0.0/16", "2001:db8:20::/48", or a single address: false with the reason in why.
bool validCidr(std::string_view text, std::string* why);

// The name of the network a client address belongs to, as sshd's Match Address blocks pick it:
// the first listed network with an address entry that contains it (CIDR containment, family as
// written; an IPv4-mapped IPv6 address counts as its IPv4 address, as sshd logs and matches it),
// else "default". An address that does not parse is "default" too.
std::string networkFor(std::string_view address, const std::vector<ResolvedNetwork>& networks);

// For sshd -T -C addr=ADDR (sshd takes each keyword from the first matching Match block, so an
// address of an earlier network would show that network's values) and ssh -G NAME (ssh keeps the
// first value, likewise). n is one of r.networks (or a copy: networks are told apart by name).
//
// An address inside the network's first address entry with one free (v4 or v6 as written), which
// no earlier network of r also covers, as inet_ntop prints it; nullopt when the network has no
// addresses or none is free (then validate warned that the network never wins there).
std::optional<std::string> sampleAddress(const Resolved& r, const ResolvedNetwork& n);
// An address (v4, or v6 when v6) inside no network of r: what the global settings serve. Tries
// 192.0.2.1, 198.51.100.1, ... (v6: 2001:db8::1, fd00::1, ...), then any free address; empty when
// the networks cover the whole address family (e.g. 0.0.0.0/0): there is nothing outside to prove.
std::string outsideAddress(const Resolved& r, bool v6);
// A host name the network's first positive destination pattern matches ('*' as "kp-probe", '?' as
// 'x'; then other fillers and later patterns), that none of its '!' patterns and no earlier
// network's destinations match; nullopt when there is none.
std::optional<std::string> sampleDestination(const Resolved& r, const ResolvedNetwork& n);
// A host name no network's destinations match: "keepalive-policy.invalid" unless a network
// matches it, then "kp-outside.invalid", ...; empty when every candidate is matched (a network with
// destinations ["*"]): there is nothing outside to prove.
std::string outsideDestination(const Resolved& r);

// Everything the proof after an apply asks the real programs, in order: for sshd, one sample
// address per network with an sshd block (its Match Address values) and one outside address per
// address family in use (the global values); for ssh, one sample name per network with a Host
// block and one outside name. Networks without a free sample, and outsides that do not exist, are
// left out (validate warned about them).
//   sshd: sshd -T -f CONFIG -C addr=TARGET,user=U,host=H,laddr=L,lport=P (the Match Address
//         blocks look at addr only; give laddr in TARGET's family)
//   ssh:  ssh -G -F CONFIG TARGET
// Each expect pair is a keyword as the drop-in spells it (lower-case it to find it in -T/-G
// output) and its value as -T/-G print it.
struct NetworkProbe {
  Side side = Side::kSshd;
  std::string network;  // empty: outside every network
  std::string target;   // the client address (sshd) or host name (ssh)
  std::vector<std::pair<std::string, std::string>> expect;
};
std::vector<NetworkProbe> proofProbes(const Resolved& r);

}  // namespace keepalive::policy
