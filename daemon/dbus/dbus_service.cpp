// SPDX-License-Identifier: GPL-2.0-or-later
#include "dbus_service.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>

#include <sdbus-c++/sdbus-c++.h>

#include "adapters/sdbus_event.h"
#include "caller_queue.h"
#include "manager_object.h"

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
// Unique names are never reused on a bus, so a sender's uid can be cached; the cache is dropped
// whole when it grows past this, which costs one credentials lookup per sender.
constexpr std::size_t kMaxCachedCallers = 4096;

// Whose per-user data a caller may see: every user's (root) or one uid's.
struct Audience {
  std::optional<std::uint32_t> onlyUid;  // none: root
  bool sees(std::uint32_t uid) const { return !onlyUid || *onlyUid == uid; }
  bool restricted() const { return onlyUid.has_value(); }
};

struct UserFilter {
  enum Kind { kAll, kNonCompliant, kUser } kind = kAll;
  std::string name;
};

// A ListUsers row as it goes out: escaped once, when it changes, not per call.
struct BusRow {
  std::string name;
  std::uint32_t uid = 0;
  std::string home;
  std::string state;  // toString(UserState)
  std::string detail;
  std::string action;
  bool watched = true;
  std::uint64_t last_change = 0;
  std::uint32_t repairs = 0;
  std::uint32_t refusals = 0;
  bool compliant = true;
};

BusRow toBus(const UserRow& r) {
  return {busSafe(r.name),     r.uid,        busSafe(r.home), toString(r.state), busSafe(r.detail),
          busSafe(r.action),   !r.unwatched, r.last_change,   r.repairs,         r.refusals,
          isCompliant(r.state)};
}

// Bytes a record takes in the reply: the struct's 8-byte alignment, five strings (length,
// bytes, NUL), the integers and the boolean, and padding.
std::size_t recordBytes(const BusRow& r) {
  return 8 + 5 * 5 + r.name.size() + r.home.size() + r.state.size() + r.detail.size() +
         r.action.size() + 4 + 4 + 8 + 4 + 4 + 8;
}

}  // namespace

namespace detail {

class DbusServiceImpl final : public ManagerCalls {
 public:
  DbusServiceImpl(sd_event* loop, DbusHandlers handlers, const DaemonStatus& initial,
                  DbusLimits limits)
      : loop_(sd_event_ref(loop)),
        handlers_(std::move(handlers)),
        limits_(limits),
        status_(busSafe(initial)),
        queue_({limits.max_queued, limits.burst, limits.per_second}) {
    connect();
    // The daemon's own events and the cheap calls (property reads) come before queued work.
    sd_event_source* work = nullptr;
    int r = sd_event_add_defer(loop_.get(), &work, &DbusServiceImpl::onWork, this);
    work_.reset(work);
    if (r >= 0)
      r = sd_event_source_set_priority(work, SD_EVENT_PRIORITY_IDLE);
    if (r >= 0)
      r = sd_event_source_set_enabled(work, SD_EVENT_OFF);
    if (r >= 0)
      sd_event_source_set_description(work, "dbus-work");
    if (r < 0)
      throw DbusServiceError(std::string("dbus: sd-event: cannot add the work source: ") +
                             std::strerror(-r));
  }

  // A connection, the object (showing status_ and users_ as they are), the name, and the loop's
  // sources; throws DbusServiceError and leaves nothing half made (teardown).
  void connect() {
    try {
      connectParts();
    } catch (...) {
      teardown();
      throw;
    }
  }

  void connectParts() {
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
    // Synchronous, on the loop: bounded (a bus that does not answer is retried later).
    bus_->setMethodCallTimeout(limits_.name_timeout);
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
    try {
      events_ = std::make_unique<SdbusEventSource>(
          loop_.get(), *bus_, [this](const std::string& why) { lose(why); }, "dbus");
    } catch (const SdbusEventError& e) {
      throw DbusServiceError(std::string("dbus: ") + e.what());
    }
  }

  void teardown() {
    // The loop's sources first, then what holds the connection's messages and slots.
    events_.reset();
    job_.reset();
    object_.reset();
    bus_.reset();
  }

