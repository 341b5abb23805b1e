// SPDX-License-Identifier: GPL-2.0-or-later
// A transient scope unit per run of the per-user helper, through systemd's D-Bus API
// (StartTransientUnit with PIDs=): systemd does the cgroup writes, so the daemon's
// ProtectControlGroups=yes (a read-only /sys/fs/cgroup) stays, and no Delegate= is needed.
// The scope's pids limit (TasksMax=) bounds the run's processes without counting the user's
// others, as RLIMIT_NPROC would; nothing of the run can leave the cgroup (its files are root's),
// and KillUnit ends whatever is left in it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

namespace keepalive::daemon {

struct ScopeLimits {
  unsigned tasks = 128;                    // TasksMax=
  unsigned long long memory = 1ull << 30;  // MemoryMax=, bytes
};

class TransientScope {
 public:
  // Moves pid (the run's intermediate process, which waits until this returns) into a new
  // scope "keepalive-user-block-UID-N.scope" and waits until systemd says it is started.
  // nullptr with why set when systemd is not there or refused; the caller runs without it.
  static std::unique_ptr<TransientScope> start(pid_t pid, uid_t uid, const ScopeLimits& limits,
                                               std::chrono::milliseconds timeout, std::string& why);
  // SIGKILL to whatever the scope still holds; an empty scope is already gone (not an error).
  ~TransientScope();
  TransientScope(const TransientScope&) = delete;
  TransientScope& operator=(const TransientScope&) = delete;

  const std::string& name() const { return name_; }
  // Whether the kernel enforces TasksMax= on it: the pids controller is on the scope's cgroup
  // (not on a cgroup v1/v2 hybrid whose cgroup2 lacks it, nor where the controller is off).
  bool boundsTasks() const { return boundsTasks_; }

 private:
  explicit TransientScope(std::string name) : name_(std::move(name)) {}
  std::string name_;
  bool boundsTasks_ = false;
};

// Whether this host runs systemd (sd_booted): only then is a scope tried.
bool systemdBooted();

}  // namespace keepalive::daemon
