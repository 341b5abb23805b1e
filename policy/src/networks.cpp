// SPDX-License-Identifier: GPL-2.0-or-later
// Per-network policy: address and pattern checks, merging a host's networks, their effective
// settings, the rules about them, and the proof samples.
#include "keepalive/policy/networks.h"

#include <arpa/inet.h>
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_set>

#include "keepalive/policy/render.h"
#include "keepalive/policy/schema.h"
#include "network_ops.h"
#include "settings_ops.h"

namespace keepalive::policy {

namespace {

__extension__ using U128 = unsigned __int128;

// Host overrides x the fleet networks' addresses and destinations checked under each override.
constexpr std::size_t kMaxOverrideNetworkChecks = 20000;

// An address block: an address and how many leading bits are fixed (32 or 128: one address).
struct Cidr {
  bool v6 = false;
  U128 base = 0;
  int prefix = 0;
  bool hasPrefix = false;
  int width() const { return v6 ? 128 : 32; }
  U128 hostMask() const {
    const int bits = width() - prefix;
    return bits == 0 ? U128(0) : bits >= 128 ? ~U128(0) : (U128(1) << bits) - 1;
  }
  U128 last() const { return base | hostMask(); }
  bool contains(U128 a, bool a6) const { return a6 == v6 && (a & ~hostMask()) == base; }
  bool contains(const Cidr& o) const {
    return o.v6 == v6 && o.prefix >= prefix && contains(o.base, o.v6);
  }
};

U128 fromBytes(const unsigned char* b, int n) {
  U128 v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | b[i];
  return v;
}

std::string addressText(U128 a, bool v6) {
  char buf[INET6_ADDRSTRLEN] = {};
  unsigned char bytes[16] = {};
  const int n = v6 ? 16 : 4;
  for (int i = n - 1; i >= 0; --i, a >>= 8)
    bytes[i] = static_cast<unsigned char>(a & 0xff);
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, buf, sizeof buf);
  return buf;
}

std::optional<Cidr> parseCidr(std::string_view text, std::string* why) {
  auto fail = [why](std::string reason) -> std::optional<Cidr> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  if (text.empty())
    return fail("is empty; write an address such as 10.20.0.0/16 or 2001:db8:20::/48");
  if (text.find(',') != std::string_view::npos)
    return fail("holds a comma; write one address or CIDR per list item");
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  Cidr c;
  unsigned char bytes[16] = {};
  if (addr.size() < INET6_ADDRSTRLEN && ::inet_pton(AF_INET, addr.c_str(), bytes) == 1) {
    c.base = fromBytes(bytes, 4);
  } else if (addr.size() < INET6_ADDRSTRLEN && ::inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
    c.v6 = true;
    c.base = fromBytes(bytes, 16);
  } else {
    return fail(
        "is not an IPv4 or IPv6 address or CIDR; write it as 10.20.0.0/16 or "
        "2001:db8:20::/48 (sshd matches client addresses, not host names)");
  }
  c.prefix = c.width();
  if (slash != std::string_view::npos) {
    const auto bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 ||
        bits.find_first_not_of("0123456789") != std::string_view::npos)
      return fail("has no valid prefix length after '/'; write a number of bits, e.g. /16");
    c.prefix = std::stoi(std::string(bits));
    c.hasPrefix = true;
    if (c.prefix > c.width())
      return fail("has prefix length /" + std::to_string(c.prefix) + ", over " +
                  std::to_string(c.width()) + " for an " + (c.v6 ? "IPv6" : "IPv4") + " address");
  }
  if ((c.base & c.hostMask()) != 0) {
    const U128 net = c.base & ~c.hostMask();
    return fail("has host bits set after the /" + std::to_string(c.prefix) +
                " prefix, which sshd refuses ('Invalid Match address argument'); write " +
                addressText(net, c.v6) + "/" + std::to_string(c.prefix) + " for the network, or " +
                addr + " without a prefix for one address");
  }
  return c;
}