  ~DbusServiceImpl() {
    if (connected())
      failAll("keepalive-policyd is stopping");
  }

  const DaemonStatus& status() const override { return status_; }

  void publish(const DaemonStatus& next) {
    DaemonStatus n = busSafe(next);
    n.version = status_.version;  // a const property: clients may cache it forever
    std::vector<std::string> changed;
    for (const StatusProperty* p : changedProperties(status_, n))
      changed.emplace_back(p->name);
    status_ = std::move(n);
    if (changed.empty() || !connected())
      return;
    try {
      // sd-bus reads the new values through the getters into one signal.
      object_->propertiesChanged(changed);
    } catch (const sdbus::Error& e) {
      warn("dbus: PropertiesChanged: " + e.getMessage() + ", ignoring");
    }
  }

  void setUsers(const std::vector<UserRow>& rows) {
    std::map<std::string, BusRow> next;
    for (const auto& r : rows)
      next.emplace(r.name, toBus(r));
    users_ = std::move(next);
  }
  void setUser(const UserRow& row) { users_.insert_or_assign(row.name, toBus(row)); }
  void removeUser(const std::string& name) { users_.erase(name); }

  template <typename Emit>
  void emit(const char* name, Emit&& f) {
    if (!connected())
      return;
    try {
      f();
    } catch (const sdbus::Error& e) {
      warn(std::string("dbus: ") + name + ": " + e.getMessage() + ", ignoring");
    }
  }

  ManagerObject& object() { return *object_; }

 private:
  // ---- the methods ----

  void reload(ReloadResult&& result) override {
    auto r = std::make_shared<ReloadResult>(std::move(result));
    answer(*r, "Reload", [&] {
      // The bus policy and sd-bus's check of the privileged method come first; this holds even
      // where those were loosened.
      const uid_t euid = object_->callerEuid();
      if (euid != 0)
        throw sdbus::Error(kErrAccessDenied,
                           "Reload: only root may reload the policy (the caller's "
                           "bus connection runs as uid " +
                               std::to_string(euid) + ")");
      if (!handlers_.reload)
        throw sdbus::Error(kErrFailed, "Reload: not available");
      const std::uint64_t id = track([this, r](const std::string& why) {
        reply(*r, "Reload", [&] { r->returnError(sdbus::Error(kErrFailed, "Reload: " + why)); });
      });
      // The done handed out holds the call weakly: the call (a message of this connection)
      // is held by inFlight_ alone, which lose() empties before the connection goes.
      DbusHandlers::ReloadDone done = once<std::uint64_t, ApplyResult>(
          id,
          [this, w = std::weak_ptr<ReloadResult>(r)](std::uint64_t generation, ApplyResult res) {
            if (auto call = w.lock())
              answer(*call, "Reload", [&] { call->returnResults(generation, toString(res)); });
          });
      untrackOnThrow(id, [&] { handlers_.reload(std::move(done)); });
    });
  }

  void check(CheckResult&& result) override {
    auto r = std::make_shared<CheckResult>(std::move(result));
    answer(*r, "Check", [&] {
      const uid_t uid = callerUid("Check");
      const Audience a = audienceOf(uid);
      enqueue(
          "Check", uid, [this, r, a, uid] { startCheck(r, a, uid); },
          [this, r](const std::string& why) {
            reply(*r, "Check", [&] { r->returnError(sdbus::Error(kErrFailed, why)); });
          });
    });
  }

  void startCheck(const std::shared_ptr<CheckResult>& r, const Audience& a, uid_t uid) {
    const std::uint64_t started = monotonicUsec();
    std::uint64_t id = 0;
    answer(*r, "Check", [&] {
      if (!handlers_.check)
        throw sdbus::Error(kErrFailed, "Check: not available");
      id = track([this, r](const std::string& why) {
        reply(*r, "Check", [&] { r->returnError(sdbus::Error(kErrFailed, "Check: " + why)); });
      });
      current_ = id;
      // Charged what it took from start to answer: the handler's work runs in its own slices,
      // which the service does not see.
      auto done = once<std::vector<Finding>>(id, [this, w = std::weak_ptr<CheckResult>(r), a, uid,
                                                  started, id](std::vector<Finding> findings) {
        queue_.charge(uid, std::chrono::microseconds(monotonicUsec() - started));
        if (auto call = w.lock())
          answer(*call, "Check", [&] {
            call->returnResults(boundFindings(std::move(findings), a), a.restricted());
          });
        finished(id);
      });
      untrackOnThrow(id, [&] { handlers_.check(a.onlyUid, std::move(done)); });
    });
    if (id && !inFlight_.count(id))
      finished(id);  // answered (or failed) before the handler returned
  }

