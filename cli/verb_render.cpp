// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <cstdio>

#include "keepalive/io/policy_files.h"
#include "keepalive/policy/render.h"
#include "verbs.h"

namespace keepalive::cli {

int runRender(const Args& args) {
  const std::string host = args.value("host"), root = args.value("root");
  if (args.has("root") && root.empty())
    return usageError("render", "--root needs a non-empty path");
  const bool explainIt = args.has("explain"), onlySshd = args.has("sshd"),
             onlyClient = args.has("client");
  const auto ctx = versionContext(args, "render");
  if (!ctx)
    return kExitUsage;
  const std::vector<std::string>& files = args.operands();
  LoadedPolicy lp = loadPolicyFrom(files, root, *ctx);
  printDiagnostics(lp.diags);
  if (lp.diags.hasErrors()) {
    std::fprintf(stderr, "render: the policy is invalid; nothing rendered\n");
    return kExitPolicy;
  }
  const policy::HostIdentity id = io::localHostIdentity(host);
  // A host can match several overrides at once. validate checks them one and two at a time,
  // which covers every rule today (none involves more than two values); checking this host's own
  // combination keeps that true as rules grow.
  const policy::Diagnostics hostDiags = policy::checkForHost(lp.policy, id, *ctx);
  printDiagnostics(hostDiags);
  if (hostDiags.hasErrors()) {
    std::fprintf(stderr, "render: the policy is invalid for this host; nothing rendered\n");
    return kExitPolicy;
  }
  const policy::Resolved r = policy::resolve(lp.policy, id, *ctx);
  const std::string digest = policy::policyDigest(lp.policy);

  if (explainIt) {
    std::printf("Host:      %s\n", id.names.empty() ? "?" : id.names.front().c_str());
    std::printf("Policy:    ");
    for (std::size_t i = 0; i < lp.policy.files.size(); ++i)
      std::printf("%s%s", i ? "\n           " : "", lp.policy.files[i].c_str());
    std::printf("\nDigest:    %s\n", digest.c_str());
    if (r.applied.empty())
      std::printf("Overrides: none match this host\n");
    for (std::size_t i = 0; i < r.applied.size(); ++i)
      std::printf("%s%s\n", i ? "           " : "Overrides: ", r.applied[i]->describe().c_str());
    // The networks in the order their blocks are rendered: where they overlap, the first wins.
    if (r.networks.empty())
      std::printf("Networks:  none\n");
    for (std::size_t i = 0; i < r.networks.size(); ++i) {
      const auto& n = r.networks[i];
      auto list = [](const std::vector<std::string>& items) {
        std::string out;
        for (const auto& item : items)
          out += (out.empty() ? "" : ", ") + item;
        return out.empty() ? std::string("none") : out;
      };
      std::printf("%s%s (%s)\n", i ? "           " : "Networks:  ", n.name.c_str(),
                  n.pos.str().c_str());
      std::printf("             addresses (sshd Match Address): %s\n", list(n.addresses).c_str());
      std::printf("             destinations (ssh Host): %s\n", list(n.destinations).c_str());
    }
    auto rows = policy::explain(r);
    std::size_t w1 = 6, w2 = 7, w3 = 5;
    for (const auto& e : rows) {
      w1 = std::max(w1, e.target.size());
      w2 = std::max(w2, e.keyword.size());
      w3 = std::max(w3, e.value.size());
    }
    std::printf("\n%-*s  %-*s  %-*s  %s\n", int(w1), "TARGET", int(w2), "SETTING", int(w3), "VALUE",
                "SOURCE");
    for (const auto& e : rows)
      std::printf("%-*s  %-*s  %-*s  %s\n", int(w1), e.target.c_str(), int(w2), e.keyword.c_str(),
                  int(w3), e.value.c_str(), e.source.c_str());
    // What those values do, for the OpenSSH in use: the keepalive model's figures.
    const policy::Baseline baseline =
        lp.policy.baseline ? lp.policy.baseline->value : policy::Baseline::kNone;
    std::printf("\nFigures for %s%s:\n", describeContext(*ctx).c_str(),
                baseline == policy::Baseline::kNone
                    ? ""
                    : (std::string(", baseline ") + policy::toString(baseline)).c_str());
    const policy::ModelInput in = policy::modelInput(r.settings, baseline);
    std::fputs(figuresText(in, policy::evaluate(in, *ctx), "  ").c_str(), stdout);
    for (const auto& n : r.networks) {
      std::printf("\nFigures for network %s:\n", policy::printable(n.name).c_str());
      const policy::ModelInput nin = policy::modelInput(n.settings, baseline);
      std::fputs(figuresText(nin, policy::evaluate(nin, *ctx), "  ").c_str(), stdout);
    }
    return kExitOk;
  }
  const std::string sshd = policy::renderSshd(r, digest);
  const std::string client = policy::renderClient(r, digest);
  if (onlySshd) {
    std::fputs(sshd.c_str(), stdout);
  } else if (onlyClient) {
    std::fputs(client.c_str(), stdout);
  } else {
    std::printf("==> %s <==\n%s\n==> %s <==\n%s", policy::kSshdDropIn, sshd.c_str(),
                policy::kClientDropIn, client.c_str());
  }
  return kExitOk;
}

}  // namespace keepalive::cli
