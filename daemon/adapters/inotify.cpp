// SPDX-License-Identifier: GPL-2.0-or-later
#include "inotify.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace keepalive::daemon {

Inotify::Inotify(sd_event* loop, std::function<void()> onOverflow)
    : onOverflow_(std::move(onOverflow)) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0)
    throw std::runtime_error(std::string("inotify_init1: ") + strerror(errno));
  int r = sd_event_add_io(loop, &source_, fd_, EPOLLIN, &Inotify::onIo, this);
  if (r < 0)
    throw std::runtime_error(std::string("sd_event_add_io: ") + strerror(-r));
  r = sd_event_add_defer(loop, &stashSource_, &Inotify::onStash, this);
  if (r < 0)
    throw std::runtime_error(std::string("sd_event_add_defer: ") + strerror(-r));
  sd_event_source_set_enabled(stashSource_, SD_EVENT_OFF);
}

Inotify::~Inotify() {
  sd_event_source_disable_unref(stashSource_);
  sd_event_source_disable_unref(source_);
  if (fd_ >= 0)
    ::close(fd_);
}

int Inotify::add(const std::string& path, std::uint32_t mask, Handler handler, bool inJobs) {
  int wd = ::inotify_add_watch(fd_, path.c_str(), mask | IN_MASK_ADD);
  if (wd < 0)
    return -errno;
  const int handle = nextHandle_++;
  byWd_[wd].push_back({handle, inJobs, std::move(handler)});
  wdOf_[handle] = wd;
  return handle;
}

int Inotify::adopt(int wd, Handler handler, bool& eventsMissed, bool inJobs) {
  eventsMissed = unknownWds_.erase(wd) > 0;
  const int handle = nextHandle_++;
  byWd_[wd].push_back({handle, inJobs, std::move(handler)});
  wdOf_[handle] = wd;
  return handle;
}

void Inotify::rebind(int handle, Handler handler) {
  auto it = wdOf_.find(handle);
  if (it == wdOf_.end())
    return;
  // Handles are unique (nextHandle_), so the handler moves into one entry at most.
  for (auto& e : byWd_[it->second])
    if (e.handle == handle) {
      e.handler = std::move(handler);
      return;
    }
}

void Inotify::remove(int handle) {
  auto it = wdOf_.find(handle);
  if (it == wdOf_.end())
    return;
  const int wd = it->second;
  wdOf_.erase(it);
  auto& list = byWd_[wd];
  std::erase_if(list, [handle](const Entry& e) { return e.handle == handle; });
  if (list.empty()) {
    byWd_.erase(wd);
    ::inotify_rm_watch(fd_, wd);
  }
}

int Inotify::onIo(sd_event_source*, int, std::uint32_t, void* self) {
  static_cast<Inotify*>(self)->drain();
  return 0;
}

int Inotify::onStash(sd_event_source*, void* self) {
  static_cast<Inotify*>(self)->drain();
  return 0;
}

bool Inotify::inJobs(const inotify_event& ev) const {
  if (ev.mask & (IN_Q_OVERFLOW | IN_IGNORED))
    return false;
  auto it = byWd_.find(ev.wd);
  if (it == byWd_.end())
    return false;
  for (const auto& e : it->second)
    if (!e.inJobs)
      return false;
  return true;
}

void Inotify::stash() {
  alignas(inotify_event) char buf[64 * 1024];
  while (stash_.size() < kMaxStash) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (const char* p = buf; p < buf + n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      const std::size_t len = sizeof(inotify_event) + ev->len;
      if (!stashHasWatchEvents_ && inJobs(*ev)) {
        dispatch(p, len);
      } else {
        stash_.insert(stash_.end(), p, p + len);
        // An overflow belongs to no watch: the events after it need not wait for it.
        stashHasWatchEvents_ = stashHasWatchEvents_ || !(ev->mask & IN_Q_OVERFLOW);
      }
      p += len;
    }
  }
  if (!stash_.empty())
    sd_event_source_set_enabled(stashSource_, SD_EVENT_ON);
}

void Inotify::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  // A few reads per turn, not until the queue is empty: a user generating events as fast as we
  // read them must not keep the loop here. The fd stays readable (epoll is level-triggered), so
  // the rest is read on the next turn, after the other sources have had theirs.
  for (int reads = 0; reads < 4; ++reads) {
    if (!stash_.empty()) {
      // Older than anything still in the kernel: first. A handler may stash more meanwhile
      // (a passwd change rescans): that goes to the next round, still before the kernel's.
      std::vector<char> older;
      older.swap(stash_);
      stashHasWatchEvents_ = false;
      dispatch(older.data(), older.size());
      continue;
    }
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    dispatch(buf, static_cast<std::size_t>(n));
  }
  sd_event_source_set_enabled(stashSource_, stash_.empty() ? SD_EVENT_OFF : SD_EVENT_ON);
}

void Inotify::dispatch(const char* buf, std::size_t n) {
  for (const char* p = buf; p < buf + n;) {
    auto* ev = reinterpret_cast<const inotify_event*>(p);
    p += sizeof(inotify_event) + ev->len;
    if (ev->mask & IN_Q_OVERFLOW) {
      if (onOverflow_)
        onOverflow_();
      continue;
    }
    auto it = byWd_.find(ev->wd);
    if (it == byWd_.end()) {
      // A watch a worker added but the loop has not adopted yet. Past a bound, forget them
      // and treat it as lost events: a full rescan, never a silent gap.
      // IN_IGNORED is a wd's last event: one we removed ourselves ends there.
      if (ev->mask & IN_IGNORED) {
        unknownWds_.erase(ev->wd);
      } else {
        if (unknownWds_.size() >= 4096) {
          unknownWds_.clear();
          if (onOverflow_)
            onOverflow_();
        }
        unknownWds_[ev->wd] = true;
      }
      continue;
    }
    std::string name = ev->len ? std::string(ev->name) : std::string();
    if (it->second.size() == 1 && !(ev->mask & IN_IGNORED)) {
      // The usual case (a user's ~/.ssh): a copy of the one handler, which fits std::function's
      // inline buffer, instead of a vector per event; the storm's 100k events allocate nothing.
      const Handler h = it->second.front().handler;
      h(*ev, name);
      continue;
    }
    // Copy: a handler may add or remove watches. A watch the kernel dropped (IN_IGNORED: the
    // directory went away) is forgotten first, so that its wd can be reused.
    std::vector<Entry> entries = it->second;
    if (ev->mask & IN_IGNORED) {
      for (const auto& e : entries)
        wdOf_.erase(e.handle);
      byWd_.erase(it);
    }
    for (const auto& e : entries)
      e.handler(*ev, name);
  }
}

}  // namespace keepalive::daemon
