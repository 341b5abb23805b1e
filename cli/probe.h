// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl probe, the pure part: the ladder of quiet times, the ssh command line of one rung,
// what ssh's stderr says (the plain-words errors, the server's keepalive probes), the verdict and
// its text, YAML and JSON. No I/O here: probe_runner.cpp runs the sessions, verb_probe.cpp ties
// them to the command line; tests/unit/probe_test.cpp tests this part alone.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keepalive::cli::probe {

// --max's default and bound. Above two hours the server's own TCP keepalive (sshd's TCPKeepAlive,
// on by default; Linux and the BSDs probe an idle connection after 7200 s) refreshes the path,
// so no longer silence can be observed.
inline constexpr std::int64_t kDefaultMaxSeconds = std::int64_t{30} * 60;
inline constexpr std::int64_t kMaxMaxSeconds = std::int64_t{2} * 3600;
// At most this many rungs in a --ladder: each is an ssh session open at the same time.
inline constexpr std::size_t kMaxRungs = 40;
// The lines the far end writes: before its silence and after it.
inline constexpr std::string_view kReadyLine = "keepalive-probe-ready";
inline constexpr std::string_view kDoneLine = "keepalive-probe-done";

// 5s, 10s, 15s, 20s, 30s, 45s, 60s, 90s, 2m, 3m, ... 30m, 40m, ... 2h: the rungs below max, then
// max itself.
std::vector<std::int64_t> defaultLadder(std::int64_t maxSeconds);

struct LadderParse {
  std::vector<std::int64_t> rungs;  // sorted, distinct
  std::string error;                // non-empty: why not, a usage error
};
// "2s,4s,6s" (durations as in a policy, at least 1s); each at most maxSeconds (--max when
// maxGiven, else kMaxMaxSeconds).
LadderParse parseLadder(std::string_view text, std::int64_t maxSeconds, bool maxGiven = true);

// How long after its quiet time a rung's last line may still come: 5 s plus a tenth of the
// quiet time (the far end's scheduling, latency), in milliseconds.
std::int64_t graceMillis(std::int64_t seconds);

// What the far end runs: a line, the silence, a line. Plain words a POSIX shell, csh and fish
// all read alike.
std::string remoteCommand(std::int64_t seconds);
// ssh's argv for a rung. Ours come first: ssh keeps the first value it obtains for an option,
// so the user's options (after ours) cannot turn keepalives back on, but give the port, the
// key, the user, a jump host.
std::vector<std::string> sshArgv(const std::string& destination,
                                 const std::vector<std::string>& sshOptions, std::int64_t seconds,
                                 const std::string& sshProgram = "ssh");

// One line of ssh's stderr (it runs with -v) that is -v's chatter, not an error.
bool isDebugLine(std::string_view line);
// ssh -v's line for a keepalive request the server sent: "client_input_channel_req: channel 0
// rtype keepalive@openssh.com reply 1" (a session channel is open: sshd's client_alive_check
// sends it as a channel request) or "client_input_global_request: rtype keepalive@openssh.com
// want_reply 1" (no channel); the same text in clientloop.c from OpenSSH 7.4 to 10.5.
bool isServerKeepaliveLine(std::string_view line);
// "debug1: Connection established." (sshconnect.c): TCP reached the server.
bool isConnectedLine(std::string_view line);

enum class Failure {
  kNone,
  kAuthentication,  // Permission denied
  kUnreachable,     // no TCP connection: name, route, refused, timed out
  kHostKey,         // unknown or changed host key, with BatchMode
  kClosedEarly,     // the server closed before login (MaxStartups, a firewall, a TCP wrapper)
  kStartTimeout,    // no ready line within kStartTimeoutSeconds
  kSessionEnded,    // the session ended before its last line, not by the path
  kOther,
};
// Ended before the ready line, or without it: why, in plain words, from ssh's stderr (the lines
// that are not debug output), its exit status (-1: killed), whether TCP connected, and the
// far end's own output (remoteLines: its stdout lines other than ours).
struct Classified {
  Failure failure = Failure::kNone;
  std::string message;  // "authentication failed: Permission denied (publickey)"
};
Classified classifyStartFailure(const std::vector<std::string>& stderrLines, int exitStatus,
                                bool connected, const std::string& destination,
                                const std::vector<std::string>& remoteLines = {});
// The path reset or broke the connection during the silence (a RST from a middlebox): dropped,
// not an error. "Connection reset by peer", "Broken pipe", "Connection timed out".
bool isPathBreak(const std::vector<std::string>& stderrLines);
// The last line that is not debug output, or "".
std::string lastErrorLine(const std::vector<std::string>& stderrLines);

// How long ssh may take from its start to the ready line (connect, key exchange, login).
inline constexpr std::int64_t kStartTimeoutSeconds = 30;

enum class Result { kSurvived, kDropped, kError, kStopped };
const char* toString(Result r);

// One rung as it ended. Times in milliseconds from the ready line (the start of its silence).
struct RungOutcome {
  std::int64_t seconds = 0;
  Result result = Result::kError;
  std::string detail;
  Failure failure = Failure::kNone;
  std::optional<std::int64_t> doneMillis;           // when the done line came
  std::vector<std::int64_t> serverKeepaliveMillis;  // when each keepalive request came
};
// The longest stretch the path was really silent during a rung: between the ready line, each
// server keepalive and the done line (or the rung's end), in milliseconds.
std::int64_t longestSilenceMillis(const RungOutcome& r);

struct Verdict {
  std::vector<RungOutcome> ladder;              // sorted by seconds
  std::optional<std::int64_t> survived;         // longest survived below the shortest drop
  std::optional<std::int64_t> dropped;          // shortest dropped
  std::optional<std::int64_t> recommended;      // network.idle_timeout, seconds
  std::optional<std::int64_t> serverKeepalive;  // ~ the server's probe period, seconds
  std::optional<std::int64_t> holdsUpTo;        // the longest silence really observed
  std::string error;                            // nothing measured: why, in plain words
  std::vector<std::string> notes;               // inconsistencies, caveats
  bool measured() const { return recommended.has_value(); }
};
// first: the shortest rung (for "rerun with a finer ladder").
Verdict judge(std::vector<RungOutcome> ladder);

// "network:\n  idle_timeout: 5s\n", the policy's key (docs/policy.md, network.idle_timeout).
std::string yamlSnippet(std::int64_t seconds);
// The report: the ladder, the bracket, the recommendation and the snippet.
std::string text(const Verdict& v, const std::string& destination);
// --json; its keys are documented in keepalivectl(1).
nlohmann::ordered_json toJson(const Verdict& v, const std::string& destination);

// "--ladder 1s,2s,3s,4s": the finer ladder below `first` for the "every session dropped" case.
std::string finerLadder(std::int64_t first);

}  // namespace keepalive::cli::probe
