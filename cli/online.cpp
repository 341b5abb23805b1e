// SPDX-License-Identifier: GPL-2.0-or-later
#include "online.h"

#include "keepalive/escape.h"

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <variant>

#include <nlohmann/json.hpp>

#include "bus_errors.h"
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

// Opening the bus failed, as opposed to a call on it.
struct Unreachable {
  std::string name, message;
};

// The timeout of the last client made: what "did not answer within Ns" says.
std::chrono::microseconds gTimeout = kCallTimeout;

}  // namespace

ManagerClient::ManagerClient(std::chrono::microseconds timeout) {
  try {
    bus_ = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    throw Unreachable{e.getName(), e.getMessage()};
  }
  gTimeout = timeout;
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
  const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
  BusErrorContext ctx{verb, std::chrono::ceil<std::chrono::seconds>(gTimeout),
                      address ? address : "", false, verbose()};
  auto fail = [&](const std::string& name, const std::string& message) {
    ctx.timeout = std::chrono::ceil<std::chrono::seconds>(gTimeout);
    const BusErrorText t = explainBusError(name, message, ctx);
    std::fprintf(stderr, "%s\n", t.line.c_str());
    return t.exitCode;
  };
  try {
    return body();
  } catch (const Unreachable& u) {
    ctx.connecting = true;
    return fail(u.name, u.message);
  } catch (const sdbus::Error& e) {
    return fail(e.getName(), e.getMessage());
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
  return formatAgo(usec, std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u);
}

std::string formatAgo(std::uint64_t usec, std::uint64_t nowUsec) {
  if (usec == 0 || usec > nowUsec)
    return {};
  // systemd's format_timestamp_relative() (src/basic/time-util.c), its units and thresholds:
  // a month is 30.44 days and a year 365.25, as there.
  constexpr std::uint64_t kSec = 1000000, kMin = 60 * kSec, kHour = 60 * kMin, kDay = 24 * kHour,
                          kWeek = 7 * kDay, kMonth = 2629800 * kSec, kYear = 31557600 * kSec;
  const std::uint64_t d = nowUsec - usec;
  auto n = [](std::uint64_t v, const char* one, const char* many) {
    return std::to_string(v) + " " + (v == 1 ? one : many);
  };
  std::string out;
  if (d >= kYear)
    out = n(d / kYear, "year", "years") + " " + n(d % kYear / kMonth, "month", "months");
  else if (d >= kMonth)
    out = n(d / kMonth, "month", "months") + " " + n(d % kMonth / kDay, "day", "days");
  else if (d >= kWeek)
    out = n(d / kWeek, "week", "weeks") + " " + n(d % kWeek / kDay, "day", "days");
  else if (d >= 2 * kDay)
    out = std::to_string(d / kDay) + " days";
  else if (d >= 25 * kHour)
    out = "1 day " + std::to_string((d - kDay) / kHour) + "h";
  else if (d >= 6 * kHour)
    out = std::to_string(d / kHour) + "h";
  else if (d >= kHour)
    out = std::to_string(d / kHour) + "h " + std::to_string(d % kHour / kMin) + "min";
  else if (d >= 5 * kMin)
    out = std::to_string(d / kMin) + "min";
  else if (d >= kMin)
    out = std::to_string(d / kMin) + "min " + std::to_string(d % kMin / kSec) + "s";
  else if (d >= kSec)
    out = std::to_string(d / kSec) + "s";
  else if (d >= 1000)
    out = std::to_string(d / 1000) + "ms";
  else if (d > 0)
    out = std::to_string(d) + "us";
  else
    return "now";
  return out + " ago";
}

std::string formatSince(std::uint64_t usec, std::uint64_t nowUsec) {
  if (usec == 0)
    return "never";
  const std::string ago = formatAgo(usec, nowUsec);
  return "since " + formatTimestamp(usec) + (ago.empty() ? "" : "; " + ago);
}

nlohmann::ordered_json jsonIso(std::uint64_t usec) {
  return usec ? nlohmann::ordered_json(isoUtc(usec)) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json jsonUnix(std::uint64_t usec) {
  return usec ? nlohmann::ordered_json(usec / 1000000u) : nlohmann::ordered_json(nullptr);
}

}  // namespace keepalive::cli
