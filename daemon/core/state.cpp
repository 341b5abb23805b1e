// SPDX-License-Identifier: GPL-2.0-or-later
#include "state.h"

#include "ports.h"

namespace keepalive::daemon {

const char* toString(StateKind k) {
  switch (k) {
    case StateKind::kStarting:
      return "starting";
    case StateKind::kOk:
      return "ok";
    case StateKind::kPendingReload:
      return "pending-reload";
    case StateKind::kSshdStopped:
      return "sshd-stopped";
    case StateKind::kSshdConfigBroken:
      return "sshd-config-broken";
    case StateKind::kShadowed:
      return "shadowed";
    case StateKind::kPolicyInvalid:
      return "policy-invalid";
    case StateKind::kDegraded:
      return "degraded";
  }
  return "?";
}

const char* toString(LineEffect e) {
  switch (e) {
    case LineEffect::kShadows:
      return "shadows";
    case LineEffect::kOverrides:
      return "overrides";
    case LineEffect::kIneffective:
      return "ineffective";
    case LineEffect::kNotIncluded:
      return "not-included";
    case LineEffect::kNotInEffect:
      return "not-in-effect";
  }
  return "?";
}

const char* toString(UnitState::Activity a) {
  switch (a) {
    case UnitState::Activity::kUnknown:
      return "unknown";
    case UnitState::Activity::kActive:
      return "active";
    case UnitState::Activity::kReloading:
      return "reloading";
    case UnitState::Activity::kActivating:
      return "activating";
    case UnitState::Activity::kDeactivating:
      return "deactivating";
    case UnitState::Activity::kInactive:
      return "inactive";
    case UnitState::Activity::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* toString(Target t) {
  return t == Target::kSshd ? "sshd" : "ssh";
}

std::string Shadowing::describe() const {
  const std::string where = "\"" + file + "\"" + (line > 0 ? ":" + std::to_string(line) : "");
  switch (effect) {
    case LineEffect::kNotIncluded:
      return "\"" + file + "\" does not include our " + target + " drop-in: add 'Include " +
             (target == "sshd" ? "/etc/ssh/sshd_config.d/*.conf" : "/etc/ssh/ssh_config.d/*.conf") +
             "' at its top" + (target == "sshd" ? " (or set server.ensure_include: true)" : "");
    case LineEffect::kNotInEffect:
      // condition: the network and sample whose proof failed ("network branch-nat (sshd -T -C
      // addr=10.20.0.1)"); empty for the fleet-wide values.
      return target + " " + keyword + " is " + theirs +
             (condition.empty() ? "" : " for " + condition) + ", not our " + ours + " from " +
             where;
    case LineEffect::kOverrides:
      return where + " sets " + keyword + " " + theirs + " for connections matching '" + condition +
             "', overriding our " + ours;
    case LineEffect::kIneffective:
      return where + " sets " + keyword + " " + theirs +
             (condition.empty() ? "" : " (in '" + condition + "')") +
             " after our drop-in: " + target +
             " keeps the first value it reads, so this line has no effect (ours, " + ours +
             ", is in force)";
    case LineEffect::kShadows:
      break;
  }
  return where + " sets " + keyword + " " + theirs + " before our drop-in is read, shadowing our " +
         ours + " (" + target + " keeps the first value it reads)";
}

std::string State::summary() const {
  std::string s = std::string("state ") + toString(kind) + ": " + reason;
  s += "; generation " + std::to_string(generation) + ", last apply " +
       (last_apply_result == ApplyResult::kNone ? "none" : toString(last_apply_result));
  if (!policy_digest.empty())
    s += ", policy " + policy_digest;
  s += "; effective sshd:";
  for (const auto& e : effective_server)
    s += " " + e.keyword + "=" + e.value + " (" + e.source + ")";
  s += "; effective ssh:";
  for (const auto& e : effective_client)
    s += " " + e.keyword + "=" + e.value + " (" + e.source + ")";
  s += "; reloads " + std::to_string(reloads_total) + ", writes " + std::to_string(writes_total) +
       ", rollbacks " + std::to_string(rollbacks_total) + ", drift repairs " +
       std::to_string(drift_repairs_total);
  return s;
}

}  // namespace keepalive::daemon
