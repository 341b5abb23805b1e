#include <cstdio>

#include "keepalive/policy/advise.h"
#include "keepalive/policy/duration.h"
#include "verbs.h"

namespace keepalive::cli {

int runAdvise(const Args& args) {
  const std::string idle = args.value("idle-timeout");
  if (idle.empty())
    return usageError("advise", "--idle-timeout is required, e.g. --idle-timeout 10m");
  auto t = policy::parseDuration(idle);
  if (!t.value)
    return usageError("advise", "--idle-timeout '" + idle + "' " + t.error);
  if (*t.value < 3)
    return usageError("advise", "--idle-timeout must be at least 3s for keepalives to outrun it");
  std::printf("For a NAT or firewall that drops TCP flows idle for %s:\n",
              policy::formatDuration(*t.value).c_str());
  std::string product;
  for (const auto& a : policy::advise(*t.value)) {
    if (a.product != product) {
      product = a.product;
      std::printf("\n%s\n", product.c_str());
    }
    std::printf("  %s = %s\n      %s\n", a.setting.c_str(), a.value.c_str(), a.reason.c_str());
  }
  return kExitOk;
}

}  // namespace keepalive::cli
