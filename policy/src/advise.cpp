// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/policy/advise.h"

#include "keepalive/policy/duration.h"
#include "keepalive/policy/policy.h"

namespace keepalive::policy {

namespace {

std::string dur(std::optional<std::int64_t> v, const char* never = "never") {
  return v ? formatDuration(*v) : never;
}

}  // namespace

Recommendation advise(std::int64_t t, const ModelContext& ctx, std::optional<std::int64_t> outage,
                      Baseline baseline) {
  Recommendation out;
  out.context = ctx;
  out.baseline = baseline;
  out.idle_timeout = t;
  out.outage_tolerance = outage;

  // What a policy saying just this derives.
  Settings s;
  s.network.idle_timeout = Value<std::int64_t>{t, {}, false, ""};
  if (outage)
    s.network.outage_tolerance = Value<std::int64_t>{*outage, {}, false, ""};
  deriveIntervals(s, ctx, baseline);
  out.input = modelInput(s, baseline);
  out.input.client_alive_count_max = out.input.client_alive_count_max.value_or(3);
  out.input.server_alive_count_max = out.input.server_alive_count_max.value_or(3);
  out.input.tcp_keepalive = out.input.tcp_keepalive.value_or(true);
  const Figures& f = out.figures = evaluate(out.input, ctx);
  out.putty_interval = f.client.interval;

  const std::string idle = formatDuration(t);
  const std::string version = f.worst_case ? "in the " + f.openssh : "on OpenSSH " + f.openssh;
  const ServerFigures& sv = f.server;
  const ClientFigures& cl = f.client;
  auto& a = out.advice;

  a.push_back({"sshd", "ClientAliveInterval", std::to_string(sv.interval),
               "network.idle_timeout " + idle + " / " + std::to_string(sv.k + 1) + " (at most " +
                   formatDuration(kMaxDerivedInterval / sv.k) +
                   (baselineMaxInterval(baseline) > 0
                        ? ", and " + formatDuration(baselineMaxInterval(baseline)) +
                              " for baseline " + toString(baseline)
                        : std::string()) +
                   "): " + probeFactorReason(ctx, out.input.timing) +
                   ", so while the client is silent the path sees a gap of " +
                   formatDuration(sv.max_idle_gap) + ", below the " + idle + " timeout"});
  std::string count = "a dead client is disconnected after " + std::to_string(sv.k) + " x " +
                      formatDuration(sv.interval) + " x (" + std::to_string(sv.count_max) +
                      " + 1) = " + dur(sv.dead_client) + " " + version +
                      " (\"Timeout, client not responding\"); a connectivity break of up to " +
                      dur(sv.break_survived) + " is survived";
  if (s.server.client_alive_count_max && s.server.client_alive_count_max->derived)
    count += " (" + s.server.client_alive_count_max->note + ")";
  else
    count +=
        " (OpenSSH's default; 1 would drop sessions on a short outage, 0 never disconnects "
        "from 8.2)";
  a.push_back({"sshd", "ClientAliveCountMax", std::to_string(sv.count_max), count});
  if (baseline == Baseline::kLynis)
    a.push_back({"sshd", "TCPKeepAlive", "no",
                 "Lynis SSH-7408 rates no as good; the encrypted ClientAlive probes keep the NAT "
                 "open, TCP keepalives would start only after 2h"});
  else
    a.push_back({"sshd", "TCPKeepAlive", "yes (leave the default)",
                 "TCP keepalives (SO_KEEPALIVE) start after net.ipv4.tcp_keepalive_time, 2h by "
                 "default, far too late for a NAT; the encrypted ClientAlive probes are what keep "
                 "the flow open"});
  a.push_back({"sshd", "ChannelTimeout", "not set by keepalives",
               "ClientAlive* detects dead clients; it never logs out a live idle user (a live "
               "client answers every probe). To log idle users out use server.idle_logout "
               "(ChannelTimeout session=..., sshd 9.2+), UnusedConnectionTimeout, the shell's "
               "TMOUT or logind's StopIdleSessionSec"});

  // What sshd logs of a session's end (docs/policy.md §6.4): before 9.8 the read errors a NAT or
  // firewall causes are VERBOSE (serverloop.c process_input; logit from 5603befe1, 9.8).
  const bool infoShowsCuts = ctx.openssh && *ctx.openssh >= OpensshVersion{9, 8};
  const std::string want = baselineLogLevelWant(baseline);
  std::string logReason =
      infoShowsCuts
          ? "sshd " + ctx.openssh->str() +
                " logs a session cut by the path (\"Read error from remote host ...\", "
                "\"Connection closed by ...\") at INFO, its default, already"
          : "sshd before 9.8 logs a session cut by the path (\"Read error from remote host ...: "
            "Connection reset by peer\" or \"Connection timed out\", \"Connection closed by "
            "...\") only at VERBOSE; at INFO nothing says why such a session ended, and "
            "keepalivectl disconnects can only count it as unknown";
  if (!want.empty())
    logReason += "; " + want;
  a.push_back({"sshd", "LogLevel",
               infoShowsCuts && want.empty() ? "INFO (the default) or VERBOSE" : "VERBOSE",
               logReason + " (policy: server.log_level)"});

  a.push_back({"OpenSSH client", "ServerAliveInterval", std::to_string(cl.interval),
               "network.idle_timeout " + idle + " / 2 (at most " +
                   formatDuration(kMaxDerivedInterval) +
                   "): ssh probes after this long without data from the server, which keeps the "
                   "NAT mapping fresh even against servers this policy does not manage"});
  std::string ccount = "ssh gives up on a dead server after " + formatDuration(cl.interval) +
                       " x (" + std::to_string(cl.count_max) + " + 1) = " + dur(cl.dead_server) +
                       "; a connectivity break of up to " + dur(cl.break_survived) + " is survived";
  if (s.client.server_alive_count_max && s.client.server_alive_count_max->derived)
    ccount += " (" + s.client.server_alive_count_max->note + ")";
  else
    ccount += " (OpenSSH's default; 0 would end every idle session at the first probe)";
  a.push_back({"OpenSSH client", "ServerAliveCountMax", std::to_string(cl.count_max), ccount});

  a.push_back({"PuTTY", "Connection > Seconds between keepalives (0 to turn off)",
               std::to_string(out.putty_interval),
               "PuTTY sends a null packet every " + formatDuration(out.putty_interval) +
                   ", which keeps the NAT mapping fresh (its manual: \"if the firewall times out "
                   "after ten minutes, use 300 seconds\"). It has no dead-server detection: a dead "
                   "server is noticed only when TCP gives up on unacknowledged data (about 15 "
                   "minutes), and an idle session to it stays open"});
  a.push_back({"PuTTY", "Connection > Enable TCP keepalives (SO_KEEPALIVE option)",
               "off (the default)",
               "the operating system sends the first TCP keepalive only after hours (2 hours on "
               "Windows), long after the NAT has forgotten the flow"});

  a.push_back({"policy", "network.idle_timeout", idle,
               "write this and keepalive-policyd derives the values above for the OpenSSH it "
               "finds, and rejects any that the timeout would defeat"});
  if (outage)
    a.push_back({"policy", "network.outage_tolerance", formatDuration(*outage),
                 "the counts above are derived so that sessions survive a break this long"});
  if (baseline != Baseline::kNone)
    a.push_back({"policy", "baseline", toString(baseline),
                 "validation adds the baseline's limits, each error naming its rule id"});
  return out;
}

}  // namespace keepalive::policy
