// The semantic rules (the seed's lessons): what a well-typed policy may still get wrong, alone or
// in the combination of settings one host gets. Type and per-file range checks happen while
// reading (parse.cpp); this file holds the checks that need the merged policy.
#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "keepalive/policy/duration.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"
#include "network_ops.h"
#include "settings_ops.h"
#include "text.h"

namespace keepalive::policy {

namespace {

constexpr std::int64_t kDeadSessionWarn = 3600;
// Pairs grow with the square of the overrides: 64 overrides are 2016 pairs, milliseconds of work.
// Beyond that, each host still checks its own combination (checkForHost).
constexpr std::size_t kMaxPairChecks = 64;

std::string hours(std::int64_t seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.1f hours)", static_cast<double>(seconds) / 3600.0);
  return formatDuration(seconds) + buf;
}

std::string at(const SourcePos& p) {
  return p.known() ? " (" + p.str() + ")" : "";
}

// The value as the admin wrote it, or how it was derived.
template <class T>
std::string how(const Value<T>& v) {
  return v.derived ? " (" + v.note + ")" : "";
}

void checkInterval(const Opt<std::int64_t>& interval, const Opt<std::int64_t>& countMax,
                   const Opt<std::int64_t>& idle, bool server, Diagnostics& d) {
  const std::string name = server ? "server.client_alive_interval" : "client.server_alive_interval";
  const std::string countName =
      server ? "server.client_alive_count_max" : "client.server_alive_count_max";
  const std::string prog = server ? "sshd" : "ssh";
  if (countMax) {
    if (countMax->value == 0 && server)
      d.warning(countMax->pos,
                countName +
                    " 0 means sshd never disconnects an unresponsive client on OpenSSH 8.2 "
                    "and later (older versions disconnect at the first unanswered probe): "
                    "dead sessions then linger until TCP gives up; write 3 to close them "
                    "after about three intervals");
    if (countMax->value == 0 && !server)
      d.error(countMax->pos,
              countName +
                  " 0 makes ssh quit at its first probe, so every session that is idle for "
                  "one server_alive_interval ends with 'Timeout, server not responding'; "
                  "write 3");
    if (countMax->value == 1)
      d.warning(countMax->pos,
                countName +
                    " 1 ends a session after a single unanswered probe: on a flaky link "
                    "(Wi-Fi, mobile) keepalives then turn a short outage into a dropped "
                    "session; 3 rides out an outage of about three intervals");
  }
  if (!interval)
    return;
  const std::int64_t s = interval->value;
  if (s == 0) {
    if (idle)
      d.warning(interval->pos,
                name + " 0 turns " + prog +
                    "'s keepalive probes off, so sessions idle for longer "
                    "than network.idle_timeout " +
                    formatDuration(idle->value) + at(idle->pos) +
                    " are dropped by the NAT; remove the key to derive a safe interval");
    return;
  }
  if (idle) {
    const std::int64_t t = idle->value;
    const std::string idleText = "network.idle_timeout " + formatDuration(t) + at(idle->pos);
    if (s >= t) {
      std::string advice =
          server
              ? "write at most " + formatDuration(std::max<std::int64_t>(1, (t - 1) / 2)) + "; " +
                    formatDuration(derivedServerInterval(t)) + " (idle_timeout/3) is recommended"
              : "write " + formatDuration(std::max<std::int64_t>(1, t / 2)) +
                    " (idle_timeout/2) or less";
      d.error(interval->pos, name + " " + formatDuration(s) + how(*interval) + " is not below " +
                                 idleText + ": the NAT or firewall drops an idle session before " +
                                 prog + "'s first probe; " + advice);
    } else if (server && 2 * s > t) {
      d.error(interval->pos,
              name + " " + formatDuration(s) + how(*interval) + " is above half of " + idleText +
                  ": while the client is silent sshd 9.x sends its probe only every second "
                  "interval, so the path stays idle for " +
                  formatDuration(2 * s) + ", longer than the timeout; write at most " +
                  formatDuration(std::max<std::int64_t>(1, (t - 1) / 2)) + ", " +
                  formatDuration(derivedServerInterval(t)) + " (idle_timeout/3) is recommended");
    } else if (server && 2 * s == t) {
      d.warning(interval->pos,
                name + " " + formatDuration(s) + " is exactly half of " + idleText +
                    ": with sshd probing every second interval the path stays idle for the whole "
                    "timeout, racing it; write " +
                    formatDuration(derivedServerInterval(t)) + " (idle_timeout/3)");
    }
  }
  std::int64_t count = countMax ? countMax->value : kOpensshDefaultCountMax;
  if (count > 0 && s * count > kDeadSessionWarn) {
    const SourcePos& where = countMax ? countMax->pos : interval->pos;
    d.warning(
        where,
        name + " " + formatDuration(s) + " x " + countName.substr(countName.find('.') + 1) + " " +
            std::to_string(count) + (countMax ? "" : " (OpenSSH's default)") +
            " keeps a dead session for " + hours(s * count) +
            ", over an hour (the classic 298 x 50 keeps them 4.1 hours); " +
            (count > kOpensshDefaultCountMax ? "lower the count to 3" : "shorten the interval"));
  }
}

void checkMode(const Opt<std::int64_t>& m, const std::string& name, bool dir, Diagnostics& d) {
  if (!m)
    return;
  std::int64_t v = m->value;
  const std::string text = detail::octal(v);
  if (v & 022)
    d.error(m->pos, name + " \"" + text + "\" lets group or others write; ssh refuses such " +
                        (dir ? "a directory's files" : "a config") +
                        " ('Bad owner or permissions'): write \"" + (dir ? "0700" : "0600") + "\"");
  if (dir && (v & 0700) != 0700)
    d.error(m->pos,
            name + " \"" + text +
                "\" does not give the owner read, write and search on ~/.ssh; write \"0700\"");
  if (!dir && (v & 0400) == 0)
    d.error(m->pos, name + " \"" + text +
                        "\" does not let the owner read the config, so ssh cannot use it; write "
                        "\"0600\"");
}

}  // namespace

