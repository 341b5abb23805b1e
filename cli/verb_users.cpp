// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

struct Row {
  std::string name, uid, state, changed, repairs, refusals, home;
};

void printTable(const std::vector<UserRecord>& users) {
  std::vector<Row> rows;
  rows.reserve(users.size());
  Row w{"USER", "UID", "STATE", "LAST CHANGE", "REPAIRS", "REFUSALS", "HOME"};
  std::size_t wn = w.name.size(), wu = w.uid.size(), ws = w.state.size(), wc = w.changed.size(),
              wr = w.repairs.size(), wf = w.refusals.size();
  for (const auto& u : users) {
    const std::uint64_t changed = std::get<4>(u);
    Row r{printable(std::get<0>(u)),      std::to_string(std::get<1>(u)),
          printable(std::get<3>(u)),      changed ? formatTimestamp(changed) : "-",
          std::to_string(std::get<5>(u)), std::to_string(std::get<6>(u)),
          printable(std::get<2>(u))};
    wn = std::max(wn, r.name.size());
    wu = std::max(wu, r.uid.size());
    ws = std::max(ws, r.state.size());
    wc = std::max(wc, r.changed.size());
    wr = std::max(wr, r.repairs.size());
    wf = std::max(wf, r.refusals.size());
    rows.push_back(std::move(r));
  }
  auto print = [&](const Row& r) {
    std::printf("%-*s %*s %-*s %-*s %*s %*s %s\n", int(wn), r.name.c_str(), int(wu), r.uid.c_str(),
                int(ws), r.state.c_str(), int(wc), r.changed.c_str(), int(wr), r.repairs.c_str(),
                int(wf), r.refusals.c_str(), r.home.c_str());
  };
  print(w);
  for (const auto& r : rows)
    print(r);
}

// Keys in the order keepalivectl(1) documents them.
nlohmann::ordered_json toJson(const std::vector<UserRecord>& users, std::uint32_t matched,
                              bool restricted) {
  nlohmann::ordered_json out = {{"matched", matched}, {"restricted", restricted}};
  if (restricted)
    out["note"] = kOwnEntryOnly;
  auto& list = out["users"] = nlohmann::ordered_json::array();
  for (const auto& u : users)
    list.push_back({{"name", std::get<0>(u)},
                    {"uid", std::get<1>(u)},
                    {"home", std::get<2>(u)},
                    {"state", std::get<3>(u)},
                    {"last_change", std::get<4>(u)},
                    {"repairs", std::get<5>(u)},
                    {"refusals", std::get<6>(u)}});
  return out;
}

}  // namespace

int runUsers(const Args& args) {
  const bool json = args.has("json"), noncompliant = args.has("noncompliant");
  const std::string name = args.operands().empty() ? "" : args.operands().front();
  if (!name.empty() && noncompliant)
    return usageError("users", "NAME and --noncompliant exclude each other");
  const std::string filter = !name.empty() ? "user:" + name : noncompliant ? "noncompliant" : "";
  return withDaemon("users", [&] {
    ManagerClient client;
    auto [users, matched, restricted] = client.listUsers(filter);
    if (json)
      printJson(toJson(users, matched, restricted));
    else if (!users.empty())
      printTable(users);
    if (!name.empty() && matched == 0) {
      // Not run as root: another user's name and a name nobody has look the same, by design.
      if (restricted)
        std::fprintf(stderr,
                     "keepalivectl users: '%s' is not a covered user of yours: other users' "
                     "entries need root (run it with sudo)\n",
                     printable(name).c_str());
      else
        std::fprintf(stderr, "keepalivectl users: '%s' is not a covered user\n",
                     printable(name).c_str());
      return kExitPolicy;
    }
    if (!json) {
      const char* what = noncompliant
                             ? (matched == 1 ? "non-compliant user" : "non-compliant users")
                             : (matched == 1 ? "user" : "users");
      if (users.size() < matched)
        std::printf("\n%zu of %u %s listed: the reply was cut at 16 MiB.\n", users.size(), matched,
                    what);
      else
        std::printf("%s%u %s listed.\n", users.empty() ? "" : "\n", matched, what);
      if (restricted)
        std::printf("%s\n", kOwnEntryOnly);
    }
    return kExitOk;
  });
}

}  // namespace keepalive::cli
