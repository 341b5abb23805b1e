// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>
#include <nlohmann/json.hpp>

#include "keepalive/policy/advise.h"
#include "keepalive/policy/duration.h"
#include "verbs.h"

namespace keepalive::cli {

namespace {

nlohmann::ordered_json seconds(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// The --json document; its keys are documented in keepalivectl(1) and must not change.
nlohmann::ordered_json adviceJson(const policy::Recommendation& r) {
  const policy::Figures& f = r.figures;
  nlohmann::ordered_json j;
  j["openssh"] = f.openssh;
  j["worst_case"] = f.worst_case;
  j["idle_timeout_seconds"] = r.idle_timeout;
  j["outage_tolerance_seconds"] = seconds(r.outage_tolerance);
  j["baseline"] = policy::toString(r.baseline);
  j["server"] = {
      {"client_alive_interval", f.server.interval},
      {"client_alive_count_max", f.server.count_max},
      {"max_idle_gap_seconds", f.server.max_idle_gap},
      {"dead_client_seconds", seconds(f.server.dead_client)},
      {"probe_factor", f.server.k},
      {"tcp_keepalive", r.input.tcp_keepalive.value_or(true)},
      {"break_survived_seconds", seconds(f.server.break_survived)},
  };
  j["client"] = {
      {"server_alive_interval", f.client.interval},
      {"server_alive_count_max", f.client.count_max},
      {"max_idle_gap_seconds", f.client.max_idle_gap},
      {"dead_server_seconds", seconds(f.client.dead_server)},
      {"break_survived_seconds", seconds(f.client.break_survived)},
  };
  j["putty"] = {
      {"seconds_between_keepalives", r.putty_interval},
      {"tcp_keepalives", false},
      {"detects_dead_server", false},
  };
  j["break_survived_seconds"] = seconds(f.break_survived);
  j["warnings"] = nlohmann::ordered_json::array();
  for (const auto& w : f.warnings)
    j["warnings"].push_back({{"id", w.id}, {"text", w.text}, {"fact", w.fact}});
  return j;
}

}  // namespace

int runAdvise(const Args& args) {
  const std::string idle = args.value("idle-timeout");
  if (idle.empty())
    return usageError("advise", "--idle-timeout is required, e.g. --idle-timeout 10m");
  auto t = policy::parseDuration(idle);
  if (!t.value)
    return usageError("advise", "--idle-timeout '" + policy::printable(idle) + "' " + t.error);
  if (*t.value < 3)
    return usageError("advise", "--idle-timeout must be at least 3s for keepalives to outrun it");
  std::optional<std::int64_t> outage;
  if (args.has("outage-tolerance")) {
    const std::string text = args.value("outage-tolerance");
    auto o = policy::parseDuration(text);
    if (!o.value)
      return usageError("advise",
                        "--outage-tolerance '" + policy::printable(text) + "' " + o.error);
    outage = *o.value;
  }
  policy::Baseline baseline = policy::Baseline::kNone;
  if (args.has("baseline")) {
    const std::string b = args.value("baseline");
    bool found = false;
    for (auto v : {policy::Baseline::kStig, policy::Baseline::kCis, policy::Baseline::kLynis})
      if (b == policy::toString(v)) {
        baseline = v;
        found = true;
      }
    if (!found)
      return usageError("advise",
                        "--baseline '" + policy::printable(b) + "' is not one of stig, cis, lynis");
  }
  const auto ctx = versionContext(args, "advise");
  if (!ctx)
    return kExitUsage;
  const policy::Recommendation r = policy::advise(*t.value, *ctx, outage, baseline);
  if (args.has("json")) {
    std::printf("%s\n", adviceJson(r).dump(2).c_str());
    return kExitOk;
  }
  std::printf("For a NAT or firewall that drops TCP flows idle for %s",
              policy::formatDuration(*t.value).c_str());
  if (outage)
    std::printf(", sessions that must survive a %s break", policy::formatDuration(*outage).c_str());
  if (baseline != policy::Baseline::kNone)
    std::printf(", baseline %s", policy::toString(baseline));
  std::printf(",\nfor %s:\n", describeContext(*ctx).c_str());
  std::string product;
  for (const auto& a : r.advice) {
    if (a.product != product) {
      product = a.product;
      std::printf("\n%s\n", product.c_str());
    }
    std::printf("  %s = %s\n      %s\n", a.setting.c_str(), a.value.c_str(), a.reason.c_str());
  }
  std::printf("\nFigures:\n%s", figuresText(r.input, r.figures, "  ").c_str());
  return kExitOk;
}

}  // namespace keepalive::cli
