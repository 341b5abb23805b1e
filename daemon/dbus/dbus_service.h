// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd's D-Bus face: org.keepalivepolicy1 on the system bus, object
// /org/keepalivepolicy1, interface org.keepalivepolicy1.Manager (see org.keepalivepolicy1.xml).
//
// It runs on the daemon's own sd-event loop, never on a thread of its own (the bridge is
// adapters/sdbus_event.h). DaemonStatus lives here as the last DaemonStatus (core/status.h) the
// daemon published, and ListUsers' rows as the daemon updates them one user at a time; actions call
// back into the daemon through DbusHandlers, which answer when they are done.
//
// The rooms: bus_text.h (what leaves on the bus is escaped), caller_queue.h (the per-uid queue
// of expensive calls and their budgets), manager_object.h (the exported object, its properties
// from the status table), and this service, which ties them to one connection.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bus_text.h"
#include "core/disconnect_store.h"
#include "core/status.h"
#include "core/users.h"

namespace keepalive::daemon {

inline constexpr const char* kBusName = "org.keepalivepolicy1";
inline constexpr const char* kObjectPath = "/org/keepalivepolicy1";
inline constexpr const char* kManagerInterface = "org.keepalivepolicy1.Manager";
// keepalive-policyd's exit status when it lost the system bus and could not rejoin it in time
// (the service's or systemd's connection): non-zero, so that Restart=on-failure restarts it.
inline constexpr int kExitBusLost = 3;

// One covered user, as ListUsers reports it.
struct UserRow {
  std::string name;
  std::uint32_t uid = 0;
  std::string home;
  UserState state = UserState::kOk;
  std::string detail;             // what is true now and wrong; "" for ok and repaired
  std::string action;             // what was done, or what enforce would do; "" for neither
  bool unwatched = false;         // no inotify watch covers the user
  std::uint64_t last_change = 0;  // usec, CLOCK_REALTIME; 0 = never
  std::uint32_t repairs = 0;
  std::uint32_t refusals = 0;
  friend bool operator==(const UserRow&, const UserRow&) = default;
};

// One line of Check's answer.
struct Finding {
  std::string text;
  // The uid of the user whose files it is about; none for the host's own findings (sshd, ssh,
  // the drop-ins, the policy), which every caller may see.
  std::optional<std::uint32_t> uid;
  friend bool operator==(const Finding&, const Finding&) = default;
};

// What the service calls back, on the loop's thread inside a bus callback or a turn of the
// loop; none may destroy the service (leave that to the loop's next turn). A handler answers by
// calling done, at once or on a later turn of the loop, at most once; a handler that throws
// (std::exception) instead gets org.keepalivepolicy1.Error.Failed with what() as the message
// sent to the caller. A done called after the service is gone does nothing (the caller got
// Error.Failed when it stopped).
struct DbusHandlers {
  // Re-read and apply the policy now, as SIGHUP does; publish() and emitApplied() as after any
  // apply, then done with the transaction's generation and result. Root callers only.
  using ReloadDone = std::function<void(std::uint64_t generation, ApplyResult result)>;
  std::function<void(ReloadDone done)> reload;
  // Verify everything now without changing anything; one finding per line, none = compliant.
  // onlyUid: the caller is not root and will see only that uid's users' findings, so the others
  // need not be looked at (the service drops any other user's finding whatever is returned).
  using CheckDone = std::function<void(std::vector<Finding>)>;
  std::function<void(std::optional<std::uint32_t> onlyUid, CheckDone done)> check;
  // ListDisconnects: the ended sessions the query matches, newest first. onlyUid: the caller is
  // not root; only the sessions of that uid's user are returned (none when the daemon knows no
  // name for the uid). The service escapes the strings and bounds the reply.
  std::function<std::vector<DisconnectEvent>(const DisconnectQuery& query,
                                             std::optional<std::uint32_t> onlyUid)>
      listDisconnects;
  // Non-fatal problems of the service, worded for the journal (", ignoring" included).
  std::function<void(const std::string&)> warn;
  // The bus connection is gone (dbus-daemon stopped or restarted): calls under way were dropped
  // (their callers' connections went with the bus), and the service rejoins on its own: a new
  // connection, the object with the last published state and rows, the name. Once per loss.
  std::function<void(const std::string&)> lost;
  // Rejoined after a loss: the name is ours again and the properties show the last state.
  std::function<void()> rejoined;
  // Rejoining did not succeed within DbusLimits::rejoin_give_up: nothing more is tried.
  std::function<void(const std::string&)> gaveUp;
};

// The expensive calls (Check, ListUsers, ListDisconnects) are queued per calling user and served
// one at a time (caller_queue.h). ListUsers builds its reply in slices of at most `slice` of loop
// time, so that no turn of the loop is held long at 100k users.
struct DbusLimits {
  std::size_t max_queued = 4;
  std::chrono::microseconds burst{2000000};
  std::chrono::microseconds per_second{200000};
  // ListUsers replies stop adding records past this many bytes: dbus-daemon refuses messages
  // over its max_message_size (32 MiB by default). 16 MiB is ~200k users of typical size.
  std::size_t max_reply_bytes = 16u << 20;
  std::chrono::microseconds slice{500};
  // After a loss: the first attempt to rejoin after rejoin_first, then at twice the interval
  // up to rejoin_max, until rejoin_give_up has passed. RequestName waits at most name_timeout
  // on the loop.
  std::chrono::milliseconds rejoin_first{250};
  std::chrono::milliseconds rejoin_max{2000};
  std::chrono::milliseconds rejoin_give_up{60000};
  std::chrono::milliseconds name_timeout{2000};
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
  DbusService(sd_event* loop, DbusHandlers handlers, const DaemonStatus& initial,
              DbusLimits limits = {});
  // Answers calls still queued or under way with org.keepalivepolicy1.Error.Failed, detaches
  // from the loop, unregisters the object and closes the connection after flushing what is
  // queued (a last PropertiesChanged reaches its listeners); the name goes with it.
  ~DbusService();
  DbusService(const DbusService&) = delete;
  DbusService& operator=(const DbusService&) = delete;

  // Makes s the state the properties show and emits one PropertiesChanged with exactly the
  // properties that differ from the last one (none: nothing is sent). Never throws.
  void publish(const DaemonStatus& s);
  // The last status published, bus-safe.
  const DaemonStatus& snapshot() const;

  // ListUsers' rows: all of them (after a rescan of the users), or one added or changed, or one
  // gone. A ListUsers under way goes on from where it is, by name.
  void setUsers(const std::vector<UserRow>& rows);
  void setUser(const UserRow& row);
  void removeUser(const std::string& name);

  // Signals; never throw (a failure goes to handlers.warn).
  void emitApplied(std::uint64_t generation, ApplyResult result);
  void emitRepaired(const std::string& user, const std::string& path, const std::string& what);
  void emitDrift(const std::string& path, const std::string& what);

 private:
  std::unique_ptr<detail::DbusServiceImpl> impl_;
};

}  // namespace keepalive::daemon