  // Another user's findings are dropped here, whatever the handler looked at. A finding per user
  // can make a long list on a big host: it stays one bus message.
  std::vector<std::string> boundFindings(std::vector<Finding> findings, const Audience& a) const {
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
      if (bytes > limits_.max_reply_bytes) {
        more = 1;
        continue;
      }
      out.push_back(std::move(text));
    }
    if (more)
      out.push_back("... and " + std::to_string(more) + " more findings");
    return out;
  }

  void listUsers(ListUsersResult&& result, std::string filter) override {
    auto r = std::make_shared<ListUsersResult>(std::move(result));
    answer(*r, "ListUsers", [&] {
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
      const uid_t uid = callerUid("ListUsers");
      const Audience a = audienceOf(uid);
      // The reply is built in parts, on later turns of the loop: it needs the call itself.
      auto call = std::make_shared<sdbus::MethodCall>(object_->currentCall());
      enqueue(
          "ListUsers", uid,
          [this, r, call, f, a, uid] {
            const std::uint64_t id = track([this, r](const std::string& why) {
              reply(*r, "ListUsers",
                    [&] { r->returnError(sdbus::Error(kErrFailed, "ListUsers: " + why)); });
            });
            current_ = id;
            answer(*r, "ListUsers", [&] {
              ListJob job{r, call->createReply(), f, a, uid, id, {}, 0, 0, false};
              job.reply.openContainer(std::string("(") + kUserRecordSignature + ")");
              job_.emplace(std::move(job));
            });
            if (!job_) {  // the reply could not be started: answered with the error
              inFlight_.erase(id);
              finished(id);
            }
          },
          [this, r](const std::string& why) {
            reply(*r, "ListUsers", [&] { r->returnError(sdbus::Error(kErrFailed, why)); });
          });
    });
  }

  // Answered from the queue of expensive calls like ListUsers (a caller asking for every event
  // in a loop spends its own budget), in one turn: the store answers a query in well under the
  // slice for its 100k events, and the reply is bounded by max_reply_bytes.
  void listDisconnects(ListDisconnectsResult&& result, std::uint64_t sinceUsec, std::string cause,
                       std::string network, std::string user, std::uint32_t limit) override {
    auto r = std::make_shared<ListDisconnectsResult>(std::move(result));
    answer(*r, "ListDisconnects", [&] {
      for (const std::string* s : {&cause, &network, &user})
        if (s->size() > kMaxFilterBytes)
          throw sdbus::Error(kErrInvalidArgument,
                             "ListDisconnects: an argument is " + std::to_string(s->size()) +
                                 " bytes long; at most " + std::to_string(kMaxFilterBytes));
      DisconnectQuery q;
      q.since_usec = sinceUsec;
      if (!cause.empty()) {
        q.cause = disconnectCauseFromString(cause);
        if (!q.cause) {
          std::string known;
          for (DisconnectCause c : kAllDisconnectCauses)
            known += std::string(known.empty() ? "" : ", ") + toString(c);
          throw sdbus::Error(kErrInvalidArgument, "ListDisconnects: unknown cause '" +
                                                      busSafe(cause) + "'; a cause is one of " +
                                                      known);
        }
      }
      q.network = std::move(network);
      q.user = std::move(user);
      q.limit = limit;
      const uid_t uid = callerUid("ListDisconnects");
      const Audience a = audienceOf(uid);
      enqueue(
          "ListDisconnects", uid,
          [this, r, q, a] {
            answer(*r, "ListDisconnects", [&] {
              if (!handlers_.listDisconnects)
                throw sdbus::Error(kErrFailed, "ListDisconnects: not available");
              std::vector<DisconnectStruct> out;
              std::size_t bytes = 0;
              for (auto& e : handlers_.listDisconnects(q, a.onlyUid)) {
                DisconnectStruct row(e.time_usec, busSafe(std::move(e.user)),
                                     busSafe(std::move(e.address)), e.port,
                                     busSafe(std::move(e.network)), std::string(toString(e.cause)),
                                     e.duration_seconds);
                bytes += 8 + 8 + 4 * 5 + row.get<1>().size() + row.get<2>().size() +
                         row.get<4>().size() + row.get<5>().size() + 2 + 8;
                if (bytes > limits_.max_reply_bytes)
                  break;  // the newest are kept: a caller asks again with a later since
                out.push_back(std::move(row));
              }
              r->returnResults(out, a.restricted());
            });
          },
          [this, r](const std::string& why) {
            reply(*r, "ListDisconnects", [&] { r->returnError(sdbus::Error(kErrFailed, why)); });
          });
    });
  }

