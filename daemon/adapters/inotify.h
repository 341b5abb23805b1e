// SPDX-License-Identifier: GPL-2.0-or-later
// One inotify fd for the daemon, dispatched by watch descriptor from the sd-event loop.
#pragma once

#include <sys/inotify.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace keepalive::daemon {

class Inotify {
 public:
  using Handler = std::function<void(const inotify_event& ev, const std::string& name)>;
  Inotify(sd_event* loop, std::function<void()> onOverflow);
  ~Inotify();
  Inotify(const Inotify&) = delete;
  Inotify& operator=(const Inotify&) = delete;

  // Returns a handle for remove(), or -errno. Several handlers may watch one inode (the kernel
  // gives them one watch descriptor): masks are united with IN_MASK_ADD and each handler sees
  // the events of the united mask, so handlers filter by name.
  // inJobs: the handler only notes work for later and touches nothing a job on the loop is in
  // the middle of, so stash() may run it at once (see there).
  int add(const std::string& path, std::uint32_t mask, Handler handler, bool inJobs = false);
  void remove(int handle);
  // For watches added off the loop (a worker adding a watch on a home that may hang):
  // inotify_add_watch(fd(), path, mask | IN_MASK_ADD) there, then adopt(wd) here. Returns the
  // handle; eventsMissed tells whether events for wd arrived before it was adopted (they were
  // dropped: the caller re-checks).
  int fd() const { return fd_; }
  int adopt(int wd, Handler handler, bool& eventsMissed, bool inJobs = false);
  // A new handler for a handle (the watcher's records moved).
  void rebind(int handle, Handler handler);
  std::size_t size() const { return byWd_.size(); }  // kernel watches in use
  // Takes what the kernel has queued off its queue: events whose handlers are all inJobs are
  // dispatched at once, the others kept in a buffer of ours and dispatched in order on the
  // loop's next turns (once one is kept, all later ones are too: a watch's events stay in
  // order). A long job on the loop (a rescan of 100k homes, whose repairs queue an event each)
  // calls it now and then, so that the kernel's queue (fs.inotify.max_queued_events) does not
  // overflow meanwhile and force one more rescan. Past kMaxStash bytes kept it stops taking:
  // then the kernel overflows, and the overflow handler rescans, as it would have anyway.
  void stash();
  static constexpr std::size_t kMaxStash = 4 << 20;

 private:
  static int onIo(sd_event_source* s, int fd, std::uint32_t revents, void* self);
  static int onStash(sd_event_source* s, void* self);
  void drain();
  void dispatch(const char* buf, std::size_t n);

  int fd_ = -1;
  sd_event_source* source_ = nullptr;
  sd_event_source* stashSource_ = nullptr;
  std::vector<char> stash_;           // events read by stash(), older than any still in the kernel
  bool stashHasWatchEvents_ = false;  // stash_ holds more than overflows: keep the rest in order
  std::function<void()> onOverflow_;
  struct Entry {  // 40 bytes: inJobs sits in the padding after handle
    int handle;
    bool inJobs = false;
    Handler handler;
  };
  bool inJobs(const inotify_event& ev) const;
  std::unordered_map<int, std::vector<Entry>> byWd_;
  std::unordered_map<int, int> wdOf_;  // handle -> wd
  int nextHandle_ = 1;
  std::unordered_map<int, bool> unknownWds_;  // events for wds not (yet) ours; bounded
};

}  // namespace keepalive::daemon
