#include "mount_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace keepalive::daemon {

MountWatch::MountWatch(sd_event* loop, std::function<void()> changed)
    : changed_(std::move(changed)) {
  // The kernel flags /proc/self/mountinfo with POLLPRI on every mount change.
  fd_ = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd_ >= 0 && sd_event_add_io(loop, &source_, fd_, EPOLLPRI, &MountWatch::onChanged, this) < 0)
    source_ = nullptr;
  reread();
}

MountWatch::~MountWatch() {
  sd_event_source_disable_unref(source_);
  if (fd_ >= 0)
    ::close(fd_);
}

void MountWatch::reread() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  table_ = MountTable(parseMountinfo(ss.str()));
}

int MountWatch::onChanged(sd_event_source*, int, std::uint32_t, void* self) {
  auto* w = static_cast<MountWatch*>(self);
  w->reread();
  if (w->changed_)
    w->changed_();
  return 0;
}

}  // namespace keepalive::daemon