  // A ListUsers under way: its reply, built a slice at a time.
  struct ListJob {
    std::shared_ptr<ListUsersResult> result;  // for an error
    sdbus::MethodReply reply;
    UserFilter filter;
    Audience audience;
    uid_t uid = 0;
    std::uint64_t id = 0;
    std::string next;  // the row to go on from, by name; "" = the first
    std::uint32_t matched = 0;
    std::size_t bytes = 0;
    bool full = false;
  };

  bool matches(const ListJob& j, const BusRow& row) const {
    if (!j.audience.sees(row.uid))
      return false;
    return j.filter.kind != UserFilter::kNonCompliant || !row.compliant;
  }

  void add(ListJob& j, const BusRow& row) {
    ++j.matched;
    if (j.full)
      return;
    j.bytes += recordBytes(row);
    if (j.bytes > limits_.max_reply_bytes) {
      // The rest is counted, not sent: matched tells the caller the list was cut.
      j.full = true;
      return;
    }
    j.reply.openStruct(kUserRecordSignature);
    j.reply << row.name << row.uid << row.home << row.state << row.detail << row.action
            << row.watched << row.last_change << row.repairs << row.refusals;
    j.reply.closeStruct();
  }

  // One slice of the ListUsers under way; sends it when it is complete. A caller that is not
  // root gets the records of its own uid only: a name it gives selects among those, so naming
  // another user matches nothing, and matched counts nothing it may not see.
  void listSlice() {
    ListJob& j = *job_;
    const std::uint64_t start = monotonicUsec();
    const std::uint64_t deadline = start + static_cast<std::uint64_t>(limits_.slice.count());
    bool done = false;
    try {
      if (j.filter.kind == UserFilter::kUser) {
        if (auto it = users_.find(j.filter.name); it != users_.end() && matches(j, it->second))
          add(j, it->second);
        done = true;
      } else {
        auto it = users_.lower_bound(j.next);
        for (std::size_t n = 0; it != users_.end(); ++it, ++n) {
          if (n % 64 == 63 && monotonicUsec() >= deadline)
            break;
          if (matches(j, it->second))
            add(j, it->second);
        }
        done = it == users_.end();
        if (!done)
          j.next = it->first;
      }
      if (done) {
        j.reply.closeContainer();
        j.reply << j.matched << j.audience.restricted();
        j.reply.send();
      }
    } catch (const sdbus::Error& e) {
      reply(*j.result, "ListUsers", [&] {
        j.result->returnError(sdbus::Error(kErrFailed, "ListUsers: " + busSafe(e.getMessage())));
      });
      done = true;
    }
    queue_.charge(j.uid, std::chrono::microseconds(monotonicUsec() - start));
    if (done) {
      const std::uint64_t id = j.id;
      inFlight_.erase(id);
      job_.reset();
      finished(id);
    }
  }

  // ---- the queue ----

  void enqueue(const char* method, uid_t uid, std::function<void()> start,
               std::function<void(const std::string&)> fail) {
    if (auto refused = queue_.push({uid, std::move(start), std::move(fail)}))
      throw sdbus::Error(kErrLimitExceeded, std::string(method) + ": " + *refused);
    sd_event_source_set_enabled(work_.get(), SD_EVENT_ON);
  }

