// SPDX-License-Identifier: GPL-2.0-or-later
#include "systemd_manager.h"

#include "sys/unique_fd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

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

// The read end of a unit's stdout or stderr, read on the loop whenever it has data, so that a
// unit writing more than the pipe holds (sshd -T) never blocks in write() waiting for us. Keeps
// the first `cap` bytes and reads and drops the rest.
class PipeReader {
 public:
  PipeReader(sd_event* loop, int fd, std::size_t cap) : fd_(fd), cap_(cap) {
    if (sd_event_add_io(loop, &source_, fd_.get(), EPOLLIN, &PipeReader::onReadable, this) >= 0)
      sd_event_source_set_description(source_, "oneshot-output");
    else
      source_ = nullptr;  // drain() at the end still reads what the pipe holds
  }
  ~PipeReader() { sd_event_source_disable_unref(source_); }
  PipeReader(const PipeReader&) = delete;
  PipeReader& operator=(const PipeReader&) = delete;

  // Reads what is there now, without waiting.
  void drain() {
    char buf[16384];
    while (fd_.get() >= 0) {
      const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN)
          stop();  // EOF or an error: nothing more will come
        return;
      }
      const std::size_t room = cap_ - std::min(cap_, text.size());
      const auto got = static_cast<std::size_t>(n);
      text.append(buf, std::min(room, got));
      truncated = truncated || got > room;
    }
  }

  std::string text;
  bool truncated = false;

 private:
  void stop() {
    source_ = sd_event_source_disable_unref(source_);
    fd_.reset();
  }
  static int onReadable(sd_event_source*, int, std::uint32_t, void* self) {
    static_cast<PipeReader*>(self)->drain();
    return 0;
  }

  Fd fd_;
  std::size_t cap_;
  sd_event_source* source_ = nullptr;
};

// A pipe whose read end (fds[0]) is non-blocking and whose write end blocks; both close-on-exec.
bool readerPipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return false;
  const int flags = ::fcntl(fds[0], F_GETFL);
  if (flags >= 0 && ::fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) == 0)
    return true;
  const int saved = errno;
  ::close(fds[0]);
  ::close(fds[1]);
  errno = saved;
  return false;
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
    // Before the loop runs: the only calls that may wait up to the job timeout.
    unit_ = unit;
    connect(jobTimeout_);
    if (unit_.empty()) {
      disabled_ = "neither ssh.service nor sshd.service is known to systemd";
    } else {
      // The socket and the state are for the evidence: failing to read them leaves them
      // unknown (the next PropertiesChanged reads again), and reloads on.
      try {
        socket_ = findSocket();
      } catch (const sdbus::Error&) {
        socket_.clear();
      }
      watchUnits();
      try {
        readUnitStateNow();
      } catch (const sdbus::Error&) {
        unitState_ = UnitState{};
      }
    }
  } catch (const sdbus::Error& e) {
    disabled_ = "cannot reach systemd on the system bus: " + e.getMessage();
    teardown();
    unit_.clear();
  } catch (const std::exception& e) {
    disabled_ = e.what();
    teardown();
    unit_.clear();
  }
}

SystemdManager::~SystemdManager() {
  for (auto& [job, w] : waiting_)
    sd_event_source_disable_unref(w.timer);
  sd_event_source_disable_unref(rejoinTimer_);
}

void SystemdManager::connect(std::chrono::milliseconds callTimeout) {
  ++generation_;
  bus_ = sdbus::createSystemBusConnection();
  bus_->setMethodCallTimeout(callTimeout);
  manager_ = sdbus::createProxy(*bus_, kDest, kPath);
  manager_->uponSignal("JobRemoved")
      .onInterface(kManager)
      .call([this](std::uint32_t, const sdbus::ObjectPath& job, const std::string&,
                   const std::string& result) { jobRemoved(job, result); });
  manager_->finishRegistration();
  if (unit_.empty())
    unit_ = detect();
  attachment_ = std::make_unique<SdbusEventSource>(
      loop_, *bus_, [this](const std::string& why) { lost(why); }, "systemd");
}

std::string SystemdManager::loadUnit(const std::string& name) {
  sdbus::ObjectPath path;
  manager_->callMethod("LoadUnit").onInterface(kManager).withArguments(name).storeResultsTo(path);
  return path;
}

