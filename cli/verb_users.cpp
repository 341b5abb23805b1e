#include <getopt.h>

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

int runUsers(int argc, char** argv) {
  static const option kOpts[] = {{"noncompliant", no_argument, nullptr, 'n'},
                                 {"json", no_argument, nullptr, 'j'},
                                 {"root", required_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  bool json = false, noncompliant = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 'n':
        noncompliant = true;
        break;
      case 'j':
        json = true;
        break;
      case 'r':
        return rootIsOffline("users");
      case 'h':
        std::printf(
            "Usage: keepalivectl users [--noncompliant] [--json] [NAME]\n\n"
            "List the users whose ~/.ssh/config the policy covers, with each one's state:\n"
            "ok, repaired, non-compliant, refused:WHY, error:WHY, unwatched or unresponsive.\n"
            "Asks keepalive-policyd on the system bus; anyone may run it, but only root sees\n"
            "every user: anyone else sees their own entry alone.\n\n"
            "  --noncompliant  only users whose state is neither ok nor repaired\n"
            "  --json          {\"matched\": N, \"restricted\": true|false, [\"note\": \"...\",]\n"
            "                  \"users\": [{\"name\", \"uid\", \"home\", \"state\",\n"
            "                  \"last_change\" (microseconds since the epoch, 0 = never),\n"
            "                  \"repairs\", \"refusals\"}]}; restricted: not run as root, so\n"
            "                  only your own entry\n"
            "  NAME            only this user (yourself, unless run as root)\n\n"
            "A reply holds at most 16 MiB of records (about 200000 users); fewer users than\n"
            "matched means the list was cut.\n\n"
            "Exit status: 0 listed, 1 no such user or the daemon refused, 2 usage,\n"
            "3 keepalive-policyd unreachable.\n");
        return kExitOk;
      case ':':
        return usageError("users", std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("users", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  std::string name;
  if (optind < argc)
    name = argv[optind++];
  if (optind < argc)
    return usageError("users", std::string("unexpected argument '") + argv[optind] + "'");
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
