// SPDX-License-Identifier: GPL-2.0-or-later
// What parse.cpp, resolve.cpp, render.cpp and rules.cpp share about networks: (internal to
// libkeepalive-policy).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "keepalive/policy/policy.h"

namespace keepalive::policy::detail {

// The keys a networks: entry may set besides name, addresses and destinations, and the setting
// each one stands for. Flat in the entry ("idle_timeout: 5m", not "network: {idle_timeout: 5m}"):
// an entry is about one path, and only these values can differ per path.
struct NetworkKey {
  std::string_view key;      // "client_alive_interval"
  std::string_view setting;  // "server.client_alive_interval"
};
inline constexpr NetworkKey kNetworkKeys[] = {
    {"idle_timeout", "network.idle_timeout"},
    {"outage_tolerance", "network.outage_tolerance"},
    {"client_alive_interval", "server.client_alive_interval"},
    {"client_alive_count_max", "server.client_alive_count_max"},
    {"server_alive_interval", "client.server_alive_interval"},
    {"server_alive_count_max", "client.server_alive_count_max"},
    {"idle_logout", "server.idle_logout"},
};
// The directives a network's block renders: the only keepalive keywords sshd allows inside Match
// (TCPKeepAlive is refused there: "Directive 'TCPKeepAlive' is not allowed within a Match block")
// and their ssh counterparts, and ChannelTimeout for a network's own idle_logout (sshd applies it
// inside Match only from 10.5: checkList refuses it before).
inline constexpr std::string_view kNetworkDirectives[] = {
    "ClientAliveInterval", "ClientAliveCountMax", "ServerAliveInterval", "ServerAliveCountMax",
    "ChannelTimeout"};

// At most this many addresses or destinations per network, and networks per list.
inline constexpr std::size_t kMaxNetworkPatterns = 1000;
inline constexpr std::size_t kMaxNetworks = 1000;
// ... and at most this many addresses and destinations in all networks of a list together: the
// overlap checks compare each with those of every earlier network.
inline constexpr std::size_t kMaxNetworkEntriesTotal = 4096;

// name: 1-64 of [A-Za-z0-9_.-]. false with the reason in why.
bool validNetworkName(std::string_view name, std::string* why);
// An ssh_config Host pattern: letters, digits, '.', '-', '_', ':', '*', '?', and a leading '!'.
bool validHostPattern(std::string_view pattern, std::string* why);
// A valid CIDR or address as sshd prints it back: "10.20.0.0/16", "2001:db8:20::/48".
std::string normalizedCidr(std::string_view valid);
// ssh's Host semantics: some positive pattern matches and no negated one does.
bool destinationsMatch(const std::vector<std::string>& patterns, const std::string& name);

// A host's networks: the fleet's entries with the entries of the applied overrides merged by name
// over them (key by key; addresses and destinations replace the fleet's lists when given) and new
// names appended, in policy order.
std::vector<NetworkEntry> mergedNetworks(const Policy& p,
                                         const std::vector<const HostOverride*>& applied);

// One network's effective settings: hostEffective (the host's settings before derivation) with
// the entry's keys over them. An entry that sets idle_timeout gets its intervals derived from it,
// not the host's explicit intervals; one that does not inherits the host's intervals.
Settings networkSettings(const Settings& hostEffective, const NetworkEntry& e,
                         const ModelContext& ctx, Baseline baseline);
ResolvedNetwork resolveNetwork(const Settings& hostEffective, const NetworkEntry& e,
                               const ModelContext& ctx, Baseline baseline);

// The rules for networks over a merged policy: each network's effective settings (fleet-wide and
// under each host override), overlaps, names that no network can serve.
void checkNetworks(const Policy& merged, Diagnostics& diags, const ModelContext& ctx);
// The same for the networks one host gets (checkForHost): errors and warnings into d.
void checkResolvedNetworks(const Resolved& r, Diagnostics& d, Baseline baseline);

}  // namespace keepalive::policy::detail
