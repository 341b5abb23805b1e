// SPDX-License-Identifier: GPL-2.0-or-later
// The declaration of every policy setting. Nothing else in the library spells out a setting's key,
// type, default, bounds or directive.
#include "keepalive/policy/schema.h"

#include <algorithm>
#include <type_traits>

#include "keepalive/policy/duration.h"
#include "network_ops.h"

namespace keepalive::policy {

namespace {

constexpr std::int64_t kMaxCountMax = 1000;
constexpr std::int64_t kMaxUid = 4294967294;  // (uid_t)-1 is "no user"
constexpr std::int64_t kMaxVersion = 1000000;

// Rows name only what they have; every other member keeps its default. GCC before 14 warns about
// designated initializers that leave out members with default initializers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

template <class>
struct Held;
template <class T>
struct Held<Opt<T>&> {
  using type = T;
};

template <class In>
auto slotIn(In in) {
  using T = typename Held<std::invoke_result_t<In, Settings&>>::type;
  return Slot<T>{.in = in};
}
template <class In, class Out>
auto slotIn(In in, Out resolved,
            typename Held<std::invoke_result_t<In, Settings&>>::type fallback) {
  auto slot = slotIn(in);
  slot.resolved = resolved;
  slot.fallback = std::move(fallback);
  return slot;
}
template <class Top>
auto slotTop(Top top) {
  using T = typename Held<std::invoke_result_t<Top, Policy&>>::type;
  return Slot<T>{.top = top};
}
template <class Top, class Out>
auto slotTop(Top top, Out resolved,
             typename Held<std::invoke_result_t<Top, Policy&>>::type fallback) {
  auto slot = slotTop(top);
  slot.resolved = resolved;
  slot.fallback = std::move(fallback);
  return slot;
}

// The key and the member that holds its value are one spelling, so they cannot drift apart.
#define KEEPALIVE_TOP(name, ...) \
  .key = #name,                  \
  .slot = slotTop([](Policy & p) -> auto& { return p.name; } __VA_OPT__(, ) __VA_ARGS__)
#define KEEPALIVE_IN(path, ...) \
  .key = #path,                 \
  .slot = slotIn([](Settings & s) -> auto& { return s.path; } __VA_OPT__(, ) __VA_ARGS__)
#define KEEPALIVE_RESOLVED(member) ([](Resolved & r) -> auto& { return r.member; })

std::vector<Setting> declare() {
  // clang-format off
  return {
      {KEEPALIVE_TOP(version),
       .kind = Kind::kWholeNumber,
       .range = {.max = kMaxVersion},
       .doc = "the policy language; every file, fragments in policy.d too, starts with it",
       .docDefault = "required in every file",
       .docAllowed = "`1`"},
      {KEEPALIVE_TOP(reconcile_interval, KEEPALIVE_RESOLVED(reconcile_interval), 3600),
       .kind = Kind::kDuration,
       .range = {.min = 10, .max = kMaxDurationSeconds, .zeroOff = true,
                 .stage = RangeStage::kMerged,
                 .tooShort = " is too short: each run re-checks every user; write at least 10s "
                             "(1h is the default)"},
       .doc = "how often keepalive-policyd re-checks its work when nothing told it to (§6.2)"},
      {KEEPALIVE_TOP(baseline),
       .kind = Kind::kEnum,
       .doc = "a security baseline whose keepalive limits validation adds, each error naming "
              "the rule id (§7)",
       .unset = "no baseline"},
      {KEEPALIVE_IN(network.idle_timeout),
       .kind = Kind::kDuration,
       .range = {.min = 3, .max = kMaxDurationSeconds,
                 .tooShort = " is too short for keepalives to outrun; the least allowed is 3s (a "
                             "real NAT keeps idle TCP flows for minutes)"},
       .doc = "the shortest idle timeout of any NAT or firewall on the path (§6.3, §7)",
       .unset = "no interval is derived"},
      {KEEPALIVE_IN(network.outage_tolerance),
       .kind = Kind::kDuration,
       .range = {.max = kMaxDurationSeconds},
       .doc = "the connectivity break sessions must survive (Wi-Fi roaming, a VPN reconnect): the "
              "counts are derived to cover it (§7)",
       .unset = "counts stay OpenSSH's default, 3, unless the baseline sets them"},
      {KEEPALIVE_IN(server.client_alive_interval),
       .kind = Kind::kDuration,
       .range = {.max = kMaxDurationSeconds},
       .directive = Directive{Side::kSshd, "ClientAliveInterval", "0, no probes"},
       .doc = "sshd probes a client it has not heard from for this long; 0 turns probes off",
       .docDefault = "`idle_timeout/3` (sshd 9.2 to 9.4 and unknown versions) or `/2`, at most "
                     "`7m30s` or `15m`, if `idle_timeout` is set, else unset (sshd: 0, no probes)",
       .docAllowed = "0–7d, see §8"},
      {KEEPALIVE_IN(server.client_alive_count_max),
       .kind = Kind::kWholeNumber,
       .range = {.max = kMaxCountMax},
       .directive = Directive{Side::kSshd, "ClientAliveCountMax", "3"},
       .doc = "unanswered probes before sshd drops the client",
       .docDefault = "derived from `outage_tolerance` or the baseline, else unset (sshd: 3)"},
      {KEEPALIVE_IN(server.tcp_keepalive),
       .kind = Kind::kBoolean,
       .directive = Directive{Side::kSshd, "TCPKeepAlive", "yes"},
       .doc = "kernel TCP keepalives, hours too late for a NAT"},
      {KEEPALIVE_IN(server.ensure_include, KEEPALIVE_RESOLVED(ensure_include), false),
       .kind = Kind::kBoolean,
       .doc = "put `Include /etc/ssh/sshd_config.d/*.conf` into `sshd_config` when it does not "
              "read the drop-in"},
      {KEEPALIVE_IN(server.openssh_timing),
       .kind = Kind::kEnum,
       .doc = "how often sshd really probes: `2x` as 9.2 to 9.4 do, `1x` as the others, `auto` "
              "from the version; for builds that carry a fix (§7)",
       .unset = "auto, from the version"},
      {KEEPALIVE_IN(server.idle_logout),
       .kind = Kind::kDuration,
       .range = {.min = 1, .max = kMaxDurationSeconds,
                 .tooShort = " is too short to log anyone out; write at least 1s"},
       .directive = Directive{Side::kSshd, "ChannelTimeout", "none", "session="},
       .doc = "close a live session idle this long (sshd 9.2 and newer); keepalives never do",
       .unset = "sessions are never logged out for idleness"},
      {KEEPALIVE_IN(server.unused_connection_timeout),
       .kind = Kind::kDuration,
       .range = {.min = 1, .max = kMaxDurationSeconds,
                 .tooShort = " is too short; write at least 1s"},
       .directive = Directive{Side::kSshd, "UnusedConnectionTimeout", "none"},
       .doc = "close a connection with no open channels after this long (sshd 9.2 and newer)"},
      {KEEPALIVE_IN(server.log_level),
       .kind = Kind::kEnum,
       .directive = Directive{Side::kSshd, "LogLevel", "INFO"},
       .doc = "how much sshd logs: `verbose` also logs the sessions a NAT or firewall cut, which "
              "sshd before 9.8 logs only at VERBOSE (§6.4); the other levels are refused",
       .docAllowed = "not `quiet`, `fatal`, `error` or `debug*`"},
      {KEEPALIVE_IN(client.server_alive_interval),
       .kind = Kind::kDuration,
       .range = {.max = kMaxDurationSeconds},
       .directive = Directive{Side::kSsh, "ServerAliveInterval", "0, no probes"},
       .doc = "ssh probes a server it has not heard from for this long; 0 turns probes off",
       .docDefault = "`idle_timeout/2`, at most `15m`, if `idle_timeout` is set, else unset (ssh: "
                     "0, no probes)",
       .docAllowed = "0–7d, see §8"},
      {KEEPALIVE_IN(client.server_alive_count_max),
       .kind = Kind::kWholeNumber,
       .range = {.max = kMaxCountMax},
       .directive = Directive{Side::kSsh, "ServerAliveCountMax", "3"},
       .doc = "unanswered probes before ssh gives up on the server",
       .docDefault = "derived from `outage_tolerance`, else unset (ssh: 3)"},
      {KEEPALIVE_IN(client.tcp_keepalive),
       .kind = Kind::kBoolean,
       .directive = Directive{Side::kSsh, "TCPKeepAlive", "yes"},
       .doc = "kernel TCP keepalives, hours too late for a NAT"},
      {KEEPALIVE_IN(client.per_user_block, KEEPALIVE_RESOLVED(per_user_block), false),
       .kind = Kind::kBoolean,
       .doc = "also put the client values into each covered user's `~/.ssh/config` (§6.5)"},
      {KEEPALIVE_IN(users.action, KEEPALIVE_RESOLVED(users_action), UserAction::kReport),
       .kind = Kind::kUserAction,
       .doc = "repair users' `~/.ssh` (`enforce`), only report it, or leave it alone (§6.6)"},
      {KEEPALIVE_IN(users.min_uid, KEEPALIVE_RESOLVED(users_min_uid), 1000),
       .kind = Kind::kWholeNumber,
       .range = {.max = kMaxUid},
       .doc = "the lowest uid covered"},
      {KEEPALIVE_IN(users.exclude, KEEPALIVE_RESOLVED(users_exclude), NameList{}),
       .kind = Kind::kNameList,
       .doc = "users left alone",
       .item = "a user name or glob"},
      {KEEPALIVE_IN(users.config_mode, KEEPALIVE_RESOLVED(users_config_mode), 0600),
       .kind = Kind::kMode,
       .doc = "the most a covered `~/.ssh/config` may allow",
       .docAllowed = "see §8"},
      {KEEPALIVE_IN(users.ssh_dir_mode, KEEPALIVE_RESOLVED(users_ssh_dir_mode), 0700),
       .kind = Kind::kMode,
       .doc = "the most a covered `~/.ssh` may allow",
       .docAllowed = "see §8"},
  };
  // clang-format on
}

#undef KEEPALIVE_IN
#undef KEEPALIVE_TOP
#undef KEEPALIVE_RESOLVED
#pragma GCC diagnostic pop

}  // namespace

const char* toString(UserAction a) {
  switch (a) {
    case UserAction::kEnforce:
      return "enforce";
    case UserAction::kReport:
      return "report";
    case UserAction::kOff:
      return "off";
  }
  return "?";
}

const char* toString(SshdLogLevel l) {
  return l == SshdLogLevel::kVerbose ? "verbose" : "info";
}

const char* toString(Side s) {
  return s == Side::kSshd ? "sshd" : "ssh";
}

std::string_view Setting::section() const {
  const auto dot = key.find('.');
  return dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot);
}

