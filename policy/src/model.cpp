// SPDX-License-Identifier: GPL-2.0-or-later
// The keepalive model (model.h). Each fact is cited in docs/policy.md §7; the short form is here.
//
// sshd (serverloop.c, server_loop2 / wait_until_can_do_something / client_alive_check):
//  - 9.2 to 9.4 wait in ppoll() for exactly ClientAliveInterval and then test
//    `now > last_client_time + interval`, which fails at the first timeout (it is equal, not
//    greater): the probe goes out after the second. 9.5 made the test `>=`. Before 9.2 (select
//    with the interval as timeout, no such test) the probe goes after one interval: k = 1.
//  - Each timeout without an answer counts; at ClientAliveCountMax + 1 sshd logs "Timeout, client
//    not responding" and exits: a dead client goes after k x I x (C + 1).
//  - ClientAliveCountMax 0: up to 8.1 the count test comes first (1 > 0), so a session silent for
//    one interval is cut with no probe at all; 8.2 made the test `count_max > 0 && ...`: never.
//  - From 9.2 the probe is sent only when ppoll timed out, so a session whose channels carry data
//    more often than every interval is never probed.
// ssh (clientloop.c, server_alive_check): a probe after ServerAliveInterval J of silence, quits
// after J x (ServerAliveCountMax + 1) (with 0: after J).
#include "keepalive/policy/model.h"

#include <algorithm>
#include <cctype>

#include "keepalive/policy/duration.h"

namespace keepalive::policy {

namespace {

constexpr OpensshVersion k76{7, 6};
constexpr OpensshVersion k82{8, 2};
constexpr OpensshVersion k84{8, 4};
constexpr OpensshVersion k92{9, 2};
constexpr OpensshVersion k95{9, 5};
constexpr std::int64_t kMaxCountSearch = 1000;

std::string worstCaseName() {
  return "worst case over OpenSSH " + kOldestKnown.str() + " to " + kNewestKnown.str();
}

// The facts that differ between versions, for the version in ctx or the worst case.
bool countZeroNeverCuts(const ModelContext& ctx) {
  return !ctx.openssh || *ctx.openssh >= k82;
}
// sshd probes only when its wait timed out on 7.4-7.5 (V_7_4_P1 serverloop.c:271-272; fixed in
// 7.6 by b60ff2005) and again from 9.2 (V_9_2_P1 serverloop.c:258-259, `ret == 0 && ...`).
bool busyBlindSpot(const ModelContext& ctx) {
  return !ctx.openssh || *ctx.openssh < k76 || *ctx.openssh >= k92;
}
// ssh up to 8.3 pushes its ServerAlive probe back on any local activity (typing, a forward):
// V_8_1_P1 clientloop.c:539-541,580-586; fixed in 8.4 by f11b23346.
bool clientLocalActivityDelays(const ModelContext& ctx) {
  return !ctx.openssh || *ctx.openssh < k84;
}

// The smallest count from 3 whose break survived covers outage, given the first probe time p
// and the gap between probes; when none does, the smallest that reaches TCP's limit.
std::int64_t countCovering(std::int64_t p, std::int64_t outage) {
  std::int64_t best = 3;
  for (std::int64_t c = 3; c <= kMaxCountSearch; ++c) {
    const std::int64_t b = breakSurvived(p, p * (c + 1));
    if (b >= outage)
      return c;
    best = c;
    if (b >= p + kTcpGiveUpSeconds)
      break;  // TCP's limit: more probes cannot help
  }
  return best;
}

std::string baselineCountRule(Baseline b) {
  switch (b) {
    case Baseline::kStig:
      return "STIG's ClientAliveCountMax 1 (sshd_set_keepalive; RHEL-08-010200, RHEL-09-255095, "
             "UBTU-22-255030)";
    case Baseline::kLynis:
      return "Lynis SSH-7408's ClientAliveCountMax of at most 2";
    case Baseline::kCis:
    case Baseline::kNone:
      break;
  }
  return "";
}

}  // namespace

std::string OpensshVersion::str() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::optional<OpensshVersion> OpensshVersion::parse(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])) ||
        (i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1]))))
      continue;
    std::size_t j = i;
    int major = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && major < 1000)
      major = major * 10 + (text[j++] - '0');
    if (j + 1 >= text.size() || text[j] != '.' ||
        !std::isdigit(static_cast<unsigned char>(text[j + 1])))
      continue;
    ++j;
    int minor = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && minor < 1000)
      minor = minor * 10 + (text[j++] - '0');
    return OpensshVersion{major, minor};
  }
  return std::nullopt;
}

