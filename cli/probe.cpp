// SPDX-License-Identifier: GPL-2.0-or-later
#include "probe.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/duration.h"

namespace keepalive::cli::probe {
namespace {

using policy::formatDuration;

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

bool anyContains(const std::vector<std::string>& lines, std::string_view what) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return !isDebugLine(l) && contains(l, what); });
}

// The first non-debug line holding `what`, for the message's detail.
std::string lineWith(const std::vector<std::string>& lines, std::string_view what) {
  for (const auto& l : lines)
    if (!isDebugLine(l) && contains(l, what))
      return l;
  return {};
}

nlohmann::ordered_json orNull(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::vector<std::int64_t> defaultLadder(std::int64_t maxSeconds) {
  static const std::int64_t kRungs[] = {5,    10,   15,   20,   30,   45,   60,   90,   120,
                                        180,  240,  300,  360,  480,  600,  720,  900,  1200,
                                        1500, 1800, 2400, 3000, 3600, 4500, 5400, 6300, 7200};
  std::vector<std::int64_t> out;
  for (std::int64_t r : kRungs)
    if (r < maxSeconds)
      out.push_back(r);
  if (maxSeconds > 0)
    out.push_back(maxSeconds);
  return out;
}

LadderParse parseLadder(std::string_view text, std::int64_t maxSeconds, bool maxGiven) {
  LadderParse out;
  std::size_t from = 0;
  while (from <= text.size()) {
    std::size_t comma = text.find(',', from);
    if (comma == std::string_view::npos)
      comma = text.size();
    const std::string_view item = text.substr(from, comma - from);
    const auto d = policy::parseDuration(item);
    if (!d.value) {
      out.error = "--ladder: '" + policy::printable(std::string(item)) + "' " + d.error;
      return out;
    }
    if (*d.value < 1) {
      out.error = "--ladder: a rung of 0s measures nothing; give 1s or more";
      return out;
    }
    if (*d.value > maxSeconds) {
      out.error = "--ladder: rung " + formatDuration(*d.value) + " is above " +
                  (maxGiven ? "--max " + formatDuration(maxSeconds)
                            : formatDuration(maxSeconds) + ", the longest probe tries");
      return out;
    }
    out.rungs.push_back(*d.value);
    from = comma + 1;
  }
  std::sort(out.rungs.begin(), out.rungs.end());
  out.rungs.erase(std::unique(out.rungs.begin(), out.rungs.end()), out.rungs.end());
  if (out.rungs.size() > kMaxRungs)
    out.error = "--ladder: at most " + std::to_string(kMaxRungs) +
                " rungs (each is an ssh session open at the same time)";
  return out;
}

std::int64_t graceMillis(std::int64_t seconds) {
  return 5000 + seconds * 100;
}

std::string remoteCommand(std::int64_t seconds) {
  return "echo " + std::string(kReadyLine) + "; sleep " + std::to_string(seconds) + "; echo " +
         std::string(kDoneLine);
}

std::vector<std::string> sshArgv(const std::string& destination,
                                 const std::vector<std::string>& sshOptions, std::int64_t seconds,
                                 const std::string& sshProgram) {
  std::vector<std::string> argv = {
      sshProgram,
      "-T",  // no terminal: nothing echoes, nothing is sent while the far end sleeps
      "-n",  // stdin from /dev/null: its EOF goes once, at the start
      "-v",  // debug1 shows the server's keepalive requests (isServerKeepaliveLine)
      // Nothing of ours may cross the path during the silence.
      "-o", "ServerAliveInterval=0", "-o", "TCPKeepAlive=no",
      // A session of its own: a multiplexed one would share a busy connection.
      "-o", "ControlMaster=no", "-o", "ControlPath=none",
      // No key re-exchange by time from our side.
      "-o", "RekeyLimit=default none",
      // Never a prompt: a rung that cannot log in by itself is an error.
      "-o", "BatchMode=yes"};
  argv.insert(argv.end(), sshOptions.begin(), sshOptions.end());
  argv.push_back("--");
  argv.push_back(destination);
  argv.push_back(remoteCommand(seconds));
  return argv;
}

bool isDebugLine(std::string_view line) {
  // -v's debug1 lines, and the verbose() and informational lines -v adds without a prefix
  // (clientloop.c, sshconnect.c, sshconnect2.c, ssh.c).
  static constexpr std::string_view kNoise[] = {"debug1: ",
                                                "debug2: ",
                                                "debug3: ",
                                                "Transferred: sent ",
                                                "Bytes per second: ",
                                                "Authenticated to ",
                                                "Authenticated using ",
                                                "OpenSSH_",
                                                "Warning: Permanently added ",
                                                "Canonicalized DNS "};
  return std::any_of(std::begin(kNoise), std::end(kNoise),
                     [&](std::string_view p) { return line.starts_with(p); });
}

bool isServerKeepaliveLine(std::string_view line) {
  return isDebugLine(line) && contains(line, "rtype keepalive@openssh.com") &&
         (contains(line, "client_input_channel_req: ") ||
          contains(line, "client_input_global_request: "));
}

bool isConnectedLine(std::string_view line) {
  return line == "debug1: Connection established.";
}

Classified classifyStartFailure(const std::vector<std::string>& lines, int exitStatus,
                                bool connected, const std::string& destination,
                                const std::vector<std::string>& remoteLines) {
  Classified c;
  if (anyContains(lines, "Permission denied")) {
    c.failure = Failure::kAuthentication;
    c.message = "authentication failed: " + lineWith(lines, "Permission denied") +
                " (probe runs ssh with BatchMode=yes: give a key or an agent that logs in to " +
                destination + " without a prompt, e.g. -- -i KEY)";
    return c;
  }
  if (anyContains(lines, "Host key verification failed") ||
      anyContains(lines, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
      anyContains(lines, "host key is known for")) {
    c.failure = Failure::kHostKey;
    std::string why = lineWith(lines, "host key is known for");
    if (anyContains(lines, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
      why = "the host key of " + destination + " has changed";
    c.message = "host key problem: " + (why.empty() ? "Host key verification failed" : why) +
                " (connect once with ssh " + destination + " to check and accept its key)";
    return c;
  }
  for (const char* m : {"Could not resolve hostname", "No route to host", "Connection refused",
                        "Connection timed out", "Network is unreachable", "connect to host"}) {
    if (anyContains(lines, m)) {
      c.failure = Failure::kUnreachable;
      c.message = "host unreachable: " + lineWith(lines, m);
      return c;
    }
  }
  if (anyContains(lines, "kex_exchange_identification") ||
      anyContains(lines, "Connection closed by") || anyContains(lines, "Connection reset by")) {
    c.failure = Failure::kClosedEarly;
    const std::string l = lastErrorLine(lines);
    c.message = "the server closed the connection before the login" +
                (l.empty() ? std::string() : ": " + l) +
                " (sshd's MaxStartups, a firewall, or a limit on connections)";
    return c;
  }
  if (exitStatus == -1) {
    c.failure = Failure::kStartTimeout;
    c.message = connected ? "the login to " + destination + " did not finish within " +
                                std::to_string(kStartTimeoutSeconds) + "s"
                          : "host unreachable: no connection to " + destination + " within " +
                                std::to_string(kStartTimeoutSeconds) + "s";
    if (!connected)
      c.failure = Failure::kUnreachable;
    return c;
  }
  c.failure = Failure::kOther;
  // What the far end said (a nologin shell's "This account is currently not available."),
  // else ssh's last word.
  std::string l = lastErrorLine(remoteLines);
  if (l.empty())
    l = lastErrorLine(lines);
  c.message = "ssh " + destination + " failed (exit status " + std::to_string(exitStatus) + ")" +
              (l.empty() ? std::string() : ": " + l);
  return c;
}

bool isPathBreak(const std::vector<std::string>& lines) {
  return anyContains(lines, "Connection reset") || anyContains(lines, "Broken pipe") ||
         anyContains(lines, "timed out");
}

std::string lastErrorLine(const std::vector<std::string>& lines) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (!isDebugLine(*it) && !it->empty())
      return *it;
  return {};
}

const char* toString(Result r) {
  switch (r) {
    case Result::kSurvived:
      return "survived";
    case Result::kDropped:
      return "dropped";
    case Result::kError:
      return "error";
    case Result::kStopped:
      return "stopped";
  }
  return "error";
}

std::int64_t longestSilenceMillis(const RungOutcome& r) {
  std::vector<std::int64_t> t = {0};
  t.insert(t.end(), r.serverKeepaliveMillis.begin(), r.serverKeepaliveMillis.end());
  t.push_back(r.doneMillis ? *r.doneMillis : r.seconds * 1000);
  std::sort(t.begin(), t.end());
  std::int64_t longest = 0;
  for (std::size_t i = 1; i < t.size(); ++i)
    longest = std::max(longest, t[i] - t[i - 1]);
  return longest;
}

Verdict judge(std::vector<RungOutcome> ladder) {
  Verdict v;
  std::sort(ladder.begin(), ladder.end(),
            [](const RungOutcome& a, const RungOutcome& b) { return a.seconds < b.seconds; });
  v.ladder = std::move(ladder);
  for (const auto& r : v.ladder)
    if (r.result == Result::kDropped && !v.dropped)
      v.dropped = r.seconds;
  // The server's keepalive: the longest wait for one, from the silence's start or the previous.
  std::int64_t keepaliveGap = 0;
  for (const auto& r : v.ladder) {
    std::int64_t prev = 0;
    for (std::int64_t k : r.serverKeepaliveMillis) {
      keepaliveGap = std::max(keepaliveGap, k - prev);
      prev = k;
    }
  }
  if (keepaliveGap > 0)
    v.serverKeepalive = std::max<std::int64_t>(1, (keepaliveGap + 500) / 1000);
  // The longest silence the path really saw in a survivor below the first drop: a rung the
  // server's keepalives interrupted was not silent for its whole time.
  std::int64_t observedMillis = 0;
  for (const auto& r : v.ladder) {
    if (r.result != Result::kSurvived)
      continue;
    if (v.dropped && r.seconds > *v.dropped) {
      v.notes.push_back(formatDuration(r.seconds) + " survived though " +
                        formatDuration(*v.dropped) +
                        " was dropped: the path is not one steady NAT (flows spread over "
                        "several, or one dropped for another reason); rerun to confirm");
      continue;
    }
    v.survived = r.seconds;
    observedMillis = std::max(observedMillis, std::min(longestSilenceMillis(r), r.seconds * 1000));
  }
  if (v.survived) {
    std::int64_t rec = *v.survived;
    if (v.serverKeepalive) {
      // The longest silence a survivor really saw, to the nearest second.
      const std::int64_t observed = std::max<std::int64_t>(1, (observedMillis + 500) / 1000);
      v.holdsUpTo = std::min(*v.survived, observed);
      rec = std::min(rec, *v.holdsUpTo);
    }
    v.recommended = rec;
  }
  const bool anySurvived = std::any_of(v.ladder.begin(), v.ladder.end(),
                                       [](const auto& r) { return r.result == Result::kSurvived; });
  if (!anySurvived) {
    // The first error in plain words, else the every-session-dropped advice.
    const auto err = std::find_if(v.ladder.begin(), v.ladder.end(),
                                  [](const auto& r) { return r.result == Result::kError; });
    if (v.dropped && !v.ladder.empty() && v.ladder.front().result == Result::kDropped) {
      const std::int64_t first = v.ladder.front().seconds;
      v.error = "every session dropped: the path's idle timeout is shorter than the first rung (" +
                formatDuration(first) + ")" +
                (first > 1 ? ": rerun with " + finerLadder(first) : std::string());
    } else if (err != v.ladder.end()) {
      v.error = err->detail;
    } else if (v.dropped) {
      v.error = "no session survived: the shortest rung dropped was " + formatDuration(*v.dropped);
    } else {
      v.error = "nothing was measured";
    }
  }
  return v;
}

std::string finerLadder(std::int64_t first) {
  std::string out = "--ladder ";
  // About eight rungs below the first one, in whole seconds.
  const std::int64_t step = std::max<std::int64_t>(1, first / 8);
  bool any = false;
  for (std::int64_t s = step; s < first; s += step) {
    out += (any ? "," : "") + formatDuration(s);
    any = true;
  }
  return out + " --max " + formatDuration(std::max<std::int64_t>(1, first - 1));
}

std::string yamlSnippet(std::int64_t seconds) {
  return "network:\n  idle_timeout: " + formatDuration(seconds) + "\n";
}

std::string text(const Verdict& v, const std::string& destination) {
  std::string out = "Idle timeout of the path to " + destination + ":\n";
  for (const auto& r : v.ladder) {
    char head[64];
    std::snprintf(head, sizeof head, "  %8s  %-8s", formatDuration(r.seconds).c_str(),
                  toString(r.result));
    out += head;
    if (!r.detail.empty())
      out += "  " + r.detail;
    out += "\n";
  }
  out += "\n";
  if (v.serverKeepalive)
    out += "The server sends keepalives every ~" + formatDuration(*v.serverKeepalive) +
           " (its ClientAliveInterval): they refresh the path, so the measurement holds only up "
           "to " +
           formatDuration(v.holdsUpTo.value_or(*v.serverKeepalive)) +
           ". Probe a server without ClientAliveInterval to see further.\n";
  for (const auto& n : v.notes)
    out += "Note: " + n + ".\n";
  if (!v.measured()) {
    out += "Nothing measured: " + v.error + ".\n";
    return out;
  }
  if (v.dropped)
    out += "Longest silence survived: " + formatDuration(*v.survived) +
           "; shortest dropped: " + formatDuration(*v.dropped) +
           ".\nThe path's idle timeout is between " + formatDuration(*v.survived) + " and " +
           formatDuration(*v.dropped) + ".\n";
  else if (v.holdsUpTo)
    out += "No session dropped, but the server's keepalives broke every silence longer than " +
           formatDuration(*v.holdsUpTo) + ".\n";
  else
    out += "No session dropped: the path keeps idle flows for at least " +
           formatDuration(*v.survived) + " (the longest silence tried).\n";
  out += "Recommended network.idle_timeout: " + formatDuration(*v.recommended) + ".\n";
  if (*v.recommended < 3) {
    out +=
        "That is below 3s, the least network.idle_timeout takes: no keepalive outruns such a "
        "path.\n";
    return out;
  }
  out += "\n" + yamlSnippet(*v.recommended);
  return out;
}

nlohmann::ordered_json toJson(const Verdict& v, const std::string& destination) {
  nlohmann::ordered_json j;
  j["destination"] = destination;
  j["survived_seconds"] = orNull(v.survived);
  j["dropped_seconds"] = orNull(v.dropped);
  j["recommended_idle_timeout_seconds"] = orNull(v.recommended);
  j["server_keepalive_seconds"] = orNull(v.serverKeepalive);
  j["measurement_holds_up_to_seconds"] = orNull(v.holdsUpTo);
  j["ladder"] = nlohmann::ordered_json::array();
  for (const auto& r : v.ladder) {
    nlohmann::ordered_json e;
    e["seconds"] = r.seconds;
    e["result"] = toString(r.result);
    e["detail"] = r.detail;
    e["server_keepalives"] = r.serverKeepaliveMillis.size();
    j["ladder"].push_back(std::move(e));
  }
  j["error"] = v.measured() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v.error);
  j["notes"] = v.notes;
  return j;
}

}  // namespace keepalive::cli::probe
