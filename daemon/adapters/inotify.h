// One inotify fd for the daemon, dispatched by watch descriptor from the sd-event loop.
#pragma once

#include <sys/inotify.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace keepalive::daemon {

class Inotify {
 public:
  using Handler = std::function<void(const inotify_event& ev, const std::string& name)>;
  Inotify(sd_event* loop, std::function<void()> onOverflow);
  ~Inotify();
  Inotify(const Inotify&) = delete;
  Inotify& operator=(const Inotify&) = delete;

  // Returns the watch descriptor, or -errno.
  int add(const std::string& path, std::uint32_t mask, Handler handler);
  void remove(int wd);
  std::size_t size() const { return handlers_.size(); }

 private:
  static int onIo(sd_event_source* s, int fd, std::uint32_t revents, void* self);
  void drain();

  int fd_ = -1;
  sd_event_source* source_ = nullptr;
  std::function<void()> onOverflow_;
  std::unordered_map<int, Handler> handlers_;
};

}  // namespace keepalive::daemon