// The socket unit that starts sshd, asked of systemd: the service's TriggeredBy (Ubuntu 22.10+:
// ssh.socket triggers ssh.service), else NAME.socket when systemd has it loaded (Debian 12's
// ssh.socket has Accept=yes and triggers ssh@.service, so ssh.service does not list it).
std::string SystemdManager::findSocket() {
  auto service = sdbus::createProxy(*bus_, kDest, loadUnit(unit_));
  const auto triggeredBy =
      service->getProperty("TriggeredBy").onInterface(kUnit).get<std::vector<std::string>>();
  for (const auto& t : triggeredBy)
    if (t.size() > 7 && t.compare(t.size() - 7, 7, ".socket") == 0)
      return t;
  const std::string base = unit_.size() > 8 && unit_.compare(unit_.size() - 8, 8, ".service") == 0
                               ? unit_.substr(0, unit_.size() - 8)
                               : unit_;
  try {
    auto socket = sdbus::createProxy(*bus_, kDest, loadUnit(base + ".socket"));
    if (socket->getProperty("LoadState").onInterface(kUnit).get<std::string>() == "loaded")
      return base + ".socket";
  } catch (const sdbus::Error&) {
  }
  return {};
}

// The units' objects, with a match for their PropertiesChanged: systemd sends those (after
// Subscribe) on every change of state, main PID or timestamps.
void SystemdManager::watchUnits() {
  const auto watch = [this](const std::string& name) {
    auto proxy = sdbus::createProxy(*bus_, kDest, loadUnit(name));
    proxy->uponSignal("PropertiesChanged")
        .onInterface(kProperties)
        .call([this](const std::string& iface, const std::map<std::string, sdbus::Variant>&,
                     const std::vector<std::string>&) {
          // Every start, stop and reload changes the Unit interface's ActiveState; the Service
          // interface's signal for the same change would only make PID 1 answer the same
          // GetAll calls again in the middle of the reload job.
          if (iface == kUnit)
            refreshUnitState();
        });
    proxy->finishRegistration();
    return proxy;
  };
  unitProxy_ = watch(unit_);
  if (!socket_.empty())
    socketProxy_ = watch(socket_);
  subscribe();
}

void SystemdManager::teardown() {
  // Proxies before their connection; the attachment first of all.
  attachment_.reset();
  socketProxy_.reset();
  unitProxy_.reset();
  manager_.reset();
  bus_.reset();
  subscribed_ = false;
  reading_ = false;
  readAgain_ = false;
}

void SystemdManager::lost(const std::string& why) {
  // First, so that whatever a waiter does next (a reload after a rollback) learns it.
  disabled_ = "lost the system bus: " + why + "; rejoining";
  std::uint64_t now = 0;
  sd_event_now(loop_, CLOCK_MONOTONIC, &now);
  lostAtUsec_ = now;
  rejoinDelay_ = kRejoinFirst;
  armRejoin(rejoinDelay_);
  // Whatever waits for a job learns it now instead of at its deadline.
  auto waiting = std::move(waiting_);
  waiting_.clear();
  ended_.clear();
  for (auto& [job, w] : waiting) {
    sd_event_source_disable_unref(w.timer);
    w.done(kBusLost);
  }
}

void SystemdManager::armRejoin(std::chrono::milliseconds delay) {
  std::uint64_t now = 0;
  sd_event_now(loop_, CLOCK_MONOTONIC, &now);
  const std::uint64_t at = now + static_cast<std::uint64_t>(delay.count()) * 1000u;
  if (!rejoinTimer_) {
    if (sd_event_add_time(loop_, &rejoinTimer_, CLOCK_MONOTONIC, at, 1000,
                          &SystemdManager::onRejoin, this) >= 0)
      sd_event_source_set_description(rejoinTimer_, "systemd-rejoin");
    return;
  }
  sd_event_source_set_time(rejoinTimer_, at);
  sd_event_source_set_enabled(rejoinTimer_, SD_EVENT_ONESHOT);
}

int SystemdManager::onRejoin(sd_event_source*, std::uint64_t, void* self) {
  static_cast<SystemdManager*>(self)->rejoin();
  return 0;
}

