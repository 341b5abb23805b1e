// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>

#include <nlohmann/json.hpp>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runCheck(const Args& args) {
  const bool json = args.has("json");
  return withDaemon("check", [&] {
    ManagerClient client;
    const auto [findings, restricted] = client.check();
    if (json) {
      // Keys in the order keepalivectl(1) documents them.
      nlohmann::ordered_json out = {{"compliant", findings.empty()}, {"restricted", restricted}};
      if (restricted)
        out["note"] = kOwnEntryOnly;
      out["findings"] = findings;
      printJson(out);
    } else if (findings.empty()) {
      std::printf("compliant: no findings\n");
    } else {
      for (const auto& f : findings)
        std::printf("%s\n", printable(f).c_str());
      std::printf("not compliant: %zu finding%s\n", findings.size(),
                  findings.size() == 1 ? "" : "s");
    }
    if (!json && restricted)
      std::printf("%s\n", kOwnEntryOnly);
    return findings.empty() ? kExitOk : kExitPolicy;
  });
}

}  // namespace keepalive::cli
