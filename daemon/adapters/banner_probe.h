#pragma once

#include <chrono>

#include "core/ports.h"

namespace keepalive::daemon {

// Connects to sshd's listen addresses (from sshd -T; wildcards become loopback) and expects an
// "SSH-2.0-" banner. sshd re-executes on SIGHUP and rebinds its sockets a moment after the
// reload job ends, so refused connections are retried until the deadline.
class BannerProbe : public Probe {
 public:
  explicit BannerProbe(std::chrono::milliseconds deadline = std::chrono::milliseconds(5000))
      : deadline_(deadline) {}
  Status banner(const Dump& sshdDump) override;

 private:
  std::chrono::milliseconds deadline_;
};

}  // namespace keepalive::daemon
