// The edge logs once, in systemd's style: spdlog's journald sink under systemd, stderr otherwise.
#pragma once

#include <string>

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
// True when "level" names a level (debug, info, notice, warning, error).
bool validLevel(const std::string& level);

}  // namespace keepalive::daemon::log
