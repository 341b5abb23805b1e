#include "dbus_service.h"

#include "keepalive/escape.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>

#include <sdbus-c++/sdbus-c++.h>

#include "keepalive_manager_adaptor.h"

namespace keepalive::daemon {
namespace {

const char* const kErrAccessDenied = "org.keepalivepolicy1.Error.AccessDenied";
const char* const kErrInvalidArgument = "org.keepalivepolicy1.Error.InvalidArgument";
const char* const kErrLimitExceeded = "org.keepalivepolicy1.Error.LimitExceeded";
const char* const kErrFailed = "org.keepalivepolicy1.Error.Failed";
const std::string kOurErrors = "org.keepalivepolicy1.Error.";

// A filter is a keyword or a user name: anything longer is not a filter but an attempt to make
// the daemon copy and echo a large string.
constexpr std::size_t kMaxFilterBytes = 512;
// Unique names are never reused on a bus, so a sender's uid can be cached; the caches are
// dropped whole when they grow past this, which costs one credentials lookup per sender.
constexpr std::size_t kMaxCachedCallers = 4096;

using UserRecord = sdbus::Struct<std::string, std::uint32_t, std::string, std::string,
                                 std::uint64_t, std::uint32_t, std::uint32_t>;
using EffectiveMap = std::map<std::string, sdbus::Struct<std::string, std::string>>;
using CheckResult = sdbus::Result<std::vector<std::string>, bool>;
using ReloadResult = sdbus::Result<std::uint64_t, std::string>;
using ListUsersResult = sdbus::Result<std::vector<UserRecord>, std::uint32_t, bool>;

// Whose per-user data a caller may see: every user's (root) or one uid's.
struct Audience {
  std::optional<std::uint32_t> onlyUid;  // none: root
  bool sees(std::uint32_t uid) const { return !onlyUid || *onlyUid == uid; }
  bool restricted() const { return onlyUid.has_value(); }
};

std::vector<std::string> safeList(std::vector<std::string> v) {
  for (auto& s : v)
    s = busSafe(std::move(s));
  return v;
}

std::map<std::string, EffectiveSetting> safeMap(const std::map<std::string, EffectiveSetting>& m) {
  std::map<std::string, EffectiveSetting> out;
  for (const auto& [k, v] : m)
    out.emplace(busSafe(k), EffectiveSetting{busSafe(v.value), busSafe(v.source)});
  return out;
}

StatusSnapshot safeSnapshot(const StatusSnapshot& s) {
  StatusSnapshot o = s;
  o.state = busSafe(s.state);
  o.state_reason = busSafe(s.state_reason);
  o.version = busSafe(s.version);
  o.policy_files = safeList(s.policy_files);
  o.policy_digest = busSafe(s.policy_digest);
  o.last_apply_result = busSafe(s.last_apply_result);
  o.last_error = busSafe(s.last_error);
  o.sshd_unit = busSafe(s.sshd_unit);
  o.drop_ins = safeList(s.drop_ins);
  o.effective_server = safeMap(s.effective_server);
  o.effective_client = safeMap(s.effective_client);
  o.shadowed = safeList(s.shadowed);
  return o;
}

EffectiveMap toBus(const std::map<std::string, EffectiveSetting>& m) {
  EffectiveMap out;
  for (const auto& [k, v] : m)
    out.emplace(k, sdbus::Struct<std::string, std::string>(v.value, v.source));
  return out;
}

// Bytes a record takes in the reply: the struct's 8-byte alignment, three strings (length,
// bytes, NUL), the integers, and padding.
std::size_t recordBytes(const UserRow& r) {
  return 8 + 3 * 5 + r.name.size() + r.home.size() + r.state.size() + 4 + 8 + 4 + 4 + 8;
}

std::uint64_t monotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

std::string busSafe(std::string s) {
  return keepalive::escape(s, {keepalive::kEscapeBusMax});
}

bool isNonCompliant(const std::string& userState) {
  return userState != "ok" && userState != "repaired" && userState != "unwatched";
}

namespace detail {

// The exported object. sdbus-c++ (1.2) turns only sdbus::Error thrown by a method into a D-Bus
// error; anything else would unwind through sd-bus's C frames. So every method catches all and
// answers with one of our named errors, never org.sdbuscpp.Error.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::keepalivepolicy1::Manager_adaptor> {
 public:
  ManagerObject(sdbus::IConnection& bus, DbusServiceImpl& impl)
      : AdaptorInterfaces(bus, kObjectPath), impl_(impl) {
    registerAdaptor();
  }
  ~ManagerObject() { unregisterAdaptor(); }

