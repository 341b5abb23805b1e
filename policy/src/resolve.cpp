// SPDX-License-Identifier: GPL-2.0-or-later
// Per-host resolution: which overrides a host matches, their settings over the fleet-wide ones,
// the intervals derived from network.idle_timeout, and the defaults of the daemon's own settings.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <type_traits>

#include "keepalive/policy/duration.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"
#include "network_ops.h"
#include "settings_ops.h"

namespace keepalive::policy {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

namespace detail {

void mergeSettings(Settings& into, const Settings& from, Diagnostics* warn) {
  for (const auto& s : settings()) {
    if (s.topLevel())
      continue;
    withSlot(s, [&]<class T>(const Slot<T>& slot) {
      const Opt<T>& value = slot.get(from);
      if (!value)
        return;
      Opt<T>& target = slot.in(into);
      if constexpr (kIsList<T>) {
        if (warn && target)
          warn->warning(value->pos, std::string(s.key) + " replaces the list set at " +
                                        target->pos.str() +
                                        "; lists are replaced, not appended: repeat the entries "
                                        "you want to keep");
      }
      target = value;
    });
  }
}

void mergeTopLevel(Policy& into, const Policy& from) {
  for (const auto& s : settings()) {
    if (!s.topLevel())
      continue;
    withSlot(s, [&]<class T>(const Slot<T>& slot) {
      if (slot.get(from))
        slot.top(into) = slot.get(from);
    });
  }
}

}  // namespace detail

std::string HostOverride::describe() const {
  std::string globs;
  for (const auto& m : match)
    globs += (globs.empty() ? "" : ", ") + printable(m.value);
  return "hosts matching " + (globs.empty() ? std::string("nothing") : globs) + " (" + pos.str() +
         ")";
}

Settings overlay(const Settings& base, const Settings& over) {
  Settings out = base;
  detail::mergeSettings(out, over, nullptr);
  return out;
}

ModelInput modelInput(const Settings& s, Baseline baseline) {
  auto get = [](const auto& opt) {
    using T = std::decay_t<decltype(opt->value)>;
    return opt ? std::optional<T>(opt->value) : std::nullopt;
  };
  ModelInput in;
  in.idle_timeout = get(s.network.idle_timeout);
  in.outage_tolerance = get(s.network.outage_tolerance);
  in.client_alive_interval = get(s.server.client_alive_interval);
  in.client_alive_count_max = get(s.server.client_alive_count_max);
  in.server_alive_interval = get(s.client.server_alive_interval);
  in.server_alive_count_max = get(s.client.server_alive_count_max);
  in.tcp_keepalive = get(s.server.tcp_keepalive);
  in.timing = s.server.openssh_timing ? s.server.openssh_timing->value : OpensshTiming::kAuto;
  in.baseline = baseline;
  return in;
}

void deriveIntervals(Settings& s, const ModelContext& ctx, Baseline baseline) {
  const OpensshTiming timing =
      s.server.openssh_timing ? s.server.openssh_timing->value : OpensshTiming::kAuto;
  const int k = probeFactor(ctx, timing);
  const std::string who = timing != OpensshTiming::kAuto
                              ? std::string("server.openssh_timing ") + toString(timing) + ": sshd"
                          : ctx.openssh ? "sshd " + ctx.openssh->str()
                                        : "in the worst case over OpenSSH " + kOldestKnown.str() +
                                              " to " + kNewestKnown.str() + " sshd";
  const std::string probes =
      who + (k == 2 ? " probes after 2 intervals of silence" : " probes after one interval");
  const std::string baselineName = toString(baseline);

  if (s.network.idle_timeout) {
    const auto& t = *s.network.idle_timeout;
    const std::string from = "derived from network.idle_timeout " + formatDuration(t.value);
    auto capNote = [&](std::int64_t v, std::int64_t divisor, bool server) {
      if (t.value / divisor <= v)
        return std::string();
      const std::int64_t b = server ? baselineMaxInterval(baseline) : 0;
      if (b > 0 && v == b)
        return ", capped at " + formatDuration(b) + " by baseline " + baselineName +
               " (an audit requirement; the idle timeout only needs the interval shorter)";
      return ", capped at " + formatDuration(v) + " so that " +
             (server ? std::string("sshd closes a dead client") : "ssh gives up on a dead server") +
             " within the hour with OpenSSH's default count of 3";
    };
    if (!s.server.client_alive_interval) {
      const auto v = deriveServerInterval(t.value, ctx, timing, baseline);
      s.server.client_alive_interval = Value<std::int64_t>{
          v, t.pos, true,
          from + " / " + std::to_string(k + 1) + ": " + probes + capNote(v, k + 1, true)};
    }
    if (!s.client.server_alive_interval) {
      const auto v = deriveClientInterval(t.value, baseline);
      s.client.server_alive_interval =
          Value<std::int64_t>{v, t.pos, true, from + " / 2" + capNote(v, 2, false)};
    }
  }

  const Opt<std::int64_t>& outage = s.network.outage_tolerance;
  const std::optional<std::int64_t> o =
      outage ? std::optional<std::int64_t>(outage->value) : std::nullopt;
  if (!s.server.client_alive_count_max && s.server.client_alive_interval) {
    const std::int64_t interval = s.server.client_alive_interval->value;
    if (auto c = deriveServerCountMax(interval, o, ctx, timing, baseline)) {
      std::string note;
      SourcePos pos = s.server.client_alive_interval->pos;
      if (baseline == Baseline::kStig) {
        note =
            "baseline stig: ClientAliveCountMax 1 (sshd_set_keepalive; RHEL-08-010200, "
            "RHEL-09-255095, UBTU-22-255030)";
        if (o)
          note += "; it wins over network.outage_tolerance because it is an audit requirement";
      } else if (o) {
        note = "derived from network.outage_tolerance " + formatDuration(*o) +
               ": the least count from 3 whose dead-client time lets sessions survive the break";
        pos = outage->pos;
        if (baseline == Baseline::kLynis && *c == 2)
          note += ", at most 2 for baseline lynis (SSH-7408), which wins as an audit requirement";
      } else {
        note = "baseline " + baselineName + ": Lynis SSH-7408 wants ClientAliveCountMax at most 2";
      }
      s.server.client_alive_count_max = Value<std::int64_t>{*c, pos, true, note};
    }
  }
  if (!s.client.server_alive_count_max && s.client.server_alive_interval && outage) {
    if (auto c = deriveClientCountMax(s.client.server_alive_interval->value, o, baseline))
      s.client.server_alive_count_max = Value<std::int64_t>{
          *c, outage->pos, true,
          "derived from network.outage_tolerance " + formatDuration(*o) +
              ": the least count from 3 whose dead-server time lets sessions survive the break"};
  }
  if (baseline == Baseline::kLynis && !s.server.tcp_keepalive)
    s.server.tcp_keepalive =
        Value<bool>{false, {}, true, "baseline lynis: SSH-7408 wants TCPKeepAlive no"};
}

HostIdentity HostIdentity::fromName(const std::string& name, const std::string& fqdn) {
  HostIdentity h;
  auto add = [&h](const std::string& n) {
    std::string l = lower(n);
    while (!l.empty() && l.back() == '.')
      l.pop_back();  // "host.example.com." is the same host
    if (!l.empty() && std::find(h.names.begin(), h.names.end(), l) == h.names.end())
      h.names.push_back(l);
  };
  add(name);
  add(name.substr(0, name.find('.')));
  if (!fqdn.empty()) {
    add(fqdn);
    add(fqdn.substr(0, fqdn.find('.')));
  }
  return h;
}

bool hostMatches(const HostOverride& o, const HostIdentity& host) {
  for (const auto& glob : o.match) {
    std::string g = lower(glob.value);
    for (const auto& name : host.names)
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0)
        return true;
  }
  return false;
}

