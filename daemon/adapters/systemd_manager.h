// Reloads sshd through systemd's D-Bus API (org.freedesktop.systemd1.Manager): JobRemoved is
// subscribed to before ReloadUnit is called, and the job's result is awaited with a deadline.
// Also runs a short command as a sandboxed transient oneshot service (the banner probe, outside
// the daemon's private network namespace), awaited the same way.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/ports.h"

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace keepalive::daemon {

// A command run as "PREFIX-N.service", Type=oneshot, in a fixed sandbox for a helper that needs
// only to connect to a few IP addresses: DynamicUser=yes, no capabilities, no new privileges,
// ProtectSystem=strict, ProtectHome=yes, private /tmp and /dev, AF_INET AF_INET6 AF_UNIX only,
// IPAddressDeny=any with IPAddressAllow= the given addresses, @system-service system calls.
struct OneshotSpec {
  std::string prefix;
  std::string description;
  std::vector<std::string> argv;               // argv[0] is the absolute path run
  std::vector<std::string> allowed_addresses;  // IPv4 or IPv6 literals
  std::chrono::milliseconds timeout{10000};    // TimeoutStartSec=, and how long the daemon waits
};

struct OneshotResult {
  std::string unit;
  bool ran = false;    // its start job ended (result says how)
  std::string result;  // the start job's result: "done" (exit 0), "failed", "timeout", ...
  std::string output;  // what it wrote to stdout and stderr (a pipe), at most 4 KiB
  std::string detail;  // when !ran: why
};

class SystemdManager : public ServiceManager {
 public:
  // unit: "none" turns reloads off; "" detects ssh.service or sshd.service.
  SystemdManager(const std::string& unit, std::chrono::milliseconds jobTimeout);
  ~SystemdManager() override;

  std::string unit() const override { return unit_; }
  ReloadOutcome reload() override;
  // Why reloads are off, when they are ("" when on).
  const std::string& disabledReason() const { return disabled_; }
  // Whether runOneshot can work: systemd answered on the system bus.
  bool connected() const { return manager_ != nullptr; }
  OneshotResult runOneshot(const OneshotSpec& spec);

 private:
  std::string unitState(const std::string& property, const char* iface);
  std::string detect();
  void subscribe();
  // Waits for job's JobRemoved until deadline (CLOCK_MONOTONIC usec), feeding the watchdog; ""
  // when none came.
  std::string awaitJob(const std::string& job, std::uint64_t deadline);

  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<sdbus::IProxy> manager_;
  std::string unit_;
  std::string disabled_;
  std::chrono::milliseconds jobTimeout_;
  bool subscribed_ = false;
  unsigned oneshots_ = 0;
  std::string awaitedJob_;
  std::string jobResult_;
};

}  // namespace keepalive::daemon