  // The effective uid of the caller's bus connection, as dbus-daemon recorded it when the caller
  // connected (SO_PEERCRED). getCredsEuid asks the bus for it (GetConnectionCredentials'
  // UnixUserID); getCredsUid would not: the bus gives no real uid, so sd-bus reads
  // /proc/PID/status at call time, which a caller can change after connecting, or race.
  uid_t callerEuid() {
    const sdbus::Message* m = getObject().getCurrentlyProcessedMessage();
    if (!m)
      throw sdbus::Error(kErrAccessDenied, "cannot tell who is calling");
    try {
      return m->getCredsEuid();
    } catch (const sdbus::Error& e) {
      throw sdbus::Error(kErrAccessDenied,
                         "cannot tell who is calling: " + busSafe(e.getMessage()));
    }
  }
  void propertiesChanged(const std::vector<std::string>& names) {
    getObject().emitPropertiesChangedSignal(INTERFACE_NAME, names);
  }
  std::string callerName() {
    const sdbus::Message* m = getObject().getCurrentlyProcessedMessage();
    return m ? m->getSender() : std::string();
  }

 private:
  void Reload(ReloadResult&& result) override;
  void Check(CheckResult&& result) override;
  void ListUsers(ListUsersResult&& result, std::string filter) override;

  struct UserFilter {
    enum Kind { kAll, kNonCompliant, kUser } kind = kAll;
    std::string name;
  };
  std::pair<std::vector<UserRecord>, std::uint32_t> listUsers(const UserFilter& f,
                                                              const Audience& a) const;
  std::vector<std::string> boundFindings(std::vector<Finding> findings, const Audience& a) const;

  const StatusSnapshot& s() const;
  std::string State() override { return s().state; }
  std::string StateReason() override { return s().state_reason; }
  std::string Version() override { return s().version; }
  std::vector<std::string> PolicyFiles() override { return s().policy_files; }
  std::string PolicyDigest() override { return s().policy_digest; }
  std::uint64_t Generation() override { return s().generation; }
  std::uint64_t LastApplyTime() override { return s().last_apply_time; }
  std::string LastApplyResult() override { return s().last_apply_result; }
  std::string LastError() override { return s().last_error; }
  std::string SshdUnit() override { return s().sshd_unit; }
  std::vector<std::string> DropIns() override { return s().drop_ins; }
  EffectiveMap EffectiveServer() override { return toBus(s().effective_server); }
  EffectiveMap EffectiveClient() override { return toBus(s().effective_client); }
  std::vector<std::string> Shadowed() override { return s().shadowed; }
  std::uint32_t UsersCovered() override { return s().users_covered; }
  std::uint32_t UsersNonCompliant() override { return s().users_noncompliant; }
  std::uint32_t UsersUnwatched() override { return s().users_unwatched; }
  std::uint64_t RepairsTotal() override { return s().repairs_total; }
  std::uint64_t RefusalsTotal() override { return s().refusals_total; }
  std::uint64_t ReloadsTotal() override { return s().reloads_total; }
  std::uint64_t RollbacksTotal() override { return s().rollbacks_total; }
  std::uint32_t WatchesUsed() override { return s().watches_used; }

