// SPDX-License-Identifier: GPL-2.0-or-later
// An owned file descriptor, closed when it goes out of scope: every early return of the fd-based
// code (repairs, atomic writes, the metrics file, the per-user helper) stays leak-free.
#pragma once

#include <unistd.h>

namespace keepalive::daemon {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }
  int release() {
    const int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace keepalive::daemon
