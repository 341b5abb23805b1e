// SPDX-License-Identifier: GPL-2.0-or-later
// How SSH sessions end, read from sshd's own journal lines (issue 17). Pure: the journal
// follower (adapters/journal_follower.h) hands each sshd entry to a SessionTracker, which pairs
// the "Accepted ... for USER from ADDR port P" of a session with the line that ended it and
// classifies the end into a DisconnectCause. The messages, their log levels and which process
// logs them are taken from OpenSSH's source per version (docs/daemon.md, "Disconnect
// accounting") and confirmed with the real sshd 9.2p1 (tests/unit/disconnects_test.cpp).
//
// No sdbus-c++, no libsystemd: the engine's layering rules apply (tests/check-layering.sh).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keepalive/policy/model.h"

namespace keepalive::daemon {

// Why a session ended. The strings are the CLI's, the bus's and the metrics' labels.
enum class DisconnectCause {
  kKeepaliveTimeout,  // "keepalive-timeout": ClientAlive probes unanswered
  kReset,             // "reset": ECONNRESET on read or write
  kTimedOut,          // "timed-out": ETIMEDOUT (TCP gave up), or the packet layer's timeout
  kBrokenPipe,        // "broken-pipe": EPIPE on write
  kClosed,            // "closed": the client closed TCP without a disconnect message
  kLogout,            // "logout": a disconnect message from the client (normal exit)
  kUnknown,           // "unknown": ended without a line that says how
};
inline constexpr DisconnectCause kAllDisconnectCauses[] = {
    DisconnectCause::kKeepaliveTimeout, DisconnectCause::kReset,  DisconnectCause::kTimedOut,
    DisconnectCause::kBrokenPipe,       DisconnectCause::kClosed, DisconnectCause::kLogout,
    DisconnectCause::kUnknown};
const char* toString(DisconnectCause c);
std::optional<DisconnectCause> disconnectCauseFromString(std::string_view s);

// One journal entry of sshd's, the fields the tracker reads. The views live for the call only.
struct SshdLogEntry {
  std::uint64_t realtime_usec = 0;  // __REALTIME_TIMESTAMP
  std::string_view boot_id;         // _BOOT_ID: a pid names one process within a boot only
  std::uint64_t pid = 0;            // _PID
  std::string_view identifier;      // SYSLOG_IDENTIFIER: sshd | sshd-session
  std::string_view message;         // MESSAGE
  // Who wrote it (_UID). Anyone may write an entry as SYSLOG_IDENTIFIER=sshd (logger -t sshd):
  // an "Accepted" opens a session only when root wrote it (sshd's listener and monitor run as
  // root), and a line of another sender counts for a session only when that sender is the
  // session's own user (the session's child runs as its user). sender_user: the name of the
  // sender's uid when it is not root; none = not known (then the line is taken at its word).
  bool from_root = true;
  std::optional<std::string_view> sender_user;
};

// One session that ended.
struct DisconnectEvent {
  std::uint64_t time_usec = 0;  // CLOCK_REALTIME of the line that ended it
  std::string user;
  std::string address;
  std::uint16_t port = 0;
  std::string network;  // the policy's network the address is in, else "default"; set by the
                        // caller (the tracker leaves it empty)
  DisconnectCause cause = DisconnectCause::kUnknown;
  std::int64_t duration_seconds = -1;  // from its "Accepted" line; -1 = not seen
  friend bool operator==(const DisconnectEvent&, const DisconnectEvent&) = default;
};

// A session accepted and not yet ended, as the store persists it across restarts.
struct OpenSession {
  std::string boot_id;
  std::uint64_t pid = 0;
  std::string user;
  std::string address;
  std::uint16_t port = 0;
  std::uint64_t start_usec = 0;
  // A line that told how it ends, seen before the line that ends it (the client's "Received
  // disconnect" before "Disconnected from" or PAM's "session closed"); none = nothing yet.
  std::optional<DisconnectCause> cause;
  friend bool operator==(const OpenSession&, const OpenSession&) = default;
};

// Pairs sessions with their ends. Bounded: at most max_open sessions are tracked; past that the
// oldest is evicted (not counted: nothing is known of its end) and evictions() grows, so a flood
// of accepted sessions cannot grow the daemon's memory. The first entry of a new boot drops the
// sessions of earlier boots (they ended unseen) the same way.
class SessionTracker {
 public:
  explicit SessionTracker(std::size_t maxOpen = 20000);
  ~SessionTracker();
  SessionTracker(SessionTracker&&) noexcept;
  SessionTracker& operator=(SessionTracker&&) noexcept;
  SessionTracker(const SessionTracker&) = delete;
  SessionTracker& operator=(const SessionTracker&) = delete;
  // Reads one entry; returns the session it ended, if it ended one. Pre-auth lines (scanners,
  // failed logins, "Connection closed by ... [preauth]") never start or end a session. A session
  // is found by the address and port its line names, else by the (boot, pid) of its monitor
  // ("Accepted", PAM's close) or of its child (known from "User child is on pid N" or from an
  // earlier line of the child's). A second "Accepted" from the same pid, or of the same address
  // and port, ends the older session as unknown (returned). docs/daemon.md section 13.
  std::optional<DisconnectEvent> feed(const SshdLogEntry& e);
  // The sessions open now, oldest first (for the store), and a restore at startup: replaces
  // the open table (past maxOpen, the oldest are evicted and counted).
  std::vector<OpenSession> openSessions() const;
  void restore(const std::vector<OpenSession>& sessions);
  std::size_t openCount() const;
  std::size_t maxOpen() const { return maxOpen_; }
  std::uint64_t evictions() const;

 private:
  struct Impl;
  std::size_t maxOpen_;
  std::uint64_t evictions_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Whether sshd logs the lines that show a cause at a LogLevel (as sshd -T prints it: QUIET,
// FATAL, ERROR, INFO, VERBOSE, DEBUG1..3), for an OpenSSH version (unknown: the worst case).
enum class CauseVisibility {
  kVisible,  // every way this cause happens is logged
  kPartly,   // some are (e.g. a reset met while writing, not one met while reading)
  kHidden,   // none is: such sessions end as "unknown"
};
CauseVisibility causeVisibility(DisconnectCause c,
                                const std::optional<policy::OpensshVersion>& version,
                                std::string_view logLevel);

}  // namespace keepalive::daemon
