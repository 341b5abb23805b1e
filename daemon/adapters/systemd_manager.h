// SPDX-License-Identifier: GPL-2.0-or-later
// Reloads sshd through systemd's D-Bus API (org.freedesktop.systemd1.Manager): JobRemoved is
// subscribed to before ReloadUnit is called, and the job's result arrives as a signal, with a
// deadline timer. Also runs a short command as a sandboxed transient oneshot service (the listen
// check, outside the daemon's private network namespace), followed the same way. Every call is
// asynchronous on the daemon's loop (SdbusEventSource): the loop never waits for systemd. Only the
// constructor, before the loop runs, asks systemd synchronously which unit is sshd.
//
// The state of sshd's units (unitState()) is read once at construction and then again, on the
// loop and asynchronously, whenever systemd sends PropertiesChanged for the service or its socket
// unit: never polled. When the system bus goes away (dbus restarted), the connection, the
// JobRemoved and PropertiesChanged matches, Subscribe and the unit state are re-created on the
// loop by a retry timer (250 ms, backing off to 2 s); after kRejoinGiveUp without success the
// gave-up listener is told, and the daemon exits non-zero for systemd to restart it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemd/sd-event.h>

#include <cstdint>
#include <map>

#include "core/ports.h"
#include "sdbus_event.h"

namespace sdbus {
class IConnection;
class IProxy;
class Variant;
}  // namespace sdbus

namespace keepalive::daemon {

// A command run as "PREFIX-N.service", Type=oneshot, in a fixed sandbox for the listen check
// (adapters/listen_check.h), which reads the host's listening sockets and sshd's fds: root with
// only CAP_SYS_PTRACE in its bounding set, no new privileges, ProtectSystem=strict,
// ProtectHome=yes, private /tmp and /dev, the host's network namespace but AF_NETLINK and
// AF_UNIX only and IPAddressDeny=any (no IP traffic at all), @system-service system calls.
//
// With privsep_dir set, the other sandbox (runPrivsepCheck): root, for sshd -t / sshd -T while
// sshd's unit is stopped and systemd took its RuntimeDirectory (/run/sshd) away. sshd then
// refuses to go on without that directory, and the daemon's own unit may not build a private
// /run itself (no CAP_SYS_ADMIN, RestrictNamespaces=yes). systemd builds it for this unit only:
// TemporaryFileSystem= on the directory's parent (an empty private tmpfs), in which
// /bin/sh creates privsep_dir before it execs argv. The unit runs as root, which owns the 0600
// host keys sshd reads, but with an empty capability bounding set, no new privileges, no
// network (PrivateNetwork=yes, AF_UNIX only), ProtectSystem=strict, ProtectHome=yes, private
// /tmp and /dev, the kernel's knobs read-only and @system-service system calls. stdout and
// stderr are two pipes, read on the loop as they fill up to output_cap each.
struct OneshotSpec {
  std::string prefix;
  std::string description;
  std::vector<std::string> argv;             // argv[0] is the absolute path run
  std::chrono::milliseconds timeout{10000};  // TimeoutStartSec=, and how long the daemon waits
  std::string privsep_dir;                   // "": the listen check's sandbox; else above
  std::size_t output_cap = 4096;             // bytes kept of stdout (and of stderr)
};

struct OneshotResult {
  std::string unit;
  bool ran = false;        // its start job ended (result says how)
  std::string result;      // the start job's result: "done" (exit 0), "failed", "timeout", ...
  std::string output;      // stdout, and stderr too unless privsep_dir (one pipe), at most the cap
  std::string errors;      // with privsep_dir: stderr, at most the cap
  bool truncated = false;  // more was written than the cap; the rest was read and dropped
  std::string detail;      // when !ran: why
};

// What systemd reports of sshd's service (org.freedesktop.systemd1.Unit and .Service), as read.
struct UnitProperties {
  std::string active_state;                // ActiveState
  std::string sub_state;                   // SubState
  std::uint64_t state_change_usec = 0;     // StateChangeTimestamp, CLOCK_REALTIME
  std::uint64_t active_enter_usec = 0;     // ActiveEnterTimestamp
  std::uint64_t exec_main_start_usec = 0;  // ExecMainStartTimestamp
  std::uint32_t main_pid = 0;              // MainPID
  // The last run of ExecReload= did not complete: the command started last is not the list's
  // last, or it exited non-zero (systemd 252 has no ReloadResult; ExecReload's exec status says).
  bool last_reload_failed = false;
};
// The service's part of UnitState (socket_listening is the socket unit's): pure, for tests.
UnitState unitStateFrom(const std::string& unit, const std::string& socket,
                        const UnitProperties& p);

class SystemdManager : public ServiceManager {
 public:
  // unit: "none" turns reloads off; "" detects ssh.service or sshd.service.
  SystemdManager(sd_event* loop, const std::string& unit, std::chrono::milliseconds jobTimeout);
  ~SystemdManager() override;