namespace detail {

bool checkRange(const Setting& s, const Value<std::int64_t>& v, Diagnostics& d) {
  if (v.value >= s.range.min || (s.range.zeroOff && v.value == 0))
    return true;
  const std::string text =
      s.kind == Kind::kDuration ? formatDuration(v.value) : std::to_string(v.value);
  d.error(v.pos, std::string(s.key) + " " + text + std::string(s.range.tooShort));
  return false;
}

void checkPolicy(const Policy& merged, Diagnostics& diags, const ModelContext& ctx) {
  // The ranges that only the merged value must keep: a later file may replace an earlier value.
  for (const auto& s : settings()) {
    if (s.range.stage != RangeStage::kMerged || !s.topLevel())
      continue;
    const auto* slot = std::get_if<Slot<std::int64_t>>(&s.slot);
    if (slot && slot->get(merged))
      checkRange(s, *slot->get(merged), diags);
  }
  if (merged.reconcile_interval && merged.reconcile_interval->value == 0)
    diags.warning(merged.reconcile_interval->pos,
                  "reconcile_interval 0 turns the periodic re-check off: changes inotify "
                  "cannot see (NFS homes edited on another client) are then never "
                  "repaired; 1h is the default");

  // The fleet-wide settings alone, then each override on top of them, so that a rule broken only
  // on some hosts is still found on the machine that validates the policy.
  Settings base = merged.base;
  const Baseline baseline = merged.baseline ? merged.baseline->value : Baseline::kNone;
  deriveIntervals(base, ctx, baseline);
  Diagnostics baseDiags;
  checkSettings(base, baseDiags, ctx, baseline);
  diags.append(baseDiags);
  if (merged.hosts) {
    // Each override alone, then each pair in order: a host can match several. Larger
    // combinations are checked where they occur, for the host itself (checkForHost).
    const auto& hs = merged.hosts->value;
    std::unordered_set<std::string> seen;
    for (const auto& d : baseDiags.items())
      seen.insert(d.str());
    auto report = [&](const Settings& eff0, const std::string& context) {
      Settings eff = eff0;
      deriveIntervals(eff, ctx, baseline);
      Diagnostics od;
      checkSettings(eff, od, ctx, baseline);
      for (auto d : od.items()) {
        if (!seen.insert(d.str()).second)
          continue;
        d.message += " [for " + context + "]";
        diags.add(std::move(d));
      }
    };
    for (const auto& o : hs)
      report(overlay(merged.base, o.settings), o.describe());
    if (hs.size() > kMaxPairChecks)
      diags.warning(merged.hosts->pos,
                    std::to_string(hs.size()) +
                        " host overrides: combinations of two are not "
                        "checked beyond " +
                        std::to_string(kMaxPairChecks) +
                        " (each host still checks its own combination when it applies)");
    if (hs.size() <= kMaxPairChecks) {
      for (std::size_t i = 0; i < hs.size(); ++i)
        for (std::size_t j = i + 1; j < hs.size(); ++j)
          report(overlay(overlay(merged.base, hs[i].settings), hs[j].settings),
                 "a host matching both " + hs[i].describe() + " and " + hs[j].describe());
    }
  }
}

}  // namespace detail

void checkSettings(const Settings& s, Diagnostics& d, const ModelContext& ctx, Baseline baseline) {
  (void)ctx;
  (void)baseline;
  checkInterval(s.server.client_alive_interval, s.server.client_alive_count_max,
                s.network.idle_timeout, true, d);
  checkInterval(s.client.server_alive_interval, s.client.server_alive_count_max,
                s.network.idle_timeout, false, d);
  checkMode(s.users.config_mode, "users.config_mode", false, d);
  checkMode(s.users.ssh_dir_mode, "users.ssh_dir_mode", true, d);
  if (s.users.min_uid && s.users.min_uid->value == 0)
    d.warning(s.users.min_uid->pos,
              "users.min_uid 0 covers root and every system account; 1000 covers people on Debian "
              "and RHEL");
  if (s.client.per_user_block && s.client.per_user_block->value &&
      !s.client.server_alive_interval && !s.client.server_alive_count_max &&
      !s.client.tcp_keepalive)
    d.warning(s.client.per_user_block->pos,
              "client.per_user_block is true but the policy sets no client values to put in the "
              "block; set client.server_alive_interval or network.idle_timeout");
}

Diagnostics checkForHost(const Policy& p, const HostIdentity& host, const ModelContext& ctx) {
  Diagnostics d;
  Resolved r = resolve(p, host, ctx);
  Diagnostics raw;
  checkSettings(r.settings, raw, ctx, p.baseline ? p.baseline->value : Baseline::kNone);
  detail::checkResolvedNetworks(r, raw, p.baseline ? p.baseline->value : Baseline::kNone);
  std::string who = host.names.empty() ? std::string("this host") : host.names.front();
  for (auto item : raw.items()) {
    // Warnings were reported for the fleet-wide settings and every override already.
    if (item.severity != Severity::kError)
      continue;
    item.message +=
        " [for " + who + ", which matches " + std::to_string(r.applied.size()) + " host overrides]";
    d.add(std::move(item));
  }
  return d;
}

}  // namespace keepalive::policy
