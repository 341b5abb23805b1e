// SPDX-License-Identifier: GPL-2.0-or-later
// Child processes on the event loop: the child's end (a pidfd child source), its output and its
// exec result (io sources) and its deadline (a timer) are events, so starting one never waits.
// sshd -t, sshd -T, ssh -G and the inline listen check run this way.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/task.h"
#include "sys/process.h"

namespace keepalive::daemon {

class ChildRunner {
 public:
  // SIGCHLD must be blocked in every thread (sd_event_add_child's rule): the daemon does it
  // before it starts any thread.
  explicit ChildRunner(sd_event* loop);
  // Kills what still runs (SIGKILL to its process group) and reaps it; calls no done.
  ~ChildRunner();
  ChildRunner(const ChildRunner&) = delete;
  ChildRunner& operator=(const ChildRunner&) = delete;

  // done gets the exit code and output once the child ended and its pipes closed; at the
  // deadline the child's process group is killed and done gets timed_out. privateDir: see
  // spawnProcess (a private mount namespace where that directory exists).
  void run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
           const std::optional<Credentials>& as, Done<ProcessResult> done,
           const std::string& privateDir = {});
  std::size_t running() const { return children_.size(); }

 private:
  struct Child;
  void finishIfDone(Child& c);
  static int onOutput(sd_event_source* s, int fd, std::uint32_t revents, void* child);
  static int onExit(sd_event_source* s, const siginfo_t* si, void* child);
  static int onDeadline(sd_event_source* s, std::uint64_t usec, void* child);

  sd_event* loop_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, std::unique_ptr<Child>> children_;
};

}  // namespace keepalive::daemon
