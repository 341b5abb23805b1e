#include "state.h"

#include "ports.h"

namespace keepalive::daemon {

const char* toString(StateKind k) {
  switch (k) {
    case StateKind::kStarting:
      return "starting";
    case StateKind::kOk:
      return "ok";
    case StateKind::kDegraded:
      return "degraded";
    case StateKind::kShadowed:
      return "shadowed";
    case StateKind::kPolicyError:
      return "policy-error";
    case StateKind::kRolledBack:
      return "rolled-back";
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
  if (keyword == "Include")
    return "\"" + file + "\" does not include our " + target + " drop-in: add 'Include " +
           (target == "sshd" ? "/etc/ssh/sshd_config.d/*.conf" : "/etc/ssh/ssh_config.d/*.conf") +
           "' at its top" + (target == "sshd" ? " (or set server.ensure_include: true)" : "");
  std::string where = "\"" + file + "\"" + (line > 0 ? ":" + std::to_string(line) : "");
  if (condition == "not in effect")
    return target + " " + keyword + " is " + theirs + ", not our " + ours + " from " + where;
  if (!condition.empty())
    return where + " sets " + keyword + " " + theirs + " for connections matching '" + condition +
           "', overriding our " + ours;
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
