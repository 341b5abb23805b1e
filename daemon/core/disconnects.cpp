// STUB (issue 17 interface commit): the classifier is being written; see disconnects.h.
#include "disconnects.h"

namespace keepalive::daemon {

const char* toString(DisconnectCause c) {
  switch (c) {
    case DisconnectCause::kKeepaliveTimeout:
      return "keepalive-timeout";
    case DisconnectCause::kReset:
      return "reset";
    case DisconnectCause::kTimedOut:
      return "timed-out";
    case DisconnectCause::kBrokenPipe:
      return "broken-pipe";
    case DisconnectCause::kClosed:
      return "closed";
    case DisconnectCause::kLogout:
      return "logout";
    case DisconnectCause::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<DisconnectCause> disconnectCauseFromString(std::string_view s) {
  for (DisconnectCause c : kAllDisconnectCauses)
    if (s == toString(c))
      return c;
  return std::nullopt;
}

SessionTracker::SessionTracker(std::size_t maxOpen) : max_open_(maxOpen) {}

std::optional<DisconnectEvent> SessionTracker::feed(const SshdLogEntry&) {
  return std::nullopt;
}

std::vector<OpenSession> SessionTracker::openSessions() const {
  return open_;
}

void SessionTracker::restore(const std::vector<OpenSession>& sessions) {
  open_ = sessions;
}

std::size_t SessionTracker::openCount() const {
  return open_.size();
}

std::uint64_t SessionTracker::evictions() const {
  return evictions_;
}

CauseVisibility causeVisibility(DisconnectCause, const std::optional<policy::OpensshVersion>&,
                                std::string_view) {
  return CauseVisibility::kVisible;
}

}  // namespace keepalive::daemon