  DbusServiceImpl& impl_;
};

class DbusServiceImpl {
 public:
  DbusServiceImpl(sd_event* loop, DbusHandlers handlers, const StatusSnapshot& initial,
                  DbusLimits limits)
      : loop_(sd_event_ref(loop)),
        handlers_(std::move(handlers)),
        limits_(limits),
        snapshot_(safeSnapshot(initial)) {
    try {
      bus_ = sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& e) {
      throw DbusServiceError("dbus: system bus: cannot connect: " + e.getMessage());
    }
    try {
      object_ = std::make_unique<ManagerObject>(*bus_, *this);
    } catch (const sdbus::Error& e) {
      throw DbusServiceError(std::string("dbus: ") + kObjectPath +
                             ": cannot export the object: " + e.getMessage());
    }
    // The object exists before the name does, so no call by name can find it missing.
    try {
      bus_->requestName(kBusName);
    } catch (const sdbus::Error& e) {
      std::string why = e.getName() + ": " + e.getMessage();
      if (e.getName() == "org.freedesktop.DBus.Error.FileExists")
        why = "another process owns it (is keepalive-policyd already running?)";
      else if (e.getName() == "org.freedesktop.DBus.Error.AccessDenied")
        why =
            "the bus policy does not let this process own it (not root, or "
            "org.keepalivepolicy1.conf not installed in /usr/share/dbus-1/system.d and the bus "
            "not reloaded): " +
            e.getMessage();
      throw DbusServiceError(std::string("dbus: ") + kBusName + ": cannot own the name: " + why);
    }
    attach();
  }

  ~DbusServiceImpl() {
    if (connected_)
      failQueued("keepalive-policyd is stopping");
  }

  void publish(const StatusSnapshot& next) {
    StatusSnapshot n = safeSnapshot(next);
    n.version = snapshot_.version;  // a const property: clients may cache it forever
    std::vector<std::string> changed;
    auto note = [&](bool differs, const char* name) {
      if (differs)
        changed.emplace_back(name);
    };
    const StatusSnapshot& o = snapshot_;
    note(n.state != o.state, "State");
    note(n.state_reason != o.state_reason, "StateReason");
    note(n.policy_files != o.policy_files, "PolicyFiles");
    note(n.policy_digest != o.policy_digest, "PolicyDigest");
    note(n.generation != o.generation, "Generation");
    note(n.last_apply_time != o.last_apply_time, "LastApplyTime");
    note(n.last_apply_result != o.last_apply_result, "LastApplyResult");
    note(n.last_error != o.last_error, "LastError");
    note(n.sshd_unit != o.sshd_unit, "SshdUnit");
    note(n.drop_ins != o.drop_ins, "DropIns");
    note(n.effective_server != o.effective_server, "EffectiveServer");
    note(n.effective_client != o.effective_client, "EffectiveClient");
    note(n.shadowed != o.shadowed, "Shadowed");
    note(n.users_covered != o.users_covered, "UsersCovered");
    note(n.users_noncompliant != o.users_noncompliant, "UsersNonCompliant");
    note(n.users_unwatched != o.users_unwatched, "UsersUnwatched");
    note(n.repairs_total != o.repairs_total, "RepairsTotal");
    note(n.refusals_total != o.refusals_total, "RefusalsTotal");
    note(n.reloads_total != o.reloads_total, "ReloadsTotal");
    note(n.rollbacks_total != o.rollbacks_total, "RollbacksTotal");
    note(n.watches_used != o.watches_used, "WatchesUsed");
    snapshot_ = std::move(n);
    if (changed.empty() || !connected_)
      return;
    try {
      // sd-bus reads the new values through the getters into one signal.
      object_->propertiesChanged(changed);
    } catch (const sdbus::Error& e) {
      warn("dbus: PropertiesChanged: " + e.getMessage() + ", ignoring");
    }
  }

  template <typename Emit>
  void emit(const char* name, Emit&& f) {
    if (!connected_)
      return;
    try {
      f();
    } catch (const sdbus::Error& e) {
      warn(std::string("dbus: ") + name + ": " + e.getMessage() + ", ignoring");
    }
  }

  void warn(const std::string& m) {
    if (handlers_.warn)
      handlers_.warn(m);
  }

  // A queued Check or ListUsers: run computes and replies, fail replies with an error.
  struct Pending {
    std::function<void()> run;
    std::function<void(const sdbus::Error&)> fail;
  };

  // The uid of the caller of the message being processed; unique names are never reused on a
  // bus, so it is looked up once per connection.
  uid_t callerUid(const char* method) {
    const std::string sender = object_->callerName();
    auto it = uidBySender_.find(sender);
    if (it != uidBySender_.end())
      return it->second;
    uid_t uid;
    try {
      uid = object_->callerEuid();
    } catch (const sdbus::Error& e) {
      throw sdbus::Error(kErrFailed, std::string(method) + ": " + e.getMessage());
    }
    if (uidBySender_.size() >= kMaxCachedCallers)
      uidBySender_.clear();
    uidBySender_.emplace(sender, uid);
    return uid;
  }

