// SPDX-License-Identifier: GPL-2.0-or-later
// The keepalive model: what OpenSSH's own timers do with a set of keepalive values, for the
// OpenSSH version in use. Pure. It is the only place that computes a probe gap, a dead-peer time or
// the break a session survives: rules.cpp, advise.cpp, render --explain, the daemon's status and
// docs/policy.md §7 all take their figures from evaluate(). Every fact it encodes is cited with
// the openssh-portable file and tag in docs/policy.md §7.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keepalive::policy {

struct OpensshVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const OpensshVersion&) const = default;
  std::string str() const;  // "9.2"
  // "9.2", "9.2p1", "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026" (ssh -V) and
  // "OpenSSH_9.2, OpenSSL ..." (sshd -V): the first "major.minor"; nullopt when there is none.
  static std::optional<OpensshVersion> parse(std::string_view text);
};

// The versions the model knows the facts of. Outside them a version is still used as given, with
// a warning that its facts are those of the nearest known version.
inline constexpr OpensshVersion kOldestKnown{7, 4};
inline constexpr OpensshVersion kNewestKnown{10, 5};

// server.openssh_timing: how often sshd really probes, where a fleet knows better than the version
// number (a distribution may carry 9.5's fix in its 9.2 build).
enum class OpensshTiming { kAuto, kOnce, kTwice };  // "auto", "1x", "2x"
const char* toString(OpensshTiming t);

// What the figures are computed for. No version: the worst case over kOldestKnown..kNewestKnown,
// and every figure says so.
struct ModelContext {
  std::optional<OpensshVersion> openssh;
  std::string source;  // how the version was learnt, for messages: "sshd -V", "--openssh"
};

enum class Baseline { kNone, kStig, kCis, kLynis };
const char* toString(Baseline b);  // "none", "stig", "cis", "lynis"

// One set of keepalive values, as in effect for a host or one of its networks. Unset means
// OpenSSH's default (ClientAliveInterval 0, ClientAliveCountMax 3, ServerAliveInterval 0,
// ServerAliveCountMax 3, TCPKeepAlive yes).
struct ModelInput {
  std::optional<std::int64_t> idle_timeout;      // network.idle_timeout, seconds
  std::optional<std::int64_t> outage_tolerance;  // network.outage_tolerance, seconds
  std::optional<std::int64_t> client_alive_interval;
  std::optional<std::int64_t> client_alive_count_max;
  std::optional<std::int64_t> server_alive_interval;
  std::optional<std::int64_t> server_alive_count_max;
  std::optional<bool> tcp_keepalive;
  OpensshTiming timing = OpensshTiming::kAuto;
  Baseline baseline = Baseline::kNone;
};

// k: sshd sends its first probe after k x ClientAliveInterval of silence from the client.
int probeFactor(const ModelContext& ctx, OpensshTiming timing);
// Why k is what it is, for messages: "sshd 9.2 sends its probe only after 2 x
// ClientAliveInterval of silence (serverloop.c ..., fixed in 9.5)".
std::string probeFactorReason(const ModelContext& ctx, OpensshTiming timing);

// Linux's TCP limits the model uses (net.ipv4.tcp_retries2 = 15 and TCP_RTO_MAX): TCP gives up on
// unacknowledged data after about 924.6 s of retransmissions, whose gaps double up to 120 s.
inline constexpr std::int64_t kTcpGiveUpSeconds = 924;
inline constexpr std::int64_t kTcpRtoMaxSeconds = 120;
// SO_KEEPALIVE's first probe on Linux (net.ipv4.tcp_keepalive_time).
inline constexpr std::int64_t kTcpKeepaliveTimeSeconds = 7200;

// The longest connectivity break a session survives, given the time of the first keepalive
// probe after the last data (firstProbe) and the time the keepalives give up (dead; nullopt:
// never). See model.cpp for the reasoning. Always set: with no keepalive limit, TCP's own limit.
std::int64_t breakSurvived(std::int64_t firstProbe, std::optional<std::int64_t> dead);

