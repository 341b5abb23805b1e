// SPDX-License-Identifier: GPL-2.0-or-later
// `keepalivectl advise`: the values a policy with this idle timeout would derive, for sshd, the
// OpenSSH client and PuTTY, with the model's figures for the version in use. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keepalive/policy/model.h"

namespace keepalive::policy {

struct Advice {
  std::string product;  // "sshd", "OpenSSH client", "PuTTY", "policy"
  std::string setting;
  std::string value;
  std::string reason;
};

struct Recommendation {
  ModelContext context;
  Baseline baseline = Baseline::kNone;
  std::int64_t idle_timeout = 0;
  std::optional<std::int64_t> outage_tolerance;
  ModelInput input;                 // the recommended values, every one set
  Figures figures;                  // evaluate(input, context)
  std::int64_t putty_interval = 0;  // PuTTY's "Seconds between keepalives"
  std::vector<Advice> advice;
};

// Recommended settings for a path whose shortest NAT or firewall idle timeout is idleTimeout
// seconds (at least 3): what a policy with network.idle_timeout (and outage_tolerance, baseline)
// derives, so that advise and the policy never disagree.
Recommendation advise(std::int64_t idleTimeout, const ModelContext& ctx,
                      std::optional<std::int64_t> outageTolerance = std::nullopt,
                      Baseline baseline = Baseline::kNone);

}  // namespace keepalive::policy