const char* toString(OpensshTiming t) {
  switch (t) {
    case OpensshTiming::kOnce:
      return "1x";
    case OpensshTiming::kTwice:
      return "2x";
    case OpensshTiming::kAuto:
      break;
  }
  return "auto";
}

const char* toString(Baseline b) {
  switch (b) {
    case Baseline::kStig:
      return "stig";
    case Baseline::kCis:
      return "cis";
    case Baseline::kLynis:
      return "lynis";
    case Baseline::kNone:
      break;
  }
  return "none";
}

int probeFactor(const ModelContext& ctx, OpensshTiming timing) {
  if (timing == OpensshTiming::kOnce)
    return 1;
  if (timing == OpensshTiming::kTwice || !ctx.openssh)
    return 2;
  const OpensshVersion v = *ctx.openssh;
  return v >= k92 && v < k95 ? 2 : 1;
}

std::string probeFactorReason(const ModelContext& ctx, OpensshTiming timing) {
  static const std::string kWhy =
      " (serverloop.c tests now > last + ClientAliveInterval after a ppoll timeout of exactly "
      "the interval, which fails the first time; fixed in 9.5)";
  if (timing == OpensshTiming::kOnce)
    return "server.openssh_timing 1x: sshd probes after one ClientAliveInterval of silence";
  if (timing == OpensshTiming::kTwice)
    return "server.openssh_timing 2x: sshd sends its probe only after 2 x ClientAliveInterval of "
           "silence";
  if (!ctx.openssh)
    return "in the " + worstCaseName() +
           " sshd sends its probe only after 2 x ClientAliveInterval of silence, as 9.2 to 9.4 "
           "do" +
           kWhy;
  if (probeFactor(ctx, timing) == 2)
    return "sshd " + ctx.openssh->str() +
           " sends its probe only after 2 x ClientAliveInterval of silence" + kWhy;
  return "sshd " + ctx.openssh->str() + " probes after one ClientAliveInterval of silence";
}

// The longest connectivity break a session survives, on one side. A break starts right after the
// last data in both directions. The first probe goes out at p = first_probe and gets no answer;
// TCP retransmits it with doubling gaps (from about 200 ms) up to Linux's TCP_RTO_MAX of 120 s.
// When the break ends at B, the next retransmission comes at most min(B - p, 120) later (a gap
// never exceeds the time since the first send), the peer answers, and the count starts over. So
// the session survives iff B + min(B - p, 120) <= D, the time the keepalives give up:
//   B_max = (D + p) / 2   when (D - p) / 2 <= 120,   else   B_max = D - 120.
// TCP gives up on the unacknowledged probe after about 924.6 s of retransmissions
// (net.ipv4.tcp_retries2 = 15), whatever the count: B_max <= p + 924. With D never
// (ClientAliveCountMax 0 from 8.2), only TCP's limit applies. A break shorter than p sends no
// probe and is always survived; B_max >= p holds.
std::int64_t breakSurvived(std::int64_t p, std::optional<std::int64_t> dead) {
  const std::int64_t tcp = p + kTcpGiveUpSeconds;
  if (!dead)
    return tcp;
  const std::int64_t d = *dead;
  const std::int64_t b = (d - p) / 2 <= kTcpRtoMaxSeconds ? (d + p) / 2 : d - kTcpRtoMaxSeconds;
  return std::min(b, tcp);
}

std::string describe(const ModelContext& ctx) {
  if (!ctx.openssh)
    return "the " + worstCaseName();
  return "OpenSSH " + ctx.openssh->str() + (ctx.source.empty() ? "" : " (" + ctx.source + ")");
}

std::string baselineLogLevelWant(Baseline b) {
  switch (b) {
    case Baseline::kStig:
      return "baseline stig requires LogLevel VERBOSE (sshd_set_loglevel_verbose; RHEL-09-255030, "
             "RHEL-10-500215, OL09-00-002340, SLES-15-010150)";
    case Baseline::kLynis:
      return "baseline lynis: SSH-7408 rates LogLevel good at VERBOSE, INFO is a suggestion";
    case Baseline::kCis:  // 5.1.14-5.1.16 "Ensure sshd LogLevel is configured": INFO or VERBOSE
    case Baseline::kNone:
      break;
  }
  return "";
}

std::int64_t baselineMaxInterval(Baseline b) {
  switch (b) {
    case Baseline::kStig:
      return 600;  // sshd_set_idle_timeout, var_sshd_idle_timeout_value 600 in the STIG profiles
    case Baseline::kLynis:  // SSH-7408: ClientAliveInterval:300,600,900:<
    case Baseline::kCis:    // ComplianceAsCode's CIS profiles: sshd_idle_timeout_value 300
      return 300;
    case Baseline::kNone:
      break;
  }
  return 0;
}

