#include "systemd_manager.h"

#include "unique_fd.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

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

void SystemdManager::subscribe() {
  if (subscribed_)
    return;
  // systemd sends JobRemoved only while some client is subscribed.
  manager_->callMethod("Subscribe").onInterface(kManager);
  subscribed_ = true;
}

std::string SystemdManager::awaitJob(const std::string& job, std::uint64_t deadline) {
  // The JobRemoved that ends job may already be queued: the call that created the job returns
  // before systemd runs it, and signals read meanwhile wait for processPendingRequest.
  jobResult_.clear();
  awaitedJob_ = job;
  while (jobResult_.empty()) {
    while (jobResult_.empty() && bus_->processPendingRequest()) {
    }
    if (!jobResult_.empty())
      break;
    const std::uint64_t now = monotonicUsec();
    if (now >= deadline)
      break;
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
  return jobResult_;
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
    subscribe();
    o.attempted = true;
    sdbus::ObjectPath job;
    manager_->callMethod("ReloadUnit")
        .onInterface(kManager)
        .withArguments(unit_, std::string("replace"))
        .storeResultsTo(job);
    const std::uint64_t deadline =
        monotonicUsec() + static_cast<std::uint64_t>(jobTimeout_.count()) * 1000u;
    if (awaitJob(job, deadline).empty()) {
      o.detail = "no result for job " + std::string(job) + " within " +
                 std::to_string(jobTimeout_.count()) + " ms";
      return o;
    }
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

OneshotResult SystemdManager::runOneshot(const OneshotSpec& spec) {
  OneshotResult r;
  // The daemon's pid keeps names apart across restarts, whose units systemd may still hold.
  r.unit = spec.prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++oneshots_) +
           ".service";
  if (!manager_) {
    r.detail = disabled_.empty() ? "systemd is not reachable on the system bus" : disabled_;
    return r;
  }
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    r.detail = "no absolute path to run";
    return r;
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    r.detail = std::string("cannot create a pipe: ") + std::strerror(errno);
    return r;
  }
  Fd readEnd(p[0]);
  Fd writeEnd(p[1]);
  using Prop = sdbus::Struct<std::string, sdbus::Variant>;
  using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;
  using IpPrefix = sdbus::Struct<std::int32_t, std::vector<std::uint8_t>, std::uint32_t>;
  using NameList = sdbus::Struct<bool, std::vector<std::string>>;
  std::vector<IpPrefix> allow;
  for (const auto& a : spec.allowed_addresses) {
    std::uint8_t bytes[16];
    if (::inet_pton(AF_INET, a.c_str(), bytes) == 1)
      allow.push_back({AF_INET, std::vector<std::uint8_t>(bytes, bytes + 4), 32u});
    else if (::inet_pton(AF_INET6, a.c_str(), bytes) == 1)
      allow.push_back({AF_INET6, std::vector<std::uint8_t>(bytes, bytes + 16), 128u});
  }
  // IPAddressDeny=any, as systemd-run spells it.
  const std::vector<IpPrefix> deny{{AF_INET, std::vector<std::uint8_t>(4, 0), 0u},
                                   {AF_INET6, std::vector<std::uint8_t>(16, 0), 0u}};
  const std::uint64_t timeoutUsec = static_cast<std::uint64_t>(spec.timeout.count()) * 1000u;
  try {
    subscribe();
    const std::vector<Prop> props{
        {"Description", sdbus::Variant(spec.description)},
        {"Type", sdbus::Variant(std::string("oneshot"))},
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{{spec.argv[0], spec.argv, false}})},
        // Gone once it ends, failed or not: nothing piles up, one unit per run.
        {"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))},
        // A oneshot is "activating" while it runs, so the start timeout is what bounds it
        // (RuntimeMaxSec= does not apply to Type=oneshot); systemd kills it then.
        {"TimeoutStartUSec", sdbus::Variant(timeoutUsec)},
        {"StandardInput", sdbus::Variant(std::string("null"))},
        {"StandardOutputFileDescriptor", sdbus::Variant(sdbus::UnixFd(writeEnd.get()))},
        {"StandardErrorFileDescriptor", sdbus::Variant(sdbus::UnixFd(writeEnd.get()))},
        {"DynamicUser", sdbus::Variant(true)},
        {"CapabilityBoundingSet", sdbus::Variant(std::uint64_t{0})},
        {"AmbientCapabilities", sdbus::Variant(std::uint64_t{0})},
        {"NoNewPrivileges", sdbus::Variant(true)},
        {"ProtectSystem", sdbus::Variant(std::string("strict"))},
        {"ProtectHome", sdbus::Variant(std::string("yes"))},
        {"PrivateTmp", sdbus::Variant(true)},
        {"PrivateDevices", sdbus::Variant(true)},
        {"PrivateIPC", sdbus::Variant(true)},
        {"ProtectClock", sdbus::Variant(true)},
        {"ProtectHostname", sdbus::Variant(true)},
        {"ProtectKernelTunables", sdbus::Variant(true)},
        {"ProtectKernelModules", sdbus::Variant(true)},
        {"ProtectKernelLogs", sdbus::Variant(true)},
        {"ProtectControlGroups", sdbus::Variant(true)},
        {"ProtectProc", sdbus::Variant(std::string("invisible"))},
        {"ProcSubset", sdbus::Variant(std::string("pid"))},
        {"RestrictNamespaces", sdbus::Variant(std::uint64_t{0})},
        {"RestrictRealtime", sdbus::Variant(true)},
        {"RestrictSUIDSGID", sdbus::Variant(true)},
        {"LockPersonality", sdbus::Variant(true)},
        {"MemoryDenyWriteExecute", sdbus::Variant(true)},
        {"UMask", sdbus::Variant(std::uint32_t{0077})},
        {"RestrictAddressFamilies",
         sdbus::Variant(NameList{true, {"AF_INET", "AF_INET6", "AF_UNIX"}})},
        {"SystemCallArchitectures", sdbus::Variant(std::vector<std::string>{"native"})},
        {"SystemCallFilter", sdbus::Variant(NameList{true, {"@system-service"}})},
        {"SystemCallErrorNumber", sdbus::Variant(std::int32_t{EPERM})},
        {"IPAddressDeny", sdbus::Variant(deny)},
        {"IPAddressAllow", sdbus::Variant(allow)},
    };
    sdbus::ObjectPath job;
    manager_->callMethod("StartTransientUnit")
        .onInterface(kManager)
        .withArguments(r.unit, std::string("fail"), props,
                       std::vector<sdbus::Struct<std::string, std::vector<Prop>>>{})
        .storeResultsTo(job);
    // systemd holds its own copies: ours would only keep the pipe open.
    writeEnd.reset();
    r.result = awaitJob(job, monotonicUsec() + timeoutUsec + 1000000u);
    if (r.result.empty()) {
      r.detail = "no result for job " + std::string(job) + " within " +
                 std::to_string(spec.timeout.count() + 1000) + " ms";
      try {
        manager_->callMethod("StopUnit")
            .onInterface(kManager)
            .withArguments(r.unit, std::string("replace"));
      } catch (const sdbus::Error&) {
        // Already gone: nothing to stop.
      }
      return r;
    }
  } catch (const sdbus::Error& e) {
    r.detail = e.getName() + ": " + e.getMessage();
    return r;
  }
  r.ran = true;
  // The process has exited (its start job ended), so all it wrote is in the pipe; systemd may
  // hold the write end until it collects the unit, so read what is there instead of to EOF.
  char buf[4096];
  const ssize_t n = ::read(readEnd.get(), buf, sizeof buf);
  if (n > 0)
    r.output.assign(buf, static_cast<std::size_t>(n));
  return r;
}

}  // namespace keepalive::daemon
