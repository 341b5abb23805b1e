// SPDX-License-Identifier: GPL-2.0-or-later
#include "bus_text.h"

#include "keepalive/escape.h"

#include <utility>
#include <vector>

namespace keepalive::daemon {
namespace {

std::vector<std::string> safeList(std::vector<std::string> v) {
  for (auto& s : v)
    s = busSafe(std::move(s));
  return v;
}

EffectiveSettings safeMap(const EffectiveSettings& m) {
  EffectiveSettings out;
  for (const auto& [k, v] : m)
    out.emplace(busSafe(k), EffectiveSetting{busSafe(v.value), busSafe(v.source)});
  return out;
}

}  // namespace

std::string busSafe(std::string s) {
  return keepalive::escape(s, {keepalive::kEscapeBusMax});
}

DaemonStatus busSafe(const DaemonStatus& s) {
  DaemonStatus o = s;
  o.state_reason = busSafe(s.state_reason);
  o.version = busSafe(s.version);
  o.policy_files = safeList(s.policy_files);
  o.policy_digest = busSafe(s.policy_digest);
  o.last_error = busSafe(s.last_error);
  o.sshd_unit = busSafe(s.sshd_unit);
  o.drop_ins = safeList(s.drop_ins);
  o.effective_server = safeMap(s.effective_server);
  o.effective_client = safeMap(s.effective_client);
  o.shadowed = safeList(s.shadowed);
  o.sshd_state = busSafe(s.sshd_state);
  o.sshd_socket = busSafe(s.sshd_socket);
  for (auto* rows : {&o.disconnect_counts, &o.disconnect_totals})
    for (auto& r : *rows) {
      r.cause = busSafe(std::move(r.cause));
      r.network = busSafe(std::move(r.network));
    }
  o.last_keepalive_timeout_network = busSafe(s.last_keepalive_timeout_network);
  o.journal_state = busSafe(s.journal_state);
  o.sshd_log_level = busSafe(s.sshd_log_level);
  for (auto& r : o.config_lines)
    for (std::string* f :
         {&r.target, &r.effect, &r.keyword, &r.value, &r.ours, &r.file, &r.condition})
      *f = busSafe(std::move(*f));
  return o;
}

}  // namespace keepalive::daemon
