// SPDX-License-Identifier: GPL-2.0-or-later
// The keepalive policy language, version 1: the typed model, loading (parse + per-file checks +
// merge), per-host resolution and the semantic rules. Pure: no I/O, no syscalls. The fields below
// are the typed storage; each setting's key, type, default, range and directive are declared once
// in schema.h, and the code that reads, merges, resolves and renders them derives from there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/model.h"

namespace keepalive::policy {

inline constexpr std::int64_t kSupportedVersion = 1;
// OpenSSH's own defaults, used to reason about values the policy leaves to sshd and ssh.
inline constexpr std::int64_t kOpensshDefaultCountMax = 3;

// A value and where it came from. derived values carry the position of what they were derived
// from and a note saying how.
template <class T>
struct Value {
  T value{};
  SourcePos pos;
  bool derived = false;
  std::string note;
};
template <class T>
using Opt = std::optional<Value<T>>;
template <class T>
Value<T> valueAt(T v, SourcePos pos) {
  Value<T> out;
  out.value = std::move(v);
  out.pos = std::move(pos);
  return out;
}

enum class UserAction { kEnforce, kReport, kOff };
const char* toString(UserAction a);

// server.log_level: the LogLevel the sshd drop-in sets. Only the two levels that log each
// session's start and end without users' private data (docs/policy.md §6.4); sshd_config(5)'s
// other levels are refused while reading (schema.h, EnumWords<SshdLogLevel>::kRefused).
enum class SshdLogLevel { kVerbose, kInfo };
const char* toString(SshdLogLevel l);  // "verbose", "info"

struct NetworkSection {
  Opt<std::int64_t> idle_timeout;      // seconds
  Opt<std::int64_t> outage_tolerance;  // seconds: the break sessions must survive
};

struct ServerSection {
  Opt<std::int64_t> client_alive_interval;  // seconds, 0 disables
  Opt<std::int64_t> client_alive_count_max;
  Opt<bool> tcp_keepalive;
  Opt<bool> ensure_include;  // insert "Include sshd_config.d/*.conf" into sshd_config if missing
  Opt<OpensshTiming> openssh_timing;
  Opt<std::int64_t> idle_logout;                // seconds: ChannelTimeout session=...
  Opt<std::int64_t> unused_connection_timeout;  // seconds: UnusedConnectionTimeout
  Opt<SshdLogLevel> log_level;                  // LogLevel VERBOSE | INFO
};

struct ClientSection {
  Opt<std::int64_t> server_alive_interval;  // seconds, 0 disables
  Opt<std::int64_t> server_alive_count_max;
  Opt<bool> tcp_keepalive;
  Opt<bool> per_user_block;  // manage a marked "Host *" block at the end of ~/.ssh/config
};

struct UsersSection {
  Opt<UserAction> action;
  Opt<std::int64_t> min_uid;
  Opt<std::vector<Value<std::string>>> exclude;  // globs on user names
  Opt<std::int64_t> config_mode;                 // permission bits, e.g. 0600
  Opt<std::int64_t> ssh_dir_mode;                // permission bits, e.g. 0700
};

// The sections a host override may set, too.
struct Settings {
  NetworkSection network;
  ServerSection server;
  ClientSection client;
  UsersSection users;
};

// One entry of networks: a path with its own idle timeout. Its settings hold only network.*,
// server.client_alive_interval/_count_max and client.server_alive_interval/_count_max.
struct NetworkEntry {
  SourcePos pos;  // the list item
  Value<std::string> name;
  std::vector<Value<std::string>> addresses;     // client addresses as sshd sees them: CIDRs
  std::vector<Value<std::string>> destinations;  // hosts as ssh sees them: ssh_config patterns
  Settings settings;
};

struct HostOverride {
  SourcePos pos;                          // the list item
  std::vector<Value<std::string>> match;  // globs on the short or fully qualified host name
  Settings settings;
  Opt<std::vector<NetworkEntry>> networks;  // merged by name into the fleet's networks
  std::string describe() const;  // "hosts matching db-*, *.dmz.example.com (FILE:LINE:COL)"
};

struct Policy {
  std::vector<std::string> files;  // in merge order
  Opt<std::int64_t> version;
  Opt<std::int64_t> reconcile_interval;  // seconds, 0 disables
  Opt<Baseline> baseline;
  Settings base;
  Opt<std::vector<NetworkEntry>> networks;
  Opt<std::vector<HostOverride>> hosts;
};

struct PolicyFile {
  std::string path;
  std::string text;
};

// Parses and checks every file on its own (types, keys, syntax), then deep-merges them in order: a
// later file's value wins; lists are replaced whole, with a warning. Then runs the semantic rules
// for the fleet-wide settings and for every host override. The result is meaningful only when
// diags has no errors.
// ctx: the OpenSSH version the rules judge the values for (none: the worst case over versions).
Policy loadPolicy(const std::vector<PolicyFile>& files, Diagnostics& diags,
                  const ModelContext& ctx = {});

// The names a host answers to, lower-cased: the kernel host name, its short form and, when known,
// the fully qualified name.
struct HostIdentity {
  std::vector<std::string> names;
  static HostIdentity fromName(const std::string& name, const std::string& fqdn = {});
};
bool hostMatches(const HostOverride& o, const HostIdentity& host);

// The policy as it applies to one host: overrides applied in order, intervals derived from
// network.idle_timeout where omitted, defaults filled in for the daemon's own settings.
// A network as it applies to one host: the fleet's entry with the host overrides' entries of the
// same name merged over it, and its omitted values derived by the model.
struct ResolvedNetwork {
  std::string name;
  SourcePos pos;
  std::vector<std::string> addresses;
  std::vector<std::string> destinations;
  Settings settings;  // effective: base's values, the entry's over them, then derived
};

struct Resolved {
  ModelContext context;                 // the version the values were derived for
  Baseline baseline = Baseline::kNone;  // the policy's, for what explain() says of unset values
  Settings settings;
  std::vector<ResolvedNetwork> networks;     // in policy order
  std::vector<const HostOverride*> applied;  // points into the Policy it was resolved from
  Value<std::int64_t> reconcile_interval;
  // users: with defaults filled in
  Value<UserAction> users_action;
  Value<std::int64_t> users_min_uid;
  std::vector<Value<std::string>> users_exclude;
  Value<std::int64_t> users_config_mode;
  Value<std::int64_t> users_ssh_dir_mode;
  Value<bool> ensure_include;
  Value<bool> per_user_block;
};
Resolved resolve(const Policy& p, const HostIdentity& host, const ModelContext& ctx = {});

// The semantic rules (the seed's lessons) for one set of effective settings. Positions point at
// the values concerned; context, when not empty, is added to every message.
void checkSettings(const Settings& effective, Diagnostics& diags, const ModelContext& ctx = {},
                   Baseline baseline = Baseline::kNone);

// The rules again, for the settings one host actually gets: a host may match any number of
// overrides, and loadPolicy checks single overrides and pairs only.
Diagnostics checkForHost(const Policy& p, const HostIdentity& host, const ModelContext& ctx = {});

// Applies the overrides' settings over base.
Settings overlay(const Settings& base, const Settings& over);
// Fills in what the policy omits, through the model (model.h): the intervals from
// network.idle_timeout (idle_timeout / (k + 1) for sshd, / 2 for ssh, capped), and the counts
// where network.outage_tolerance or the baseline ask for them. Each derived value carries a note
// saying how.
void deriveIntervals(Settings& s, const ModelContext& ctx = {},
                     Baseline baseline = Baseline::kNone);
// The model's input for one set of effective settings.
ModelInput modelInput(const Settings& s, Baseline baseline = Baseline::kNone);

// A stable text of the policy's meaning (not its spelling): comments, order and formatting do not
// change it. Its SHA-256 is the policy digest.
std::string canonicalText(const Policy& p);
std::string policyDigest(const Policy& p);  // "sha256:<hex>"

}  // namespace keepalive::policy