std::string_view Setting::name() const {
  const auto dot = key.find('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = declare();
  return kSettings;
}

const Setting* findSetting(std::string_view key) {
  for (const auto& s : settings())
    if (s.key == key)
      return &s;
  return nullptr;
}

const std::vector<std::string_view>& sections() {
  static const std::vector<std::string_view> kSections = [] {
    std::vector<std::string_view> out;
    for (const auto& s : settings())
      if (!s.topLevel() && std::find(out.begin(), out.end(), s.section()) == out.end())
        out.push_back(s.section());
    return out;
  }();
  return kSections;
}

std::vector<std::string_view> keysAt(std::string_view where) {
  std::vector<std::string_view> out;
  if (where == "hosts[]") {
    out.push_back("match");
    out.insert(out.end(), sections().begin(), sections().end());
    out.push_back("networks");
    return out;
  }
  if (where == "networks[]") {
    out = {"name", "addresses", "destinations"};
    for (const auto& nk : detail::kNetworkKeys)
      out.push_back(nk.key);
    return out;
  }
  if (where.empty()) {
    for (const auto& s : settings())
      if (s.topLevel())
        out.push_back(s.key);
    out.insert(out.end(), sections().begin(), sections().end());
    out.push_back("networks");
    out.push_back("hosts");
    return out;
  }
  for (const auto& s : settings())
    if (s.section() == where)
      out.push_back(s.name());
  return out;
}

}  // namespace keepalive::policy