  // Whose users the caller of the message being processed may see: all for a bus-recorded euid
  // of 0, else its own uid's. A failed lookup throws: it never counts as root.
  Audience audience(const char* method) {
    const uid_t uid = callerUid(method);
    return uid == 0 ? Audience{} : Audience{static_cast<std::uint32_t>(uid)};
  }

  // Queues a call of the message being processed, or throws LimitExceeded.
  void enqueue(const char* method, Pending p) {
    const uid_t uid = callerUid(method);
    const Budget& b = budget(uid);
    auto limit = [&](const std::string& why) {
      return sdbus::Error(kErrLimitExceeded,
                          std::string(method) + ": uid " + std::to_string(uid) + " " + why);
    };
    if (b.usec <= 0) {
      const auto wait = -b.usec * 1000 / std::max<std::int64_t>(1, limits_.per_second.count());
      throw limit("has used its share of keepalive-policyd's time for Check and ListUsers (" +
                  std::to_string(limits_.burst.count() / 1000) + " ms at once, " +
                  std::to_string(limits_.per_second.count() / 1000) +
                  " ms a second); try again in " + std::to_string(wait + 1) + " ms");
    }
    auto& q = queued_[uid];
    if (q.size() >= limits_.max_queued)
      throw limit("has " + std::to_string(q.size()) +
                  " Check and ListUsers calls waiting already; try again when they are answered");
    if (q.empty())
      turns_.push_back(uid);
    q.push_back(std::move(p));
    sd_event_source_set_enabled(work_.get(), SD_EVENT_ON);
  }

  // One queued call per turn of the loop, the next uid's; charged to it.
  static int onWork(sd_event_source*, void* self) {
    static_cast<DbusServiceImpl*>(self)->serveOne();
    return 0;
  }
  void serveOne() {
    if (turns_.empty()) {
      sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
      return;
    }
    const uid_t uid = turns_.front();
    turns_.pop_front();
    auto q = queued_.find(uid);
    Pending p = std::move(q->second.front());
    q->second.pop_front();
    if (q->second.empty())
      queued_.erase(q);
    else
      turns_.push_back(uid);
    if (turns_.empty())
      sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
    const std::uint64_t start = monotonicUsec();
    p.run();
    budget(uid).usec -= static_cast<std::int64_t>(monotonicUsec() - start);
  }

  // Answers every queued call with an error (the service stops, or the bus is gone).
  void failQueued(const std::string& why) {
    auto queued = std::move(queued_);
    queued_.clear();
    turns_.clear();
    for (auto& [uid, q] : queued)
      for (auto& p : q) {
        try {
          p.fail(sdbus::Error(kErrFailed, why));
        } catch (const sdbus::Error& e) {
          warn("dbus: cannot answer a queued call: " + e.getMessage() + ", ignoring");
        }
      }
  }

  struct Budget {
    std::int64_t usec;
    std::uint64_t at_usec;
  };

  // The uid's budget, refilled for the time since it was last looked at.
  Budget& budget(uid_t uid) {
    const std::uint64_t now = monotonicUsec();
    if (budgets_.size() >= kMaxCachedCallers && !budgets_.count(uid))
      budgets_.clear();
    auto [b, fresh] = budgets_.try_emplace(uid, Budget{limits_.burst.count(), now});
    if (!fresh) {
      const auto refill = static_cast<std::int64_t>(double(now - b->second.at_usec) *
                                                    double(limits_.per_second.count()) / 1e6);
      b->second.usec = std::min<std::int64_t>(limits_.burst.count(), b->second.usec + refill);
      b->second.at_usec = now;
    }
    return b->second;
  }

  // Runs a method body; whatever it throws leaves as one of our errors.
  template <typename F>
  auto guarded(const char* method, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const sdbus::Error& e) {
      if (e.getName().compare(0, kOurErrors.size(), kOurErrors) == 0)
        throw;
      throw sdbus::Error(kErrFailed, std::string(method) + ": " + busSafe(e.getMessage()));
    } catch (const std::exception& e) {
      throw sdbus::Error(kErrFailed, std::string(method) + ": " + busSafe(e.what()));
    } catch (...) {
      throw sdbus::Error(kErrFailed, std::string(method) + ": internal error");
    }
  }

