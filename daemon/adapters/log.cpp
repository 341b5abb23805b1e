// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "keepalive/escape.h"

namespace keepalive::daemon::log {
namespace {
std::shared_ptr<spdlog::logger> g;
bool toJournal = false;
int maxPriority = 6;  // syslog priority of --log-level: messages above it are not sent
int syslogPriority(LogEvent::Level l) {
  switch (l) {
    case LogEvent::Level::kDebug:
      return 7;
    case LogEvent::Level::kInfo:
      return 6;
    case LogEvent::Level::kNotice:
      return 5;
    case LogEvent::Level::kWarning:
      return 4;
    case LogEvent::Level::kError:
      return 3;
    case LogEvent::Level::kCritical:
      return 2;
  }
  return 6;
}

spdlog::level::level_enum parse(const std::string& l) {
  if (l == "debug")
    return spdlog::level::debug;
  if (l == "warning")
    return spdlog::level::warn;
  if (l == "error")
    return spdlog::level::err;
  return spdlog::level::info;  // info and notice
}
}  // namespace

bool validLevel(const std::string& l) {
  return l == "debug" || l == "info" || l == "notice" || l == "warning" || l == "error";
}

void structured(LogEvent::Level level, const std::string& message,
                const std::vector<std::pair<std::string, std::string>>& fields,
                const char* messageId) {
  if (!toJournal) {
    emit(level, message);
    return;
  }
  if (g && syslogPriority(level) > maxPriority)
    return;  // below --log-level, as every other message
  // Every value is escaped here, at the edge: a user's name, home or file name carries whatever
  // bytes they chose, and must not forge a field, a line or a terminal escape in journalctl.
  std::vector<std::string> items = {"MESSAGE=" + escape(message, {kEscapeLogMax}),
                                    "PRIORITY=" + std::to_string(syslogPriority(level)),
                                    std::string("MESSAGE_ID=") + messageId,
                                    "SYSLOG_IDENTIFIER=keepalive-policyd"};
  for (const auto& [k, v] : fields)
    items.push_back(k + "=" + escape(v, {kEscapeLogMax}));
  std::vector<iovec> iov;
  for (auto& s : items)
    iov.push_back({s.data(), s.size()});
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

void setup(bool journal, const std::string& level) {
  toJournal = journal;
  if (journal) {
    g = std::make_shared<spdlog::logger>(
        "keepalive-policyd", std::make_shared<spdlog::sinks::systemd_sink_mt>("keepalive-policyd"));
    g->set_pattern("%v");
  } else {
    g = std::make_shared<spdlog::logger>("keepalive-policyd",
                                         std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g->set_pattern("keepalive-policyd: %l: %v");
  }
  g->set_level(parse(level));
  maxPriority = level == "debug"     ? 7
                : level == "notice"  ? 5
                : level == "warning" ? 4
                : level == "error"   ? 3
                                     : 6;
  g->flush_on(spdlog::level::trace);
}

void emit(LogEvent::Level level, const std::string& message) {
  if (!g)
    setup(false, "info");
  // The one place every log line passes: escaped here (a no-op for text already escaped), so no
  // byte from outside (file names, passwd fields, sshd's messages) can forge a line.
  const std::string m = escape(message, {kEscapeLogMax});
  switch (level) {
    case LogEvent::Level::kDebug:
      g->debug(m);
      break;
    case LogEvent::Level::kInfo:
    case LogEvent::Level::kNotice:
      g->info(m);
      break;
    case LogEvent::Level::kWarning:
      g->warn(m);
      break;
    case LogEvent::Level::kError:
      g->error(m);
      break;
    case LogEvent::Level::kCritical:
      g->critical(m);
      break;
  }
}

}  // namespace keepalive::daemon::log
