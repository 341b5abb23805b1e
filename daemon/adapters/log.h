// SPDX-License-Identifier: GPL-2.0-or-later
// The edge logs once, in systemd's style: spdlog's journald sink under systemd, stderr otherwise.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"

namespace keepalive::daemon::log {

// journal: log to the journal (when started by systemd with its stderr on the journal).
void setup(bool journal, const std::string& level);
void emit(LogEvent::Level level, const std::string& message);
inline void info(const std::string& m) {
  emit(LogEvent::Level::kInfo, m);
}
inline void notice(const std::string& m) {
  emit(LogEvent::Level::kNotice, m);
}
inline void warning(const std::string& m) {
  emit(LogEvent::Level::kWarning, m);
}
inline void error(const std::string& m) {
  emit(LogEvent::Level::kError, m);
}
inline void debug(const std::string& m) {
  emit(LogEvent::Level::kDebug, m);
}
// Catalogue IDs (journalctl MESSAGE_ID=...) of the per-user events.
inline constexpr const char* kMessageIdRepaired = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a41";
inline constexpr const char* kMessageIdRefused = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a42";
inline constexpr const char* kMessageIdReported = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a43";
inline constexpr const char* kMessageIdUnresponsive = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a44";
inline constexpr const char* kMessageIdFailed = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a45";
// "N more repairs of USER suppressed in the last M s": the per-user rate limit's summary.
inline constexpr const char* kMessageIdSuppressed = "4b1e0c3f6a8d4e2f9c7b5a3d1e0f2a46";

// A journal entry with fields of its own (USER=, PATH=, ACTION=) when logging to the journal;
// the plain message otherwise.
void structured(LogEvent::Level level, const std::string& message,
                const std::vector<std::pair<std::string, std::string>>& fields,
                const char* messageId);

// True when "level" names a level (debug, info, notice, warning, error).
bool validLevel(const std::string& level);

}  // namespace keepalive::daemon::log
