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

// An address inside the network's first address entry (v4 or v6 as written), which no earlier
// network of r also covers; nullopt when the network has no addresses or none is free.
std::optional<std::string> sampleAddress(const Resolved& r, const ResolvedNetwork& n);
// An address (v4, or v6 when v6) inside no network of r: what the global settings serve.
std::string outsideAddress(const Resolved& r, bool v6);
// A host name the network's first positive destination pattern matches and no earlier network's
// does; nullopt when there is none.
std::optional<std::string> sampleDestination(const Resolved& r, const ResolvedNetwork& n);
// A host name no network's destinations match.
std::string outsideDestination(const Resolved& r);

}  // namespace keepalive::policy
