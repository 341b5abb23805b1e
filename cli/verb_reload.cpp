#include <getopt.h>

#include <cstdio>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runReload(int argc, char** argv) {
  static const option kOpts[] = {{"root", required_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 'r':
        return rootIsOffline("reload");
      case 'h':
        std::printf(
            "Usage: keepalivectl reload\n\n"
            "Have keepalive-policyd re-read the policy and apply it now, as SIGHUP does, and\n"
            "wait for the transaction (sshd -t, reload of sshd, verification; at most 25 s).\n"
            "Root only.\n\n"
            "Exit status: 0 the new policy is in force (applied, or unchanged), 1 it is not\n"
            "(policy-error or rolled-back: the last good policy stays in force; see\n"
            "keepalivectl status) or the daemon refused, 2 usage, 3 keepalive-policyd\n"
            "unreachable or no answer in time.\n");
        return kExitOk;
      case ':':
        return usageError("reload", std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("reload", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc)
    return usageError("reload", std::string("unexpected argument '") + argv[optind] + "'");
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