struct ServerFigures {
  int k = 1;
  std::int64_t interval = 0;  // 0: no probes
  std::int64_t count_max = 3;
  std::int64_t max_idle_gap = 0;            // k x interval; 0 when no probes
  bool gap_below_idle_timeout = true;       // max_idle_gap < idle_timeout (true without one)
  std::optional<std::int64_t> dead_client;  // k x I x (C + 1); nullopt: never (no probes, C 0)
  // The longest connectivity break a session survives on sshd's side; nullopt: no probes, so
  // sshd's keepalives never cut a session (only TCP does, when it has data to retransmit).
  std::optional<std::int64_t> break_survived;
};
struct ClientFigures {
  std::int64_t interval = 0;
  std::int64_t count_max = 3;
  std::int64_t max_idle_gap = 0;  // J; 0 when no probes
  bool gap_below_idle_timeout = true;
  std::optional<std::int64_t> dead_server;     // J x (C + 1); nullopt: no probes
  std::optional<std::int64_t> break_survived;  // as ServerFigures::break_survived, on ssh's side
};
struct ModelWarning {
  std::string id;    // stable: "count-max-zero", "busy-blind-spot", "outage-not-covered", ...
  std::string text;  // a sentence an admin can act on
  // true: a property of the OpenSSH version, stated with the figures (advise, render --explain,
  // status); false: a fault of the values, which validate reports as a warning.
  bool fact = false;
};
struct Figures {
  std::string openssh;      // "9.2", or "worst case over OpenSSH 7.4 to 10.5"
  bool worst_case = false;  // no version known
  ServerFigures server;
  ClientFigures client;
  // The shorter of the two sides' break_survived; nullopt when neither side probes.
  std::optional<std::int64_t> break_survived;
  std::vector<ModelWarning> warnings;
};
Figures evaluate(const ModelInput& in, const ModelContext& ctx);

// "OpenSSH 9.2 (sshd -V)" or "the worst case over OpenSSH 7.4 to 10.5"; for context lines.
std::string describe(const ModelContext& ctx);

// The baselines' limits on sshd's values (docs/policy.md §7): the largest ClientAliveInterval
// each allows (0: no limit).
std::int64_t baselineMaxInterval(Baseline b);
// What the baseline wants of sshd's LogLevel, for a policy that leaves server.log_level unset:
// "baseline stig requires LogLevel VERBOSE (sshd_set_loglevel_verbose; ...)"; empty when it
// accepts sshd's default, INFO (CIS, none).
std::string baselineLogLevelWant(Baseline b);

// The values the policy derives where it omits them, given the idle timeout, the outage tolerance
// and the baseline: the intervals keep the largest quiet gap on the wire below idle_timeout with a
// margin (idle_timeout / (k + 1) for sshd, / 2 for ssh), capped so that a dead peer goes within
// the hour with OpenSSH's default count (kMaxDerivedInterval for ssh, kMaxDerivedInterval / k for
// sshd: k x I x 4 <= 1h) and at the baseline's limit; the counts make the dead-peer times cover
// outage_tolerance. A count of nullopt: leave it unset (OpenSSH's default, 3).
inline constexpr std::int64_t kMaxDerivedInterval = 900;
std::int64_t deriveServerInterval(std::int64_t idleTimeout, const ModelContext& ctx,
                                  OpensshTiming timing, Baseline baseline);
// ssh's ServerAliveInterval: no baseline limits it (they audit sshd); baseline is unused.
std::int64_t deriveClientInterval(std::int64_t idleTimeout, Baseline baseline);
std::optional<std::int64_t> deriveServerCountMax(std::int64_t interval,
                                                 std::optional<std::int64_t> outage,
                                                 const ModelContext& ctx, OpensshTiming timing,
                                                 Baseline baseline);
std::optional<std::int64_t> deriveClientCountMax(std::int64_t interval,
                                                 std::optional<std::int64_t> outage,
                                                 Baseline baseline);

}  // namespace keepalive::policy
