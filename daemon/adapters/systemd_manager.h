// Reloads sshd through systemd's D-Bus API (org.freedesktop.systemd1.Manager): JobRemoved is
// subscribed to before ReloadUnit is called, and the job's result is awaited with a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/ports.h"

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace keepalive::daemon {

class SystemdManager : public ServiceManager {
 public:
  // unit: "none" turns reloads off; "" detects ssh.service or sshd.service.
  SystemdManager(const std::string& unit, std::chrono::milliseconds jobTimeout);
  ~SystemdManager() override;

  std::string unit() const override { return unit_; }
  ReloadOutcome reload() override;
  // Why reloads are off, when they are ("" when on).
  const std::string& disabledReason() const { return disabled_; }

 private:
  std::string unitState(const std::string& property, const char* iface);
  std::string detect();

  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<sdbus::IProxy> manager_;
  std::string unit_;
  std::string disabled_;
  std::chrono::milliseconds jobTimeout_;
  bool subscribed_ = false;
  std::string awaitedJob_;
  std::string jobResult_;
};

}  // namespace keepalive::daemon