Figures evaluate(const ModelInput& in, const ModelContext& ctx) {
  Figures f;
  f.worst_case = !ctx.openssh;
  f.openssh = ctx.openssh ? ctx.openssh->str() : worstCaseName();
  auto warn = [&f](std::string id, std::string text, bool fact) {
    f.warnings.push_back({std::move(id), std::move(text), fact});
  };
  if (f.worst_case)
    warn("worst-case",
         "no OpenSSH version is known, so every figure is the " + worstCaseName() +
             ": sshd probing only after 2 x ClientAliveInterval (9.2 to 9.4) and "
             "ClientAliveCountMax 0 never disconnecting (8.2 and later); give --openssh VERSION, "
             "or set server.openssh_timing",
         true);
  else if (*ctx.openssh < kOldestKnown || *ctx.openssh > kNewestKnown)
    warn("version-unknown",
         "OpenSSH " + ctx.openssh->str() +
             " is outside the versions whose facts the model knows (" + kOldestKnown.str() +
             " to " + kNewestKnown.str() + "): its figures follow the nearest known version",
         true);

  // sshd.
  ServerFigures& s = f.server;
  s.k = probeFactor(ctx, in.timing);
  s.interval = in.client_alive_interval.value_or(0);
  s.count_max = in.client_alive_count_max.value_or(3);
  if (s.interval > 0) {
    s.max_idle_gap = s.k * s.interval;
    if (s.count_max == 0 && countZeroNeverCuts(ctx)) {
      s.dead_client.reset();
      warn("count-max-zero",
           "ClientAliveCountMax 0: " +
               std::string(f.worst_case ? "on OpenSSH 8.2 and later" : "sshd " + f.openssh) +
               " never disconnects an unresponsive client (it still probes, which keeps the NAT "
               "open), so a dead client's session stays until TCP gives up on unacknowledged "
               "data, or forever when there is none" +
               (f.worst_case ? " (8.1 and older cut every session silent for one interval)" : "") +
               "; write 3",
           false);
    } else {
      s.dead_client = s.max_idle_gap * (s.count_max + 1);
      if (s.count_max == 0)
        warn("count-max-zero",
             "ClientAliveCountMax 0: sshd " + f.openssh +
                 " disconnects every session that is silent for " + formatDuration(s.interval) +
                 ", live or dead, without sending a probe (8.2 changed 0 to mean never); write 3",
             false);
    }
    // ClientAliveCountMax 0 on 8.1 sends no probe: the cut comes first.
    s.break_survived = breakSurvived(
        s.count_max == 0 && s.dead_client ? *s.dead_client : s.max_idle_gap, s.dead_client);
    if (in.idle_timeout)
      s.gap_below_idle_timeout = s.max_idle_gap < *in.idle_timeout;
    if (busyBlindSpot(ctx))
      warn("busy-blind-spot",
           std::string(f.worst_case ? "On OpenSSH 7.4 to 7.5 and from 9.2"
                                    : "On sshd " + f.openssh) +
               " a probe is sent only when nothing moved for an interval: a session whose "
               "channels carry data more often than every " +
               formatDuration(s.interval) +
               " is never probed, so a dead client behind a busy session is found only by TCP "
               "retransmission (Linux tcp_retries2 15: about 15 minutes, 924.6 s)",
           true);
  } else if (in.tcp_keepalive && *in.tcp_keepalive) {
    warn("tcp-keepalive-no-nat",
         "sshd sends no ClientAlive probes and relies on TCPKeepAlive, the kernel's SO_KEEPALIVE, "
         "whose first probe comes after " +
             formatDuration(kTcpKeepaliveTimeSeconds) +
             " of silence (net.ipv4.tcp_keepalive_time): far too late for a NAT or firewall idle "
             "timeout; set network.idle_timeout to derive ClientAliveInterval",
         false);
  }

  // ssh.
  ClientFigures& c = f.client;
  c.interval = in.server_alive_interval.value_or(0);
  c.count_max = in.server_alive_count_max.value_or(3);
  if (c.interval > 0) {
    c.max_idle_gap = c.interval;
    c.dead_server = c.interval * (c.count_max + 1);
    c.break_survived = breakSurvived(c.interval, c.dead_server);
    if (clientLocalActivityDelays(ctx))
      warn("client-local-activity",
           std::string(f.worst_case ? "On OpenSSH 8.3 and older" : "On ssh " + f.openssh) +
               " any local activity (typing, a port forward) pushes the next ServerAlive probe "
               "back, so a dead server behind a session in use is noticed only by TCP "
               "retransmission (fixed in 8.4)",
           true);
    if (in.idle_timeout)
      c.gap_below_idle_timeout = c.max_idle_gap < *in.idle_timeout;
  }

  if (s.break_survived && c.break_survived)
    f.break_survived = std::min(*s.break_survived, *c.break_survived);
  else
    f.break_survived = s.break_survived ? s.break_survived : c.break_survived;

  // The break sessions must survive.
  if (in.outage_tolerance) {
    const std::int64_t o = *in.outage_tolerance;
    if (s.break_survived && *s.break_survived < o) {
      std::string text = "sshd's keepalives (ClientAliveInterval " + formatDuration(s.interval) +
                         ", ClientAliveCountMax " + std::to_string(s.count_max) +
                         ") survive a connectivity break of only " +
                         formatDuration(*s.break_survived) +
                         ", less than network.outage_tolerance " + formatDuration(o) + ": ";
      const std::string rule = baselineCountRule(in.baseline);
      const std::int64_t need = countCovering(s.max_idle_gap, o);
      if (!rule.empty() && breakSurvived(s.max_idle_gap, s.max_idle_gap * (need + 1)) >= o)
        text += "the baseline wins because it is an audit requirement (" + rule +
                "); sessions survive a break of only " + formatDuration(*s.break_survived);
      else if (breakSurvived(s.max_idle_gap, s.max_idle_gap * (need + 1)) < o)
        text +=
            "no ClientAliveCountMax covers it, because TCP gives up on an unanswered probe "
            "after about 15 minutes (tcp_retries2); the most this interval survives is " +
            formatDuration(breakSurvived(s.max_idle_gap, std::nullopt));
      else
        text += "write ClientAliveCountMax " + std::to_string(need) +
                " (or remove it, to have it derived)";
      warn("outage-not-covered", text, false);
    }
    if (c.break_survived && *c.break_survived < o) {
      std::string text = "ssh's keepalives (ServerAliveInterval " + formatDuration(c.interval) +
                         ", ServerAliveCountMax " + std::to_string(c.count_max) +
                         ") survive a connectivity break of only " +
                         formatDuration(*c.break_survived) +
                         ", less than network.outage_tolerance " + formatDuration(o) + ": ";
      const std::int64_t need = countCovering(c.interval, o);
      if (breakSurvived(c.interval, c.interval * (need + 1)) < o)
        text +=
            "no ServerAliveCountMax covers it, because TCP gives up on an unanswered probe "
            "after about 15 minutes (tcp_retries2); the most this interval survives is " +
            formatDuration(breakSurvived(c.interval, std::nullopt));
      else
        text += "write ServerAliveCountMax " + std::to_string(need) +
                " (or remove it, to have it derived)";
      warn("outage-not-covered", text, false);
    }
  }
  return f;
}

