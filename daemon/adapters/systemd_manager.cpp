#include "systemd_manager.h"

#include "watchdog.h"

#include <poll.h>

#include <time.h>
#include <algorithm>

#include <sdbus-c++/sdbus-c++.h>

namespace keepalive::daemon {
namespace {
const char* kDest = "org.freedesktop.systemd1";
const char* kPath = "/org/freedesktop/systemd1";
const char* kManager = "org.freedesktop.systemd1.Manager";
const char* kUnit = "org.freedesktop.systemd1.Unit";
const char* kService = "org.freedesktop.systemd1.Service";

std::uint64_t monotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}
}  // namespace

SystemdManager::SystemdManager(const std::string& unit, std::chrono::milliseconds jobTimeout)
    : jobTimeout_(jobTimeout) {
  if (unit == "none") {
    disabled_ = "reloads are off (--unit none)";
    return;
  }
  try {
    bus_ = sdbus::createSystemBusConnection();
    bus_->setMethodCallTimeout(jobTimeout_);
    manager_ = sdbus::createProxy(*bus_, kDest, kPath);
    manager_->uponSignal("JobRemoved")
        .onInterface(kManager)
        .call([this](std::uint32_t, const sdbus::ObjectPath& job, const std::string&,
                     const std::string& result) {
          if (job == awaitedJob_)
            jobResult_ = result;
        });
    manager_->finishRegistration();
    unit_ = unit.empty() ? detect() : unit;
    if (unit_.empty())
      disabled_ = "neither ssh.service nor sshd.service is known to systemd";
  } catch (const sdbus::Error& e) {
    disabled_ = "cannot reach systemd on the system bus: " + e.getMessage();
    unit_.clear();
  }
}

SystemdManager::~SystemdManager() = default;

std::string SystemdManager::detect() {
  // Debian and Ubuntu call it ssh.service, RHEL and Fedora sshd.service; a socket-activated
  // ssh.service (newer Ubuntu) is still reloaded through the service.
  for (const char* name : {"ssh.service", "sshd.service"}) {
    try {
      sdbus::ObjectPath path;
      manager_->callMethod("LoadUnit")
          .onInterface(kManager)
          .withArguments(std::string(name))
          .storeResultsTo(path);
      auto unit = sdbus::createProxy(*bus_, kDest, path);
      std::string load = unit->getProperty("LoadState").onInterface(kUnit).get<std::string>();
      if (load == "loaded")
        return name;
    } catch (const sdbus::Error&) {
    }
  }
  return {};
}

std::string SystemdManager::unitState(const std::string& property, const char* iface) {
  sdbus::ObjectPath path;
  manager_->callMethod("LoadUnit").onInterface(kManager).withArguments(unit_).storeResultsTo(path);
  auto unit = sdbus::createProxy(*bus_, kDest, path);
  sdbus::Variant v = unit->getProperty(property).onInterface(iface);
  if (v.containsValueOfType<std::string>())
    return v.get<std::string>();
  if (v.containsValueOfType<std::uint32_t>())
    return std::to_string(v.get<std::uint32_t>());
  return {};
}

ReloadOutcome SystemdManager::reload() {
  ReloadOutcome o;
  if (unit_.empty()) {
    o.detail = disabled_;
    return o;
  }
  try {
    const std::string active = unitState("ActiveState", kUnit);
    if (active != "active" && active != "reloading") {
      o.detail = unit_ + " is " + active + ": the new configuration applies when it starts";
      return o;
    }
    const std::string pidBefore = unitState("MainPID", kService);
    if (!subscribed_) {
      // systemd sends JobRemoved only while some client is subscribed.
      manager_->callMethod("Subscribe").onInterface(kManager);
      subscribed_ = true;
    }
    o.attempted = true;
    jobResult_.clear();
    sdbus::ObjectPath job;
    manager_->callMethod("ReloadUnit")
        .onInterface(kManager)
        .withArguments(unit_, std::string("replace"))
        .storeResultsTo(job);
    awaitedJob_ = job;
    const std::uint64_t deadline =
        monotonicUsec() + static_cast<std::uint64_t>(jobTimeout_.count()) * 1000u;
    while (jobResult_.empty()) {
      while (jobResult_.empty() && bus_->processPendingRequest()) {
      }
      if (!jobResult_.empty())
        break;
      const std::uint64_t now = monotonicUsec();
      if (now >= deadline) {
        o.detail = "no result for job " + std::string(job) + " within " +
                   std::to_string(jobTimeout_.count()) + " ms";
        awaitedJob_.clear();
        return o;
      }
      auto pd = bus_->getEventLoopPollData();
      std::uint64_t wait = deadline - now;
      if (pd.timeout_usec != UINT64_MAX && pd.timeout_usec > now)
        wait = std::min<std::uint64_t>(wait, pd.timeout_usec - now);
      else if (pd.timeout_usec != UINT64_MAX)
        wait = 0;
      pollfd p{pd.fd, pd.events, 0};
      watchdogPing();
      ::poll(&p, 1, static_cast<int>(std::min<std::uint64_t>((wait + 999) / 1000, 1000)));
    }
    awaitedJob_.clear();
    if (jobResult_ != "done") {
      o.detail = "job " + std::string(job) + " ended with result '" + jobResult_ + "'";
      return o;
    }
    const std::string after = unitState("ActiveState", kUnit);
    const std::string pidAfter = unitState("MainPID", kService);
    if (after != "active") {
      o.detail = unit_ + " is " + after + " after the reload";
      return o;
    }
    if (pidAfter != pidBefore) {
      o.detail = unit_ + " main PID changed from " + pidBefore + " to " + pidAfter +
                 ": it restarted instead of reloading";
      return o;
    }
    o.ok = true;
    o.detail = "job " + std::string(job) + " done, main PID " + pidAfter;
  } catch (const sdbus::Error& e) {
    o.attempted = true;
    o.detail = e.getName() + ": " + e.getMessage();
  }
  return o;
}

}  // namespace keepalive::daemon