// One attempt: a new connection, systemd asked for the units again (LoadUnit, bounded by
// kRejoinCallTimeout: until PID 1 is back on the new bus it is answered at once with
// ServiceUnknown), the matches and Subscribe again, and the units' state read again.
void SystemdManager::rejoin() {
  teardown();
  std::string why;
  try {
    connect(kRejoinCallTimeout);
    if (!unit_.empty())
      watchUnits();
    else
      subscribe();
    bus_->setMethodCallTimeout(jobTimeout_);
    disabled_ = unit_.empty() ? "neither ssh.service nor sshd.service is known to systemd" : "";
    lostAtUsec_ = 0;
    refreshUnitState();
    if (rejoined_)
      rejoined_();
    return;
  } catch (const sdbus::Error& e) {
    why = errorText(e);
  } catch (const std::exception& e) {
    why = e.what();
  }
  teardown();
  std::uint64_t now = 0;
  sd_event_now(loop_, CLOCK_MONOTONIC, &now);
  const auto giveUpUsec = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(kRejoinGiveUp).count());
  disabled_ = "lost the system bus; rejoining failed: " + why;
  if (now - lostAtUsec_ >= giveUpUsec) {
    if (gaveUp_)
      gaveUp_("systemd: could not rejoin the system bus within " +
              std::to_string(kRejoinGiveUp.count()) + " s: " + why);
    return;
  }
  rejoinDelay_ = std::min(rejoinDelay_ * 2, kRejoinMax);
  armRejoin(rejoinDelay_);
}

namespace {
UnitState::Activity activityOf(const std::string& s) {
  using A = UnitState::Activity;
  static const std::map<std::string, A> kStates{
      {"active", A::kActive},         {"reloading", A::kReloading},
      {"activating", A::kActivating}, {"deactivating", A::kDeactivating},
      {"inactive", A::kInactive},     {"failed", A::kFailed}};
  auto it = kStates.find(s);
  return it == kStates.end() ? A::kUnknown : it->second;
}

using Props = std::map<std::string, sdbus::Variant>;

template <typename T>
T prop(const Props& p, const char* name) {
  auto it = p.find(name);
  if (it == p.end() || !it->second.containsValueOfType<T>())
    return T{};
  return it->second.get<T>();
}
UnitState stateFrom(const std::string& unit, const std::string& socket, const Props& u,
                    const Props& service) {
  UnitProperties p;
  p.active_state = prop<std::string>(u, "ActiveState");
  p.sub_state = prop<std::string>(u, "SubState");
  p.state_change_usec = prop<std::uint64_t>(u, "StateChangeTimestamp");
  p.active_enter_usec = prop<std::uint64_t>(u, "ActiveEnterTimestamp");
  p.exec_main_start_usec = prop<std::uint64_t>(service, "ExecMainStartTimestamp");
  p.main_pid = prop<std::uint32_t>(service, "MainPID");
  // (path, argv, ignore errors, start, start mono, exit, exit mono, pid, code, status): the
  // command that started last ran to the end of the list with success, or the reload failed.
  using ExecStatus =
      sdbus::Struct<std::string, std::vector<std::string>, bool, std::uint64_t, std::uint64_t,
                    std::uint64_t, std::uint64_t, std::uint32_t, std::int32_t, std::int32_t>;
  const auto reload = prop<std::vector<ExecStatus>>(service, "ExecReload");
  std::size_t last = reload.size();
  for (std::size_t i = 0; i < reload.size(); ++i)
    if (std::get<3>(reload[i]) != 0 &&
        (last == reload.size() || std::get<3>(reload[i]) >= std::get<3>(reload[last])))
      last = i;
  if (last < reload.size()) {
    constexpr std::int32_t kExited = 1;  // CLD_EXITED
    const auto& c = reload[last];
    const bool succeeded = std::get<2>(c) || (std::get<8>(c) == kExited && std::get<9>(c) == 0);
    p.last_reload_failed = last + 1 != reload.size() || !succeeded;
  }
  return unitStateFrom(unit, socket, p);
}
}  // namespace

