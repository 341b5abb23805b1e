// SPDX-License-Identifier: GPL-2.0-or-later
#include "probe_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>

#include "keepalive/policy/duration.h"
#include "sys/process.h"

extern char** environ;

namespace keepalive::cli::probe {
namespace {

using policy::formatDuration;

// After SIGTERM, how long an ssh may take to end before SIGKILL; after its done line, how long
// it may take to end by itself.
constexpr std::int64_t kTermGraceMillis = 2000;
constexpr std::int64_t kExitAfterDoneMillis = 5000;
// Lines of ssh's stderr kept per session (debug output aside), for the error's detail.
constexpr std::size_t kKeptLines = 40;

std::int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

enum class Phase { kPending, kStarting, kQuiet, kClosing, kReaped };

struct Session {
  std::int64_t seconds = 0;
  Phase phase = Phase::kPending;
  pid_t pid = -1;
  int out = -1, err = -1, pidfd = -1;
  std::string outBuf, errBuf;
  std::vector<std::string> errLines;  // not debug output
  std::vector<std::string> outLines;  // the far end's stdout but our two lines
  bool connected = false;
  std::int64_t spawnedAt = 0, readyAt = 0;
  bool resolved = false;  // outcome final; the process may still be ending
  RungOutcome outcome;
  std::int64_t killAt = 0;      // SIGTERM then (0: none planned)
  std::int64_t hardKillAt = 0;  // SIGKILL then (0: not yet terminated)
  int status = 0;
  bool exited = false;
};

// The child's environment: the user's own (the agent, the home), with messages in C so that
// ssh's strerror() texts are the ones classifyStartFailure knows.
std::vector<std::string> childEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view s(*e);
    if (s.starts_with("LC_ALL=") || s.starts_with("LC_MESSAGES=") || s.starts_with("LANGUAGE="))
      continue;
    env.emplace_back(s);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

// ssh started as the daemon starts its children (sys/process.h): its own process group (so that
// a ProxyCommand it starts ends with it), stdin /dev/null, default signals, no other fd, killed
// when we die. Returns the pid or -1 with `error`.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& envStrings,
            int& outFd, int& errFd, std::string& error) {
  daemon::Spawned sp =
      daemon::spawnProcess(argv, std::nullopt, &envStrings, nullptr, nullptr, true);
  if (sp.pid < 0) {
    error = sp.error;
    return -1;
  }
  int childErrno = 0;
  ssize_t got;
  while ((got = ::read(sp.exec, &childErrno, sizeof childErrno)) < 0 && errno == EINTR) {
  }
  ::close(sp.exec);
  if (got == sizeof childErrno) {
    error = daemon::execError(argv[0], childErrno);
    ::close(sp.out);
    ::close(sp.err);
    while (::waitpid(sp.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  for (int f : {sp.out, sp.err})
    ::fcntl(f, F_SETFL, ::fcntl(f, F_GETFL) | O_NONBLOCK);
  outFd = sp.out;
  errFd = sp.err;
  return sp.pid;
}

// Complete lines appended to buf; the rest stays in buf.
template <typename F>
void eachLine(std::string& buf, F&& f) {
  std::size_t at;
  while ((at = buf.find('\n')) != std::string::npos) {
    std::string line = buf.substr(0, at);
    buf.erase(0, at + 1);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    f(line);
  }
  // A line longer than this is not one of ours.
  if (buf.size() > std::size_t{64} * 1024)
    buf.clear();
}

class Runner {
 public:
  explicit Runner(const RunOptions& o) : opt_(o), env_(childEnvironment()) {
    for (auto it = o.rungs.rbegin(); it != o.rungs.rend(); ++it) {
      Session s;
      s.seconds = *it;
      s.outcome.seconds = *it;
      sessions_.push_back(std::move(s));  // longest first: the run lasts about the longest rung
    }
  }

  RunResult run() {
    sigset_t sigs;
    sigemptyset(&sigs);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
      sigaddset(&sigs, sig);
    sigset_t old;
    ::sigprocmask(SIG_BLOCK, &sigs, &old);
    sigfd_ = ::signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    loop();
    if (sigfd_ >= 0)
      ::close(sigfd_);
    clearProgress();
    RunResult r;
    for (auto& s : sessions_)
      r.outcomes.push_back(s.outcome);
    r.signal = signal_;
    // A signal that came in the meantime stays pending; the caller re-raises ours.
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return r;
  }

 private:
  void loop() {
    for (;;) {
      const std::int64_t now = nowMillis();
      startSessions(now);
      checkDeadlines(now);
      stopBeyondDrop();
      if (std::all_of(sessions_.begin(), sessions_.end(), [](const Session& s) {
            return s.phase == Phase::kReaped || (s.phase == Phase::kPending && s.resolved);
          }))
        return;
      std::vector<pollfd> fds;
      std::vector<std::pair<Session*, int>> who;  // 0 out, 1 err, 2 pidfd, 3 signals
      for (auto& s : sessions_) {
        if (s.out >= 0) {
          fds.push_back({s.out, POLLIN, 0});
          who.emplace_back(&s, 0);
        }
        if (s.err >= 0) {
          fds.push_back({s.err, POLLIN, 0});
          who.emplace_back(&s, 1);
        }
        if (s.pidfd >= 0 && !s.exited) {
          fds.push_back({s.pidfd, POLLIN, 0});
          who.emplace_back(&s, 2);
        }
      }
      if (sigfd_ >= 0) {
        fds.push_back({sigfd_, POLLIN, 0});
        who.emplace_back(nullptr, 3);
      }
      std::int64_t wake = nextDeadline(now);
      if (opt_.progress)
        wake = std::min(wake, now + 1000);
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(wake - now, 0, 60000));
      showProgress(now);
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR)
        return abortAll("poll: " + std::string(std::strerror(errno)));
      if (n <= 0)
        continue;
      const std::int64_t t = nowMillis();
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents)
          continue;
        auto [s, kind] = who[i];
        if (kind == 3)
          onSignal();
        else if (kind == 2)
          onExit(*s, t);
        else
          onReadable(*s, kind, t);
      }
    }
  }

