// SPDX-License-Identifier: GPL-2.0-or-later
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

// The keepalive rules of one side, from the model's figures for the version in ctx. server: sshd's
// ClientAlive*, else ssh's ServerAlive*.
void checkKeepalive(const Settings& st, const Figures& f, const ModelContext& ctx,
                    Baseline baseline, bool server, Diagnostics& d) {
  const Opt<std::int64_t>& interval =
      server ? st.server.client_alive_interval : st.client.server_alive_interval;
  const Opt<std::int64_t>& countMax =
      server ? st.server.client_alive_count_max : st.client.server_alive_count_max;
  const Opt<std::int64_t>& idle = st.network.idle_timeout;
  const std::string name = server ? "server.client_alive_interval" : "client.server_alive_interval";
  const std::string countName =
      server ? "server.client_alive_count_max" : "client.server_alive_count_max";
  const std::string prog = server ? "sshd" : "ssh";
  const OpensshTiming timing =
      st.server.openssh_timing ? st.server.openssh_timing->value : OpensshTiming::kAuto;
  const int k = server ? f.server.k : 1;
  const std::int64_t gap = server ? f.server.max_idle_gap : f.client.max_idle_gap;
  const std::optional<std::int64_t> dead = server ? f.server.dead_client : f.client.dead_server;
  const std::optional<std::int64_t> survived =
      server ? f.server.break_survived : f.client.break_survived;
  const std::string onWhat = f.worst_case ? " in the " + f.openssh : " on OpenSSH " + f.openssh;

  if (countMax) {
    if (countMax->value == 0 && !server)
      d.error(countMax->pos,
              countName +
                  " 0 makes ssh quit at its first probe, so every session that is idle for "
                  "one server_alive_interval ends with 'Timeout, server not responding'; "
                  "write 3");
    // The STIG requires 1 (checked below); outage_tolerance, when set, says what it costs.
    if (countMax->value == 1 && !(server && baseline == Baseline::kStig))
      d.warning(countMax->pos,
                countName +
                    " 1 ends a session after a single unanswered probe: on a flaky link "
                    "(Wi-Fi, mobile) keepalives then turn a short outage into a dropped session" +
                    (survived ? " (these values survive a break of only " +
                                    formatDuration(*survived) + onWhat + ")"
                              : std::string()) +
                    "; 3 rides out a longer one, and network.outage_tolerance derives the count");
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
  if (idle && gap >= idle->value) {
    const std::int64_t t = idle->value;
    const std::string idleText = "network.idle_timeout " + formatDuration(t) + at(idle->pos);
    const std::string most = formatDuration(std::max<std::int64_t>(1, (t - 1) / k));
    const std::string advice =
        server ? "write at most " + most + "; " +
                     formatDuration(deriveServerInterval(t, ctx, timing, baseline)) +
                     " (idle_timeout/" + std::to_string(k + 1) + ") is recommended"
               : "write " + formatDuration(deriveClientInterval(t, baseline)) +
                     " (idle_timeout/2) or less";
    if (k == 1 || s >= t)
      d.error(interval->pos, name + " " + formatDuration(s) + how(*interval) + " is not below " +
                                 idleText + ": the NAT or firewall drops an idle session before " +
                                 prog + "'s first probe; " + advice);
    else
      d.error(interval->pos, name + " " + formatDuration(s) + how(*interval) +
                                 (k * s > t ? " is above " : " is exactly ") +
                                 (k == 2 ? "half of " : "1/" + std::to_string(k) + " of ") +
                                 idleText + ": " + probeFactorReason(ctx, timing) +
                                 " (k = " + std::to_string(k) +
                                 "), so while the client is silent the path stays idle for " +
                                 formatDuration(gap) + " (" + std::to_string(k) + " x " +
                                 formatDuration(s) + "), not below the timeout; " + advice);
  }
  if (dead && *dead > kDeadSessionWarn) {
    const std::int64_t count = countMax ? countMax->value : kOpensshDefaultCountMax;
    const SourcePos& where = countMax ? countMax->pos : interval->pos;
    const std::string formula =
        (server && k == 2 ? "k = 2: 2 x " : "") + formatDuration(s) + " x (" +
        std::to_string(count) + " + 1)" +
        (server && k == 2 ? ": " + probeFactorReason(ctx, timing) : std::string());
    d.warning(where, name + " " + formatDuration(s) + " with " +
                         countName.substr(countName.find('.') + 1) + " " + std::to_string(count) +
                         (countMax ? "" : " (OpenSSH's default)") + " keeps a dead " +
                         (server ? "client" : "server") + "'s session for " + hours(*dead) +
                         onWhat + " (" + formula + "), over an hour; " +
                         (server && baseline == Baseline::kStig && count > 1
                              ? std::string("lower the count to 1, as baseline stig requires")
                          : server && baseline == Baseline::kLynis && count > 2
                              ? std::string("lower the count to 2, as baseline lynis asks")
                          : count > kOpensshDefaultCountMax ? std::string("lower the count to 3")
                                                            : std::string("shorten the interval")));
  }
}

// The model's warnings about the values (not the facts of the version), at the value concerned.
void modelWarnings(const Settings& st, const Figures& f, Diagnostics& d) {
  for (const auto& w : f.warnings) {
    if (w.fact)
      continue;
    SourcePos pos;
    if (w.id == "count-max-zero" && st.server.client_alive_count_max)
      pos = st.server.client_alive_count_max->pos;
    else if (w.id == "tcp-keepalive-no-nat" && st.server.tcp_keepalive)
      pos = st.server.tcp_keepalive->pos;
    else if (w.id == "outage-not-covered" && st.network.outage_tolerance)
      pos = st.network.outage_tolerance->pos;
    d.warning(pos, w.text);
  }
}

// server.log_level against a baseline. Unset leaves LogLevel to sshd_config, where a baseline's
// own remediation writes it, so only a value the policy sets is judged; `render --explain` and
// `advise --baseline` say what the baseline wants. CIS accepts both words the policy allows.
void checkBaselineLogLevel(const Settings& st, Baseline baseline, Diagnostics& d) {
  const Opt<SshdLogLevel>& ll = st.server.log_level;
  if (!ll || ll->value == SshdLogLevel::kVerbose)
    return;
  // The drop-in is read first and sshd keeps the first value: INFO here would also override a
  // LogLevel VERBOSE that the baseline's remediation put into sshd_config.
  if (baseline == Baseline::kStig)
    d.error(ll->pos, "baseline stig: LogLevel INFO" + how(*ll) +
                         ": the STIG requires LogLevel VERBOSE (sshd_set_loglevel_verbose; "
                         "RHEL-09-255030, RHEL-10-500215, OL09-00-002340, SLES-15-010150); write "
                         "server.log_level: verbose");
  else if (baseline == Baseline::kLynis)
    d.error(ll->pos, "baseline lynis: LogLevel INFO" + how(*ll) +
                         ": Lynis SSH-7408 rates LogLevel good at VERBOSE (INFO is a "
                         "suggestion); write server.log_level: verbose");
}

// A baseline's limits, each error naming the rule ids an auditor maps it to.
void checkBaseline(const Settings& st, Baseline baseline, Diagnostics& d) {
  if (baseline == Baseline::kNone)
    return;
  const Opt<std::int64_t>& ci = st.server.client_alive_interval;
  const Opt<std::int64_t>& cc = st.server.client_alive_count_max;
  const std::int64_t interval = ci ? ci->value : 0;
  const std::int64_t count = cc ? cc->value : kOpensshDefaultCountMax;
  const SourcePos ipos = ci ? ci->pos : SourcePos{};
  const SourcePos cpos = cc ? cc->pos : ipos;
  const std::string iText = "ClientAliveInterval " + (ci ? formatDuration(interval) + how(*ci)
                                                         : std::string("unset (sshd: 0)"));
  const std::string cText =
      "ClientAliveCountMax " + (cc ? std::to_string(count) + how(*cc) : "unset (sshd: 3)");
  const std::string setIdle = ci ? "" : "; set network.idle_timeout to derive one";
  switch (baseline) {
    case Baseline::kStig: {
      const std::string ids =
          " (sshd_set_idle_timeout; RHEL-08-010201, RHEL-09-255100, UBTU-22-255035)";
      if (interval <= 0 || interval > 600)
        d.error(ipos, "baseline stig: " + iText +
                          ": the STIG requires ClientAliveInterval from 1s to 10m" + ids + setIdle);
      if (count != 1)
        d.error(cpos, "baseline stig: " + cText +
                          ": the STIG requires ClientAliveCountMax 1 (sshd_set_keepalive; "
                          "RHEL-08-010200, RHEL-09-255095, UBTU-22-255030); remove the key to "
                          "have it derived");
      break;
    }
    case Baseline::kCis:
      if (interval <= 0)
        d.error(ipos, "baseline cis: " + iText +
                          ": CIS 5.1.7 (Debian and Ubuntu; sshd_set_idle_timeout) requires a "
                          "ClientAliveInterval above 0" +
                          setIdle);
      if (count <= 0)
        d.error(cpos, "baseline cis: " + cText +
                          ": CIS 5.1.7 (sshd_set_keepalive) requires a ClientAliveCountMax above "
                          "0; ComplianceAsCode's CIS profiles use 3");
      break;
    case Baseline::kLynis:
      if (interval <= 0 || interval > 300)
        d.error(ipos, "baseline lynis: " + iText +
                          ": Lynis SSH-7408 rates ClientAliveInterval good from 1s to 5m" +
                          setIdle);
      if (count > 2)
        d.error(cpos, "baseline lynis: " + cText +
                          ": Lynis SSH-7408 rates ClientAliveCountMax good at 2 or less");
      if (!st.server.tcp_keepalive || st.server.tcp_keepalive->value)
        d.error(st.server.tcp_keepalive ? st.server.tcp_keepalive->pos : SourcePos{},
                "baseline lynis: TCPKeepAlive " +
                    std::string(st.server.tcp_keepalive ? "yes" : "unset (sshd: yes)") +
                    ": Lynis SSH-7408 rates TCPKeepAlive good at no; write "
                    "server.tcp_keepalive: false (ClientAlive probes keep the NAT open)");
      break;
    case Baseline::kNone:
      break;
  }
  checkBaselineLogLevel(st, baseline, d);
}

// server.idle_logout and server.unused_connection_timeout exist in sshd from 9.2.
void checkIdleLogout(const Settings& st, const ModelContext& ctx, Diagnostics& d) {
  constexpr OpensshVersion k92{9, 2};
  for (const auto* v : {&st.server.idle_logout, &st.server.unused_connection_timeout}) {
    if (!*v)
      continue;
    const std::string key = v == &st.server.idle_logout
                                ? "server.idle_logout (ChannelTimeout)"
                                : "server.unused_connection_timeout (UnusedConnectionTimeout)";
    if (ctx.openssh && *ctx.openssh < k92)
      d.error((*v)->pos, key + " needs sshd 9.2 or newer; this is OpenSSH " + ctx.openssh->str() +
                             ", whose sshd refuses the directive: remove it, or log idle users "
                             "out with the shell's TMOUT or logind's StopIdleSessionSec");
    else if (!ctx.openssh)
      d.warning((*v)->pos, key +
                               " needs sshd 9.2 or newer and the OpenSSH version is unknown here: "
                               "give --openssh VERSION (older sshd refuse the directive, and "
                               "keepalive-policyd then refuses the policy)");
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
  const Figures f = evaluate(modelInput(s, baseline), ctx);
  checkKeepalive(s, f, ctx, baseline, true, d);
  checkKeepalive(s, f, ctx, baseline, false, d);
  modelWarnings(s, f, d);
  checkBaseline(s, baseline, d);
  checkIdleLogout(s, ctx, d);
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