std::vector<Cidr> cidrsOf(const std::vector<std::string>& addresses) {
  std::vector<Cidr> out;
  for (const auto& a : addresses)
    if (auto c = parseCidr(a, nullptr))
      out.push_back(*c);
  return out;
}

bool coveredBy(U128 a, bool v6, const std::vector<Cidr>& blocks) {
  return std::any_of(blocks.begin(), blocks.end(),
                     [&](const Cidr& b) { return b.contains(a, v6); });
}

// An address inside c that none of taken covers. A maximal free run inside c starts at c's first
// address or right after a taken block, and ends at c's last address or right before one: these
// candidates find a free address whenever there is one.
std::optional<U128> freeAddressIn(const Cidr& c, const std::vector<Cidr>& taken) {
  std::vector<U128> candidates;
  if (c.prefix < c.width())
    candidates.push_back(c.base + 1);  // "10.20.0.1", friendlier than the network's own address
  candidates.push_back(c.base);
  for (const auto& t : taken) {
    if (t.v6 != c.v6)
      continue;
    if (t.last() != c.last())
      candidates.push_back(t.last() + 1);
    if (t.base != c.base)
      candidates.push_back(t.base - 1);
  }
  candidates.push_back(c.last());
  for (U128 a : candidates)
    if (c.contains(a, c.v6) && !coveredBy(a, c.v6, taken))
      return a;
  return std::nullopt;
}