  std::string unit() const override { return unit_; }
  void reload(Done<ReloadOutcome> done) override;
  UnitState unitState() const override { return unitState_; }
  // Why reloads are off, when they are ("" when on).
  const std::string& disabledReason() const { return disabled_; }
  // Whether runOneshot can work: systemd answered on the system bus.
  bool connected() const { return manager_ != nullptr; }
  void runOneshot(const OneshotSpec& spec, Done<OneshotResult> done);
  // argv (sshd -t or -T) as a oneshot in the privsep sandbox (OneshotSpec), where dir exists.
  void runPrivsepCheck(const std::vector<std::string>& argv, const std::string& dir,
                       std::chrono::milliseconds timeout, Done<OneshotResult> done);
  // What runPrivsepCheck keeps of each stream: sshd -T prints a few KiB, with room to spare.
  static constexpr std::size_t kPrivsepOutputCap = std::size_t{256} * 1024;
  // Called on the loop whenever unitState() changed (sshd started, stopped, reloaded, ...).
  void setUnitListener(std::function<void()> f) { unitListener_ = std::move(f); }
  // Called once when the system bus was lost and could not be rejoined within kRejoinGiveUp.
  void setGaveUpListener(std::function<void(const std::string&)> f) { gaveUp_ = std::move(f); }
  // Called when the connection to systemd is back after a loss (a reload awaited then was lost).
  void setRejoinedListener(std::function<void()> f) { rejoined_ = std::move(f); }
  // Whether the connection to systemd is up (false while rejoining after a loss).
  bool online() const { return attachment_ && attachment_->connected(); }

  static constexpr std::chrono::milliseconds kRejoinFirst{250};
  static constexpr std::chrono::milliseconds kRejoinMax{2000};
  static constexpr std::chrono::seconds kRejoinGiveUp{60};
  // A synchronous call while rejoining (LoadUnit) waits at most this long on the loop.
  static constexpr std::chrono::milliseconds kRejoinCallTimeout{1000};
  // What a job waiter gets when the bus went away under it.
  static constexpr const char* kBusLost = "(system bus lost)";

 private:
  // Connects, matches JobRemoved and (once the unit is known) the units' PropertiesChanged and
  // attaches to the loop. Throws sdbus::Error / SdbusEventError.
  void connect(std::chrono::milliseconds callTimeout);
  // LoadUnit: the unit's object path (synchronous: the constructor and a rejoin only).
  std::string loadUnit(const std::string& name);
  void watchUnits();
  std::string findSocket();
  void teardown();
  void lost(const std::string& why);
  void rejoin();
  void armRejoin(std::chrono::milliseconds delay);
  static int onRejoin(sd_event_source*, std::uint64_t, void* self);
  // Reads the units' properties again (asynchronously); one read at a time, one more if a
  // change came meanwhile.
  void refreshUnitState();
  void readUnitStateNow();
  void unitStateRead(UnitState next);
  std::string detect();
  Task<void> reloadFlow(Done<ReloadOutcome> done);
  Task<ReloadOutcome> reloadSteps();
  Task<void> oneshotFlow(OneshotSpec spec, Done<OneshotResult> done);
  // A property of the unit (ActiveState, MainPID) as text; error set when the call failed.
  Callback<std::pair<std::string, std::string>> property(const char* name, const char* iface);
  // The JobRemoved result of job, or "" at the deadline.
  Callback<std::string> jobResult(const std::string& job, std::chrono::milliseconds deadline);
  void subscribe();
  void jobRemoved(const std::string& job, const std::string& result);
  static int onJobDeadline(sd_event_source*, std::uint64_t, void* self);

  sd_event* loop_;
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<sdbus::IProxy> manager_;
  std::unique_ptr<sdbus::IProxy> unitProxy_;
  std::unique_ptr<sdbus::IProxy> socketProxy_;
  std::unique_ptr<SdbusEventSource> attachment_;
  std::string unit_;
  std::string socket_;  // "" when sshd has no socket unit
  UnitState unitState_;
  std::function<void()> unitListener_;
  std::function<void()> rejoined_;
  bool refreshAfterJob_ = false;  // a unit change came while our job ran: read it after
  std::function<void(const std::string&)> gaveUp_;
  // Each connection's number: a read that began on an older one is dropped.
  std::uint64_t generation_ = 0;
  bool reading_ = false;
  bool readAgain_ = false;
  sd_event_source* rejoinTimer_ = nullptr;
  std::uint64_t lostAtUsec_ = 0;  // CLOCK_MONOTONIC; 0 = connected
  std::chrono::milliseconds rejoinDelay_ = kRejoinFirst;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  std::string disabled_;
  std::chrono::milliseconds jobTimeout_;
  bool subscribed_ = false;
  unsigned oneshots_ = 0;
  // Jobs awaited, and results of jobs that ended before anyone awaited them (the JobRemoved of
  // a quick job can come before the reply that names it).
  struct Waiter {
    Done<std::string> done;
    sd_event_source* timer = nullptr;
  };
  std::map<std::string, Waiter> waiting_;
  std::map<std::string, std::string> ended_;
  TaskSet tasks_;
};

}  // namespace keepalive::daemon
