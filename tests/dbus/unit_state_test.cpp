// SPDX-License-Identifier: GPL-2.0-or-later
// sshd's unit state as SystemdManager derives it from what systemd reports; the same against a
// real systemd is in tests/system/bus_restart_test.sh.
#include <catch2/catch.hpp>

#include "adapters/systemd_manager.h"

using keepalive::daemon::UnitProperties;
using keepalive::daemon::UnitState;
using keepalive::daemon::unitStateFrom;

namespace {
// Timestamps as systemd's unit_notify() sets them: ActiveEnterTimestamp when the unit became
// active from inactive, StateChangeTimestamp at every change of ActiveState.
constexpr std::uint64_t kForked = 1'000'000;    // ExecMainStartTimestamp
constexpr std::uint64_t kActive = 1'400'000;    // active after READY=1
constexpr std::uint64_t kReloaded = 9'000'000;  // back to active from reloading
}  // namespace

TEST_CASE("unit state: started and never reloaded: sshd read its config when it was forked") {
  const UnitState s = unitStateFrom("ssh.service", "ssh.socket",
                                    {"active", "running", kActive, kActive, kForked, 281});
  CHECK(s.activity == UnitState::Activity::kActive);
  CHECK(s.unit == "ssh.service");
  CHECK(s.socket == "ssh.socket");
  CHECK(s.detail == "active (running)");
  CHECK(s.main_pid == 281);
  CHECK(s.read_config_usec == static_cast<std::int64_t>(kForked));
}

TEST_CASE("unit state: reloaded: the end of the reload, not the start") {
  const UnitState s =
      unitStateFrom("ssh.service", "", {"active", "running", kReloaded, kActive, kForked, 281});
  CHECK(s.read_config_usec == static_cast<std::int64_t>(kReloaded));
  // While reloading, the last time it certainly read it is its start.
  const UnitState r =
      unitStateFrom("ssh.service", "", {"reloading", "reload", kReloaded, kActive, kForked, 281});
  CHECK(r.activity == UnitState::Activity::kReloading);
  CHECK(r.detail == "reloading (reload)");
  CHECK(r.read_config_usec == static_cast<std::int64_t>(kForked));
}

TEST_CASE("unit state: a reload whose ExecReload failed is not a read") {
  const UnitState s = unitStateFrom("ssh.service", "",
                                    {"active", "running", kReloaded, kActive, kForked, 281, true});
  CHECK(s.activity == UnitState::Activity::kActive);
  CHECK(s.read_config_usec == static_cast<std::int64_t>(kForked));
}

TEST_CASE("unit state: stopped or failed: no main PID, no time") {
  for (const char* state : {"inactive", "failed"}) {
    const UnitState s =
        unitStateFrom("sshd.service", "", {state, "dead", kReloaded, kActive, kForked, 0});
    CHECK(s.main_pid == 0);
    CHECK(s.read_config_usec == 0);
    CHECK(s.detail == std::string(state) + " (dead)");
  }
  CHECK(unitStateFrom("ssh.service", "", {"failed", "failed", 0, 0, 0, 0}).activity ==
        UnitState::Activity::kFailed);
  CHECK(unitStateFrom("ssh.service", "", {"maintenance", "x", 0, 0, 0, 0}).activity ==
        UnitState::Activity::kUnknown);
}
