// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl disconnects: how SSH sessions ended (ListDisconnects), newest first.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/disconnects.h"
#include "keepalive/policy/duration.h"
#include "online.h"
#include "verbs.h"

namespace keepalive::cli {

namespace {

std::uint64_t nowUsec() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u;
}

// "10:11:12" or "10:11" after a date; false when it is something else.
bool parseClock(std::string_view t, tm& out) {
  int h = 0, m = 0, s = 0;
  char tail = 0;
  const std::string text(t);
  const int n = std::sscanf(text.c_str(), "%2d:%2d:%2d%c", &h, &m, &s, &tail);
  if (n == 2 && text.size() == 5) {
    s = 0;
  } else if (n != 3 || text.size() != 8) {
    return false;
  }
  if (h > 23 || m > 59 || s > 60)
    return false;
  out.tm_hour = h;
  out.tm_min = m;
  out.tm_sec = s;
  return true;
}

}  // namespace

std::optional<std::uint64_t> parseSince(std::string_view text, std::uint64_t nowUsec,
                                        std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<std::uint64_t> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  if (text.empty())
    return fail("--since needs a value: a duration such as 1h, 30m or 7d, or a date");
  // A duration back from now: 1h, 30m, 7d, 1h30m, 90 (seconds).
  if (text.find('-') == std::string_view::npos) {
    const auto d = policy::parseDuration(text);
    if (!d.value)
      return fail("--since '" + std::string(text) + "': " + d.error +
                  "; give a duration such as 1h, 30m or 7d, or a date such as 2026-12-07 or "
                  "\"2026-12-07 10:11:12\"");
    const std::uint64_t back = static_cast<std::uint64_t>(*d.value) * 1000000u;
    return back > nowUsec ? 0 : nowUsec - back;
  }
  // A date: "2026-12-07" (midnight), "2026-12-07 10:11:12", ISO 8601 "2026-12-07T10:11:12",
  // each in local time, or with "Z" or "+01:00" for UTC or that offset.
  std::string s(text);
  tm t{};
  int y = 0, mo = 0, da = 0;
  if (s.size() < 10 || std::sscanf(s.c_str(), "%4d-%2d-%2d", &y, &mo, &da) != 3 || s[4] != '-' ||
      s[7] != '-' || mo < 1 || mo > 12 || da < 1 || da > 31)
    return fail("--since '" + s +
                "' is not a date; write 2026-12-07, \"2026-12-07 10:11:12\" or "
                "2026-12-07T10:11:12Z, or a duration such as 1h");
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = da;
  std::string rest = s.substr(10);
  std::optional<long> offsetSeconds;  // none: local time
  if (!rest.empty()) {
    if (rest[0] != ' ' && rest[0] != 'T')
      return fail("--since '" + s + "': after the date comes ' HH:MM:SS' or 'THH:MM:SS'");
    rest = rest.substr(1);
    if (!rest.empty() && (rest.back() == 'Z' || rest.back() == 'z')) {
      offsetSeconds = 0;
      rest.pop_back();
    } else if (rest.size() > 6 && (rest[rest.size() - 6] == '+' || rest[rest.size() - 6] == '-') &&
               rest[rest.size() - 3] == ':') {
      int oh = 0, om = 0;
      if (std::sscanf(rest.c_str() + rest.size() - 5, "%2d:%2d", &oh, &om) != 2 || oh > 23 ||
          om > 59)
        return fail("--since '" + s + "': the offset is not +HH:MM");
      offsetSeconds = (rest[rest.size() - 6] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
      rest.resize(rest.size() - 6);
    }
    if (!parseClock(rest, t))
      return fail("--since '" + s + "': the time of day is not HH:MM:SS");
  }
  time_t secs = 0;
  if (offsetSeconds) {
    secs = ::timegm(&t) - *offsetSeconds;
  } else {
    t.tm_isdst = -1;
    secs = ::mktime(&t);
  }
  if (secs < 0 || t.tm_mday != da)
    return fail("--since '" + s + "' is not a date that exists");
  return static_cast<std::uint64_t>(secs) * 1000000u;
}

std::string isoUtc(std::uint64_t usec) {
  const time_t t = static_cast<time_t>(usec / 1000000u);
  tm u{};
  ::gmtime_r(&t, &u);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &u);
  return buf;
}

std::string shortDuration(std::int64_t seconds) {
  if (seconds < 0)
    return "-";
  char buf[32];
  if (seconds < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(seconds));
  else if (seconds < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  else if (seconds < 86400)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds % 86400 / 3600));
  return buf;
}