  // The same for a method that replies through its Result, now or later.
  template <typename Result, typename F>
  void answer(const Result& result, const char* method, F&& f) {
    try {
      guarded(method, std::forward<F>(f));
    } catch (const sdbus::Error& e) {
      try {
        result.returnError(e);
      } catch (const sdbus::Error& e2) {
        warn(std::string("dbus: ") + method + ": cannot reply: " + e2.getMessage() + ", ignoring");
      }
    }
  }

  void attach() {
    sdbus::IConnection::PollData pd;
    try {
      pd = bus_->getEventLoopPollData();
    } catch (const sdbus::Error& e) {
      throw DbusServiceError("dbus: system bus: " + e.getMessage());
    }
    sd_event_source* io = nullptr;
    sd_event_source* timer = nullptr;
    int r = sd_event_add_io(loop_.get(), &io, pd.fd, static_cast<std::uint32_t>(pd.events),
                            &DbusServiceImpl::onIo, this);
    io_.reset(io);
    if (r >= 0)
      r = sd_event_source_set_prepare(io, &DbusServiceImpl::onPrepare);
    // Accuracy 1 us: sd-event's default (250 ms) would let a message sd-bus already read (its
    // timeout is then "now") wait for the next wake-up of anything else.
    if (r >= 0) {
      r = sd_event_add_time(loop_.get(), &timer, CLOCK_MONOTONIC, 0, 1, &DbusServiceImpl::onTimer,
                            this);
      timer_.reset(timer);
    }
    if (r >= 0)
      r = sd_event_source_set_enabled(timer, SD_EVENT_OFF);
    // The daemon's own events and the cheap calls (property reads) come before queued work.
    if (r >= 0) {
      sd_event_source* work = nullptr;
      r = sd_event_add_defer(loop_.get(), &work, &DbusServiceImpl::onWork, this);
      work_.reset(work);
    }
    if (r >= 0)
      r = sd_event_source_set_priority(work_.get(), SD_EVENT_PRIORITY_IDLE);
    if (r >= 0)
      r = sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
    if (r >= 0) {
      sd_event_source_set_description(io, "dbus-io");
      sd_event_source_set_description(timer, "dbus-timeout");
      sd_event_source_set_description(work_.get(), "dbus-work");
    }
    if (r < 0)
      throw DbusServiceError(std::string("dbus: sd-event: cannot attach the bus: ") +
                             std::strerror(-r));
  }

  // Before every poll: what sd-bus waits for now (POLLOUT only while it has queued output) and
  // when it must run again (0 = it holds read messages: at once).
  static int onPrepare(sd_event_source*, void* self) {
    auto* me = static_cast<DbusServiceImpl*>(self);
    if (!me->connected_)
      return 0;
    try {
      const auto pd = me->bus_->getEventLoopPollData();
      sd_event_source_set_io_events(me->io_.get(), static_cast<std::uint32_t>(pd.events));
      if (pd.timeout_usec == UINT64_MAX) {
        sd_event_source_set_enabled(me->timer_.get(), SD_EVENT_OFF);
      } else {
        sd_event_source_set_time(me->timer_.get(), pd.timeout_usec);
        sd_event_source_set_enabled(me->timer_.get(), SD_EVENT_ONESHOT);
      }
    } catch (const sdbus::Error& e) {
      me->lose(e.getMessage());
    }
    return 0;
  }
  static int onIo(sd_event_source*, int, std::uint32_t, void* self) {
    static_cast<DbusServiceImpl*>(self)->process();
    return 0;
  }
  static int onTimer(sd_event_source*, std::uint64_t, void* self) {
    static_cast<DbusServiceImpl*>(self)->process();
    return 0;
  }

  // One message per wake-up, so that signals, inotify and the watchdog get their turn between
  // the messages of a burst.
  void process() {
    if (!connected_)
      return;
    try {
      bus_->processPendingRequest();
    } catch (const sdbus::Error& e) {
      lose(e.getMessage());
    }
  }

