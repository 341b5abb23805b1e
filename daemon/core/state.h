// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's one state record: what the engine decided and observed. The D-Bus object, the
// journal and `--foreground` logs all read it; nothing else keeps state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unit_state.h"

namespace keepalive::daemon {

// How the last policy transaction ended. kNone: none ran yet (the property's "").
enum class ApplyResult : std::uint8_t {
  kNone,
  kApplied,
  kUnchanged,
  kRestored,
  kPolicyError,
  kRolledBack
};
const char* toString(ApplyResult r);
// The policy in force afterwards is the one the transaction wanted (applied, unchanged, restored).
bool succeeded(ApplyResult r);

// What the evidence says, most serious first where several hold (docs/daemon.md, "States"):
//   ok                  the policy is installed, sshd -t accepts the whole tree, sshd -T and ssh -G
//                       show our values, and the running sshd read its files after their last
//                       change (or sshd starts per connection from a listening socket);
//   pending-reload      installed, but the running sshd has not read it (a reload in flight, or
//                       one the unit refused);
//   sshd-stopped        installed and accepted; the unit is inactive and no socket starts it;
//   sshd-config-broken  sshd -t fails for a reason that is not ours: nothing new is installed;
//   shadowed            a value in force is not ours (another file and line wins);
//   policy-invalid      the policy (or what it renders) is rejected: the last good one stays;
//   degraded            users' coverage is incomplete.
enum class StateKind {
  kStarting,
  kOk,
  kPendingReload,
  kSshdStopped,
  kSshdConfigBroken,
  kShadowed,
  kPolicyInvalid,
  kDegraded
};
const char* toString(StateKind k);

// One effective sshd or ssh setting and where it comes from.
struct EffectiveValue {
  std::string keyword;  // sshd -T / ssh -G spelling, lower case
  std::string value;
  std::string source;  // "FILE:LINE", or "sshd default"
  friend bool operator==(const EffectiveValue&, const EffectiveValue&) = default;
};

// What a line of another file that sets a directive we manage does to our value.
enum class LineEffect {
  kShadows,      // it wins everywhere: read before our drop-in (sshd and ssh keep the first value)
  kOverrides,    // it wins for some connections: a Match (or Host) block
  kIneffective,  // it comes after ours and is never used: a scanner reading it is misled
  kNotIncluded,  // the main file does not include our drop-in at all
  kNotInEffect   // the effective value is not ours, and no line explains why
};
const char* toString(LineEffect e);

// A line (or a missing Include) that sets a directive we manage, and its effect on ours.
struct Shadowing {
  std::string target;   // "sshd" or "ssh"
  std::string keyword;  // as written in the config, e.g. "ClientAliveInterval"
  std::string ours;     // our value, or "" when our drop-in is not read at all
  std::string theirs;
  std::string file;
  int line = 0;
  std::string condition;  // "Match User backup" when only some connections are affected
  LineEffect effect = LineEffect::kShadows;
  // Whether it makes a value in force not ours (the state "shadowed"); ineffective lines only
  // mislead readers.
  bool wins() const { return effect != LineEffect::kIneffective; }
  std::string describe() const;
  friend bool operator==(const Shadowing&, const Shadowing&) = default;
};

// The keepalive model's figures (policy::evaluate) for the policy in force: the fleet-wide
// settings (network "") and then each network of the policy, in its order.
struct KeepaliveFigures {
  std::string network;                     // "" for the default: everything outside the networks
  std::string openssh;                     // the version they hold for: "9.2", or the worst case
  std::int64_t probe_after = -1;           // silence before sshd's first probe (k x I); -1 never
  std::int64_t probe_factor = 1;           // k
  std::int64_t client_alive_interval = 0;  // I; 0 = no probes
  std::int64_t dead_client = -1;           // until sshd cuts a dead client; -1 never
  std::int64_t server_alive_interval = 0;  // J; 0 = no probes
  std::int64_t dead_server = -1;           // until ssh drops a dead server; -1 never
  friend bool operator==(const KeepaliveFigures&, const KeepaliveFigures&) = default;
};

// One value sshd -T -C or ssh -G printed for a sample of a network (or of the default): the
// proof that the drop-ins' Match Address and Host blocks serve what the policy says.
struct NetworkCheck {
  std::string network;  // "" for the default
  std::string target;   // "sshd" or "ssh"
  std::string sample;   // "addr=10.20.0.1" (sshd -T -C) or "a.branch.example.com" (ssh -G)
  std::string keyword;  // lower case, as printed
  std::string value;
  friend bool operator==(const NetworkCheck&, const NetworkCheck&) = default;
};

struct State {
  StateKind kind = StateKind::kStarting;
  std::string reason;           // one line a person can read: why the state is what it is
  std::int64_t since_usec = 0;  // CLOCK_REALTIME: when kind last changed

  std::vector<std::string> policy_files;
  std::string policy_digest;         // of the policy in force
  std::uint64_t generation = 0;      // apply attempts since start
  std::int64_t last_apply_usec = 0;  // CLOCK_REALTIME
  ApplyResult last_apply_result = ApplyResult::kNone;
  std::string last_error;
  std::int64_t last_error_usec = 0;    // CLOCK_REALTIME; 0 = none
  std::int64_t policy_since_usec = 0;  // when the policy in force took effect; 0 = none
  std::int64_t last_reload_usec = 0;   // when we last reloaded sshd; 0 = not since start

  std::string sshd_unit;
  UnitState unit;  // as systemd said it at the last settle
  std::vector<std::string> drop_ins;
  std::vector<EffectiveValue> effective_server;
  std::vector<EffectiveValue> effective_client;
  std::vector<Shadowing> shadowed;  // every line of another file that sets what we manage

  // The installed OpenSSH, learnt once (sshd -V, else ssh -V): "9.2", "" when unknown (the
  // figures then assume the worst case over the versions the model knows).
  std::string openssh_version;
  std::string openssh_source;  // "sshd -V" or "ssh -V"; "" when unknown
  std::vector<KeepaliveFigures> keepalive;
  std::vector<std::string> keepalive_notes;  // keepaliveNotes(): what the figures do not say
  std::vector<NetworkCheck> network_checks;  // from the last verification
  // sshd -T's loglevel at the last verification ("INFO"); "" = unknown. Read, not managed
  // (unless the policy sets server.log_level): it says which disconnect causes sshd logs.
  std::string sshd_log_level;

  std::uint64_t writes_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t rollbacks_total = 0;
  std::uint64_t drift_repairs_total = 0;

  // A multi-line summary for logs and --foreground.
  std::string summary() const;
};

}  // namespace keepalive::daemon
