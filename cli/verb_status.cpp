// SPDX-License-Identifier: GPL-2.0-or-later
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/disconnects.h"
#include "keepalive/policy/duration.h"
#include "online.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

using daemon::DaemonStatus;
using daemon::StateKind;

const char* dotColor(const std::optional<StateKind>& state) {
  if (state == StateKind::kOk)
    return "\x1b[0;1;32m";
  if (state == StateKind::kPolicyInvalid || state == StateKind::kSshdConfigBroken)
    return "\x1b[0;1;31m";
  return "\x1b[0;1;33m";  // starting, pending-reload, sshd-stopped, shadowed, degraded, newer
}

// "     Label: first" then continuation lines aligned under the first value, as systemctl does.
// A label longer than the column ("Disconnects (24h)") pushes its value right, and its
// continuation lines follow under it.
void field(const char* label, const std::vector<std::string>& lines) {
  const int width = std::max(12, static_cast<int>(std::strlen(label)));
  std::printf("%*s: %s\n", width, label, lines.empty() ? "none" : lines.front().c_str());
  for (std::size_t i = 1; i < lines.size(); ++i)
    std::printf("%*s  %s\n", width, "", lines[i].c_str());
}
void field(const char* label, const std::string& value) {
  field(label, std::vector<std::string>{value.empty() ? "none" : value});
}

std::vector<std::string> settings(const daemon::EffectiveSettings& rows) {
  std::size_t wk = 0, wv = 0;
  for (const auto& [k, e] : rows) {
    wk = std::max(wk, printable(k).size());
    wv = std::max(wv, printable(e.value).size());
  }
  std::vector<std::string> out;
  for (const auto& [k, e] : rows) {
    std::string line = printable(k);
    line.resize(wk + 1, ' ');
    std::string value = printable(e.value);
    value.resize(wv + 2, ' ');
    out.push_back(line + value + printable(e.source));
  }
  return out;
}

std::vector<std::string> printableList(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& s : v)
    out.push_back(printable(s));
  return out;
}

std::uint64_t nowUsec() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u;
}

