// SPDX-License-Identifier: GPL-2.0-or-later
// The disconnect accounting's store (issue 17): the sessions that ended, as the journal follower
// (adapters/journal_follower.h) classified them, kept bounded; the totals since accounting began;
// the journal cursor and the open sessions that go with them. The follower persists all of it in
// one atomic write (/var/lib/keepalive-policy/disconnects.json), so a restart neither loses nor
// double-counts: the cursor names the last entry whose effect the events and sessions hold.
//
// Pure: no I/O; (de)serialisation with nlohmann-json to and from a string.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "disconnects.h"

namespace keepalive::daemon {

struct DisconnectQuery {
  std::uint64_t since_usec = 0;          // events at or after; 0 = all
  std::optional<DisconnectCause> cause;  // none = any
  std::string network;                   // "" = any
  std::string user;                      // "" = any
  std::size_t limit = 0;                 // 0 = all
};

// One (cause, network) row of DisconnectCounts or DisconnectTotals.
struct DisconnectCount {
  DisconnectCause cause = DisconnectCause::kUnknown;
  std::string network;
  std::uint64_t count = 0;
  friend bool operator==(const DisconnectCount&, const DisconnectCount&) = default;
};

class DisconnectStore {
 public:
  static constexpr std::uint64_t kUsecPerHour = 3600ULL * 1000000ULL;
  static constexpr std::uint64_t kDefaultMaxAgeUsec = std::uint64_t{7} * 24 * kUsecPerHour;
  static constexpr std::size_t kDefaultMaxEvents = 100000;
  static constexpr std::uint64_t kWindowUsec = 24 * kUsecPerHour;  // DisconnectCounts' window
  static constexpr int kFormatVersion = 1;

  explicit DisconnectStore(std::size_t maxEvents = kDefaultMaxEvents,
                           std::uint64_t maxAgeUsec = kDefaultMaxAgeUsec);

  // Records an ended session: kept in time order (an older one is placed where it belongs), the
  // oldest evicted past maxEvents; the totals count it whether or not it is kept.
  void add(DisconnectEvent e);
  // Drops the events older than maxAge before now.
  void expire(std::uint64_t nowUsec);

  // Over [now - 24 h, now], per (cause, network), zero rows left out, in cause then network order.
  std::vector<DisconnectCount> counts(std::uint64_t nowUsec) const;
  // Since accounting began: never go down (restored from the file across restarts).
  std::vector<DisconnectCount> totals() const;
  // The newest event of a cause, if the store still holds one.
  std::optional<DisconnectEvent> last(DisconnectCause c) const;
  // The oldest time counts(now) covers: now - 24 h, or when accounting began if later.
  std::uint64_t coveredSince(std::uint64_t nowUsec) const;
  // When counts(now) next changes by age alone (an event turns 24 h old); none = no event in the
  // window.
  std::optional<std::uint64_t> nextCountExpiry(std::uint64_t nowUsec) const;
  // Newest first.
  std::vector<DisconnectEvent> query(const DisconnectQuery& q) const;

  std::size_t size() const { return events_.size(); }
  std::uint64_t evicted() const { return evicted_; }

  // When accounting began (CLOCK_REALTIME usec); 0 = not yet.
  std::uint64_t since() const { return since_; }
  void setSince(std::uint64_t usec) { since_ = usec; }
  // The journal cursor of the last entry the events and open sessions account for.
  const std::string& cursor() const { return cursor_; }
  void setCursor(std::string c) { cursor_ = std::move(c); }
  const std::vector<OpenSession>& openSessions() const { return open_; }
  void setOpenSessions(std::vector<OpenSession> s) { open_ = std::move(s); }

  // {version, cursor, since, events, totals, open}.
  std::string serialise() const;
  // Replaces this store's content with the text's; false with the reason in why (the store is
  // then left as it was): not JSON, another version, a field missing or of another type.
  bool parse(const std::string& text, std::string* why);

 private:
  std::size_t maxEvents_;
  std::uint64_t maxAgeUsec_;
  std::deque<DisconnectEvent> events_;  // oldest first
  std::map<std::pair<DisconnectCause, std::string>, std::uint64_t> totals_;
  std::uint64_t evicted_ = 0;
  std::uint64_t since_ = 0;
  std::string cursor_;
  std::vector<OpenSession> open_;
};

}  // namespace keepalive::daemon
