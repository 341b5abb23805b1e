// SPDX-License-Identifier: GPL-2.0-or-later
// Which file system holds each path, kept current: /proc/self/mountinfo is read at start, again
// whenever the kernel flags it with POLLPRI (a mount or unmount anywhere), and on reread(). A home
// mounted over NFS or FUSE after start is classified before it is next touched.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <string>
#include <vector>

#include "core/mounts.h"

namespace keepalive::daemon {

class MountWatch {
 public:
  // changed: after every re-read the kernel asked for (not after reread()), with the mount
  // points that changed since the read before (changedMountPoints()).
  using Changed = std::function<void(const std::vector<std::string>& points)>;
  MountWatch(sd_event* loop, Changed changed);
  ~MountWatch();
  MountWatch(const MountWatch&) = delete;
  MountWatch& operator=(const MountWatch&) = delete;

  // Returns the mount points that changed since the last read.
  std::vector<std::string> reread();
  const MountTable& table() const { return table_; }

 private:
  static int onChanged(sd_event_source*, int, std::uint32_t, void* self);

  int fd_ = -1;
  sd_event_source* source_ = nullptr;
  MountTable table_;
  Changed changed_;
};

}  // namespace keepalive::daemon
