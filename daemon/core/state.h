// The daemon's one state record: what the engine decided and observed. The D-Bus object, the
// journal and `--foreground` logs all read it; nothing else keeps state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

enum class StateKind { kStarting, kOk, kDegraded, kShadowed, kPolicyError, kRolledBack };
const char* toString(StateKind k);

// One effective sshd or ssh setting and where it comes from.
struct EffectiveValue {
  std::string keyword;  // sshd -T / ssh -G spelling, lower case
  std::string value;
  std::string source;  // "FILE:LINE", or "sshd default"
  friend bool operator==(const EffectiveValue&, const EffectiveValue&) = default;
};

// Another file wins over ours for a keyword (sshd keeps the first value it reads; a Match block
// overrides for the connections it matches).
struct Shadowing {
  std::string target;   // "sshd" or "ssh"
  std::string keyword;  // as written in the config, e.g. "ClientAliveInterval"
  std::string ours;     // our value, or "" when our drop-in is not read at all
  std::string theirs;
  std::string file;
  int line = 0;
  std::string condition;  // "Match User backup" when only some connections are affected
  std::string describe() const;
  friend bool operator==(const Shadowing&, const Shadowing&) = default;
};

struct State {
  StateKind kind = StateKind::kStarting;
  std::string reason;  // one line a person can read: why the state is what it is

  std::vector<std::string> policy_files;
  std::string policy_digest;         // of the policy in force
  std::uint64_t generation = 0;      // apply attempts since start
  std::int64_t last_apply_usec = 0;  // CLOCK_REALTIME
  ApplyResult last_apply_result = ApplyResult::kNone;
  std::string last_error;

  std::string sshd_unit;
  std::vector<std::string> drop_ins;
  std::vector<EffectiveValue> effective_server;
  std::vector<EffectiveValue> effective_client;
  std::vector<Shadowing> shadowed;

  std::uint64_t writes_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t rollbacks_total = 0;
  std::uint64_t drift_repairs_total = 0;

  // A multi-line summary for logs and --foreground.
  std::string summary() const;
};

}  // namespace keepalive::daemon
