// SPDX-License-Identifier: GPL-2.0-or-later
#include "mount_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

namespace keepalive::daemon {

MountWatch::MountWatch(sd_event* loop, Changed changed) : changed_(std::move(changed)) {
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

std::vector<std::string> MountWatch::reread() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  MountTable next(parseMountinfo(ss.str()));
  auto changed = changedMountPoints(table_.mounts(), next.mounts());
  table_ = std::move(next);
  return changed;
}

int MountWatch::onChanged(sd_event_source*, int, std::uint32_t, void* self) {
  auto* w = static_cast<MountWatch*>(self);
  const auto changed = w->reread();
  if (w->changed_ && !changed.empty())
    w->changed_(changed);
  return 0;
}

}  // namespace keepalive::daemon