std::int64_t deriveServerInterval(std::int64_t idleTimeout, const ModelContext& ctx,
                                  OpensshTiming timing, Baseline baseline) {
  const int k = probeFactor(ctx, timing);
  std::int64_t cap = kMaxDerivedInterval / k;
  if (const std::int64_t b = baselineMaxInterval(baseline); b > 0)
    cap = std::min(cap, b);
  return std::clamp<std::int64_t>(idleTimeout / (k + 1), 1, cap);
}

std::int64_t deriveClientInterval(std::int64_t idleTimeout, Baseline /*baseline*/) {
  return std::clamp<std::int64_t>(idleTimeout / 2, 1, kMaxDerivedInterval);
}

std::optional<std::int64_t> deriveServerCountMax(std::int64_t interval,
                                                 std::optional<std::int64_t> outage,
                                                 const ModelContext& ctx, OpensshTiming timing,
                                                 Baseline baseline) {
  if (baseline == Baseline::kStig)
    return 1;  // an audit requirement: it wins over outage_tolerance (evaluate() says so)
  std::optional<std::int64_t> c;
  if (outage && interval > 0)
    c = countCovering(probeFactor(ctx, timing) * interval, *outage);
  if (baseline == Baseline::kLynis)
    c = std::min<std::int64_t>(c.value_or(2), 2);
  // CIS asks for a count above 0: 3 (OpenSSH's default) and any derived count have it.
  return c;
}

std::optional<std::int64_t> deriveClientCountMax(std::int64_t interval,
                                                 std::optional<std::int64_t> outage,
                                                 Baseline /*baseline*/) {
  if (outage && interval > 0)
    return countCovering(interval, *outage);
  return std::nullopt;
}

}  // namespace keepalive::policy
