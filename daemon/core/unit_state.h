// SPDX-License-Identifier: GPL-2.0-or-later
// What systemd says about sshd's units: a plain record the engine judges and the status shows.
#pragma once

#include <cstdint>
#include <string>

namespace keepalive::daemon {

// What systemd says about sshd's units, kept current from the units' PropertiesChanged signals.
struct UnitState {
  enum class Activity {
    kUnknown,
    kActive,
    kReloading,
    kActivating,
    kDeactivating,
    kInactive,
    kFailed
  };
  Activity activity = Activity::kUnknown;  // of the service; kUnknown: no systemd to ask
  std::string unit;                        // "ssh.service"; "" when none is known
  std::string socket;                      // a socket unit that starts sshd ("ssh.socket"), or ""
  bool socket_listening = false;           // that socket unit is active (listening)
  std::uint32_t main_pid = 0;
  // CLOCK_REALTIME microseconds when the running sshd last read its configuration: the later of
  // its main process's start (ExecMainStartTimestamp) and the end of its last reload (the
  // unit's StateChangeTimestamp on its way back from "reloading" to "active"); 0 = unknown.
  std::int64_t read_config_usec = 0;
  std::string detail;  // "active (running)", "inactive (dead)", ... as systemctl says it
  friend bool operator==(const UnitState&, const UnitState&) = default;
};
const char* toString(UnitState::Activity a);

}  // namespace keepalive::daemon
