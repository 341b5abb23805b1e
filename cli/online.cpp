// SPDX-License-Identifier: GPL-2.0-or-later
#include "online.h"

#include "keepalive/escape.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <variant>

#include <nlohmann/json.hpp>

#include "keepalive_manager_proxy.h"
#include "verbs.h"

namespace keepalive::cli {

class ManagerProxy final
    : public sdbus::ProxyInterfaces<org::keepalivepolicy1::Manager_proxy, sdbus::Properties_proxy> {
 public:
  explicit ManagerProxy(sdbus::IConnection& bus) : ProxyInterfaces(bus, kBusName, kObjectPath) {
    // No registerProxy(): keepalivectl only calls. Registering would add a match rule per
    // signal, a round trip each, for signals it never waits for.
  }

 private:
  void onApplied(const std::uint64_t&, const std::string&) override {}
  void onRepaired(const std::string&, const std::string&, const std::string&) override {}
  void onDrift(const std::string&, const std::string&) override {}
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                           const std::vector<std::string>&) override {}
};

namespace {

// Not reaching the daemon, as opposed to the daemon answering with an error.
struct Unreachable {
  std::string reason;
};

bool meansUnreachable(const std::string& name) {
  static const char* const kNames[] = {"org.freedesktop.DBus.Error.ServiceUnknown",
                                       "org.freedesktop.DBus.Error.NameHasNoOwner",
                                       "org.freedesktop.DBus.Error.NoReply",
                                       "org.freedesktop.DBus.Error.Timeout",
                                       "org.freedesktop.DBus.Error.TimedOut",
                                       "org.freedesktop.DBus.Error.Disconnected",
                                       "org.freedesktop.DBus.Error.NoServer",
                                       "org.freedesktop.DBus.Error.NoNetwork",
                                       "System.Error.ECONNRESET",
                                       "System.Error.ENOTCONN",
                                       "System.Error.ECONNREFUSED",
                                       "System.Error.ENOENT",
                                       "System.Error.EPIPE"};
  for (const char* n : kNames)
    if (name == n)
      return true;
  return false;
}

const char kUnreachable[] =
    "keepalivectl: cannot reach keepalive-policyd on the system bus (is keepalive-policyd "
    "running? systemctl status keepalive-policyd): ";

std::string oneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r')
      c = ' ';
  return printable(s);
}

}  // namespace

ManagerClient::ManagerClient(std::chrono::microseconds timeout) {
  try {
    bus_ = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    throw Unreachable{e.getMessage()};
  }
  bus_->setMethodCallTimeout(timeout);
  proxy_ = std::make_unique<ManagerProxy>(*bus_);
}

ManagerClient::~ManagerClient() = default;

Properties ManagerClient::getAll() {
  return proxy_->GetAll(kInterface);
}
std::tuple<std::uint64_t, std::string> ManagerClient::reload() {
  return proxy_->Reload();
}
std::tuple<std::vector<std::string>, bool> ManagerClient::check() {
  return proxy_->Check();
}
std::tuple<std::vector<UserRecord>, std::uint32_t, bool> ManagerClient::listUsers(
    const std::string& filter) {
  return proxy_->ListUsers(filter);
}
std::tuple<std::vector<DisconnectRecord>, bool> ManagerClient::listDisconnects(
    std::uint64_t sinceUsec, const std::string& cause, const std::string& network,
    const std::string& user, std::uint32_t limit) {
  return proxy_->ListDisconnects(sinceUsec, cause, network, user, limit);
}

int withDaemon(const char* verb, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Unreachable& u) {
    std::fprintf(stderr, "%s%s\n", kUnreachable, oneLine(u.reason).c_str());
    return kExitNoDaemon;
  } catch (const sdbus::Error& e) {
    const std::string what = oneLine(e.getName() + ": " + e.getMessage());
    if (meansUnreachable(e.getName())) {
      std::fprintf(stderr, "%s%s\n", kUnreachable, what.c_str());
      return kExitNoDaemon;
    }
    if (e.getName() == "org.freedesktop.DBus.Error.AccessDenied" ||
        e.getName() == "org.keepalivepolicy1.Error.AccessDenied") {
      std::fprintf(stderr, "keepalivectl %s: permission denied%s (%s)\n", verb,
                   std::strcmp(verb, "reload") == 0 ? ": only root may reload the policy" : "",
                   what.c_str());
    } else {
      std::fprintf(stderr, "keepalivectl %s: %s\n", verb, what.c_str());
    }
    return kExitPolicy;
  }
}

