// SPDX-License-Identifier: GPL-2.0-or-later
#include "child_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keepalive::daemon {
namespace {
constexpr std::size_t kMaxOutput = 4 << 20;
}

struct ChildRunner::Child {
  ChildRunner* runner = nullptr;
  std::uint64_t id = 0;
  std::string program;
  pid_t pid = -1;
  // stdout, stderr, the exec-error pipe
  int fds[3] = {-1, -1, -1};
  sd_event_source* io[3] = {nullptr, nullptr, nullptr};
  sd_event_source* exit = nullptr;
  sd_event_source* deadline = nullptr;
  bool exited = false;
  int status = 0;
  int execErrno = 0;
  std::size_t execRead = 0;
  ProcessResult result;
  Done<ProcessResult> done;

  ~Child() {
    for (int i = 0; i < 3; ++i) {
      sd_event_source_disable_unref(io[i]);
      if (fds[i] >= 0)
        ::close(fds[i]);
    }
    sd_event_source_disable_unref(exit);
    sd_event_source_disable_unref(deadline);
  }
  void closeStream(int i) {
    io[i] = sd_event_source_disable_unref(io[i]);
    ::close(fds[i]);
    fds[i] = -1;
  }
  bool finished() const { return exited && fds[0] < 0 && fds[1] < 0 && fds[2] < 0; }
};

ChildRunner::ChildRunner(sd_event* loop) : loop_(loop) {}

ChildRunner::~ChildRunner() {
  // Whatever it started too (its process group); each exit source then kills and reaps its
  // child as it goes (set_child_process_own).
  for (auto& [id, c] : children_)
    if (!c->exited && c->pid > 0)
      ::kill(-c->pid, SIGKILL);
}

void ChildRunner::run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      const std::optional<Credentials>& as, Done<ProcessResult> done,
                      const std::string& privateDir) {
  Spawned sp = spawnProcess(argv, as, nullptr, nullptr, privateDir.empty() ? nullptr : &privateDir);
  if (sp.pid < 0) {
    ProcessResult r;
    r.spawn_error = sp.error;
    done(std::move(r));
    return;
  }
  auto c = std::make_unique<Child>();
  c->runner = this;
  c->id = ++next_;
  c->program = argv[0];
  c->pid = sp.pid;
  c->fds[0] = sp.out;
  c->fds[1] = sp.err;
  c->fds[2] = sp.exec;
  c->done = std::move(done);
  int r = 0;
  for (int i = 0; i < 3 && r >= 0; ++i) {
    ::fcntl(c->fds[i], F_SETFL, ::fcntl(c->fds[i], F_GETFL) | O_NONBLOCK);
    r = sd_event_add_io(loop_, &c->io[i], c->fds[i], EPOLLIN, &ChildRunner::onOutput, c.get());
  }
  if (r >= 0)
    r = sd_event_add_child(loop_, &c->exit, c->pid, WEXITED, &ChildRunner::onExit, c.get());
  if (r >= 0) {
    std::uint64_t now = 0;
    sd_event_now(loop_, CLOCK_MONOTONIC, &now);
    r = sd_event_add_time(loop_, &c->deadline, CLOCK_MONOTONIC,
                          now + static_cast<std::uint64_t>(timeout.count()) * 1000u, 1000,
                          &ChildRunner::onDeadline, c.get());
  }
  if (r < 0) {
    // Cannot watch it: end it now rather than leave a child nobody waits for.
    ::kill(-c->pid, SIGKILL);
    if (c->exit) {
      sd_event_source_set_child_process_own(c->exit, 1);  // killed and reaped as it goes
    } else {
      int st;
      while (::waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
    ProcessResult res;
    res.spawn_error = std::string("cannot watch ") + argv[0] + ": " + std::strerror(-r);
    auto d = std::move(c->done);
    c.reset();
    d(std::move(res));
    return;
  }
  // The source reaps the child; a daemon stopping mid-run kills it through the source too.
  sd_event_source_set_child_process_own(c->exit, 1);
  children_.emplace(c->id, std::move(c));
}

int ChildRunner::onOutput(sd_event_source*, int fd, std::uint32_t, void* self) {
  auto* c = static_cast<Child*>(self);
  const int i = fd == c->fds[0] ? 0 : fd == c->fds[1] ? 1 : 2;
  char buf[16384];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got > 0) {
      if (i == 2) {
        // The child's errno from a failed exec, perhaps in pieces.
        auto* dst = reinterpret_cast<char*>(&c->execErrno);
        for (ssize_t k = 0; k < got && c->execRead < sizeof c->execErrno; ++k)
          dst[c->execRead++] = buf[k];
        continue;
      }
      std::string& dst = i == 0 ? c->result.out : c->result.err;
      if (dst.size() < kMaxOutput)
        dst.append(buf, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 && errno == EAGAIN)
      return 0;
    c->closeStream(i);
    break;
  }
  c->runner->finishIfDone(*c);
  return 0;
}

int ChildRunner::onExit(sd_event_source*, const siginfo_t* si, void* self) {
  auto* c = static_cast<Child*>(self);
  c->exited = true;
  if (si->si_code == CLD_EXITED)
    c->status = si->si_status;
  else
    c->status = -1;
  c->runner->finishIfDone(*c);
  return 0;
}

int ChildRunner::onDeadline(sd_event_source*, std::uint64_t, void* self) {
  auto* c = static_cast<Child*>(self);
  if (!c->exited) {
    c->result.timed_out = true;
    ::kill(-c->pid, SIGKILL);
    ::kill(c->pid, SIGKILL);
    return 0;  // its exit follows as an event
  }
  // Ended, but something it started still holds its output open: stop reading.
  c->result.timed_out = true;
  for (int i = 0; i < 3; ++i)
    if (c->fds[i] >= 0)
      c->closeStream(i);
  c->runner->finishIfDone(*c);
  return 0;
}

void ChildRunner::finishIfDone(Child& c) {
  if (!c.finished())
    return;
  ProcessResult r = std::move(c.result);
  if (c.execRead == sizeof c.execErrno)
    r.spawn_error = execError(c.program, c.execErrno);
  if (!r.timed_out && c.status >= 0)
    r.exit_code = c.status;
  auto done = std::move(c.done);
  children_.erase(c.id);  // c is gone from here on
  done(std::move(r));
}

}  // namespace keepalive::daemon
