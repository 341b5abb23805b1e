// keepalive-policyd's D-Bus face: org.keepalivepolicy1 on the system bus, object
// /org/keepalivepolicy1, interface org.keepalivepolicy1.Manager (see org.keepalivepolicy1.xml).
//
// It runs on the daemon's own sd-event loop, never on a thread of its own: sdbus-c++ 1.2 has no
// sd-event attachment, so the connection's fd and timeout (getEventLoopPollData) become an io and
// a timer source, refreshed before every poll, and each wake-up processes one message
// (processPendingRequest), as sd-bus's own sd_bus_attach_event does. Status lives here as a
// snapshot the daemon publishes; actions call back into the daemon through DbusHandlers.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace keepalive::daemon {

inline constexpr const char* kBusName = "org.keepalivepolicy1";
inline constexpr const char* kObjectPath = "/org/keepalivepolicy1";
inline constexpr const char* kManagerInterface = "org.keepalivepolicy1.Manager";

// One effective sshd or ssh setting and the FILE:LINE (or "sshd default") it comes from.
struct EffectiveSetting {
  std::string value;
  std::string source;
  friend bool operator==(const EffectiveSetting&, const EffectiveSetting&) = default;
};

// Everything the properties show. The daemon fills one after every change and publishes it.
struct StatusSnapshot {
  std::string state = "starting";  // starting | ok | degraded | shadowed | policy-error | ...
  std::string state_reason;
  std::string version;  // constant: only the snapshot given to the constructor counts
  std::vector<std::string> policy_files;
  std::string policy_digest;
  std::uint64_t generation = 0;
  std::uint64_t last_apply_time = 0;  // usec, CLOCK_REALTIME; 0 = never
  std::string last_apply_result;      // applied | unchanged | restored | policy-error | ...
  std::string last_error;
  std::string sshd_unit;
  std::vector<std::string> drop_ins;
  std::map<std::string, EffectiveSetting> effective_server;  // keyword (sshd -T spelling)
  std::map<std::string, EffectiveSetting> effective_client;  // keyword (ssh -G spelling)
  std::vector<std::string> shadowed;                         // Shadowing::describe() lines
  std::uint32_t users_covered = 0;
  std::uint32_t users_noncompliant = 0;
  std::uint32_t users_unwatched = 0;
  std::uint64_t repairs_total = 0;
  std::uint64_t refusals_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t rollbacks_total = 0;
  std::uint32_t watches_used = 0;
  friend bool operator==(const StatusSnapshot&, const StatusSnapshot&) = default;
};

// One covered user, as ListUsers reports it.
struct UserRow {
  std::string name;
  std::uint32_t uid = 0;
  std::string home;
  // ok | repaired | non-compliant:<what> | refused:<why> | error:<why> | unresponsive:<why> |
  // unwatched
  std::string state;
  std::uint64_t last_change = 0;  // usec, CLOCK_REALTIME; 0 = never
  std::uint32_t repairs = 0;
  std::uint32_t refusals = 0;
};

// One line of Check's answer.
struct Finding {
  std::string text;
  // The uid of the user whose files it is about; none for the host's own findings (sshd, ssh,
  // the drop-ins, the policy), which every caller may see.
  std::optional<std::uint32_t> uid;
  friend bool operator==(const Finding&, const Finding&) = default;
};

// True for the states ListUsers("noncompliant") and UsersNonCompliant count: not ok, repaired
// or unwatched (a gap in watching, counted by UsersUnwatched).
bool isNonCompliant(const std::string& userState);

// What the service calls back. Each runs on the loop's thread inside a bus callback, so none may
// destroy the service (leave that to the loop's next turn); a handler reports failure by throwing
// (std::exception): the caller gets org.keepalivepolicy1.Error.Failed with what() as the message.
struct DbusHandlers {
  // Re-read and apply the policy, as SIGHUP does; publish() and emitApplied() as after any
  // apply, then done with the run's generation and result, when it ended (later, on the loop).
  // Called for root callers only.
  std::function<void(std::function<void(std::uint64_t, std::string)> done)> reload;
  // Verify everything without changing anything; done gets one line per finding, none =
  // compliant, when the verification ended. onlyUid: the caller is not root and will see only
  // that uid's users' findings, so the others need not be looked at (the service drops any
  // other user's finding whatever is given).
  std::function<void(std::optional<std::uint32_t> onlyUid,
                     std::function<void(std::vector<Finding>)> done)>
      check;
  // Every covered user (the service filters by caller and bounds the reply).
  std::function<std::vector<UserRow>()> users;
  // Non-fatal problems of the service, worded for the journal (", ignoring" included).
  std::function<void(const std::string&)> warn;
  // The bus connection is gone (dbus-daemon stopped): nothing more is served. Called once.
  std::function<void(const std::string&)> lost;
};

// The expensive calls (Check, ListUsers) do not run inside the bus callback: they are queued per
// calling user (bus uid) and served one per turn of the loop, at idle priority, the users in
// turn. So a property read waits for at most one expensive call, and another user's call for at
// most one call of each user ahead of it. Each user may have max_queued calls waiting and spends
// a budget of loop time, charged what each call really took (handler, marshalling, sending):
// `burst` at first, then `per_second` of each second. Past either, a call gets
// org.keepalivepolicy1.Error.LimitExceeded at once, without work.
struct DbusLimits {
  std::size_t max_queued = 4;
  std::chrono::microseconds burst{2000000};
  std::chrono::microseconds per_second{200000};
  // ListUsers replies stop adding records past this many bytes: dbus-daemon refuses messages
  // over its max_message_size (32 MiB by default). 16 MiB is ~200k users of typical size.
  std::size_t max_reply_bytes = 16u << 20;
};

// A failure to start the service, as "dbus: object: reason".
class DbusServiceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
class DbusServiceImpl;
}

class DbusService {
 public:
  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS overrides where it is, as for every
  // sd-bus client), exports the object with `initial` as its state, owns org.keepalivepolicy1 and
  // attaches to `loop`. Throws DbusServiceError when any of it fails, e.g. the name is taken or
  // the bus policy does not let this process own it.
  DbusService(sd_event* loop, DbusHandlers handlers, const StatusSnapshot& initial,
              DbusLimits limits = {});
  // Answers calls still queued with org.keepalivepolicy1.Error.Failed, detaches from the loop,
  // unregisters the object and closes the connection after flushing what is queued (a last
  // PropertiesChanged reaches its listeners); the name goes with it.
  ~DbusService();
  DbusService(const DbusService&) = delete;
  DbusService& operator=(const DbusService&) = delete;

  // Makes s the state the properties show and emits one PropertiesChanged with exactly the
  // properties that differ from the last snapshot (none: nothing is sent). Never throws.
  void publish(const StatusSnapshot& s);
  const StatusSnapshot& snapshot() const;

  // Signals; never throw (a failure goes to handlers.warn).
  void emitApplied(std::uint64_t generation, const std::string& result);
  void emitRepaired(const std::string& user, const std::string& path, const std::string& what);
  void emitDrift(const std::string& path, const std::string& what);

 private:
  std::unique_ptr<detail::DbusServiceImpl> impl_;
};

// D-Bus strings must be valid UTF-8 without NUL; file names and passwd fields need not be, and
// keepalivectl prints them on terminals: keepalive::escape() (controls, invalid UTF-8 and
// terminal escapes as \xNN, at most kEscapeBusMax bytes) at this edge, for every string sent.
std::string busSafe(std::string s);

}  // namespace keepalive::daemon
