// SPDX-License-Identifier: GPL-2.0-or-later
// Worker threads for calls that may block for ever: a check of a home on NFS whose server is
// gone, or on a FUSE mount whose daemon stopped answering. The event loop never makes such a
// call itself, so signals, the watchdog and D-Bus stay served. A call that overruns its deadline
// is reported once (the caller marks the user) and its worker is written off: a replacement
// takes the queue, up to a limit, so a few hung mounts cannot starve the others. A written-off
// worker that comes back serves the queue again.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace keepalive::daemon {

class BlockingPool {
 public:
  // Runs on a worker; returns what to run on the loop with its results. It must capture
  // values only: a worker stuck in the kernel may outlive the pool.
  using Work = std::function<std::function<void()>()>;

  BlockingPool(sd_event* loop, unsigned workers, unsigned maxWrittenOff,
               std::chrono::milliseconds deadline,
               std::function<void(std::uint64_t key)> onOverdue);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void submit(std::uint64_t key, Work work);
  std::size_t pending() const;  // queued or running
  unsigned writtenOff() const;  // workers past their deadline, not back yet

 private:
  struct Shared;
  static int onDone(sd_event_source*, int fd, std::uint32_t, void* self);
  static int onTimer(sd_event_source*, std::uint64_t, void* self);
  void spawn();
  void armTimer();

  std::shared_ptr<Shared> s_;
  sd_event* loop_;
  sd_event_source* io_ = nullptr;
  sd_event_source* timer_ = nullptr;
  unsigned maxWrittenOff_;
  std::chrono::milliseconds deadline_;
  std::function<void(std::uint64_t)> onOverdue_;
};

}  // namespace keepalive::daemon
