// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <cstdio>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

int runShow(const Args& args) {
  std::vector<std::string> names;
  for (const std::string& list : args.values("property")) {
    for (std::size_t b = 0; b <= list.size();) {
      const std::size_t e = std::min(list.find(',', b), list.size());
      if (e > b)
        names.push_back(list.substr(b, e - b));
      b = e + 1;
    }
  }
  const bool valueOnly = args.has("value");
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
