// SPDX-License-Identifier: GPL-2.0-or-later
#include "status.h"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace keepalive::daemon {
namespace {

// A plain member read and written as is.
template <auto M>
PropertyValue getField(const DaemonStatus& s) {
  return s.*M;
}
template <auto M>
bool setField(DaemonStatus& s, const PropertyValue& v) {
  using T = std::remove_cvref_t<decltype(std::declval<DaemonStatus&>().*M)>;
  const T* p = std::get_if<T>(&v);
  if (!p)
    return false;
  s.*M = *p;
  return true;
}

PropertyValue getState(const DaemonStatus& s) {
  return std::string(toString(s.state));
}
bool setState(DaemonStatus& s, const PropertyValue& v) {
  const auto* p = std::get_if<std::string>(&v);
  const auto k = p ? stateKindFromString(*p) : std::nullopt;
  if (k)
    s.state = *k;
  return k.has_value();
}
PropertyValue getResult(const DaemonStatus& s) {
  return std::string(toString(s.last_apply_result));
}
bool setResult(DaemonStatus& s, const PropertyValue& v) {
  const auto* p = std::get_if<std::string>(&v);
  const auto r = p ? applyResultFromString(*p) : std::nullopt;
  if (r)
    s.last_apply_result = *r;
  return r.has_value();
}

// clang-format off
// One row per property. The metrics file shows them in this order (core/metrics.cpp).
const StatusProperty kProperties[] = {
  {"Version", "s", getField<&DaemonStatus::version>, setField<&DaemonStatus::version>,
   "keepalive-policyd's version.", true},
  {"State", "s", getState, setState,
   "starting | ok | pending-reload | sshd-stopped | sshd-config-broken | shadowed | "
   "policy-invalid | degraded (docs/daemon.md, States)."},
  {"StateReason", "s", getField<&DaemonStatus::state_reason>, setField<&DaemonStatus::state_reason>,
   "Why the state is what it is, in one line. Names no user (counts only)."},
  {"StateSince", "t", getField<&DaemonStatus::state_since_usec>,
   setField<&DaemonStatus::state_since_usec>,
   "When the state last changed, in microseconds since the epoch; 0 = unknown."},
  {"PolicyFiles", "as", getField<&DaemonStatus::policy_files>, setField<&DaemonStatus::policy_files>,
   "The files of the policy in force, in merge order."},
  {"PolicyDigest", "s", getField<&DaemonStatus::policy_digest>, setField<&DaemonStatus::policy_digest>,
   "sha256:... of the policy in force; empty before one was applied."},
  {"Generation", "t", getField<&DaemonStatus::generation>, setField<&DaemonStatus::generation>,
   "Policy transactions since the daemon started.", false,
   "keepalive_policy_generation", "gauge", "Policy transactions since keepalive-policyd started."},
  {"LastApplyTime", "t", getField<&DaemonStatus::last_apply_usec>, setField<&DaemonStatus::last_apply_usec>,
   "When the last transaction ended, in microseconds since the epoch; 0 = never."},
  {"LastApplyResult", "s", getResult, setResult,
   "applied | unchanged | restored | policy-error | rolled-back; empty = none yet."},
  {"LastError", "s", getField<&DaemonStatus::last_error>, setField<&DaemonStatus::last_error>,
   "The last error of a policy transaction, as context: object: reason; empty = none."},
  {"LastErrorTime", "t", getField<&DaemonStatus::last_error_usec>,
   setField<&DaemonStatus::last_error_usec>,
   "When LastError happened, in microseconds since the epoch; 0 = none."},
  {"PolicySince", "t", getField<&DaemonStatus::policy_since_usec>,
   setField<&DaemonStatus::policy_since_usec>,
   "When the policy in force took effect (kept across restarts); 0 = none."},
  {"LastReloadTime", "t", getField<&DaemonStatus::last_reload_usec>,
   setField<&DaemonStatus::last_reload_usec>,
   "When keepalive-policyd last reloaded sshd; 0 = not since it started."},
  {"SshdUnit", "s", getField<&DaemonStatus::sshd_unit>, setField<&DaemonStatus::sshd_unit>,
   "The systemd unit reloaded for sshd; empty when reloads are off."},
  {"SshdState", "s", getField<&DaemonStatus::sshd_state>, setField<&DaemonStatus::sshd_state>,
   "The sshd unit's state as systemd reports it, e.g. active (running); empty = unknown."},
  {"SshdSocket", "s", getField<&DaemonStatus::sshd_socket>, setField<&DaemonStatus::sshd_socket>,
   "The socket unit that starts sshd and whether it listens, e.g. ssh.socket (listening)."},
  {"SshdReadConfigTime", "t", getField<&DaemonStatus::sshd_read_config_usec>,
   setField<&DaemonStatus::sshd_read_config_usec>,
   "When the running sshd last read its configuration (its start or last reload); 0 = unknown."},
  {"DropIns", "as", getField<&DaemonStatus::drop_ins>, setField<&DaemonStatus::drop_ins>,
   "The drop-ins the daemon installs."},
  {"EffectiveServer", "a{s(ss)}", getField<&DaemonStatus::effective_server>,
   setField<&DaemonStatus::effective_server>,
   "sshd's effective keepalive settings (sshd -T): keyword -> (value, source)."},
  {"EffectiveClient", "a{s(ss)}", getField<&DaemonStatus::effective_client>,
   setField<&DaemonStatus::effective_client>,
   "ssh's effective keepalive settings (ssh -G): keyword -> (value, source)."},
  {"Shadowed", "as", getField<&DaemonStatus::shadowed>, setField<&DaemonStatus::shadowed>,
   "Settings another file wins over ours for, each naming that file and line."},
  {"ConfigLines", "a(ssssssus)", getField<&DaemonStatus::config_lines>,
   setField<&DaemonStatus::config_lines>,
   "Every line of sshd's and ssh's configuration that sets a directive we manage: (target, "
   "effect shadows|overrides|ineffective|not-included|not-in-effect, keyword, value, ours, "
   "file, line, condition)."},
  {"UsersCovered", "u", getField<&DaemonStatus::users_covered>, setField<&DaemonStatus::users_covered>,
   "Users whose ~/.ssh/config the policy covers.", false,
   "keepalive_policy_users_covered", "gauge", "Users whose ~/.ssh/config the policy covers."},
  {"UsersNonCompliant", "u", getField<&DaemonStatus::users_noncompliant>,
   setField<&DaemonStatus::users_noncompliant>,
   "Covered users whose state is neither ok nor repaired (ListUsers' noncompliant filter).", false,
   "keepalive_policy_users_noncompliant", "gauge",
   "Covered users whose state is neither ok nor repaired."},
  {"UsersUnwatched", "u", getField<&DaemonStatus::users_unwatched>, setField<&DaemonStatus::users_unwatched>,
   "Covered users without an inotify watch: checked by rescans only.", false,
   "keepalive_policy_users_unwatched", "gauge",
   "Covered users without an inotify watch (watch limit reached), checked by rescans only."},
  {"RepairsTotal", "t", getField<&DaemonStatus::repairs_total>, setField<&DaemonStatus::repairs_total>,
   "Repairs of users' ~/.ssh and ~/.ssh/config since start.", false,
   "keepalive_policy_repairs_total", "counter",
   "Repairs since keepalive-policyd started: users' files and drop-ins restored after drift."},
  {"RefusalsTotal", "t", getField<&DaemonStatus::refusals_total>, setField<&DaemonStatus::refusals_total>,
   "Repairs refused since start (unsafe files: symlinks, foreign owners, ...).", false,
   "keepalive_policy_refusals_total", "counter",
   "Repairs refused since keepalive-policyd started (unsafe files: symlinks, foreign owners, "
   "...)."},
  {"ReloadsTotal", "t", getField<&DaemonStatus::reloads_total>, setField<&DaemonStatus::reloads_total>,
   "sshd reloads since start.", false,
   "keepalive_policy_reloads_total", "counter", "sshd reloads since keepalive-policyd started."},
  {"RollbacksTotal", "t", getField<&DaemonStatus::rollbacks_total>, setField<&DaemonStatus::rollbacks_total>,
   "Transactions rolled back since start.", false,
   "keepalive_policy_rollbacks_total", "counter",
   "Policy transactions rolled back since keepalive-policyd started."},
  {"OpensshVersion", "s", getField<&DaemonStatus::openssh_version>,
   setField<&DaemonStatus::openssh_version>,
   "The installed OpenSSH's version, learnt once at start (sshd -V, else ssh -V), e.g. 9.2; empty = "
   "unknown: the figures assume the worst case over the versions the model knows.", true},
  {"OpensshVersionSource", "s", getField<&DaemonStatus::openssh_source>,
   setField<&DaemonStatus::openssh_source>,
   "How OpensshVersion was learnt: sshd -V | ssh -V; empty = unknown.", true},
  {"Keepalive", "a(ssxxxxxx)", getField<&DaemonStatus::keepalive>,
   setField<&DaemonStatus::keepalive>,
   "The keepalive model's figures for the policy in force, the default (network \"\") first, then "
   "each network: (network, OpenSSH version they hold for, seconds of silence before sshd's first "
   "probe, k, ClientAliveInterval, seconds until a dead client is cut, ServerAliveInterval, "
   "seconds until a dead server is dropped); -1 = never."},
  {"KeepaliveNotes", "as", getField<&DaemonStatus::keepalive_notes>,
   setField<&DaemonStatus::keepalive_notes>,
   "What the Keepalive figures do not say, one sentence each: the model's facts for the OpenSSH "
   "version in force (a busy session never probed, an unknown version, ...) and that keepalives "
   "never log out a live idle user."},
  {"Networks", "a(sssss)", getField<&DaemonStatus::network_checks>,
   setField<&DaemonStatus::network_checks>,
   "What sshd -T -C and ssh -G served, at the last verification, for a sample address or host "
   "name of the default (network \"\") and of each network: (network, target sshd|ssh, sample, "
   "keyword, value)."},
  {"DisconnectCounts", "a(sst)", getField<&DaemonStatus::disconnect_counts>,
   setField<&DaemonStatus::disconnect_counts>,
   "How SSH sessions ended in the last 24 h, from sshd's journal lines: (cause, network, count); "
   "cause keepalive-timeout | reset | timed-out | broken-pipe | closed | logout | unknown, network "
   "as the policy's networks: name it (\"default\" outside every network); rows with no session "
   "are left out. Counts only: who and from where is ListDisconnects'."},
  {"DisconnectTotals", "a(sst)", getField<&DaemonStatus::disconnect_totals>,
   setField<&DaemonStatus::disconnect_totals>,
   "Sessions' ends since accounting began, as DisconnectCounts: monotonic, across restarts too "
   "(kept in /var/lib/keepalive-policy/disconnects.json)."},
  {"LastKeepaliveTimeout", "t", getField<&DaemonStatus::last_keepalive_timeout_usec>,
   setField<&DaemonStatus::last_keepalive_timeout_usec>,
   "When the newest keepalive-timeout kept (7 days at most) ended its session, in microseconds "
   "since the epoch; 0 = none."},
  {"LastKeepaliveTimeoutNetwork", "s", getField<&DaemonStatus::last_keepalive_timeout_network>,
   setField<&DaemonStatus::last_keepalive_timeout_network>,
   "The network of that session; empty = none."},
  {"DisconnectsSince", "t", getField<&DaemonStatus::disconnects_since_usec>,
   setField<&DaemonStatus::disconnects_since_usec>,
   "The oldest time DisconnectCounts covers, in microseconds since the epoch: 24 h ago, or when "
   "accounting began if later; 0 = not begun."},
  {"JournalState", "s", getField<&DaemonStatus::journal_state>,
   setField<&DaemonStatus::journal_state>,
   "following (sshd's journal lines are read as they come) | off (keepalive-policyd runs "
   "with journal none) | unavailable: WHY."},
  {"SshdLogLevel", "s", getField<&DaemonStatus::sshd_log_level>,
   setField<&DaemonStatus::sshd_log_level>,
   "sshd's LogLevel as sshd -T printed it at the last verification (QUIET ... VERBOSE, DEBUG1..3); "
   "empty = unknown. Below VERBOSE, OpenSSH before 9.8 does not log the read errors behind reset "
   "and timed-out."},
  {"WatchesUsed", "u", getField<&DaemonStatus::watches_used>, setField<&DaemonStatus::watches_used>,
   "inotify watches the daemon holds.", false,
   "keepalive_policy_inotify_watches", "gauge", "inotify watches keepalive-policyd holds."},
};
// clang-format on

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

const char* toString(ApplyResult r) {
  switch (r) {
    case ApplyResult::kNone:
      return "";
    case ApplyResult::kApplied:
      return "applied";
    case ApplyResult::kUnchanged:
      return "unchanged";
    case ApplyResult::kRestored:
      return "restored";
    case ApplyResult::kPolicyError:
      return "policy-error";
    case ApplyResult::kRolledBack:
      return "rolled-back";
  }
  return "";
}

bool succeeded(ApplyResult r) {
  return r == ApplyResult::kApplied || r == ApplyResult::kUnchanged || r == ApplyResult::kRestored;
}

std::optional<ApplyResult> applyResultFromString(std::string_view s) {
  for (auto r : {ApplyResult::kNone, ApplyResult::kApplied, ApplyResult::kUnchanged,
                 ApplyResult::kRestored, ApplyResult::kPolicyError, ApplyResult::kRolledBack})
    if (s == toString(r))
      return r;
  return std::nullopt;
}

std::optional<LineEffect> lineEffectFromString(std::string_view s) {
  for (auto e : {LineEffect::kShadows, LineEffect::kOverrides, LineEffect::kIneffective,
                 LineEffect::kNotIncluded, LineEffect::kNotInEffect})
    if (s == toString(e))
      return e;
  return std::nullopt;
}

ConfigLineRow toRow(const Shadowing& s) {
  return {s.target,
          toString(s.effect),
          s.keyword,
          s.theirs,
          s.ours,
          s.file,
          static_cast<std::uint32_t>(s.line > 0 ? s.line : 0),
          s.condition};
}

Shadowing fromRow(const ConfigLineRow& r) {
  Shadowing s{r.target, r.keyword, r.ours, r.value, r.file, static_cast<int>(r.line), r.condition};
  s.effect = lineEffectFromString(r.effect).value_or(LineEffect::kShadows);
  return s;
}

std::optional<StateKind> stateKindFromString(std::string_view s) {
  for (auto k : kAllStates)
    if (s == toString(k))
      return k;
  return std::nullopt;
}

const char* signatureOf(const PropertyValue& v) {
  static const char* const kSignatures[] = {
      "s", "t", "u", "as", "a{s(ss)}", "a(ssssssus)", "a(ssxxxxxx)", "a(sssss)", "a(sst)"};
  static_assert(std::variant_size_v<PropertyValue> == std::size(kSignatures));
  return kSignatures[v.index()];
}

std::span<const StatusProperty> statusProperties() {
  return kProperties;
}

bool isTimeProperty(std::string_view name) {
  static constexpr std::string_view kTimes[] = {
      "StateSince",     "LastApplyTime",      "LastErrorTime",        "PolicySince",
      "LastReloadTime", "SshdReadConfigTime", "LastKeepaliveTimeout", "DisconnectsSince"};
  return std::find(std::begin(kTimes), std::end(kTimes), name) != std::end(kTimes);
}

const StatusProperty* findStatusProperty(std::string_view name) {
  for (const auto& p : kProperties)
    if (name == p.name)
      return &p;
  return nullptr;
}

std::vector<const StatusProperty*> changedProperties(const DaemonStatus& before,
                                                     const DaemonStatus& after) {
  std::vector<const StatusProperty*> out;
  for (const auto& p : kProperties)
    if (!p.constant && p.get(before) != p.get(after))
      out.push_back(&p);
  return out;
}

std::string showText(const PropertyValue& v, std::string (*each)(std::string_view)) {
  auto str = [each](const std::string& s) { return each ? each(s) : s; };
  return std::visit(
      Overloaded{[&](const std::string& s) { return str(s); },
                 [](std::uint64_t n) { return std::to_string(n); },
                 [](std::uint32_t n) { return std::to_string(n); },
                 [&](const std::vector<std::string>& l) {
                   std::string out;
                   for (const auto& s : l)
                     out += (out.empty() ? "" : " ") + str(s);
                   return out;
                 },
                 [&](const EffectiveSettings& m) {
                   std::string out;
                   for (const auto& [k, e] : m)
                     out += (out.empty() ? "" : ", ") + str(k) + "=" + str(e.value) + " (" +
                            str(e.source) + ")";
                   return out;
                 },
                 [&](const ConfigLineRows& rows) {
                   std::string out;
                   for (const auto& r : rows)
                     out += (out.empty() ? "" : ", ") + str(r.effect) + " " + str(r.file) + ":" +
                            std::to_string(r.line) + " " + str(r.keyword) + " " + str(r.value);
                   return out;
                 },
                 [&](const KeepaliveRows& rows) {
                   std::string out;
                   for (const auto& r : rows)
                     out += (out.empty() ? "" : ", ") +
                            str(r.network.empty() ? "default" : r.network) + " (" + str(r.openssh) +
                            ") probe_after=" + std::to_string(r.probe_after) +
                            " k=" + std::to_string(r.probe_factor) +
                            " client_alive_interval=" + std::to_string(r.client_alive_interval) +
                            " dead_client=" + std::to_string(r.dead_client) +
                            " server_alive_interval=" + std::to_string(r.server_alive_interval) +
                            " dead_server=" + std::to_string(r.dead_server);
                   return out;
                 },
                 [&](const NetworkCheckRows& rows) {
                   std::string out;
                   for (const auto& r : rows)
                     out += (out.empty() ? "" : ", ") +
                            str(r.network.empty() ? "default" : r.network) + " " + str(r.target) +
                            " " + str(r.sample) + " " + str(r.keyword) + "=" + str(r.value);
                   return out;
                 },
                 [&](const DisconnectCountRows& rows) {
                   std::string out;
                   for (const auto& r : rows)
                     out += (out.empty() ? "" : ", ") + str(r.cause) + "@" + str(r.network) + "=" +
                            std::to_string(r.count);
                   return out;
                 }},
      v);
}

namespace {

// The interval first, as the policy and sshd -T name them (ClientAliveInterval, then
// ClientAliveCountMax), then the others by keyword: admins' patterns start at the interval.
void appendSettings(std::string& out, const EffectiveSettings& m) {
  auto interval = [](const std::string& k) {
    return k.size() >= 8 && k.compare(k.size() - 8, 8, "interval") == 0;
  };
  for (const bool first : {true, false})
    for (const auto& [k, e] : m)
      if (interval(k) == first)
        out += " " + k + "=" + e.value + " (" + e.source + ")";
}

}  // namespace

std::string journalLine(const DaemonStatus& s) {
  std::string out = std::string("state ") + toString(s.state) + ": " + s.state_reason;
  out += "; generation " + std::to_string(s.generation) + ", last apply " +
         (s.last_apply_result == ApplyResult::kNone ? "none" : toString(s.last_apply_result));
  if (!s.policy_digest.empty())
    out += ", policy " + s.policy_digest;
  out += "; effective sshd:";
  appendSettings(out, s.effective_server);
  out += "; effective ssh:";
  appendSettings(out, s.effective_client);
  out += "; reloads " + std::to_string(s.reloads_total) + ", writes " +
         std::to_string(s.writes_total) + ", rollbacks " + std::to_string(s.rollbacks_total) +
         ", drift repairs " + std::to_string(s.drift_repairs_total);
  return out;
}

}  // namespace keepalive::daemon
