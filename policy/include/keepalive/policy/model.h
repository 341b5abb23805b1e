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
inline constexpr OpensshVersion kNewestKnown{10, 2};

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
  std::optional<std::int64_t> idle_timeout;       // network.idle_timeout, seconds
  std::optional<std::int64_t> outage_tolerance;   // network.outage_tolerance, seconds
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

struct ServerFigures {
  int k = 1;
  std::int64_t interval = 0;   // 0: no probes
  std::int64_t count_max = 3;
  std::int64_t max_idle_gap = 0;              // k x interval; 0 when no probes
  std::optional<std::int64_t> dead_client;    // k x I x (C + 1); nullopt: never (no probes, C 0)
  std::int64_t break_survived = 0;            // the longest connectivity break a session survives
};
struct ClientFigures {
  std::int64_t interval = 0;
  std::int64_t count_max = 3;
  std::int64_t max_idle_gap = 0;              // J; 0 when no probes
  std::optional<std::int64_t> dead_server;    // J x (C + 1)
  std::int64_t break_survived = 0;
};
struct ModelWarning {
  std::string id;    // stable: "count-max-zero", "busy-blind-spot", "outage-not-covered", ...
  std::string text;  // a sentence an admin can act on
};
struct Figures {
  std::string openssh;  // "9.2", or "worst case of 7.4 to 10.2"
  ServerFigures server;
  ClientFigures client;
  std::vector<ModelWarning> warnings;
};
Figures evaluate(const ModelInput& in, const ModelContext& ctx);

// The values the policy derives where it omits them, given the idle timeout, the outage tolerance
// and the baseline: the intervals keep the largest quiet gap on the wire below idle_timeout with a
// margin; the counts make the dead-peer times cover outage_tolerance.
std::int64_t deriveServerInterval(std::int64_t idleTimeout, const ModelContext& ctx,
                                  OpensshTiming timing, Baseline baseline);
std::int64_t deriveClientInterval(std::int64_t idleTimeout, Baseline baseline);
std::int64_t deriveServerCountMax(std::int64_t interval, std::optional<std::int64_t> outage,
                                  const ModelContext& ctx, OpensshTiming timing, Baseline baseline);
std::int64_t deriveClientCountMax(std::int64_t interval, std::optional<std::int64_t> outage,
                                  Baseline baseline);

}  // namespace keepalive::policy
