#include <getopt.h>

#include <algorithm>
#include <cstdio>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runShow(int argc, char** argv) {
  static const option kOpts[] = {{"property", required_argument, nullptr, 'p'},
                                 {"value", no_argument, nullptr, 'v'},
                                 {"root", required_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<std::string> names;
  bool valueOnly = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hp:", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 'p': {
        const std::string list = optarg;
        for (std::size_t b = 0; b <= list.size();) {
          const std::size_t e = std::min(list.find(',', b), list.size());
          if (e > b)
            names.push_back(list.substr(b, e - b));
          b = e + 1;
        }
        break;
      }
      case 'v':
        valueOnly = true;
        break;
      case 'r':
        return rootIsOffline("show");
      case 'h':
        std::printf(
            "Usage: keepalivectl show [-p NAME[,NAME...]]... [--value]\n\n"
            "Print properties of keepalive-policyd's org.keepalivepolicy1.Manager as\n"
            "NAME=VALUE lines, all of them sorted by name, or those given with -p in that\n"
            "order. Lists are space-separated; EffectiveServer and EffectiveClient are\n"
            "KEYWORD=VALUE (SOURCE), comma-separated; LastApplyTime is microseconds since the\n"
            "epoch. Anyone may run it.\n\n"
            "  -p, --property NAME  only this property; repeat it or separate names by commas\n"
            "  --value              print only the values\n\n"
            "Exit status: 0 shown, 2 usage (also an unknown property), 3 keepalive-policyd\n"
            "unreachable.\n");
        return kExitOk;
      case ':':
        return usageError("show", std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("show", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc)
    return usageError("show", std::string("unexpected argument '") + argv[optind] + "'");
  return withDaemon("show", [&] {
    ManagerClient client;
    const Properties p = client.getAll();
    if (names.empty())
      for (const auto& kv : p)
        names.push_back(kv.first);
    for (const auto& n : names)
      if (!p.count(n))
        return usageError("show",
                          "no property '" + printable(n) + "'; 'keepalivectl show' lists them all");
    for (const auto& n : names) {
      const std::string v = showValue(p.at(n));
      if (valueOnly)
        std::printf("%s\n", v.c_str());
      else
        std::printf("%s=%s\n", n.c_str(), v.c_str());
    }
    return kExitOk;
  });
}

}  // namespace keepalive::cli
