#include <getopt.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runCheck(int argc, char** argv) {
  static const option kOpts[] = {{"json", no_argument, nullptr, 'j'},
                                 {"root", required_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  bool json = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 'j':
        json = true;
        break;
      case 'r':
        return rootIsOffline("check");
      case 'h':
        std::printf(
            "Usage: keepalivectl check [--json]\n\n"
            "Have keepalive-policyd verify everything now, changing nothing: the effective\n"
            "sshd and ssh values, the drop-ins and every user's ~/.ssh/config. Prints one\n"
            "line per finding. Anyone may run it; only root sees every user's findings,\n"
            "anyone else the host's and their own.\n\n"
            "  --json   {\"compliant\": true|false, \"restricted\": true|false,\n"
            "           [\"note\": \"...\",] \"findings\": [...]}; restricted: not run as root,\n"
            "           so only the host's and your own user's findings\n\n"
            "Exit status: 0 compliant, 1 not compliant (or the daemon refused), 2 usage,\n"
            "3 keepalive-policyd unreachable.\n");
        return kExitOk;
      case ':':
        return usageError("check", std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("check", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc)
    return usageError("check", std::string("unexpected argument '") + argv[optind] + "'");
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
