#include "systemd_manager.h"

#include "sys/unique_fd.h"

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

const char* kProperties = "org.freedesktop.DBus.Properties";

std::string errorText(const sdbus::Error& e) {
  return e.getName() + ": " + e.getMessage();
}
}  // namespace

SystemdManager::SystemdManager(sd_event* loop, const std::string& unit,
                               std::chrono::milliseconds jobTimeout)
    : loop_(loop), jobTimeout_(jobTimeout) {
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
                     const std::string& result) { jobRemoved(job, result); });
    manager_->finishRegistration();
    // Before the loop runs: the only calls that wait.
    unit_ = unit.empty() ? detect() : unit;
    if (unit_.empty()) {
      disabled_ = "neither ssh.service nor sshd.service is known to systemd";
    } else {
      sdbus::ObjectPath path;
      manager_->callMethod("LoadUnit")
          .onInterface(kManager)
          .withArguments(unit_)
          .storeResultsTo(path);
      unitProxy_ = sdbus::createProxy(*bus_, kDest, path);
    }
    attachment_ = std::make_unique<SdbusEventSource>(loop_, *bus_, [this](const std::string& why) {
      // Whatever waits for a job learns it now instead of at its deadline.
      auto waiting = std::move(waiting_);
      waiting_.clear();
      for (auto& [job, w] : waiting) {
        sd_event_source_disable_unref(w.timer);
        w.done("");
      }
      disabled_ = "lost the system bus: " + why;
    });
  } catch (const sdbus::Error& e) {
    disabled_ = "cannot reach systemd on the system bus: " + e.getMessage();
    unit_.clear();
  } catch (const std::exception& e) {
    disabled_ = e.what();
    unit_.clear();
  }
}

SystemdManager::~SystemdManager() {
  for (auto& [job, w] : waiting_)
    sd_event_source_disable_unref(w.timer);
}

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

Callback<std::pair<std::string, std::string>> SystemdManager::property(const char* name,
                                                                       const char* iface) {
  using Result = std::pair<std::string, std::string>;  // value, error
  return callback<Result>([this, name, iface](Done<Result> done) {
    try {
      unitProxy_->callMethodAsync("Get")
          .onInterface(kProperties)
          .withArguments(std::string(iface), std::string(name))
          .withTimeout(jobTimeout_)
          .uponReplyInvoke([done](const sdbus::Error* e, sdbus::Variant v) {
            if (e)
              return done({"", errorText(*e)});
            if (v.containsValueOfType<std::string>())
              return done({v.get<std::string>(), ""});
            if (v.containsValueOfType<std::uint32_t>())
              return done({std::to_string(v.get<std::uint32_t>()), ""});
            done({"", ""});
          });
    } catch (const sdbus::Error& e) {
      done({"", errorText(e)});
    }
  });
}

void SystemdManager::subscribe() {
  if (subscribed_)
    return;
  // systemd sends JobRemoved only while some client is subscribed. The bus keeps the order of
  // our messages, so this is in force before the job that follows it is created.
  manager_->callMethodAsync("Subscribe")
      .onInterface(kManager)
      .uponReplyInvoke([](const sdbus::Error*) {});
  subscribed_ = true;
}

void SystemdManager::jobRemoved(const std::string& job, const std::string& result) {
  auto it = waiting_.find(job);
  if (it == waiting_.end()) {
    // Perhaps ours, before its reply: kept for a moment (a few, for jobs of others too).
    ended_[job] = result;
    if (ended_.size() > 64)
      ended_.erase(ended_.begin());
    return;
  }
  Waiter w = std::move(it->second);
  waiting_.erase(it);
  sd_event_source_disable_unref(w.timer);
  w.done(result);
}

int SystemdManager::onJobDeadline(sd_event_source* s, std::uint64_t, void* self) {
  auto* me = static_cast<SystemdManager*>(self);
  for (auto it = me->waiting_.begin(); it != me->waiting_.end(); ++it)
    if (it->second.timer == s) {
      Waiter w = std::move(it->second);
      me->waiting_.erase(it);
      sd_event_source_disable_unref(w.timer);
      w.done("");
      break;
    }
  return 0;
}

Callback<std::string> SystemdManager::jobResult(const std::string& job,
                                                std::chrono::milliseconds deadline) {
  return callback<std::string>([this, job, deadline](Done<std::string> done) {
    if (auto it = ended_.find(job); it != ended_.end()) {
      std::string result = it->second;
      ended_.erase(it);
      return done(result);
    }
    std::uint64_t now = 0;
    sd_event_now(loop_, CLOCK_MONOTONIC, &now);
    Waiter w{std::move(done), nullptr};
    if (sd_event_add_time(loop_, &w.timer, CLOCK_MONOTONIC,
                          now + static_cast<std::uint64_t>(deadline.count()) * 1000u, 1000,
                          &SystemdManager::onJobDeadline, this) < 0)
      return w.done("");
    waiting_.emplace(job, std::move(w));
  });
}

void SystemdManager::reload(Done<ReloadOutcome> done) {
  tasks_.spawn(reloadFlow(std::move(done)));
}

Task<void> SystemdManager::reloadFlow(Done<ReloadOutcome> done) {
  ReloadOutcome o = co_await reloadSteps();
  done(std::move(o));
}

