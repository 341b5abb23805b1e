// SPDX-License-Identifier: GPL-2.0-or-later
// The keepalive model's figures for the status: policy::evaluate() over the policy in force, for
// the fleet-wide settings and each network. Computes nothing itself (model.h is the one place).
#pragma once

#include <string>
#include <vector>

#include "keepalive/policy/policy.h"
#include "state.h"

namespace keepalive::daemon {

// One row for the default (network ""), then one per network of r, in order; r.context is the
// OpenSSH version they hold for.
std::vector<KeepaliveFigures> keepaliveFigures(const policy::Resolved& r);

// What the figures do not say, as sentences: the model's facts for the version in force (the
// busy-session blind spot, ssh's probe delayed by local activity, an unknown version), once each,
// and that keepalives never log out a live idle user when no idle logout is set.
std::vector<std::string> keepaliveNotes(const policy::Resolved& r);

}  // namespace keepalive::daemon
