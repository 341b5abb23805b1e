// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runReload(const Args&) {
  return withDaemon("reload", [&] {
    ManagerClient client(kReloadTimeout);
    const auto [generation, result] = client.reload();
    const bool inForce = result == "applied" || result == "unchanged";
    std::printf("generation %llu: %s (%s)\n", static_cast<unsigned long long>(generation),
                printable(result).c_str(),
                inForce ? "the policy is in force"
                        : "the last good policy stays in force; see keepalivectl status");
    return inForce ? kExitOk : kExitPolicy;
  });
}

}  // namespace keepalive::cli