Resolved resolve(const Policy& p, const HostIdentity& host, const ModelContext& ctx) {
  Resolved r;
  r.context = ctx;
  r.baseline = p.baseline ? p.baseline->value : Baseline::kNone;
  Settings eff = p.base;
  if (p.hosts) {
    for (const auto& o : p.hosts->value) {
      if (!hostMatches(o, host))
        continue;
      eff = overlay(eff, o.settings);
      r.applied.push_back(&o);
    }
  }
  // Each network starts from the host's settings before derivation: an entry's own idle_timeout
  // derives its intervals, an entry without one inherits the host's.
  const Baseline baseline = p.baseline ? p.baseline->value : Baseline::kNone;
  for (const auto& e : detail::mergedNetworks(p, r.applied))
    if (!e.addresses.empty() || !e.destinations.empty())
      r.networks.push_back(detail::resolveNetwork(eff, e, r.context, baseline));
  deriveIntervals(eff, ctx, baseline);
  r.settings = eff;
  // The settings the daemon itself acts on, with their defaults filled in.
  for (const auto& s : settings()) {
    detail::withSlot(s, [&]<class T>(const Slot<T>& slot) {
      if (!slot.resolved)
        return;
      const Opt<T>& v = s.topLevel() ? slot.get(p) : slot.get(eff);
      if constexpr (detail::kIsList<T>)
        slot.resolved(r) = v ? v->value : *slot.fallback;
      else
        slot.resolved(r) = v ? *v : Value<T>{*slot.fallback, {}, false, "default"};
    });
  }
  return r;
}

}  // namespace keepalive::policy