Task<ReloadOutcome> SystemdManager::reloadSteps() {
  ReloadOutcome o;
  if (unit_.empty() || !unitProxy_ || !attachment_ || !attachment_->connected()) {
    o.detail = disabled_;
    co_return o;
  }
  auto [active, err] = co_await property("ActiveState", kUnit);
  if (!err.empty()) {
    o.attempted = true;
    o.detail = err;
    co_return o;
  }
  if (active != "active" && active != "reloading") {
    o.detail = unit_ + " is " + active + ": the new configuration applies when it starts";
    co_return o;
  }
  auto [pidBefore, err2] = co_await property("MainPID", kService);
  subscribe();
  o.attempted = true;
  using JobReply = std::pair<std::string, std::string>;  // job path, error
  // A named awaiter: GCC 12 may destroy a temporary in a co_await's operand twice.
  auto reloadCall = callback<JobReply>([this](Done<JobReply> d) {
    try {
      manager_->callMethodAsync("ReloadUnit")
          .onInterface(kManager)
          .withArguments(unit_, std::string("replace"))
          .withTimeout(jobTimeout_)
          .uponReplyInvoke([d](const sdbus::Error* e, sdbus::ObjectPath path) {
            d(e ? JobReply{"", errorText(*e)} : JobReply{std::string(path), ""});
          });
    } catch (const sdbus::Error& e) {
      d({"", errorText(e)});
    }
  });
  JobReply job = co_await reloadCall;
  if (!job.second.empty()) {
    o.detail = job.second;
    co_return o;
  }
  const std::string result = co_await jobResult(job.first, jobTimeout_);
  if (result.empty()) {
    o.detail =
        "no result for job " + job.first + " within " + std::to_string(jobTimeout_.count()) + " ms";
    co_return o;
  }
  if (result != "done") {
    o.detail = "job " + job.first + " ended with result '" + result + "'";
    co_return o;
  }
  auto [after, err3] = co_await property("ActiveState", kUnit);
  auto [pidAfter, err4] = co_await property("MainPID", kService);
  if (!err3.empty() || !err4.empty()) {
    o.detail = !err3.empty() ? err3 : err4;
    co_return o;
  }
  if (after != "active") {
    o.detail = unit_ + " is " + after + " after the reload";
    co_return o;
  }
  if (pidAfter != pidBefore) {
    o.detail = unit_ + " main PID changed from " + pidBefore + " to " + pidAfter +
               ": it restarted instead of reloading";
    co_return o;
  }
  o.ok = true;
  o.detail = "job " + job.first + " done, main PID " + pidAfter;
  co_return o;
}

void SystemdManager::runOneshot(const OneshotSpec& spec, Done<OneshotResult> done) {
  tasks_.spawn(oneshotFlow(spec, std::move(done)));
}

Task<void> SystemdManager::oneshotFlow(OneshotSpec spec, Done<OneshotResult> done) {
  OneshotResult r;
  // The daemon's pid keeps names apart across restarts, whose units systemd may still hold.
  r.unit = spec.prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++oneshots_) +
           ".service";
  if (!manager_) {
    r.detail = disabled_.empty() ? "systemd is not reachable on the system bus" : disabled_;
    done(std::move(r));
    co_return;
  }
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    r.detail = "no absolute path to run";
    done(std::move(r));
    co_return;
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    r.detail = std::string("cannot create a pipe: ") + std::strerror(errno);
    done(std::move(r));
    co_return;
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
  using JobReply = std::pair<std::string, std::string>;  // job path, error
  auto startCall = callback<JobReply>([&](Done<JobReply> d) {
    try {
      manager_->callMethodAsync("StartTransientUnit")
          .onInterface(kManager)
          .withArguments(r.unit, std::string("fail"), props,
                         std::vector<sdbus::Struct<std::string, std::vector<Prop>>>{})
          .withTimeout(jobTimeout_)
          .uponReplyInvoke([d](const sdbus::Error* e, sdbus::ObjectPath path) {
            d(e ? JobReply{"", errorText(*e)} : JobReply{std::string(path), ""});
          });
    } catch (const sdbus::Error& e) {
      d({"", errorText(e)});
    }
  });
  JobReply job = co_await startCall;
  // systemd holds its own copies: ours would only keep the pipe open.
  writeEnd.reset();
  if (!job.second.empty()) {
    r.detail = job.second;
    done(std::move(r));
    co_return;
  }
  r.result = co_await jobResult(job.first, spec.timeout + std::chrono::milliseconds(1000));
  if (r.result.empty()) {
    r.detail = "no result for job " + job.first + " within " +
               std::to_string(spec.timeout.count() + 1000) + " ms";
    manager_->callMethodAsync("StopUnit")
        .onInterface(kManager)
        .withArguments(r.unit, std::string("replace"))
        .uponReplyInvoke([](const sdbus::Error*, sdbus::ObjectPath) {
          // Already gone: nothing to stop.
        });
    done(std::move(r));
    co_return;
  }
  r.ran = true;
  // The process has exited (its start job ended), so all it wrote is in the pipe; systemd may
  // hold the write end until it collects the unit, so read what is there instead of to EOF.
  char buf[4096];
  const ssize_t n = ::read(readEnd.get(), buf, sizeof buf);
  if (n > 0)
    r.output.assign(buf, static_cast<std::size_t>(n));
  done(std::move(r));
}

}  // namespace keepalive::daemon