  void startSessions(std::int64_t now) {
    if (signal_ || fatal_)
      return;
    std::size_t starting = std::count_if(sessions_.begin(), sessions_.end(), [](const Session& s) {
      return s.phase == Phase::kStarting;
    });
    for (auto& s : sessions_) {
      if (starting >= opt_.maxStarting)
        return;
      if (s.phase != Phase::kPending || s.resolved)
        continue;
      std::string error;
      s.pid = spawn(sshArgv(opt_.destination, opt_.sshOptions, s.seconds, opt_.sshProgram), env_,
                    s.out, s.err, error);
      if (s.pid < 0) {
        resolve(s, Result::kError, error, Failure::kOther);
        fatal_ = true;
        stopRest("not started: " + error);
        return;
      }
      s.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, s.pid, 0));
      s.phase = Phase::kStarting;
      s.spawnedAt = now;
      s.killAt = now + kStartTimeoutSeconds * 1000;
      ++starting;
    }
  }

  void checkDeadlines(std::int64_t now) {
    for (auto& s : sessions_) {
      if (s.phase == Phase::kPending || s.phase == Phase::kReaped)
        continue;
      if (s.hardKillAt && now >= s.hardKillAt) {
        ::kill(-s.pid, SIGKILL);
        ::kill(s.pid, SIGKILL);
        s.hardKillAt = now + 1000;  // and again, until it is reaped
        continue;
      }
      if (!s.killAt || now < s.killAt)
        continue;
      if (s.phase == Phase::kQuiet && !s.resolved)
        resolve(s, Result::kDropped,
                "no line within " + graceText(s.seconds) + " after " + formatDuration(s.seconds) +
                    " of silence",
                Failure::kNone);
      else if (s.phase == Phase::kStarting && !s.resolved)
        failStart(s, -1);
      terminate(s, now);
    }
  }

  // When a rung was dropped and every shorter one has its result, the longer ones cannot
  // change the bracket: they are stopped rather than waited for.
  void stopBeyondDrop() {
    std::optional<std::int64_t> drop;
    for (const auto& s : sessions_)
      if (s.resolved && s.outcome.result == Result::kDropped && (!drop || s.seconds < *drop))
        drop = s.seconds;
    if (!drop)
      return;
    for (const auto& s : sessions_)
      if (s.seconds < *drop && !s.resolved)
        return;
    const std::int64_t now = nowMillis();
    for (auto& s : sessions_) {
      if (s.seconds <= *drop || s.resolved)
        continue;
      resolve(s, Result::kStopped, "stopped: " + formatDuration(*drop) + " was dropped already",
              Failure::kNone);
      if (s.phase != Phase::kPending)
        terminate(s, now);
    }
  }

  std::int64_t nextDeadline(std::int64_t now) const {
    std::int64_t next = now + 60000;
    for (const auto& s : sessions_) {
      if (s.phase == Phase::kPending || s.phase == Phase::kReaped)
        continue;
      if (s.hardKillAt)
        next = std::min(next, s.hardKillAt);
      else if (s.killAt)
        next = std::min(next, s.killAt);
    }
    return next;
  }

  // Reads what the pipe holds now and hands on its complete lines. Returns false once the pipe
  // is closed (EOF or an error); when draining, an empty pipe (EAGAIN) closes it too.
  bool readSome(Session& s, int kind, std::int64_t t, bool draining) {
    int& fd = kind == 0 ? s.out : s.err;
    char buf[8192];
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || (errno == EAGAIN && !draining)))
      return true;
    if (got <= 0) {
      ::close(fd);
      fd = -1;
      return false;
    }
    std::string& pending = kind == 0 ? s.outBuf : s.errBuf;
    pending.append(buf, static_cast<std::size_t>(got));
    eachLine(pending, [&](const std::string& line) {
      if (kind == 0)
        onOutLine(s, line, t);
      else
        onErrLine(s, line, t);
    });
    return true;
  }

  void onReadable(Session& s, int kind, std::int64_t t) {
    if (!readSome(s, kind, t, false))
      maybeReap(s, t);
  }

  void onOutLine(Session& s, const std::string& line, std::int64_t t) {
    if (line == kReadyLine && s.phase == Phase::kStarting) {
      s.phase = Phase::kQuiet;
      s.readyAt = t;
      s.killAt = t + s.seconds * 1000 + graceMillis(s.seconds);
      if (s.resolved)  // stopped while it logged in
        terminate(s, t);
    } else if (line != kReadyLine && line != kDoneLine) {
      if (s.outLines.size() < kKeptLines)
        s.outLines.push_back(line);
    } else if (line == kDoneLine && s.phase == Phase::kQuiet && !s.resolved) {
      s.outcome.doneMillis = t - s.readyAt;
      resolve(s, Result::kSurvived,
              "the line came after " + millisText(*s.outcome.doneMillis) + keepaliveNote(s),
              Failure::kNone);
      s.phase = Phase::kClosing;
      s.killAt = t + kExitAfterDoneMillis;
    }
  }

  void onErrLine(Session& s, const std::string& line, std::int64_t t) {
    if (isConnectedLine(line))
      s.connected = true;
    if (isServerKeepaliveLine(line) && s.phase == Phase::kQuiet && !s.resolved)
      s.outcome.serverKeepaliveMillis.push_back(t - s.readyAt);
    if (!isDebugLine(line)) {
      s.errLines.push_back(line);
      if (s.errLines.size() > kKeptLines)
        s.errLines.erase(s.errLines.begin());
    }
  }

  void onExit(Session& s, std::int64_t t) {
    s.exited = true;
    maybeReap(s, t);
  }

  // Once it has exited (or without a pidfd, closed both pipes): wait for it and judge.
  void maybeReap(Session& s, std::int64_t t) {
    if (s.phase == Phase::kReaped)
      return;
    // The pidfd says when it ended; without one, the pipes' EOF stands for that.
    if (s.pidfd >= 0 ? !s.exited : (s.out >= 0 || s.err >= 0))
      return;
    // Drain what is left in the pipes (non-blocking: a process it started may hold them): the
    // last lines may tell why it ended.
    for (int kind : {0, 1})
      while ((kind == 0 ? s.out : s.err) >= 0 && readSome(s, kind, t, true)) {
      }
    // Whatever it started in its group goes with it; before the wait, while the zombie keeps
    // its pid (and so the group's id) from being reused.
    ::kill(-s.pid, SIGKILL);
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (s.pidfd >= 0)
      ::close(s.pidfd);
    s.pidfd = -1;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (!s.resolved) {
      if (s.phase == Phase::kStarting) {
        failStart(s, code);
      } else if (s.phase == Phase::kQuiet) {
        const std::int64_t after = t - s.readyAt;
        if (isPathBreak(s.errLines))
          resolve(s, Result::kDropped,
                  "the connection broke after " + millisText(after) +
                      " of silence: " + lastErrorLine(s.errLines),
                  Failure::kNone);
        else
          resolve(s, Result::kError,
                  "the session ended after " + millisText(after) +
                      " of silence without its line (exit status " + std::to_string(code) + ")" +
                      (lastErrorLine(s.errLines).empty() ? std::string()
                                                         : ": " + lastErrorLine(s.errLines)) +
                      "; the server may end idle sessions itself (sshd's ChannelTimeout, "
                      "an idle logout)",
                  Failure::kSessionEnded);
      }
    }
    s.phase = Phase::kReaped;
  }

  void failStart(Session& s, int code) {
    const Classified c =
        classifyStartFailure(s.errLines, code, s.connected, opt_.destination, s.outLines);
    resolve(s, Result::kError, c.message, c.failure);
    // These fail every rung alike: stop the rest and say it once.
    if (c.failure == Failure::kAuthentication || c.failure == Failure::kUnreachable ||
        c.failure == Failure::kHostKey) {
      fatal_ = true;
      stopRest("not run: " + c.message);
    }
  }

  void stopRest(const std::string& why) {
    const std::int64_t now = nowMillis();
    for (auto& s : sessions_) {
      if (s.resolved)
        continue;
      resolve(s, Result::kStopped, why, Failure::kNone);
      if (s.phase != Phase::kPending)
        terminate(s, now);
    }
  }

  void resolve(Session& s, Result r, std::string detail, Failure f) {
    s.resolved = true;
    s.outcome.result = r;
    s.outcome.detail = std::move(detail);
    s.outcome.failure = f;
  }

  void terminate(Session& s, std::int64_t now) {
    if (s.phase == Phase::kPending || s.phase == Phase::kReaped || s.hardKillAt)
      return;
    ::kill(-s.pid, SIGTERM);
    ::kill(s.pid, SIGTERM);
    s.killAt = 0;
    s.hardKillAt = now + kTermGraceMillis;
  }

  void onSignal() {
    signalfd_siginfo si{};
    while (::read(sigfd_, &si, sizeof si) == sizeof si)
      if (!signal_)
        signal_ = static_cast<int>(si.ssi_signo);
    if (signal_)
      stopRest("interrupted");
  }

  void abortAll(const std::string& why) {
    fatal_ = true;
    stopRest(why);
    // Reap synchronously: SIGTERM went out; SIGKILL then wait.
    for (auto& s : sessions_) {
      if (s.phase == Phase::kPending || s.phase == Phase::kReaped)
        continue;
      ::kill(-s.pid, SIGKILL);
      ::kill(s.pid, SIGKILL);
      while (::waitpid(s.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      for (int* fd : {&s.out, &s.err, &s.pidfd})
        if (*fd >= 0) {
          ::close(*fd);
          *fd = -1;
        }
      s.phase = Phase::kReaped;
    }
  }

  std::string keepaliveNote(const Session& s) const {
    const auto n = s.outcome.serverKeepaliveMillis.size();
    if (!n)
      return {};
    return "; " + std::to_string(n) + " server keepalive" + (n == 1 ? "" : "s") +
           " in the silence, the longest silence " + millisText(longestSilenceMillis(s.outcome));
  }

  static std::string graceText(std::int64_t seconds) { return millisText(graceMillis(seconds)); }

  static std::string millisText(std::int64_t ms) {
    // To the nearest tenth: 998 ms is "1.0s", not "0.9s".
    const long long tenths = (std::max<std::int64_t>(ms, 0) + 50) / 100;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld.%llds", tenths / 10, tenths % 10);
    return buf;
  }

  void showProgress(std::int64_t now) {
    if (!opt_.progress || now < nextProgress_)
      return;
    nextProgress_ = now + 1000;
    std::string quiet, line;
    std::size_t starting = 0, doneCount = 0;
    std::int64_t left = 0;
    for (const auto& s : sessions_) {
      if (s.resolved) {
        ++doneCount;
        continue;
      }
      if (s.phase == Phase::kStarting || s.phase == Phase::kPending) {
        ++starting;
        left = std::max(left, s.seconds * 1000 + graceMillis(s.seconds));
      } else if (s.phase == Phase::kQuiet) {
        quiet += (quiet.empty() ? "" : " ") + formatDuration(s.seconds);
        left = std::max(left, s.readyAt + s.seconds * 1000 + graceMillis(s.seconds) - now);
      }
    }
    line = "probe: ";
    if (!quiet.empty())
      line += "silent " + quiet;
    if (starting)
      line += std::string(quiet.empty() ? "" : ", ") + std::to_string(starting) + " logging in";
    line += ", " + std::to_string(doneCount) + "/" + std::to_string(sessions_.size()) +
            " done; at most " + formatDuration((left + 999) / 1000) + " left";
    if (line.size() > 79)
      line = line.substr(0, 76) + "...";
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    shown_ = true;
  }

  void clearProgress() {
    if (shown_) {
      std::fputs("\r\033[K", stderr);
      std::fflush(stderr);
    }
  }

  const RunOptions& opt_;
  const std::vector<std::string> env_;
  std::deque<Session> sessions_;
  int sigfd_ = -1;
  int signal_ = 0;
  bool fatal_ = false;
  bool shown_ = false;
  std::int64_t nextProgress_ = 0;
};

}  // namespace

RunResult runLadder(const RunOptions& options) {
  Runner r(options);
  return r.run();
}

}  // namespace keepalive::cli::probe