// The networks of r before stop (by name: names are unique in a host's list, and a copy of an
// entry of r.networks works as well as the entry); all of them when stop is null.
std::vector<Cidr> addressesBefore(const Resolved& r, const ResolvedNetwork* stop) {
  std::vector<Cidr> out;
  for (const auto& m : r.networks) {
    if (stop && m.name == stop->name)
      break;
    auto c = cidrsOf(m.addresses);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

bool matchedBefore(const Resolved& r, const ResolvedNetwork* stop, const std::string& name) {
  for (const auto& m : r.networks) {
    if (stop && m.name == stop->name)
      break;
    if (detail::destinationsMatch(m.destinations, name))
      return true;
  }
  return false;
}

std::string withPrefix(const std::string& context, const std::string& name) {
  return " [for network " + name + (context.empty() ? "" : " on " + context) + "]";
}

}  // namespace

bool validCidr(std::string_view text, std::string* why) {
  return parseCidr(text, why).has_value();
}

std::string networkFor(std::string_view address, const std::vector<ResolvedNetwork>& networks) {
  auto a = parseCidr(address, nullptr);
  if (!a || a->hasPrefix)
    return "default";
  // ::ffff:a.b.c.d: sshd turns it into a.b.c.d before it logs or matches (ipv64_normalise_mapped).
  if (a->v6 && (a->base >> 32) == 0xffff) {
    a->v6 = false;
    a->base &= (U128(1) << 32) - 1;
    a->prefix = 32;
  }
  for (const auto& n : networks)
    for (const auto& entry : n.addresses)
      if (auto c = parseCidr(entry, nullptr); c && c->contains(a->base, a->v6))
        return n.name;
  return "default";
}

std::optional<std::string> sampleAddress(const Resolved& r, const ResolvedNetwork& n) {
  const auto taken = addressesBefore(r, &n);
  for (const auto& c : cidrsOf(n.addresses))
    if (auto a = freeAddressIn(c, taken))
      return addressText(*a, c.v6);
  return std::nullopt;
}

std::string outsideAddress(const Resolved& r, bool v6) {
  const auto taken = addressesBefore(r, nullptr);
  static const char* const kV4[] = {"192.0.2.1", "198.51.100.1", "203.0.113.1", "100.64.0.1",
                                    "169.254.0.1"};
  static const char* const kV6[] = {"2001:db8::1", "fd00::1", "100::1", "2001:db8:ffff::1"};
  for (const char* a : v6 ? std::vector<const char*>(std::begin(kV6), std::end(kV6))
                          : std::vector<const char*>(std::begin(kV4), std::end(kV4))) {
    auto c = parseCidr(a, nullptr);
    if (c && !coveredBy(c->base, v6, taken))
      return a;
  }
  Cidr all;
  all.v6 = v6;
  if (auto a = freeAddressIn(all, taken))
    return addressText(*a, v6);
  return {};
}

std::optional<std::string> sampleDestination(const Resolved& r, const ResolvedNetwork& n) {
  for (const auto& p : n.destinations) {
    if (p.empty() || p[0] == '!')
      continue;
    for (const char* star : {"kp-probe", "x", "kp-probe-2", "kp.probe"}) {
      for (char q : {'x', 'k'}) {
        std::string name;
        for (char c : p) {
          if (c == '*')
            name += star;
          else if (c == '?')
            name += q;
          else
            name += c;
        }
        if (detail::destinationsMatch(n.destinations, name) && !matchedBefore(r, &n, name))
          return name;
      }
    }
  }
  return std::nullopt;
}

std::string outsideDestination(const Resolved& r) {
  for (const char* name : {"keepalive-policy.invalid", "kp-outside.invalid", "x.invalid",
                           "kp-probe", "x", "localhost", "192.0.2.1"}) {
    if (!matchedBefore(r, nullptr, name))
      return name;
  }
  return {};
}

std::vector<NetworkProbe> proofProbes(const Resolved& r) {
  std::vector<NetworkProbe> out;
  bool v4 = true, v6 = false;
  for (const auto& n : r.networks) {
    auto expect = renderedDirectives(n, Side::kSshd);
    auto addr = sampleAddress(r, n);
    for (const auto& c : cidrsOf(n.addresses))
      v6 = v6 || c.v6;
    if (!n.addresses.empty() && !expect.empty() && addr)
      out.push_back({Side::kSshd, n.name, *addr, std::move(expect)});
  }
  for (bool family : {false, true}) {
    if (!(family ? v6 : v4))
      continue;
    const std::string addr = outsideAddress(r, family);
    if (!addr.empty())
      out.push_back({Side::kSshd, {}, addr, renderedDirectives(r, Side::kSshd)});
  }
  for (const auto& n : r.networks) {
    auto expect = renderedDirectives(n, Side::kSsh);
    auto name = sampleDestination(r, n);
    if (!n.destinations.empty() && !expect.empty() && name)
      out.push_back({Side::kSsh, n.name, *name, std::move(expect)});
  }
  if (const std::string name = outsideDestination(r); !name.empty())
    out.push_back({Side::kSsh, {}, name, renderedDirectives(r, Side::kSsh)});
  return out;
}

namespace detail {

bool validNetworkName(std::string_view name, std::string* why) {
  if (name.empty() || name.size() > 64) {
    *why = "must be 1 to 64 characters long";
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      *why = std::string("holds '") + c +
             "'; a network name is letters, digits, '_', '.' and '-', such as branch-nat";
      return false;
    }
  }
  return true;
}

bool validHostPattern(std::string_view p, std::string* why) {
  std::string_view body = p;
  if (!body.empty() && body[0] == '!')
    body.remove_prefix(1);
  if (body.empty()) {
    *why = p.empty() ? "is empty; write a host name pattern such as \"*.branch.example.com\""
                     : "is a '!' with no pattern after it; write \"!name\" to exclude a name";
    return false;
  }
  if (p.size() > 253) {
    *why = "is longer than a host name can be (253 characters)";
    return false;
  }
  for (char c : body) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '*' || c == '?';
    if (ok)
      continue;
    if (c == ',')
      *why =
          "holds a comma, which ssh_config takes as part of the name (Host patterns are "
          "separated by spaces); write one pattern per list item";
    else if (c == '!')
      *why = "holds '!' after its start; only a leading '!' excludes names";
    else
      *why = std::string("holds '") + c +
             "', which is not part of a host name; an ssh_config Host pattern is letters, "
             "digits, '.', '-', '_', ':', the wildcards '*' and '?', and a leading '!' to "
             "exclude names";
    return false;
  }
  return true;
}

