// SPDX-License-Identifier: GPL-2.0-or-later
#include <time.h>

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

std::uint64_t nowUsec() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u;
}

// "at 10:11:12" today, "at 2026-12-05 10:11:12" before, in local time.
std::string atTime(std::uint64_t usec, std::uint64_t now) {
  const time_t t = static_cast<time_t>(usec / 1000000u), n = static_cast<time_t>(now / 1000000u);
  tm a{}, b{};
  if (!::localtime_r(&t, &a) || !::localtime_r(&n, &b))
    return "at " + formatTimestamp(usec);
  char buf[32];
  const bool today = a.tm_year == b.tm_year && a.tm_yday == b.tm_yday;
  std::strftime(buf, sizeof buf, today ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &a);
  return std::string("at ") + buf;
}

struct Row {
  std::string name, uid, state, detail;
};

// What is wrong now, then what was done (when) or what enforce would do, then whether a watch
// covers the user: the DETAIL column, for people. --json has each on its own.
std::string detailText(const UserRecord& u, std::uint64_t now) {
  std::vector<std::string> parts;
  if (!std::get<4>(u).empty())
    parts.push_back(printable(std::get<4>(u)));
  if (!std::get<5>(u).empty()) {
    std::string action = printable(std::get<5>(u));
    // A repair is a thing done at a time: the last change of a repaired user.
    if (std::get<3>(u) == "repaired" && std::get<7>(u))
      action += " " + atTime(std::get<7>(u), now);
    parts.push_back(action);
  }
  if (!std::get<6>(u))
    parts.push_back("unwatched: inotify's watch limit, checked by rescans only");
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : "; ") + p;
  return out;
}

// USER UID STATE DETAIL: the state one word, its detail beside it. The last column is as long as
// it needs; the others fit 80 columns for usual names. Home, counts and times: --json.
void printTable(const std::vector<UserRecord>& users, bool full) {
  const std::uint64_t now = nowUsec();
  std::vector<Row> rows;
  rows.reserve(users.size());
  Row w{"USER", "UID", "STATE", "DETAIL"};
  std::size_t wn = w.name.size(), wu = w.uid.size(), ws = w.state.size();
  for (const auto& u : users) {
    Row r{printable(std::get<0>(u)), std::to_string(std::get<1>(u)), printable(std::get<3>(u)),
          detailText(u, now)};
    wn = std::max(wn, r.name.size());
    wu = std::max(wu, r.uid.size());
    ws = std::max(ws, r.state.size());
    rows.push_back(std::move(r));
  }
  const bool color = useColor();
  // On a terminal the detail is cut to its width, as systemctl does (--full: never); the pager
  // keeps the terminal's width, so a row stays one line.
  const std::size_t columns = full ? 0 : terminalColumns();
  const std::size_t used = wn + 1 + wu + 1 + ws + 1;
  for (auto& r : rows)
    if (columns != 0)
      r.detail = ellipsize(r.detail, columns > used + 10 ? columns - used : 10);
  auto print = [&](const Row& r, bool header) {
    const std::string state = stateText(r.state, r.detail.empty() ? 0 : ws, color && !header);
    if (r.detail.empty())
      std::printf("%-*s %*s %s\n", int(wn), r.name.c_str(), int(wu), r.uid.c_str(), state.c_str());
    else
      std::printf("%-*s %*s %s %s\n", int(wn), r.name.c_str(), int(wu), r.uid.c_str(),
                  state.c_str(), r.detail.c_str());
  };
  print(w, true);
  for (const auto& r : rows)
    print(r, false);
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
                    {"detail", std::get<4>(u)},
                    {"action", std::get<5>(u)},
                    {"watched", std::get<6>(u)},
                    {"last_change", std::get<7>(u)},
                    {"last_change_iso", jsonIso(std::get<7>(u))},
                    {"last_change_unix", jsonUnix(std::get<7>(u))},
                    {"repairs", std::get<8>(u)},
                    {"refusals", std::get<9>(u)}});
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
    const Pager pager(args.has("no-pager"));
    if (json)
      printJson(toJson(users, matched, restricted));
    else if (!users.empty())
      printTable(users, args.has("full"));
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