  static int onWork(sd_event_source*, void* self) {
    static_cast<DbusServiceImpl*>(self)->work();
    return 0;
  }

  // One turn: a slice of the ListUsers under way, or the next queued call started, the uids in
  // turn. While a handler works on a call, nothing else starts.
  void work() {
    if (job_) {
      listSlice();
      return;
    }
    if (current_ || queue_.empty()) {
      sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
      return;
    }
    auto c = queue_.pop();
    const std::uint64_t t0 = monotonicUsec();
    c->start();
    queue_.charge(c->uid, std::chrono::microseconds(monotonicUsec() - t0));
  }

  // The call under way ended: the next may start.
  void finished(std::uint64_t id) {
    if (current_ != id)
      return;
    current_ = 0;
    if (!queue_.empty() && connected())
      sd_event_source_set_enabled(work_.get(), SD_EVENT_ON);
  }

  // ---- calls handed to the daemon ----

  std::uint64_t track(std::function<void(const std::string&)> fail) {
    const std::uint64_t id = nextId_++;
    inFlight_.emplace(id, std::move(fail));
    return id;
  }

  template <typename F>
  void untrackOnThrow(std::uint64_t id, F&& f) {
    try {
      f();
    } catch (...) {
      inFlight_.erase(id);
      throw;
    }
  }

  // done for a handler: the first call answers, later ones and those after the service is gone
  // do nothing.
  template <typename... A, typename F>
  std::function<void(A...)> once(std::uint64_t id, F f) {
    std::weak_ptr<char> alive = alive_;
    return [this, alive, id, f = std::move(f)](A... args) mutable {
      if (alive.expired())
        return;
      auto it = inFlight_.find(id);
      if (it == inFlight_.end())
        return;
      // It holds the call (f holds it weakly): kept until f has answered.
      const auto holder = std::move(it->second);
      inFlight_.erase(it);
      f(std::move(args)...);
    };
  }

  // Answers every call queued or under way with an error (the service stops).
  void failAll(const std::string& why) {
    job_.reset();
    auto inFlight = std::move(inFlight_);
    inFlight_.clear();
    for (auto& [id, fail] : inFlight)
      fail(why);
    for (auto& c : queue_.drain()) {
      try {
        c.fail(why);
      } catch (const sdbus::Error& e) {
        warn("dbus: cannot answer a queued call: " + e.getMessage() + ", ignoring");
      }
    }
    current_ = 0;
  }

  // ---- errors ----

  // Runs a method body; whatever it throws leaves as one of our errors.
  template <typename F>
  void guarded(const char* method, F&& f) {
    try {
      f();
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
      reply(result, method, [&] { result.returnError(e); });
    }
  }

  // Sends a reply; the caller may be gone.
  template <typename Result, typename F>
  void reply(const Result&, const char* method, F&& send) {
    if (!connected())
      return;
    try {
      send();
    } catch (const sdbus::Error& e) {
      warn(std::string("dbus: ") + method + ": cannot reply: " + e.getMessage() + ", ignoring");
    }
  }

  void warn(const std::string& m) {
    if (handlers_.warn)
      handlers_.warn(m);
  }

  // ---- callers ----

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

  // Whose users a caller may see: all for a bus-recorded euid of 0, else its own uid's. A failed
  // lookup throws (callerUid): it never counts as root.
  static Audience audienceOf(uid_t uid) {
    return uid == 0 ? Audience{} : Audience{static_cast<std::uint32_t>(uid)};
  }

  bool connected() const { return events_ && events_->connected(); }

  void lose(const std::string& why) {
    // Nobody to answer: drop what waits. A handler's later done finds its call gone (once()).
    job_.reset();
    inFlight_.clear();
    queue_.drain();
    current_ = 0;
    sd_event_source_set_enabled(work_.get(), SD_EVENT_OFF);
    lostAtUsec_ = monotonicUsec();
    rejoinDelay_ = limits_.rejoin_first;
    armRejoin();
    if (handlers_.lost)
      handlers_.lost("dbus: system bus: connection lost: " + why);
  }