UnitState unitStateFrom(const std::string& unit, const std::string& socket,
                        const UnitProperties& p) {
  UnitState s;
  s.unit = unit;
  s.socket = socket;
  s.activity = activityOf(p.active_state);
  s.detail = p.active_state + " (" + p.sub_state + ")";
  if (s.activity == UnitState::Activity::kInactive || s.activity == UnitState::Activity::kFailed ||
      s.activity == UnitState::Activity::kUnknown)
    return s;
  s.main_pid = p.main_pid;
  // When the running sshd last read its configuration (systemd v252 unit.c, unit_notify()):
  // StateChangeTimestamp is set on every ActiveState change, ActiveEnterTimestamp only on
  // entering active/reloading from an inactive state. So an active unit whose
  // StateChangeTimestamp is later than its ActiveEnterTimestamp came back to active from
  // reloading, and that is when its last reload ended (ExecReload= returned; sshd re-reads on
  // SIGHUP right then, so it is at most a moment early, which errs toward "changed since sshd
  // read it"). Otherwise sshd read it when its main process started: ExecMainStartTimestamp (set
  // when the main process is forked), not the unit's activation, which comes later (after
  // READY=1) and would hide a change made during start-up.
  // A reload whose ExecReload= failed also returns to active: sshd did not read anything then,
  // and the last good reload's time is not known, so only the start counts (erring, again,
  // toward "changed since sshd read it").
  std::uint64_t reloaded = 0;
  if (s.activity == UnitState::Activity::kActive && p.state_change_usec > p.active_enter_usec &&
      !p.last_reload_failed)
    reloaded = p.state_change_usec;
  s.read_config_usec = static_cast<std::int64_t>(std::max(p.exec_main_start_usec, reloaded));
  return s;
}

// The constructor's read, before the loop runs: the state is true from the start.
void SystemdManager::readUnitStateNow() {
  const auto getAll = [](sdbus::IProxy& proxy, const char* iface) {
    Props p;
    proxy.callMethod("GetAll")
        .onInterface(kProperties)
        .withArguments(std::string(iface))
        .storeResultsTo(p);
    return p;
  };
  UnitState s =
      stateFrom(unit_, socket_, getAll(*unitProxy_, kUnit), getAll(*unitProxy_, kService));
  if (socketProxy_)
    s.socket_listening = prop<std::string>(getAll(*socketProxy_, kUnit), "ActiveState") == "active";
  unitState_ = std::move(s);
}

void SystemdManager::refreshUnitState() {
  if (!unitProxy_)
    return;
  if (!waiting_.empty()) {
    // Our own job runs: PID 1 answers one message at a time, so reading now would only slow the
    // reload down. Read once it ended (jobRemoved).
    refreshAfterJob_ = true;
    return;
  }
  if (reading_) {
    readAgain_ = true;
    return;
  }
  reading_ = true;
  readAgain_ = false;
  // Three GetAll calls, one after the other: the service's Unit and Service interfaces, then the
  // socket's Unit. A failed one leaves the state as it was (the next change reads again).
  const std::uint64_t gen = generation_;
  std::weak_ptr<char> alive = alive_;
  auto current = [this, gen, alive] { return !alive.expired() && gen == generation_; };
  auto finish = [this, current](std::optional<UnitState> next) {
    if (!current())
      return;
    reading_ = false;
    if (next)
      unitStateRead(std::move(*next));
    if (readAgain_)
      refreshUnitState();
  };
  auto getAll = [](sdbus::IProxy& proxy, const char* iface,
                   std::function<void(std::optional<Props>)> then) {
    try {
      proxy.callMethodAsync("GetAll")
          .onInterface(kProperties)
          .withArguments(std::string(iface))
          .uponReplyInvoke([then](const sdbus::Error* e, Props p) {
            then(e ? std::nullopt : std::optional<Props>(std::move(p)));
          });
    } catch (const sdbus::Error&) {
      then(std::nullopt);
    }
  };
  getAll(*unitProxy_, kUnit, [=, this](std::optional<Props> unit) {
    if (!current() || !unit)
      return finish(std::nullopt);
    getAll(*unitProxy_, kService, [=, this](std::optional<Props> service) {
      if (!current() || !service)
        return finish(std::nullopt);
      UnitState s = stateFrom(unit_, socket_, *unit, *service);
      if (!socketProxy_)
        return finish(std::move(s));
      getAll(*socketProxy_, kUnit, [=](std::optional<Props> socket) mutable {
        if (!current() || !socket)
          return finish(std::nullopt);
        s.socket_listening = prop<std::string>(*socket, "ActiveState") == "active";
        finish(std::move(s));
      });
    });
  });
}

