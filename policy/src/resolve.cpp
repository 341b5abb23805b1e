// Per-host resolution: which overrides a host matches, their settings over the fleet-wide ones,
// the intervals derived from network.idle_timeout, and the defaults of the daemon's own settings.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>

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

std::int64_t derivedServerInterval(std::int64_t t) {
  return std::clamp<std::int64_t>(t / 3, 1, kMaxDerivedInterval);
}
std::int64_t derivedClientInterval(std::int64_t t) {
  return std::clamp<std::int64_t>(t / 2, 1, kMaxDerivedInterval);
}

void deriveIntervals(Settings& s, const ModelContext& ctx, Baseline baseline) {
  (void)ctx;
  (void)baseline;
  if (!s.network.idle_timeout)
    return;
  const auto& t = *s.network.idle_timeout;
  auto note = [&t](int divisor, std::int64_t v) {
    std::string n = "derived from network.idle_timeout " + formatDuration(t.value) + " / " +
                    std::to_string(divisor);
    if (v == kMaxDerivedInterval && t.value / divisor > kMaxDerivedInterval)
      n += ", capped at " + formatDuration(kMaxDerivedInterval) +
           " so that 3 unanswered probes close a dead session within the hour";
    return n;
  };
  if (!s.server.client_alive_interval) {
    const auto v = derivedServerInterval(t.value);
    s.server.client_alive_interval = Value<std::int64_t>{v, t.pos, true, note(3, v)};
  }
  if (!s.client.server_alive_interval) {
    const auto v = derivedClientInterval(t.value);
    s.client.server_alive_interval = Value<std::int64_t>{v, t.pos, true, note(2, v)};
  }
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
  deriveIntervals(eff);
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