  void armRejoin() {
    const std::uint64_t at =
        monotonicUsec() + static_cast<std::uint64_t>(rejoinDelay_.count()) * 1000u;
    if (!rejoinTimer_) {
      sd_event_source* t = nullptr;
      if (sd_event_add_time(loop_.get(), &t, CLOCK_MONOTONIC, at, 1000, &DbusServiceImpl::onRejoin,
                            this) < 0) {
        warn("dbus: sd-event: cannot add the rejoin timer, ignoring");
        return;
      }
      sd_event_source_set_description(t, "dbus-rejoin");
      rejoinTimer_.reset(t);
      return;
    }
    sd_event_source_set_time(rejoinTimer_.get(), at);
    sd_event_source_set_enabled(rejoinTimer_.get(), SD_EVENT_ONESHOT);
  }

  static int onRejoin(sd_event_source*, std::uint64_t, void* self) {
    static_cast<DbusServiceImpl*>(self)->rejoin();
    return 0;
  }

  // One attempt on the loop: the old connection closed, a new one with the object and the name.
  // Unique names start over on a new bus: callers' uids are looked up again.
  void rejoin() {
    teardown();
    uidBySender_.clear();
    try {
      connect();
      if (handlers_.rejoined)
        handlers_.rejoined();
      return;
    } catch (const DbusServiceError& e) {
      const auto waited = std::chrono::microseconds(monotonicUsec() - lostAtUsec_);
      if (waited >= limits_.rejoin_give_up) {
        if (handlers_.gaveUp)
          handlers_.gaveUp(std::string("could not rejoin the system bus within ") +
                           std::to_string(limits_.rejoin_give_up.count() / 1000) +
                           " s: " + e.what());
        return;
      }
      rejoinDelay_ = std::min(rejoinDelay_ * 2, limits_.rejoin_max);
      armRejoin();
    }
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
  DaemonStatus status_;
  std::map<std::string, BusRow> users_;  // by the user's name as passwd has it
  CallerQueue queue_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  std::map<std::uint64_t, std::function<void(const std::string&)>> inFlight_;
  std::uint64_t nextId_ = 1;
  std::uint64_t current_ = 0;  // the queued call under way; 0 = none
  std::unordered_map<std::string, uid_t> uidBySender_;
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<ManagerObject> object_;
  std::optional<ListJob> job_;  // holds a reply of bus_: goes before it
  std::unique_ptr<SdbusEventSource> events_;
  std::unique_ptr<sd_event_source, SourceUnref> work_;
  std::unique_ptr<sd_event_source, SourceUnref> rejoinTimer_;
  std::uint64_t lostAtUsec_ = 0;
  std::chrono::milliseconds rejoinDelay_{250};
};

}  // namespace detail

DbusService::DbusService(sd_event* loop, DbusHandlers handlers, const DaemonStatus& initial,
                         DbusLimits limits)
    : impl_(std::make_unique<detail::DbusServiceImpl>(loop, std::move(handlers), initial, limits)) {
}

DbusService::~DbusService() = default;

void DbusService::publish(const DaemonStatus& s) {
  impl_->publish(s);
}

const DaemonStatus& DbusService::snapshot() const {
  return impl_->status();
}

void DbusService::setUsers(const std::vector<UserRow>& rows) {
  impl_->setUsers(rows);
}

void DbusService::setUser(const UserRow& row) {
  impl_->setUser(row);
}

void DbusService::removeUser(const std::string& name) {
  impl_->removeUser(name);
}

void DbusService::emitApplied(std::uint64_t generation, ApplyResult result) {
  impl_->emit("Applied", [&] { impl_->object().emitApplied(generation, toString(result)); });
}

void DbusService::emitRepaired(const std::string& user, const std::string& path,
                               const std::string& what) {
  impl_->emit("Repaired",
              [&] { impl_->object().emitRepaired(busSafe(user), busSafe(path), busSafe(what)); });
}

void DbusService::emitDrift(const std::string& path, const std::string& what) {
  impl_->emit("Drift", [&] { impl_->object().emitDrift(busSafe(path), busSafe(what)); });
}

}  // namespace keepalive::daemon