using SettingsMap = std::map<std::string, sdbus::Struct<std::string, std::string>>;
using BusLines = std::vector<sdbus::Struct<std::string, std::string, std::string, std::string,
                                           std::string, std::string, std::uint32_t, std::string>>;
using BusKeepalive =
    std::vector<sdbus::Struct<std::string, std::string, std::int64_t, std::int64_t, std::int64_t,
                              std::int64_t, std::int64_t, std::int64_t>>;
using BusNetworkChecks =
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string>>;
using BusDisconnectCounts = std::vector<sdbus::Struct<std::string, std::string, std::uint64_t>>;

std::optional<daemon::PropertyValue> propertyValue(const sdbus::Variant& v) {
  const std::string t = v.peekValueType();
  if (t == "s")
    return v.get<std::string>();
  if (t == "t")
    return v.get<std::uint64_t>();
  if (t == "u")
    return v.get<std::uint32_t>();
  if (t == "as")
    return v.get<std::vector<std::string>>();
  if (t == "a{s(ss)}") {
    daemon::EffectiveSettings out;
    for (const auto& [k, vs] : v.get<SettingsMap>())
      out.emplace(k, daemon::EffectiveSetting{std::get<0>(vs), std::get<1>(vs)});
    return out;
  }
  if (t == "a(ssxxxxxx)") {
    daemon::KeepaliveRows out;
    for (const auto& r : v.get<BusKeepalive>())
      out.push_back({std::get<0>(r), std::get<1>(r), std::get<2>(r), std::get<3>(r), std::get<4>(r),
                     std::get<5>(r), std::get<6>(r), std::get<7>(r)});
    return out;
  }
  if (t == "a(sssss)") {
    daemon::NetworkCheckRows out;
    for (const auto& r : v.get<BusNetworkChecks>())
      out.push_back(
          {std::get<0>(r), std::get<1>(r), std::get<2>(r), std::get<3>(r), std::get<4>(r)});
    return out;
  }
  if (t == "a(sst)") {
    daemon::DisconnectCountRows out;
    for (const auto& r : v.get<BusDisconnectCounts>())
      out.push_back({std::get<0>(r), std::get<1>(r), std::get<2>(r)});
    return out;
  }
  if (t == "a(ssssssus)") {
    daemon::ConfigLineRows out;
    for (const auto& l : v.get<BusLines>())
      out.push_back({std::get<0>(l), std::get<1>(l), std::get<2>(l), std::get<3>(l), std::get<4>(l),
                     std::get<5>(l), std::get<6>(l), std::get<7>(l)});
    return out;
  }
  return std::nullopt;
}

daemon::DaemonStatus readStatus(const Properties& p, std::vector<std::string>* unread) {
  daemon::DaemonStatus s;
  for (const daemon::StatusProperty& prop : daemon::statusProperties()) {
    auto it = p.find(prop.name);
    const auto v = it == p.end() ? std::nullopt : propertyValue(it->second);
    if ((!v || !prop.set(s, *v)) && unread)
      unread->push_back(prop.name);
  }
  return s;
}

std::string printable(std::string_view s) {
  return keepalive::escape(s, {keepalive::kEscapeBusMax});
}

