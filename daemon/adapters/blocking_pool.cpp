// SPDX-License-Identifier: GPL-2.0-or-later
#include "blocking_pool.h"

#include "sys/clock.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace keepalive::daemon {
namespace {

std::uint64_t nowUsec() {
  return static_cast<std::uint64_t>(sys::monotonicUsec());
}

}  // namespace

// Everything the workers touch. Shared with them, so that a worker stuck past the pool's end
// still finds it.
struct BlockingPool::Shared {
  std::mutex m;
  std::condition_variable cv;
  bool stopping = false;
  int efd = -1;
  struct Job {
    std::uint64_t key;
    Work work;
  };
  std::deque<Job> queue;
  struct Running {
    std::uint64_t key;
    std::uint64_t startUsec;
    bool overdue = false;
  };
  std::list<Running> running;
  std::deque<std::function<void()>> done;
  unsigned idle = 0;
  unsigned writtenOff = 0;  // running jobs past their deadline

  ~Shared() {
    if (efd >= 0)
      ::close(efd);
  }

  void serve() {
    std::unique_lock lock(m);
    for (;;) {
      ++idle;
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      --idle;
      if (stopping)
        return;
      Job job = std::move(queue.front());
      queue.pop_front();
      auto me = running.insert(running.end(), {job.key, nowUsec()});
      lock.unlock();
      std::function<void()> result;
      try {
        result = job.work();
      } catch (...) {
        result = nullptr;  // the work reports its own failures; nothing may escape a thread
      }
      lock.lock();
      if (me->overdue)
        --writtenOff;
      running.erase(me);
      if (stopping)
        return;
      done.push_back(std::move(result));
      const std::uint64_t one = 1;
      (void)!::write(efd, &one, sizeof one);
    }
  }
};

BlockingPool::BlockingPool(sd_event* loop, unsigned workers, unsigned maxWrittenOff,
                           std::chrono::milliseconds deadline,
                           std::function<void(std::uint64_t)> onOverdue)
    : s_(std::make_shared<Shared>()),
      loop_(loop),
      maxWrittenOff_(maxWrittenOff),
      deadline_(deadline),
      onOverdue_(std::move(onOverdue)) {
  s_->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s_->efd < 0)
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  if (int r = sd_event_add_io(loop, &io_, s_->efd, EPOLLIN, &BlockingPool::onDone, this); r < 0)
    throw std::runtime_error(std::string("sd_event_add_io: ") + std::strerror(-r));
  if (int r = sd_event_add_time(loop, &timer_, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                                &BlockingPool::onTimer, this);
      r < 0)
    throw std::runtime_error(std::string("sd_event_add_time: ") + std::strerror(-r));
  sd_event_source_set_enabled(timer_, SD_EVENT_OFF);
  for (unsigned i = 0; i < workers; ++i)
    spawn();
}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(s_->m);
    s_->stopping = true;
    s_->queue.clear();
  }
  s_->cv.notify_all();
  sd_event_source_disable_unref(io_);
  sd_event_source_disable_unref(timer_);
}

void BlockingPool::spawn() {
  // Detached: a worker stuck in an uninterruptible wait cannot be joined; it holds the shared
  // state, never the pool.
  std::thread([s = s_] { s->serve(); }).detach();
}

void BlockingPool::submit(std::uint64_t key, Work work) {
  {
    std::lock_guard lock(s_->m);
    s_->queue.push_back({key, std::move(work)});
  }
  s_->cv.notify_one();
  if (sd_event_source_get_enabled(timer_, nullptr) == 0)
    armTimer();
}

std::size_t BlockingPool::pending() const {
  std::lock_guard lock(s_->m);
  return s_->queue.size() + s_->running.size();
}

unsigned BlockingPool::writtenOff() const {
  std::lock_guard lock(s_->m);
  return s_->writtenOff;
}

void BlockingPool::armTimer() {
  sd_event_source_set_time_relative(timer_, static_cast<std::uint64_t>(deadline_.count()) * 1000);
  sd_event_source_set_enabled(timer_, SD_EVENT_ONESHOT);
}

int BlockingPool::onDone(sd_event_source*, int fd, std::uint32_t, void* self) {
  auto* p = static_cast<BlockingPool*>(self);
  std::uint64_t n;
  (void)!::read(fd, &n, sizeof n);
  std::deque<std::function<void()>> done;
  {
    std::lock_guard lock(p->s_->m);
    done.swap(p->s_->done);
  }
  for (auto& f : done)
    if (f)
      f();
  return 0;
}

int BlockingPool::onTimer(sd_event_source*, std::uint64_t, void* self) {
  auto* p = static_cast<BlockingPool*>(self);
  std::vector<std::uint64_t> overdue;
  bool more = false, replace = false;
  {
    std::lock_guard lock(p->s_->m);
    const std::uint64_t limit = nowUsec() - static_cast<std::uint64_t>(p->deadline_.count()) * 1000;
    for (auto& r : p->s_->running)
      if (!r.overdue && r.startUsec <= limit) {
        r.overdue = true;
        ++p->s_->writtenOff;
        overdue.push_back(r.key);
      }
    more = !p->s_->running.empty() || !p->s_->queue.empty();
    // Replace the written-off workers while the queue waits and none is idle, up to the limit
    // (each one may be a thread stuck in the kernel for good).
    replace = !overdue.empty() && p->s_->idle == 0 && p->s_->writtenOff <= p->maxWrittenOff_;
  }
  if (replace)
    for (std::size_t i = 0; i < overdue.size(); ++i)
      p->spawn();
  for (auto key : overdue)
    p->onOverdue_(key);
  if (more)
    p->armTimer();
  return 0;
}

}  // namespace keepalive::daemon
