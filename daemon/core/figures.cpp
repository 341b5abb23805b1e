#include "figures.h"

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

std::vector<KeepaliveFigures> keepaliveFigures(const policy::Resolved& r) {
  std::vector<KeepaliveFigures> out;
  out.push_back(row("", r.settings, r.context));
  for (const auto& n : r.networks)
    out.push_back(row(n.name, n.settings, r.context));
  return out;
}

}  // namespace keepalive::daemon
