// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "child_runner.h"
#include "core/ports.h"

namespace keepalive::daemon {

class SystemdManager;

// Connects to sshd's listen addresses ("0.0.0.0:22", "[::1]:2222"; wildcards become loopback)
// and expects an "SSH-2.0-" banner. sshd re-executes on SIGHUP and rebinds its sockets a moment
// after the reload job ends, so refused connections are retried until the deadline. The one
// implementation of the probe: in the daemon (BannerProbe) and in `keepalive-policyd
// --probe-banner` (the transient unit's process).
// answered: the listen address that gave the banner.
Status probeListenAddresses(const std::vector<std::string>& listen,
                            std::chrono::milliseconds deadline, std::string* answered = nullptr);

// The loopback or literal address a listen address is probed at ("127.0.0.1", "::1"), or "" for
// one the probe cannot parse: what the transient probe's IPAddressAllow= lets through.
std::string probedAddress(const std::string& listen);

constexpr std::chrono::milliseconds kProbeDeadline{5000};
// What the transient probe may take beyond its deadline: systemd setting up its unit.
constexpr std::chrono::milliseconds kProbeStartMargin{5000};

// The probe as a child process of the daemon (`keepalive-policyd --probe-banner`): for --unit
// none, test roots, and a daemon that is not a systemd service (it then shares the host's
// network namespace). The child retries connects until its deadline; the loop only waits for
// its exit as an event.
class BannerProbe : public Probe {
 public:
  BannerProbe(ChildRunner& children, std::string self,
              std::chrono::milliseconds deadline = kProbeDeadline)
      : children_(children), self_(std::move(self)), deadline_(deadline) {}
  void banner(const Dump& sshdDump, Done<Status> done) override;

 private:
  ChildRunner& children_;
  std::string self_;  // the daemon's binary
  std::chrono::milliseconds deadline_;
};

// The probe as a transient oneshot service of its own ("keepalive-policyd-probe-N.service",
// the daemon's binary with --probe-banner): the shipped unit has PrivateNetwork=yes, so sshd's
// sockets are out of the daemon's reach, and systemd starts the probe in the host's network
// namespace under a sandbox of its own (DynamicUser=, no capabilities, IP traffic only to the
// probed addresses). The start job's JobRemoved (a oneshot's job ends when its process exits)
// comes as an event; then the probe's one line is read from a pipe given as its stdout.
class TransientBannerProbe : public Probe {
 public:
  TransientBannerProbe(SystemdManager& systemd, std::string self,
                       std::chrono::milliseconds deadline = kProbeDeadline)
      : systemd_(systemd), self_(std::move(self)), deadline_(deadline) {}
  void banner(const Dump& sshdDump, Done<Status> done) override;

 private:
  SystemdManager& systemd_;
  std::string self_;  // the daemon's binary
  std::chrono::milliseconds deadline_;
};

}  // namespace keepalive::daemon
