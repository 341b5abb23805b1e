// SPDX-License-Identifier: GPL-2.0-or-later
#include "figures.h"

#include <algorithm>

#include "keepalive/policy/model.h"
#include "keepalive/policy/policy.h"

namespace keepalive::daemon {
namespace {

KeepaliveFigures row(const std::string& network, const policy::Settings& s,
                     const policy::ModelContext& ctx) {
  KeepaliveFigures out;
  out.network = network;
  const policy::Figures f = policy::evaluate(policy::modelInput(s), ctx);
  out.openssh = f.openssh;
  out.probe_factor = f.server.k;
  out.client_alive_interval = f.server.interval;
  out.probe_after = f.server.interval > 0 ? f.server.max_idle_gap : -1;
  out.dead_client = f.server.dead_client.value_or(-1);
  out.server_alive_interval = f.client.interval;
  out.dead_server = f.client.dead_server.value_or(-1);
  return out;
}

}  // namespace

std::vector<std::string> keepaliveNotes(const policy::Resolved& r) {
  std::vector<std::string> out, ids;
  auto add = [&](const policy::Settings& s) {
    for (const auto& w : policy::evaluate(policy::modelInput(s), r.context).warnings) {
      if (!w.fact || std::find(ids.begin(), ids.end(), w.id) != ids.end())
        continue;
      ids.push_back(w.id);
      out.push_back(w.text);
    }
  };
  add(r.settings);
  for (const auto& n : r.networks)
    add(n.settings);
  if (!r.settings.server.idle_logout && r.settings.server.client_alive_interval &&
      r.settings.server.client_alive_interval->value > 0)
    out.emplace_back(
        "ClientAlive probes cut dead clients only: a live idle client answers them, so its "
        "session stays open however long it is idle; server.idle_logout (ChannelTimeout) closes "
        "live idle sessions");
  return out;
}

std::vector<KeepaliveFigures> keepaliveFigures(const policy::Resolved& r) {
  std::vector<KeepaliveFigures> out;
  out.push_back(row("", r.settings, r.context));
  for (const auto& n : r.networks)
    out.push_back(row(n.name, n.settings, r.context));
  return out;
}

}  // namespace keepalive::daemon