std::string normalizedCidr(std::string_view valid) {
  auto c = parseCidr(valid, nullptr);
  if (!c)
    return {};
  std::string out = addressText(c->base, c->v6);
  if (c->hasPrefix)
    out += "/" + std::to_string(c->prefix);
  return out;
}

bool destinationsMatch(const std::vector<std::string>& patterns, const std::string& name) {
  bool positive = false;
  for (const auto& p : patterns) {
    // '*' and '?' are ssh's only wildcards; validHostPattern keeps out '[' and '\', which fnmatch
    // alone would treat specially. Without FNM_PATHNAME or FNM_PERIOD, '*' crosses '.' as in ssh.
    if (!p.empty() && p[0] == '!') {
      if (::fnmatch(p.c_str() + 1, name.c_str(), 0) == 0)
        return false;
    } else if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) {
      positive = true;
    }
  }
  return positive;
}

std::vector<NetworkEntry> mergedNetworks(const Policy& p,
                                         const std::vector<const HostOverride*>& applied) {
  std::vector<NetworkEntry> out;
  if (p.networks)
    out = p.networks->value;
  for (const HostOverride* o : applied) {
    if (!o->networks)
      continue;
    for (const auto& e : o->networks->value) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const NetworkEntry& f) { return f.name.value == e.name.value; });
      if (it == out.end()) {
        out.push_back(e);
        continue;
      }
      if (!e.addresses.empty())
        it->addresses = e.addresses;
      if (!e.destinations.empty())
        it->destinations = e.destinations;
      mergeSettings(it->settings, e.settings, nullptr);
    }
  }
  return out;
}

Settings networkSettings(const Settings& host, const NetworkEntry& e, const ModelContext& ctx,
                         Baseline baseline) {
  Settings s = host;
  // The host's idle_logout is in sshd's main section and applies to every network already; a
  // network's block carries only its own.
  s.server.idle_logout.reset();
  if (e.settings.network.idle_timeout) {
    // The entry's own timeout decides its intervals: the host's explicit intervals were chosen
    // for another path.
    s.server.client_alive_interval.reset();
    s.client.server_alive_interval.reset();
  }
  mergeSettings(s, e.settings, nullptr);
  deriveIntervals(s, ctx, baseline);
  return s;
}

ResolvedNetwork resolveNetwork(const Settings& host, const NetworkEntry& e, const ModelContext& ctx,
                               Baseline baseline) {
  ResolvedNetwork n;
  n.name = e.name.value;
  n.pos = e.pos;
  for (const auto& a : e.addresses)
    n.addresses.push_back(normalizedCidr(a.value));
  for (const auto& d : e.destinations)
    n.destinations.push_back(d.value);
  n.settings = networkSettings(host, e, ctx, baseline);
  return n;
}