nlohmann::ordered_json jsonValue(const daemon::PropertyValue& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::ordered_json {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, daemon::EffectiveSettings>) {
          auto out = nlohmann::ordered_json::object();
          for (const auto& [k, e] : x)
            out[k] = {{"value", e.value}, {"source", e.source}};
          return out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, daemon::ConfigLineRows>) {
          auto out = nlohmann::ordered_json::array();
          for (const auto& r : x)
            out.push_back({{"target", r.target},
                           {"effect", r.effect},
                           {"keyword", r.keyword},
                           {"value", r.value},
                           {"ours", r.ours},
                           {"file", r.file},
                           {"line", r.line},
                           {"condition", r.condition}});
          return out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, daemon::KeepaliveRows>) {
          // Seconds; null = never (the bus's -1).
          auto secs = [](std::int64_t n) {
            return n < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(n);
          };
          auto out = nlohmann::ordered_json::array();
          for (const auto& r : x)
            out.push_back({{"network", r.network},
                           {"openssh", r.openssh},
                           {"probe_after_seconds", secs(r.probe_after)},
                           {"probe_factor", r.probe_factor},
                           {"client_alive_interval", r.client_alive_interval},
                           {"dead_client_seconds", secs(r.dead_client)},
                           {"server_alive_interval", r.server_alive_interval},
                           {"dead_server_seconds", secs(r.dead_server)}});
          return out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, daemon::NetworkCheckRows>) {
          auto out = nlohmann::ordered_json::array();
          for (const auto& r : x)
            out.push_back({{"network", r.network},
                           {"target", r.target},
                           {"sample", r.sample},
                           {"keyword", r.keyword},
                           {"value", r.value}});
          return out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>,
                                            daemon::DisconnectCountRows>) {
          auto out = nlohmann::ordered_json::array();
          for (const auto& r : x)
            out.push_back({{"cause", r.cause}, {"network", r.network}, {"count", r.count}});
          return out;
        } else {
          return x;
        }
      },
      v);
}

nlohmann::ordered_json jsonValue(const sdbus::Variant& v) {
  if (v.peekValueType() == "b")
    return v.get<bool>();
  const auto value = propertyValue(v);
  return value ? jsonValue(*value) : nlohmann::ordered_json(nullptr);
}

void printJson(const nlohmann::ordered_json& j) {
  const std::string out =
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

std::string showValue(const sdbus::Variant& v) {
  const std::string t = v.peekValueType();
  if (t == "b")
    return v.get<bool>() ? "yes" : "no";
  const auto value = propertyValue(v);
  return value ? daemon::showText(*value, &printable) : "[" + t + "]";
}

std::string formatTimestamp(std::uint64_t usec) {
  if (usec == 0)
    return "never";
  const time_t t = static_cast<time_t>(usec / 1000000u);
  tm local{};
  if (!::localtime_r(&t, &local))
    return std::to_string(usec);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%a %Y-%m-%d %H:%M:%S %Z", &local) == 0)
    return std::to_string(usec);
  return buf;
}

std::string formatAgo(std::uint64_t usec) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::uint64_t nowUsec =
      std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u;
  if (usec == 0 || usec > nowUsec)
    return {};
  std::uint64_t s = (nowUsec - usec) / 1000000u;
  struct Unit {
    std::uint64_t secs;
    const char* one;
    const char* many;
  };
  static const Unit kUnits[] = {{365ULL * 86400, " year", " years"},
                                {30ULL * 86400, " month", " months"},
                                {7ULL * 86400, " week", " weeks"},
                                {86400, " day", " days"},
                                {3600, "h", "h"},
                                {60, "min", "min"},
                                {1, "s", "s"}};
  // The largest unit and the next one, as systemctl prints them: "2 days 4h", "3min 2s".
  std::string out;
  for (std::size_t i = 0; i < std::size(kUnits); ++i) {
    if (s < kUnits[i].secs)
      continue;
    const std::uint64_t n = s / kUnits[i].secs;
    out = std::to_string(n) + (n == 1 ? kUnits[i].one : kUnits[i].many);
    if (i + 1 < std::size(kUnits)) {
      const std::uint64_t m = (s % kUnits[i].secs) / kUnits[i + 1].secs;
      if (m)
        out += " " + std::to_string(m) + (m == 1 ? kUnits[i + 1].one : kUnits[i + 1].many);
    }
    break;
  }
  return (out.empty() ? "0s" : out) + " ago";
}

bool useColor() {
  const char* noColor = std::getenv("NO_COLOR");
  if (noColor && *noColor)
    return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0)
    return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace keepalive::cli
