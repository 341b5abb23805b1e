// SPDX-License-Identifier: GPL-2.0-or-later
#include "pager.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace keepalive::cli {
namespace {

// Read once, before a pager replaces stdout with a pipe.
const bool kStdoutTerminal = ::isatty(STDOUT_FILENO) == 1;
// The terminal's width at start, before a pager takes stdout over; 0 = not known.
const unsigned short kStartColumns = [] {
  struct winsize ws {};
  return kStdoutTerminal && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0
             ? ws.ws_col
             : static_cast<unsigned short>(0);
}();

bool isFalse(const char* v) {
  for (const char* no : {"0", "no", "false", "off", "n", "f"})
    if (::strcasecmp(v, no) == 0)
      return true;
  return false;
}

// The child: stdin is the pipe. Runs the pager, else copies what comes to the terminal, so that
// no output is lost when there is no pager to run.
[[noreturn]] void runPager(const char* command) {
  ::setenv("LESS", "FRSXMK", 0);
  if (command && *command) {
    ::execl("/bin/sh", "sh", "-c", command, static_cast<char*>(nullptr));
  } else {
    ::execlp("less", "less", static_cast<char*>(nullptr));
    ::execlp("more", "more", static_cast<char*>(nullptr));
  }
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(STDOUT_FILENO, buf + off, std::size_t(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        ::_exit(1);
      off += w;
    }
  }
  ::_exit(0);
}

}  // namespace

const char* pagerCommand(const char* systemdPager, const char* pager) {
  const char* p = systemdPager ? systemdPager : pager;
  if (!p)
    return "";
  if (!*p || std::strcmp(p, "cat") == 0)
    return nullptr;
  return p;
}

Pager::Pager(bool noPager) {
  if (noPager || !kStdoutTerminal)
    return;
  const char* command = pagerCommand(std::getenv("SYSTEMD_PAGER"), std::getenv("PAGER"));
  if (!command)
    return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return;
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    if (::dup2(fds[0], STDIN_FILENO) < 0)
      ::_exit(1);
    runPager(command);
  }
  ::close(fds[0]);
  savedStdout_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (::dup2(fds[1], STDOUT_FILENO) < 0) {
    ::close(fds[1]);
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    return;
  }
  ::close(fds[1]);
  // Quitting the pager before the end is no error: writes then fail with EPIPE, quietly.
  ::signal(SIGPIPE, SIG_IGN);
  pid_ = pid;
}

Pager::~Pager() {
  if (pid_ <= 0)
    return;
  std::fflush(stdout);
  // The pager sees the end of its input; the terminal is back on our stdout afterwards.
  if (savedStdout_ >= 0) {
    ::dup2(savedStdout_, STDOUT_FILENO);
    ::close(savedStdout_);
  } else {
    ::close(STDOUT_FILENO);
  }
  std::clearerr(stdout);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool stdoutIsTerminal() {
  return kStdoutTerminal;
}

std::size_t terminalColumns() {
  if (!kStdoutTerminal)
    return 0;
  if (const char* c = std::getenv("COLUMNS"); c && *c) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(c, &end, 10);
    if (end && *end == '\0' && n > 0)
      return n;
  }
  return kStartColumns > 0 ? kStartColumns : 80;
}

std::string ellipsize(std::string_view s, std::size_t width) {
  auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
  std::size_t columns = 0;
  for (char c : s)
    columns += continuation(c) ? 0 : 1;
  if (columns <= width)
    return std::string(s);
  if (width == 0)
    return "";
  // width - 1 characters, then the ellipsis.
  std::size_t i = 0, kept = 0;
  while (i < s.size() && kept < width - 1) {
    ++i;
    while (i < s.size() && continuation(s[i]))
      ++i;
    ++kept;
  }
  return std::string(s.substr(0, i)) + "\u2026";
}

bool useColor() {
  const char* noColor = std::getenv("NO_COLOR");
  if (noColor && *noColor)
    return false;
  const char* colors = std::getenv("SYSTEMD_COLORS");
  if (colors && isFalse(colors))
    return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0)
    return false;
  return kStdoutTerminal;
}

std::string stateText(std::string_view state, std::size_t width, bool color) {
  std::string out(state);
  if (out.size() < width)
    out.append(width - out.size(), ' ');
  if (!color)
    return out;
  const char* c = nullptr;
  if (state == "ok" || state == "repaired")
    c = "\x1b[0;32m";
  else if (state.rfind("refused", 0) == 0 || state.rfind("error", 0) == 0 ||
           state == "unresponsive")
    c = "\x1b[0;1;31m";
  else if (!state.empty() && state != "-")
    c = "\x1b[0;33m";
  if (!c)
    return out;
  // Colour the word, not the padding, so that the columns stay as wide.
  return c + std::string(state) + "\x1b[0m" + out.substr(state.size());
}

}  // namespace keepalive::cli
