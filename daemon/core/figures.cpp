#include "figures.h"

#include "keepalive/policy/model.h"

namespace keepalive::daemon {
namespace {

template <class T>
std::optional<T> valueOf(const policy::Opt<T>& o) {
  return o ? std::optional<T>(o->value) : std::nullopt;
}

#if !KEEPALIVE_MODEL_EVALUATE
// The model's input for one set of effective settings; policy::modelInput() with the model.
policy::ModelInput inputOf(const policy::Settings& s) {
  policy::ModelInput in;
  in.idle_timeout = valueOf(s.network.idle_timeout);
  in.outage_tolerance = valueOf(s.network.outage_tolerance);
  in.client_alive_interval = valueOf(s.server.client_alive_interval);
  in.client_alive_count_max = valueOf(s.server.client_alive_count_max);
  in.server_alive_interval = valueOf(s.client.server_alive_interval);
  in.server_alive_count_max = valueOf(s.client.server_alive_count_max);
  in.tcp_keepalive = valueOf(s.server.tcp_keepalive);
  in.timing = valueOf(s.server.openssh_timing).value_or(policy::OpensshTiming::kAuto);
  return in;
}
#endif

KeepaliveFigures row(const std::string& network, const policy::Settings& s,
                     const policy::ModelContext& ctx) {
  KeepaliveFigures out;
  out.network = network;
#if KEEPALIVE_MODEL_EVALUATE
  const policy::Figures f = policy::evaluate(policy::modelInput(s), ctx);
  out.openssh = f.openssh;
  out.probe_factor = f.server.k;
  out.client_alive_interval = f.server.interval;
  out.probe_after = f.server.interval > 0 ? f.server.max_idle_gap : -1;
  out.dead_client = f.server.dead_client.value_or(-1);
  out.server_alive_interval = f.client.interval;
  out.dead_server = f.client.dead_server.value_or(-1);
#else
  // Until policy::evaluate() is defined (issue 16's model, merged separately): the same figures
  // from probeFactor(), so that the status and its tests work meanwhile. CMakeLists.txt turns
  // KEEPALIVE_MODEL_EVALUATE on by itself once the policy library defines evaluate(); this branch
  // then goes.
  const policy::ModelInput in = inputOf(s);
  const int k = policy::probeFactor(ctx, in.timing);
  const std::int64_t i = in.client_alive_interval.value_or(0);
  const std::int64_t c = in.client_alive_count_max.value_or(policy::kOpensshDefaultCountMax);
  const std::int64_t j = in.server_alive_interval.value_or(0);
  const std::int64_t d = in.server_alive_count_max.value_or(policy::kOpensshDefaultCountMax);
  out.openssh = ctx.openssh ? ctx.openssh->str()
                            : "worst case over OpenSSH " + policy::kOldestKnown.str() + " to " +
                                  policy::kNewestKnown.str();
  out.probe_factor = k;
  out.client_alive_interval = i;
  out.probe_after = i > 0 ? k * i : -1;
  out.dead_client = i > 0 && c > 0 ? k * i * (c + 1) : -1;
  out.server_alive_interval = j;
  out.dead_server = j > 0 ? j * (d + 1) : -1;
#endif
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