namespace {

// The checks of one host's (or the fleet's) list of networks. seen: diagnostics already reported
// (the host's own settings' findings are not repeated per network).
void checkList(const Settings& host, const std::vector<NetworkEntry>& nets,
               const std::string& context, const ModelContext& ctx, Baseline baseline,
               const std::unordered_set<std::string>& hostFindings,
               std::unordered_set<std::string>& reported, Diagnostics& diags) {
  Resolved r;
  r.context = ctx;
  for (const auto& e : nets) {
    if (e.addresses.empty() && e.destinations.empty()) {
      diags.error(e.pos, "network " + e.name.value + (context.empty() ? "" : " on " + context) +
                             " has neither addresses nor destinations, so it applies to nothing; "
                             "add addresses (client CIDRs, for sshd) or destinations (host name "
                             "patterns, for ssh)");
      continue;
    }
    r.networks.push_back(resolveNetwork(host, e, ctx, baseline));
  }
  for (std::size_t i = 0; i < r.networks.size(); ++i) {
    const auto& n = r.networks[i];
    Diagnostics nd;
    checkSettings(n.settings, nd, ctx, baseline);
    for (auto d : nd.items()) {
      if (hostFindings.count(d.str()) || !reported.insert(n.name + "\n" + d.str()).second)
        continue;
      d.message += withPrefix(context, n.name);
      diags.add(std::move(d));
    }
    // sshd 9.2 to 10.4 accept ChannelTimeout inside Match, and sshd -T -C shows it, but apply it
    // only from 10.5 (V_9_2_P1 auth.c:483; commit caa6d7d19): the proof could not catch it.
    if (const auto& il = n.settings.server.idle_logout) {
      constexpr OpensshVersion k105{10, 5};
      const std::string what = "network " + n.name + (context.empty() ? "" : " on " + context) +
                               ": idle_logout inside a network (ChannelTimeout in a Match block) ";
      if (ctx.openssh && *ctx.openssh < k105)
        diags.error(il->pos, what + "needs sshd 10.5 or newer; sshd " + ctx.openssh->str() +
                                 " accepts it there but never applies it (auth.c, fixed in "
                                 "10.5): set server.idle_logout for every client instead");
      else if (!ctx.openssh)
        diags.warning(il->pos, what +
                                   "needs sshd 10.5 or newer (older sshd accept it there but "
                                   "never apply it) and the OpenSSH version is unknown here: give "
                                   "--openssh VERSION");
    }
    const bool sshdSide = !n.addresses.empty() && !renderedDirectives(n, Side::kSshd).empty();
    const bool sshSide = !n.destinations.empty() && !renderedDirectives(n, Side::kSsh).empty();
    if (!sshdSide && !sshSide)
      diags.warning(n.pos, "network " + n.name +
                               " sets no keepalive value, so its blocks say nothing; give it an "
                               "idle_timeout");
    // sshd takes, for each keyword, the first Match block that matches and sets it: a later
    // network's addresses inside an earlier one's get the earlier values.
    const auto mine = cidrsOf(n.addresses);
    for (std::size_t j = 0; j < i; ++j) {
      for (const auto& earlier : cidrsOf(r.networks[j].addresses)) {
        for (std::size_t k = 0; k < mine.size(); ++k) {
          if (!earlier.contains(mine[k]))
            continue;
          diags.warning(n.pos, "network " + n.name + "'s address " + n.addresses[k] +
                                   " lies inside " + r.networks[j].name + "'s " +
                                   normalizedCidr(addressText(earlier.base, earlier.v6) + "/" +
                                                  std::to_string(earlier.prefix)) +
                                   ", which comes first: sshd takes the first Match block that "
                                   "sets a value, so these clients get " +
                                   r.networks[j].name + "'s values; put " + n.name + " before " +
                                   r.networks[j].name + " in networks: or remove the address");
        }
      }
    }
    for (const auto& p : n.destinations) {
      if (p.empty() || p[0] == '!')
        continue;
      Resolved one;
      ResolvedNetwork single = n;
      single.destinations = {p};
      one.networks = {single};
      const auto sample = sampleDestination(one, one.networks.front());
      if (!sample)
        continue;
      for (std::size_t j = 0; j < i; ++j)
        if (destinationsMatch(r.networks[j].destinations, *sample)) {
          diags.warning(n.pos, "network " + n.name + "'s destination \"" + p +
                                   "\" also matches names of " + r.networks[j].name +
                                   ", which comes first (" + *sample +
                                   " is one): ssh takes the first Host block that sets a value, "
                                   "so these get " +
                                   r.networks[j].name + "'s values");
          break;
        }
    }
  }
  // The apply proves the fleet-wide values with an address and a name outside every network
  // (sshd -T -C addr=..., ssh -G NAME); where there is none, they serve no one and cannot be
  // proven, so the policy says the same thing twice and one of the two is wrong.
  const std::string on = context.empty() ? std::string() : " on " + context;
  if (!r.networks.empty() && outsideDestination(r).empty())
    diags.error(r.networks.back().pos,
                "the networks' destinations match every host name" + on +
                    ", so ssh never uses the fleet-wide client values and the apply could not "
                    "prove them: put the widest network's values in client: instead");
  if (!r.networks.empty() && outsideAddress(r, false).empty() && outsideAddress(r, true).empty())
    diags.error(r.networks.back().pos,
                "the networks' addresses cover every IPv4 and IPv6 address" + on +
                    ", so sshd never uses the fleet-wide server values and the apply could not "
                    "prove them: put the widest network's values in server: instead");
}

std::unordered_set<std::string> findings(const Settings& host, const ModelContext& ctx,
                                         Baseline baseline) {
  Settings s = host;
  deriveIntervals(s, ctx, baseline);
  Diagnostics d;
  checkSettings(s, d, ctx, baseline);
  std::unordered_set<std::string> out;
  for (const auto& item : d.items())
    out.insert(item.str());
  return out;
}

}  // namespace

