#include <getopt.h>

#include <cstdio>

#include "keepalive/policy/advise.h"
#include "keepalive/policy/duration.h"
#include "verbs.h"

namespace keepalive::cli {

int runAdvise(int argc, char** argv) {
  static const option kOpts[] = {{"idle-timeout", required_argument, nullptr, 't'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  std::string idle;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 't':
        idle = optarg;
        break;
      case 'h':
        std::printf(
            "Usage: keepalivectl advise --idle-timeout DURATION\n\n"
            "Recommend keepalive settings for sshd, the OpenSSH client and PuTTY, with the\n"
            "reason for each, for a path whose shortest NAT or firewall idle timeout is\n"
            "DURATION (30s, 5m, 1h, 1h30m or whole seconds).\n");
        return kExitOk;
      case ':':
        return usageError("advise", std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("advise", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc)
    return usageError("advise", std::string("unexpected argument '") + argv[optind] + "'");
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