nlohmann::ordered_json disconnectsJson(const std::vector<DisconnectRecord>& events) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& e : events) {
    const std::int64_t d = std::get<6>(e);
    out.push_back({{"time", isoUtc(std::get<0>(e))},
                   {"user", std::get<1>(e)},
                   {"address", std::get<2>(e)},
                   {"port", std::get<3>(e)},
                   {"network", std::get<4>(e)},
                   {"cause", std::get<5>(e)},
                   {"duration_seconds",
                    d < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(d)}});
  }
  return out;
}

namespace {

// A cell cut to width, its last character '~' when cut (the JSON has it whole).
std::string cell(std::string s, std::size_t width) {
  if (s.size() > width) {
    s.resize(width - 1);
    s += '~';
  }
  return s;
}

std::string localTime(std::uint64_t usec) {
  const time_t t = static_cast<time_t>(usec / 1000000u);
  tm l{};
  ::localtime_r(&t, &l);
  char buf[32];
  std::strftime(buf, sizeof buf, "%b %d %H:%M:%S", &l);
  return buf;
}

void printTable(const std::vector<DisconnectRecord>& events) {
  struct Row {
    std::string time, user, address, port, network, cause, duration;
  };
  // Caps that keep a row within 80 columns with an IPv4 address; a longer value is cut.
  constexpr std::size_t kUser = 10, kAddress = 15, kNetwork = 10;
  Row head{"TIME", "USER", "ADDRESS", "PORT", "NETWORK", "CAUSE", "DURATION"};
  std::vector<Row> rows;
  std::size_t wu = head.user.size(), wa = head.address.size(), wp = head.port.size(),
              wn = head.network.size(), wc = head.cause.size();
  for (const auto& e : events) {
    Row r{localTime(std::get<0>(e)),
          cell(printable(std::get<1>(e)), kUser),
          cell(printable(std::get<2>(e)), std::max(kAddress, printable(std::get<2>(e)).size())),
          std::to_string(std::get<3>(e)),
          cell(printable(std::get<4>(e)), kNetwork),
          printable(std::get<5>(e)),
          shortDuration(std::get<6>(e))};
    wu = std::max(wu, r.user.size());
    wa = std::max(wa, r.address.size());
    wp = std::max(wp, r.port.size());
    wn = std::max(wn, r.network.size());
    wc = std::max(wc, r.cause.size());
    rows.push_back(std::move(r));
  }
  auto print = [&](const Row& r) {
    std::printf("%-15s %-*s %-*s %*s %-*s %-*s %s\n", r.time.c_str(), int(wu), r.user.c_str(),
                int(wa), r.address.c_str(), int(wp), r.port.c_str(), int(wn), r.network.c_str(),
                int(wc), r.cause.c_str(), r.duration.c_str());
  };
  print(head);
  for (const auto& r : rows)
    print(r);
}

}  // namespace

int runDisconnects(const Args& args) {
  std::uint64_t since = 0;
  if (args.has("since")) {
    std::string why;
    auto t = parseSince(args.value("since"), nowUsec(), &why);
    if (!t)
      return usageError("disconnects", why);
    since = *t;
  }
  const std::string cause = args.value("cause");
  if (!cause.empty() && !daemon::disconnectCauseFromString(cause)) {
    std::vector<std::string> names;
    for (auto c : daemon::kAllDisconnectCauses)
      names.emplace_back(daemon::toString(c));
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    return usageError("disconnects", withSuggestion("unknown cause '" + printable(cause) + "'",
                                                    suggest(cause, names)) +
                                         " (causes: " + list + ")");
  }
  const std::string network = args.value("network");
  const std::string user = args.value("user");
  const bool json = args.has("json");
  return withDaemon("disconnects", [&] {
    ManagerClient client;
    auto [events, restricted] = client.listDisconnects(since, cause, network, user, 0);
    const Pager pager(args.has("no-pager"));
    if (json) {
      printJson(disconnectsJson(events));
      return kExitOk;
    }
    if (!events.empty())
      printTable(events);
    std::printf("%s%zu %s.\n", events.empty() ? "" : "\n", events.size(),
                events.size() == 1 ? "session ended" : "sessions ended");
    if (restricted)
      std::printf("Showing only your own sessions: other users' need root (run it with sudo).\n");
    return kExitOk;
  });
}

}  // namespace keepalive::cli