void checkNetworks(const Policy& merged, Diagnostics& diags, const ModelContext& ctx) {
  const Baseline baseline = merged.baseline ? merged.baseline->value : Baseline::kNone;
  bool any = merged.networks && !merged.networks->value.empty();
  if (merged.hosts)
    for (const auto& o : merged.hosts->value)
      any = any || o.networks;
  if (!any)
    return;
  std::unordered_set<std::string> reported;
  checkList(merged.base, mergedNetworks(merged, {}), "", ctx, baseline,
            findings(merged.base, ctx, baseline), reported, diags);
  if (!merged.hosts)
    return;
  // Every override over every network: bounded like the pairs of overrides in rules.cpp. Beyond
  // the budget, each host still checks its own networks (checkForHost).
  std::size_t fleet = 0;
  if (merged.networks)
    for (const auto& e : merged.networks->value)
      fleet += e.addresses.size() + e.destinations.size();
  if (merged.hosts->value.size() * std::max<std::size_t>(fleet, 1) > kMaxOverrideNetworkChecks) {
    diags.warning(merged.hosts->pos, std::to_string(merged.hosts->value.size()) +
                                         " host overrides over " + std::to_string(fleet) +
                                         " network addresses and destinations: the networks are "
                                         "not checked under each override (each host "
                                         "still checks its own networks when it applies)");
    return;
  }
  const auto& hs = merged.hosts->value;
  for (const auto& o : hs) {
    const Settings host = overlay(merged.base, o.settings);
    checkList(host, mergedNetworks(merged, {&o}), o.describe(), ctx, baseline,
              findings(host, ctx, baseline), reported, diags);
  }
  // Each pair in order, as rules.cpp does for the host settings: every rule involves two values,
  // and a host matching several overrides may take them from two of them. Only pairs where one of
  // the two has networks of its own add anything to what rules.cpp and the loop above checked.
  std::size_t pairs = 0;
  for (std::size_t i = 0; i < hs.size(); ++i)
    for (std::size_t j = i + 1; j < hs.size(); ++j)
      pairs += (hs[i].networks || hs[j].networks || fleet > 0) ? 1 : 0;
  if (pairs * std::max<std::size_t>(fleet, 1) > kMaxOverrideNetworkChecks * 10) {
    diags.warning(merged.hosts->pos,
                  "networks are not checked under each pair of host overrides: too many pairs "
                  "(each host still checks its own networks when it applies)");
    return;
  }
  for (std::size_t i = 0; i < hs.size(); ++i) {
    for (std::size_t j = i + 1; j < hs.size(); ++j) {
      if (!hs[i].networks && !hs[j].networks && fleet == 0)
        continue;
      const Settings host = overlay(overlay(merged.base, hs[i].settings), hs[j].settings);
      checkList(host, mergedNetworks(merged, {&hs[i], &hs[j]}),
                "a host matching both " + hs[i].describe() + " and " + hs[j].describe(), ctx,
                baseline, findings(host, ctx, baseline), reported, diags);
    }
  }
}

void checkResolvedNetworks(const Resolved& r, Diagnostics& d, Baseline baseline) {
  for (const auto& n : r.networks) {
    Diagnostics nd;
    checkSettings(n.settings, nd, r.context, baseline);
    for (auto item : nd.items()) {
      item.message += withPrefix("", n.name);
      d.add(std::move(item));
    }
  }
}

}  // namespace detail

}  // namespace keepalive::policy