// "since Mon 2026-12-07 10:11:12 UTC; 3min ago", as systemctl says it.
std::string since(std::uint64_t usec) {
  return usec == 0 ? std::string("unknown") : formatSince(usec, nowUsec());
}
// "Mon 2026-12-07 10:11:12 UTC; 3min ago": when an event happened.
std::string at(std::uint64_t usec) {
  const std::string ago = formatAgo(usec, nowUsec());
  return formatTimestamp(usec) + (ago.empty() ? "" : "; " + ago);
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string duration(std::int64_t seconds) {
  return keepalive::policy::formatDuration(seconds);
}

// "probe after 3m20s of silence (2 x 1m40s, OpenSSH 9.2); dead client cut after 13m20s; dead
// server after 10m": the model's figures (Keepalive), as the daemon computed them.
std::string figures(const daemon::KeepaliveFigures& f) {
  std::string out;
  if (f.probe_after < 0) {
    out = "no probes (ClientAliveInterval 0): a dead client is never cut";
  } else {
    out = "probe after " + duration(f.probe_after) + " of silence (" +
          std::to_string(f.probe_factor) + " x " + duration(f.client_alive_interval) + ", " +
          // "9.2", or the model's "worst case over OpenSSH 7.4 to 10.5"
          (f.openssh.rfind("worst case", 0) == 0 ? "" : "OpenSSH ") + printable(f.openssh) + "); " +
          (f.dead_client < 0 ? std::string("a dead client is never cut (ClientAliveCountMax 0)")
                             : "dead client cut after " + duration(f.dead_client));
  }
  out += f.dead_server < 0 ? std::string("; no dead-server detection (ServerAliveInterval 0)")
                           : "; dead server after " + duration(f.dead_server);
  return f.network.empty() ? out : printable(f.network) + ": " + out;
}

// "branch-nat: sshd addr=10.20.0.1 clientaliveinterval=60 clientalivecountmax=3; ssh
// a.branch.example.com serveraliveinterval=150": what sshd -T -C and ssh -G served per network.
std::vector<std::string> networkChecks(const daemon::NetworkCheckRows& rows) {
  std::vector<std::string> out;
  std::string network, target, sample, line;
  bool first = true;
  for (const auto& r : rows) {
    if (first || r.network != network) {
      if (!first)
        out.push_back(line);
      line = printable(r.network.empty() ? "default" : r.network) + ":";
      target.clear();
      sample.clear();
    }
    if (first || r.network != network || r.target != target || r.sample != sample)
      line += (line.back() == ':' ? " " : "; ") + printable(r.target) + " " + printable(r.sample);
    line += " " + printable(r.keyword) + "=" + printable(r.value);
    network = r.network;
    target = r.target;
    sample = r.sample;
    first = false;
  }
  if (!first)
    out.push_back(line);
  return out;
}

// "3 keepalive-timeout, 1 reset, 41 logout": rows summed per cause, in the causes' order.
std::string causeCounts(const daemon::DisconnectCountRows& rows, const std::string* network) {
  std::string out;
  for (daemon::DisconnectCause c : daemon::kAllDisconnectCauses) {
    std::uint64_t n = 0;
    for (const auto& r : rows)
      if (r.cause == daemon::toString(c) && (!network || r.network == *network))
        n += r.count;
    if (n)
      out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + daemon::toString(c);
  }
  // A cause a newer daemon knows and this keepalivectl does not: shown as it is spelled.
  for (const auto& r : rows)
    if (!daemon::disconnectCauseFromString(r.cause) && (!network || r.network == *network))
      out += (out.empty() ? "" : ", ") + std::to_string(r.count) + " " + printable(r.cause);
  return out;
}

// The Disconnects lines (issue 17): the last 24 h per cause (and per network when there are
// networks), the last keepalive-timeout (with user and address when the caller may see them:
// root, or the caller's own session), a hint when keepalive-timeouts concentrate on one network,
// the causes sshd does not log at its LogLevel, and the journal's state when not following.
std::vector<std::string> disconnectLines(const DaemonStatus& s, ManagerClient* client) {
  std::vector<std::string> lines;
  const std::uint64_t day = 24ULL * 3600 * 1000000;
  std::string first = causeCounts(s.disconnect_counts, nullptr);
  if (first.empty())
    first = "none";
  if (s.last_keepalive_timeout_usec) {
    const std::string ago = formatAgo(s.last_keepalive_timeout_usec);
    first += "; last keepalive-timeout " +
             (ago.empty() ? formatTimestamp(s.last_keepalive_timeout_usec) : ago);
    if (!s.last_keepalive_timeout_network.empty() && s.last_keepalive_timeout_network != "default")
      first += " on network " + printable(s.last_keepalive_timeout_network);
    if (client) {
      try {
        auto [events, restricted] =
            client->listDisconnects(s.last_keepalive_timeout_usec, "keepalive-timeout", "", "", 1);
        (void)restricted;
        if (!events.empty() && std::get<0>(events.front()) == s.last_keepalive_timeout_usec)
          first += ", " + printable(std::get<1>(events.front())) + " from " +
                   printable(std::get<2>(events.front()));
      } catch (const sdbus::Error&) {
        // An older daemon, or the caller's budget spent: the line goes without who.
      }
    }
  }
  lines.push_back(first);
  std::vector<std::string> networks;
  for (const auto& r : s.disconnect_counts)
    if (std::find(networks.begin(), networks.end(), r.network) == networks.end())
      networks.push_back(r.network);
  if (networks.size() > 1 || (networks.size() == 1 && networks.front() != "default")) {
    std::sort(networks.begin(), networks.end());
    std::string per;
    for (const auto& n : networks)
      per += (per.empty() ? "" : "; ") + printable(n) + ": " + causeCounts(s.disconnect_counts, &n);
    lines.push_back(per);
  }
  // Most keepalive-timeouts on one network: the path's idle timeout is the usual suspect.
  std::uint64_t timeouts = 0;
  std::map<std::string, std::uint64_t> perNetwork;
  for (const auto& r : s.disconnect_counts)
    if (r.cause == "keepalive-timeout") {
      timeouts += r.count;
      perNetwork[r.network] += r.count;
    }
  for (const auto& [n, c] : perNetwork)
    if (n != "default" && c >= 3 && 3 * c >= 2 * timeouts)
      lines.push_back("most keepalive-timeouts come from network " + printable(n) +
                      ": its idle_timeout may be shorter than the policy says; measure it with "
                      "keepalivectl probe");
  if (s.disconnects_since_usec) {
    // Accounting began less than 24 h ago (the journal holds no more): the counts cover less.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const std::uint64_t nowUsec = std::uint64_t(now.tv_sec) * 1000000u + now.tv_nsec / 1000u;
    if (s.disconnects_since_usec + day > nowUsec + 60000000ULL)
      lines.push_back("counted " + since(s.disconnects_since_usec));
  }
  if (!s.sshd_log_level.empty()) {
    std::string hidden, partly;
    const auto version = policy::OpensshVersion::parse(s.openssh_version);
    for (daemon::DisconnectCause c : daemon::kAllDisconnectCauses) {
      if (c == daemon::DisconnectCause::kUnknown)
        continue;  // what the hidden ones become
      const auto v = daemon::causeVisibility(c, version, s.sshd_log_level);
      if (v == daemon::CauseVisibility::kHidden)
        hidden += std::string(hidden.empty() ? "" : ", ") + daemon::toString(c);
      else if (v == daemon::CauseVisibility::kPartly)
        partly += std::string(partly.empty() ? "" : ", ") + daemon::toString(c);
    }
    // Two lines within 80 columns: "sshd's LogLevel INFO hides closed; reset, timed-out in
    // part" and what that means and what to do.
    std::string what = hidden;
    if (!partly.empty())
      what += (hidden.empty() ? "" : "; ") + partly + " in part";
    if (!what.empty()) {
      lines.push_back("sshd's LogLevel " + printable(s.sshd_log_level) + " hides " + what);
      lines.push_back("(those sessions count as unknown): set server.log_level: verbose");
    }
  }
  if (!s.journal_state.empty() && s.journal_state != "following")
    lines.push_back("journal: " + printable(s.journal_state));
  return lines;
}

// The daemon's status, read through its own table (core/status.h). A state or result this
// keepalivectl does not know is shown as the daemon spelled it.
void printHuman(const Properties& p, ManagerClient& client) {
  std::vector<std::string> unread;
  const DaemonStatus s = readStatus(p, &unread);
  auto known = [&](const char* name) {
    return std::find(unread.begin(), unread.end(), name) == unread.end();
  };
  auto raw = [&](const char* name) {
    auto it = p.find(name);
    return it == p.end() ? std::string() : showValue(it->second);
  };
  const std::optional<StateKind> state =
      known("State") ? std::optional<StateKind>(s.state) : std::nullopt;
  const std::string stateText = state ? daemon::toString(*state) : raw("State");
  const bool color = useColor();
  std::printf("%s\u25cf%s keepalive-policyd: %s\n", color ? dotColor(state) : "",
              color ? "\x1b[0m" : "", printable(stateText).c_str());
  // As systemctl's "Active: active (running) since ...; 3min ago".
  field("State", printable(stateText) + " " + since(s.state_since_usec));
  field("Reason", printable(s.state_reason));
  field("Policy", printableList(s.policy_files));
  field("Digest", printable(s.policy_digest) +
                      (s.policy_since_usec ? "; in force " + since(s.policy_since_usec) : ""));
  std::string applied = formatTimestamp(s.last_apply_usec);
  if (s.last_apply_usec) {
    const std::string ago = formatAgo(s.last_apply_usec);
    const std::string result =
        known("LastApplyResult") ? daemon::toString(s.last_apply_result) : raw("LastApplyResult");
    applied += (ago.empty() ? "" : "; " + ago) + ": " + printable(result) + " (generation " +
               std::to_string(s.generation) + ")";
  }
  field("Last apply", applied);
  {
    std::vector<std::string> unit{printable(s.sshd_unit) +
                                  (s.sshd_state.empty() ? "" : ": " + printable(s.sshd_state))};
    if (!s.sshd_socket.empty())
      unit.push_back("socket " + printable(s.sshd_socket));
    if (s.sshd_read_config_usec)
      unit.push_back("read its configuration " + at(s.sshd_read_config_usec));
    if (s.last_reload_usec)
      unit.push_back("last reloaded by keepalive-policyd " + at(s.last_reload_usec));
    else if (!s.sshd_unit.empty())
      unit.push_back("not reloaded by keepalive-policyd since it started");
    field("sshd unit", unit);
  }
  field("OpenSSH", s.openssh_version.empty()
                       ? std::string("unknown (worst case assumed)")
                       : printable(s.openssh_version) + " (" + printable(s.openssh_source) + ")");
  field("Drop-ins", printableList(s.drop_ins));
  field("Server", settings(s.effective_server));
  field("Client", settings(s.effective_client));
  if (!s.keepalive.empty()) {
    std::vector<std::string> lines;
    for (const auto& f : s.keepalive)
      lines.push_back(figures(f));
    field("Keepalive", lines);
  }
  if (!s.keepalive_notes.empty())
    field("Note", printableList(s.keepalive_notes));
  // Per network only: the default's values are the Server and Client lines above.
  if (std::any_of(s.network_checks.begin(), s.network_checks.end(),
                  [](const daemon::NetworkCheck& c) { return !c.network.empty(); }))
    field("Networks", networkChecks(s.network_checks));
  field("Shadowed", printableList(s.shadowed));
  {
    // Lines of other files that set what we manage and are never used: a scanner or an admin
    // reading them is misled (ConfigLines has every line, with its effect).
    std::vector<std::string> lines;
    for (const auto& r : s.config_lines)
      if (r.effect == "ineffective")
        lines.push_back(printable(daemon::fromRow(r).describe()));
    if (!lines.empty())
      field("Ineffective", lines);
  }
  if (known("DisconnectCounts"))
    field("Disconnects (24h)", disconnectLines(s, &client));
  field("Users", std::to_string(s.users_covered) + " covered, " +
                     std::to_string(s.users_noncompliant) + " non-compliant, " +
                     std::to_string(s.users_unwatched) + " unwatched (" +
                     plural(s.watches_used, "inotify watch", "inotify watches") + ")");
  field("Counts", plural(s.reloads_total, "reload", "reloads") + ", " +
                      plural(s.repairs_total, "repair", "repairs") + ", " +
                      plural(s.refusals_total, "refusal", "refusals") + ", " +
                      plural(s.rollbacks_total, "rollback", "rollbacks"));
  field("Last error",
        printable(s.last_error) +
            (s.last_error_usec && !s.last_error.empty() ? " (" + at(s.last_error_usec) + ")" : ""));
  field("Version", printable(s.version));
}

// std::map's order: the properties by name, as before. A time (microseconds since the epoch, as
// the bus has it) is followed by NameISO (ISO 8601, UTC) and NameUnix (seconds), null for 0.
nlohmann::ordered_json toJson(const Properties& p) {
  auto out = nlohmann::ordered_json::object();
  for (const auto& [name, value] : p) {
    out[name] = jsonValue(value);
    if (daemon::isTimeProperty(name) && value.peekValueType() == "t") {
      const auto usec = value.get<std::uint64_t>();
      out[name + "ISO"] = jsonIso(usec);
      out[name + "Unix"] = jsonUnix(usec);
    }
  }
  return out;
}

}  // namespace

int runStatus(const Args& args) {
  const bool json = args.has("json");
  return withDaemon("status", [&] {
    ManagerClient client;
    const Properties p = client.getAll();
    if (json)
      printJson(toJson(p));
    else
      printHuman(p, client);
    return kExitOk;
  });
}

}  // namespace keepalive::cli