void SystemdManager::unitStateRead(UnitState next) {
  if (next == unitState_)
    return;
  unitState_ = std::move(next);
  if (unitListener_)
    unitListener_();
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
    if (!unitProxy_)
      return done({"", disabled_});
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
  if (subscribed_ || !manager_)
    return;
  // systemd sends JobRemoved only while some client is subscribed. The bus keeps the order of
  // our messages, so this is in force before the job that follows it is created.
  try {
    manager_->callMethodAsync("Subscribe")
        .onInterface(kManager)
        .uponReplyInvoke([](const sdbus::Error*) {});
    subscribed_ = true;
  } catch (const sdbus::Error&) {
    // The bus is gone: a rejoin subscribes again.
  }
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
  if (refreshAfterJob_ && waiting_.empty()) {
    refreshAfterJob_ = false;
    refreshUnitState();
  }
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
  if (me->refreshAfterJob_ && me->waiting_.empty()) {
    me->refreshAfterJob_ = false;
    me->refreshUnitState();
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
    if (!manager_)
      return d({"", disabled_});
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
  if (result == kBusLost) {
    o.detail = "lost the system bus while waiting for job " + job.first +
               ": whether sshd reloaded is unknown";
    co_return o;
  }
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

void SystemdManager::runPrivsepCheck(const std::vector<std::string>& argv, const std::string& dir,
                                     std::chrono::milliseconds timeout, Done<OneshotResult> done) {
  OneshotSpec spec;
  spec.prefix = "keepalive-policyd-privsep";
  spec.description = "keepalive-policyd: sshd check with a private " + dir;
  spec.argv = argv;
  spec.timeout = timeout;
  spec.privsep_dir = dir;
  spec.output_cap = kPrivsepOutputCap;
  runOneshot(spec, std::move(done));
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
  const bool privsep = !spec.privsep_dir.empty();
  std::string privsepParent;
  if (privsep) {
    // An absolute directory below a directory other than / (missingPrivsepDir's rule).
    const auto slash = spec.privsep_dir.rfind('/');
    if (spec.privsep_dir[0] != '/' || slash == 0 || slash + 1 == spec.privsep_dir.size() ||
        spec.privsep_dir.find("/..") != std::string::npos) {
      r.detail = "no private \"" + spec.privsep_dir + "\": not a directory below /";
      done(std::move(r));
      co_return;
    }
    privsepParent = spec.privsep_dir.substr(0, slash);
  }
  // stdout, and stderr (the probe: the same pipe, its one line). Only our read end is
  // non-blocking: a unit that writes faster than we read must wait in write(), not get EAGAIN
  // (stdio then drops the rest and sshd -T would still exit 0 with a cut dump).
  int p[2];
  if (!readerPipe(p)) {
    r.detail = std::string("cannot create a pipe: ") + std::strerror(errno);
    done(std::move(r));
    co_return;
  }
  Fd outWrite(p[1]);
  PipeReader out(loop_, p[0], spec.output_cap);
  Fd errWrite;
  std::optional<PipeReader> err;
  if (privsep) {
    int q[2];
    if (!readerPipe(q)) {
      r.detail = std::string("cannot create a pipe: ") + std::strerror(errno);
      done(std::move(r));
      co_return;
    }
    errWrite.reset(q[1]);
    err.emplace(loop_, q[0], spec.output_cap);
  }
  const int errFd = privsep ? errWrite.get() : outWrite.get();
  using Prop = sdbus::Struct<std::string, sdbus::Variant>;
  using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;
  using IpPrefix = sdbus::Struct<std::int32_t, std::vector<std::uint8_t>, std::uint32_t>;
  using NameList = sdbus::Struct<bool, std::vector<std::string>>;
  using PathOptions = sdbus::Struct<std::string, std::string>;
  const std::uint64_t timeoutUsec = static_cast<std::uint64_t>(spec.timeout.count()) * 1000u;
  subscribe();
  // What both kinds share: a oneshot with its output in our pipes, gone once it ends, and a
  // sandbox with no capabilities, nothing writable but its own /tmp, and no homes.
  std::vector<Prop> props{
      {"Description", sdbus::Variant(spec.description)},
      {"Type", sdbus::Variant(std::string("oneshot"))},
      // Gone once it ends, failed or not: nothing piles up, one unit per run.
      {"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))},
      // A oneshot is "activating" while it runs, so the start timeout is what bounds it
      // (RuntimeMaxSec= does not apply to Type=oneshot); systemd kills it then.
      {"TimeoutStartUSec", sdbus::Variant(timeoutUsec)},
      {"StandardInput", sdbus::Variant(std::string("null"))},
      {"StandardOutputFileDescriptor", sdbus::Variant(sdbus::UnixFd(outWrite.get()))},
      {"StandardErrorFileDescriptor", sdbus::Variant(sdbus::UnixFd(errFd))},
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
      {"SystemCallArchitectures", sdbus::Variant(std::vector<std::string>{"native"})},
      {"SystemCallFilter", sdbus::Variant(NameList{true, {"@system-service"}})},
      {"SystemCallErrorNumber", sdbus::Variant(std::int32_t{EPERM})},
  };
  if (privsep) {
    // Root (no DynamicUser=): sshd reads root's 0600 host keys as their owner, which needs no
    // capability. The tmpfs is the unit's alone: nothing is created on the host, and sshd's
    // own unit, started meanwhile, gets its real /run/sshd as usual.
    std::vector<std::string> argv{"/bin/sh", "-c", R"(mkdir -m 0755 -- "$1" && shift && exec "$@")",
                                  "sh", spec.privsep_dir};
    argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
    props.push_back(
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{{"/bin/sh", argv, false}})});
    props.push_back({"TemporaryFileSystem",
                     sdbus::Variant(std::vector<PathOptions>{{privsepParent, "mode=0755"}})});
    props.push_back({"PrivateNetwork", sdbus::Variant(true)});
    props.push_back({"RestrictAddressFamilies", sdbus::Variant(NameList{true, {"AF_UNIX"}})});
    props.push_back({"CapabilityBoundingSet", sdbus::Variant(std::uint64_t{0})});
  } else {
    // The listen check: root with CAP_SYS_PTRACE alone, which reading the fds of sshd (a root
    // process with every capability) needs; in the host's network namespace (no
    // PrivateNetwork=) but with no IP traffic at all: netlink for sock_diag, AF_UNIX for the
    // journal, IPAddressDeny=any.
    const std::vector<IpPrefix> deny{{AF_INET, std::vector<std::uint8_t>(4, 0), 0u},
                                     {AF_INET6, std::vector<std::uint8_t>(16, 0), 0u}};
    props.push_back(
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{{spec.argv[0], spec.argv, false}})});
    props.push_back({"CapabilityBoundingSet", sdbus::Variant(std::uint64_t{1} << CAP_SYS_PTRACE)});
    props.push_back(
        {"RestrictAddressFamilies", sdbus::Variant(NameList{true, {"AF_NETLINK", "AF_UNIX"}})});
    props.push_back({"IPAddressDeny", sdbus::Variant(deny)});
  }
  using JobReply = std::pair<std::string, std::string>;  // job path, error
  auto startCall = callback<JobReply>([&](Done<JobReply> d) {
    if (!manager_)
      return d({"", disabled_});
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
  // systemd holds its own copies: ours would only keep the pipes open.
  outWrite.reset();
  errWrite.reset();
  if (!job.second.empty()) {
    r.detail = job.second;
    done(std::move(r));
    co_return;
  }
  r.result = co_await jobResult(job.first, spec.timeout + std::chrono::milliseconds(1000));
  if (r.result == kBusLost) {
    r.result.clear();
    r.detail = std::string("lost the system bus while waiting for job ") + job.first;
    done(std::move(r));
    co_return;
  }
  if (r.result.empty()) {
    r.detail = "no result for job " + job.first + " within " +
               std::to_string(spec.timeout.count() + 1000) + " ms";
    try {
      if (manager_)
        manager_->callMethodAsync("StopUnit")
            .onInterface(kManager)
            .withArguments(r.unit, std::string("replace"))
            .uponReplyInvoke([](const sdbus::Error*, sdbus::ObjectPath) {
              // Already gone: nothing to stop.
            });
    } catch (const sdbus::Error&) {
      // The bus is gone: systemd's own timeout stops it.
    }
    done(std::move(r));
    co_return;
  }
  r.ran = true;
  // The process has exited (its start job ended), so all it wrote is in the pipes; systemd may
  // hold the write ends until it collects the unit, so read what is there instead of to EOF.
  out.drain();
  r.output = std::move(out.text);
  r.truncated = out.truncated;
  if (err) {
    err->drain();
    r.errors = std::move(err->text);
    r.truncated = r.truncated || err->truncated;
  }
  done(std::move(r));
}

}  // namespace keepalive::daemon
