// Per-network policy (networks:): validation of addresses and host patterns, and the sample
// addresses and names that prove the rendered Match Address and Host blocks with the real
// `sshd -T -C addr=...` and `ssh -G NAME`. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "keepalive/policy/policy.h"

namespace keepalive::policy {

// "10.20.0.0/16", "2001:db8:20::/48", or a single address: false with the reason in why.
bool validCidr(std::string_view text, std::string* why);

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

}  // namespace keepalive::policy
