// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's status: one pure struct, the single truth, and one table of its D-Bus properties.
// The D-Bus object (dbus/manager_object.cpp), keepalivectl's status, show and --json, the
// metrics file (core/metrics.cpp) and the journal's state line are all rendered from a
// DaemonStatus, the properties through statusProperties(); PropertiesChanged names what
// changedProperties() finds between two snapshots. Adding a property is one row in the table
// (status.cpp) plus its element in dbus/org.keepalivepolicy1.xml, the contract
// (tests/unit/status_test.cpp checks that both list the same properties with the same types).
//
// Pure: no sdbus-c++, no libsystemd; keepalivectl links it too (keepalive-status).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state.h"

namespace keepalive::daemon {

// Strings back to enums, for the edges that receive them: keepalivectl reading the bus, and the
// string an edge received.
std::optional<ApplyResult> applyResultFromString(std::string_view s);
std::optional<StateKind> stateKindFromString(std::string_view s);
inline constexpr StateKind kAllStates[] = {StateKind::kStarting,         StateKind::kOk,
                                           StateKind::kPendingReload,    StateKind::kSshdStopped,
                                           StateKind::kSshdConfigBroken, StateKind::kShadowed,
                                           StateKind::kPolicyInvalid,    StateKind::kDegraded};
std::optional<LineEffect> lineEffectFromString(std::string_view s);

// One effective sshd or ssh setting and the FILE:LINE (or "sshd default") it comes from.
struct EffectiveSetting {
  std::string value;
  std::string source;
  friend bool operator==(const EffectiveSetting&, const EffectiveSetting&) = default;
};
using EffectiveSettings = std::map<std::string, EffectiveSetting>;  // keyword, lower case

// A line of sshd's or ssh's configuration that sets a directive we manage, and its effect
// (Shadowing, as the bus carries it: a(ssssssus)).
struct ConfigLineRow {
  std::string target;  // sshd | ssh
  std::string effect;  // shadows | overrides | ineffective | not-included | not-in-effect
  std::string keyword;
  std::string value;  // theirs
  std::string ours;
  std::string file;
  std::uint32_t line = 0;
  std::string condition;
  friend bool operator==(const ConfigLineRow&, const ConfigLineRow&) = default;
};
using ConfigLineRows = std::vector<ConfigLineRow>;
ConfigLineRow toRow(const Shadowing& s);
Shadowing fromRow(const ConfigLineRow& r);

// The keepalive model's figures per network (Keepalive, a(ssxxxxxx)): network ("" = default),
// the OpenSSH version they hold for, then seconds: probe after, k, ClientAliveInterval, dead
// client, ServerAliveInterval, dead server; -1 = never.
using KeepaliveRows = std::vector<KeepaliveFigures>;
// What sshd -T -C and ssh -G showed for each network's sample (Networks, a(sssss)): network,
// target, sample, keyword, value.
using NetworkCheckRows = std::vector<NetworkCheck>;

// Sessions' ends per (cause, network) (DisconnectCounts, DisconnectTotals: a(sst)): cause as
// core/disconnects.h spells it, network ("default" outside every network), count.
struct DisconnectCountRow {
  std::string cause;
  std::string network;
  std::uint64_t count = 0;
  friend bool operator==(const DisconnectCountRow&, const DisconnectCountRow&) = default;
};
using DisconnectCountRows = std::vector<DisconnectCountRow>;

struct DaemonStatus {
  StateKind state = StateKind::kStarting;
  std::string state_reason;
  std::uint64_t state_since_usec = 0;  // CLOCK_REALTIME; 0 = unknown
  std::string version;                 // constant for a running daemon
  std::vector<std::string> policy_files;
  std::string policy_digest;
  std::uint64_t generation = 0;
  std::uint64_t last_apply_usec = 0;  // CLOCK_REALTIME; 0 = never
  ApplyResult last_apply_result = ApplyResult::kNone;
  std::string last_error;
  std::uint64_t last_error_usec = 0;
  std::uint64_t policy_since_usec = 0;  // when the policy in force took effect
  std::uint64_t last_reload_usec = 0;   // when keepalive-policyd last reloaded sshd
  std::string sshd_unit;
  std::string sshd_state;                   // "active (running)", "inactive (dead)"; "" = unknown
  std::string sshd_socket;                  // "ssh.socket (listening)"; "" = none
  std::uint64_t sshd_read_config_usec = 0;  // when the running sshd last read its files
  std::vector<std::string> drop_ins;
  EffectiveSettings effective_server;  // sshd -T spelling
  EffectiveSettings effective_client;  // ssh -G spelling
  std::vector<std::string> shadowed;   // Shadowing::describe() of the lines that win over ours
  ConfigLineRows config_lines;         // every line that sets what we manage, with its effect
  std::uint32_t users_covered = 0;
  std::uint32_t users_noncompliant = 0;
  std::uint32_t users_unwatched = 0;
  std::uint64_t repairs_total = 0;
  std::uint64_t refusals_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t rollbacks_total = 0;
  std::uint32_t watches_used = 0;
  std::string openssh_version;  // "9.2"; "" = unknown (the worst case is assumed)
  std::string openssh_source;   // "sshd -V" | "ssh -V"; "" = unknown
  KeepaliveRows keepalive;
  std::vector<std::string> keepalive_notes;
  NetworkCheckRows network_checks;
  // Disconnect accounting (issue 17); counts only: users and addresses are per-user data, given
  // through ListDisconnects.
  DisconnectCountRows disconnect_counts;  // the last 24 h, zero rows left out
  DisconnectCountRows disconnect_totals;  // since accounting began, monotonic across restarts
  std::uint64_t last_keepalive_timeout_usec = 0;  // CLOCK_REALTIME; 0 = none kept
  std::string last_keepalive_timeout_network;
  std::uint64_t disconnects_since_usec = 0;  // the oldest time disconnect_counts covers
  std::string journal_state;                 // following | off | unavailable: WHY
  std::string sshd_log_level;                // sshd -T's loglevel, "INFO"; "" = unknown
  // In the journal's state line only (no property): drop-in writes and drift repairs.
  std::uint64_t writes_total = 0;
  std::uint64_t drift_repairs_total = 0;
  friend bool operator==(const DaemonStatus&, const DaemonStatus&) = default;
};

// A property's value, one alternative per D-Bus type the interface uses: s, t, u, as, a{s(ss)},
// a(ssssssus), a(ssxxxxxx), a(sssss), a(sst).
using PropertyValue = std::variant<std::string, std::uint64_t, std::uint32_t,
                                   std::vector<std::string>, EffectiveSettings, ConfigLineRows,
                                   KeepaliveRows, NetworkCheckRows, DisconnectCountRows>;
// The D-Bus signature of the alternative v holds.
const char* signatureOf(const PropertyValue& v);

struct StatusProperty {
  const char* name;       // D-Bus property name
  const char* signature;  // D-Bus type
  PropertyValue (*get)(const DaemonStatus&);
  // Reads a value back into a DaemonStatus (keepalivectl, from GetAll); false: another type, or a
  // spelling this build does not know (a newer daemon's state).
  bool (*set)(DaemonStatus&, const PropertyValue&);
  const char* doc;
  bool constant = false;  // EmitsChangedSignal const: never in PropertiesChanged
  // A plain number also exported as this metric (core/metrics.cpp renders the others by name).
  const char* metric = nullptr;
  const char* metric_type = nullptr;  // gauge | counter
  const char* metric_help = nullptr;
};

// Every property, in the order the metrics file shows them.
std::span<const StatusProperty> statusProperties();
const StatusProperty* findStatusProperty(std::string_view name);
// The properties that hold a time (CLOCK_REALTIME microseconds since the epoch, 0 = none):
// keepalivectl status --json gives each also as ISO 8601 (NameISO) and Unix seconds (NameUnix).
bool isTimeProperty(std::string_view name);

// The properties whose values differ, constant ones left out, in table order.
std::vector<const StatusProperty*> changedProperties(const DaemonStatus& before,
                                                     const DaemonStatus& after);

// A value as one line (keepalivectl show): lists space-separated, settings "k=v (source)"
// comma-separated. each: applied to every string taken from the value (escaping), if given.
std::string showText(const PropertyValue& v, std::string (*each)(std::string_view) = nullptr);

// The journal's (and --foreground's) state line, e.g. "state ok: REASON; generation 3, last apply
// applied, policy sha256:...; effective sshd: ...; effective ssh: ...; reloads 1, writes 2,
// rollbacks 0, drift repairs 0". Admins' and the system tests' patterns match its wording.
std::string journalLine(const DaemonStatus& s);

}  // namespace keepalive::daemon