  void lose(const std::string& why) {
    if (!connected_)
      return;
    connected_ = false;
    sd_event_source_set_enabled(io_.get(), SD_EVENT_OFF);
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    queued_.clear();  // nobody to answer
    turns_.clear();
    sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
    if (handlers_.lost)
      handlers_.lost("dbus: system bus: connection lost: " + why);
  }

  struct LoopUnref {
    void operator()(sd_event* e) const { sd_event_unref(e); }
  };
  struct SourceUnref {
    void operator()(sd_event_source* s) const { sd_event_source_disable_unref(s); }
  };

  // Destroyed bottom up, also when the constructor throws: off the loop first, then the object
  // unregistered, then the connection closed (sd_bus_flush_close_unref: what is queued, a last
  // PropertiesChanged say, still goes out), then our reference to the loop.
  std::unique_ptr<sd_event, LoopUnref> loop_;
  DbusHandlers handlers_;
  DbusLimits limits_;
  StatusSnapshot snapshot_;
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<ManagerObject> object_;
  std::unique_ptr<sd_event_source, SourceUnref> io_;
  std::unique_ptr<sd_event_source, SourceUnref> timer_;
  std::unique_ptr<sd_event_source, SourceUnref> work_;
  bool connected_ = true;
  std::unordered_map<std::string, uid_t> uidBySender_;
  std::unordered_map<uid_t, Budget> budgets_;
  std::unordered_map<uid_t, std::deque<Pending>> queued_;
  std::deque<uid_t> turns_;  // uids with calls queued, in the order they are served
};
const StatusSnapshot& ManagerObject::s() const {
  return impl_.snapshot_;
}

void ManagerObject::Reload(ReloadResult&& result) {
  auto r = std::make_shared<ReloadResult>(std::move(result));
  impl_.answer(*r, "Reload", [&] {
    // The bus policy and sd-bus's check of the privileged method come first; this holds even
    // where those were loosened.
    const uid_t euid = callerEuid();
    if (euid != 0)
      throw sdbus::Error(kErrAccessDenied,
                         "Reload: only root may reload the policy (the caller's "
                         "bus connection runs as uid " +
                             std::to_string(euid) + ")");
    if (!impl_.handlers_.reload)
      throw sdbus::Error(kErrFailed, "Reload: not available");
    // Answered when the run ends; the loop serves everything else meanwhile.
    impl_.handlers_.reload([this, r](std::uint64_t generation, std::string res) {
      impl_.answer(*r, "Reload", [&] { r->returnResults(generation, busSafe(std::move(res))); });
    });
  });
}

void ManagerObject::Check(CheckResult&& result) {
  auto r = std::make_shared<CheckResult>(std::move(result));
  impl_.answer(*r, "Check", [&] {
    const Audience a = impl_.audience("Check");
    impl_.enqueue(
        "Check", {[this, r, a] {
                    impl_.answer(*r, "Check", [&] {
                      if (!impl_.handlers_.check)
                        throw sdbus::Error(kErrFailed, "Check: not available");
                      impl_.handlers_.check(a.onlyUid, [this, r, a](std::vector<Finding> findings) {
                        impl_.answer(*r, "Check", [&] {
                          r->returnResults(boundFindings(std::move(findings), a), a.restricted());
                        });
                      });
                    });
                  },
                  [r](const sdbus::Error& e) { r->returnError(e); }});
  });
}

// Another user's findings are dropped here, whatever the handler looked at. A finding per user
// can make a long list on a big host: it stays one bus message.
std::vector<std::string> ManagerObject::boundFindings(std::vector<Finding> findings,
                                                      const Audience& a) const {
  std::vector<std::string> out;
  std::size_t bytes = 0, more = 0;
  for (auto& f : findings) {
    if (f.uid && !a.sees(*f.uid))
      continue;
    if (more) {
      ++more;
      continue;
    }
    std::string text = busSafe(std::move(f.text));
    bytes += text.size() + 5;
    if (bytes > impl_.limits_.max_reply_bytes) {
      more = 1;
      continue;
    }
    out.push_back(std::move(text));
  }
  if (more)
    out.push_back("... and " + std::to_string(more) + " more findings");
  return out;
}

void ManagerObject::ListUsers(ListUsersResult&& result, std::string filter) {
  auto r = std::make_shared<ListUsersResult>(std::move(result));
  impl_.answer(*r, "ListUsers", [&] {
    // A bad filter is answered at once: it costs nothing.
    if (filter.size() > kMaxFilterBytes)
      throw sdbus::Error(kErrInvalidArgument, "ListUsers: the filter is " +
                                                  std::to_string(filter.size()) +
                                                  " bytes long; a filter is '', 'noncompliant' "
                                                  "or 'user:NAME'");
    UserFilter f;
    if (filter.empty() || filter == "all") {
      f.kind = UserFilter::kAll;
    } else if (filter == "noncompliant") {
      f.kind = UserFilter::kNonCompliant;
    } else if (filter.rfind("user:", 0) == 0 && filter.size() > 5) {
      f.kind = UserFilter::kUser;
      f.name = filter.substr(5);
    } else {
      throw sdbus::Error(kErrInvalidArgument, "ListUsers: unknown filter '" + filter +
                                                  "'; a filter is '', 'noncompliant' or "
                                                  "'user:NAME'");
    }
    const Audience a = impl_.audience("ListUsers");
    impl_.enqueue("ListUsers", {[this, r, f, a] {
                                  impl_.answer(*r, "ListUsers", [&] {
                                    auto [users, matched] = listUsers(f, a);
                                    r->returnResults(users, matched, a.restricted());
                                  });
                                },
                                [r](const sdbus::Error& e) { r->returnError(e); }});
  });
}

// A caller that is not root gets the records of its own uid only: a name it gives selects among
// those, so naming another user matches nothing, and matched counts nothing it may not see.
std::pair<std::vector<UserRecord>, std::uint32_t> ManagerObject::listUsers(
    const UserFilter& f, const Audience& a) const {
  if (!impl_.handlers_.users)
    throw sdbus::Error(kErrFailed, "ListUsers: not available");
  std::vector<UserRow> rows = impl_.handlers_.users();
  std::vector<UserRecord> out;
  if (f.kind == UserFilter::kAll && !a.restricted())
    out.reserve(rows.size());
  std::uint32_t matched = 0;
  std::size_t bytes = 0;
  bool full = false;
  for (auto& r : rows) {
    if (!a.sees(r.uid))
      continue;
    if (f.kind == UserFilter::kNonCompliant && !isNonCompliant(r.state))
      continue;
    if (f.kind == UserFilter::kUser && r.name != f.name)
      continue;
    ++matched;
    if (full)
      continue;
    r.name = busSafe(std::move(r.name));
    r.home = busSafe(std::move(r.home));
    r.state = busSafe(std::move(r.state));
    bytes += recordBytes(r);
    if (bytes > impl_.limits_.max_reply_bytes) {
      // The rest is counted, not sent: matched tells the caller the list was cut.
      full = true;
      continue;
    }
    out.emplace_back(std::move(r.name), r.uid, std::move(r.home), std::move(r.state), r.last_change,
                     r.repairs, r.refusals);
  }
  return {std::move(out), matched};
}

}  // namespace detail

DbusService::DbusService(sd_event* loop, DbusHandlers handlers, const StatusSnapshot& initial,
                         DbusLimits limits)
    : impl_(std::make_unique<detail::DbusServiceImpl>(loop, std::move(handlers), initial, limits)) {
}

DbusService::~DbusService() = default;

void DbusService::publish(const StatusSnapshot& s) {
  impl_->publish(s);
}

const StatusSnapshot& DbusService::snapshot() const {
  return impl_->snapshot_;
}

void DbusService::emitApplied(std::uint64_t generation, const std::string& result) {
  impl_->emit("Applied", [&] { impl_->object_->emitApplied(generation, busSafe(result)); });
}

void DbusService::emitRepaired(const std::string& user, const std::string& path,
                               const std::string& what) {
  impl_->emit("Repaired",
              [&] { impl_->object_->emitRepaired(busSafe(user), busSafe(path), busSafe(what)); });
}

void DbusService::emitDrift(const std::string& path, const std::string& what) {
  impl_->emit("Drift", [&] { impl_->object_->emitDrift(busSafe(path), busSafe(what)); });
}

}  // namespace keepalive::daemon
