// SPDX-License-Identifier: GPL-2.0-or-later
// What the online verbs share: one synchronous proxy to keepalive-policyd on the system bus,
// the daemon's errors translated once into an exit code and one line, text made safe for
// terminals, and JSON output.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>
#include <nlohmann/json_fwd.hpp>

#include "core/status.h"
#include "pager.h"

namespace keepalive::cli {

inline constexpr const char* kBusName = "org.keepalivepolicy1";
inline constexpr const char* kObjectPath = "/org/keepalivepolicy1";
inline constexpr const char* kInterface = "org.keepalivepolicy1.Manager";

// Long enough for a daemon busy with a transaction; short enough that a hung one is reported.
inline constexpr std::chrono::seconds kCallTimeout{5};
// Reload waits for sshd -t, systemd's reload job and the verification.
inline constexpr std::chrono::seconds kReloadTimeout{25};

using Properties = std::map<std::string, sdbus::Variant>;
// name, uid, home, state (one word), detail (what is wrong now), action (what was done, or what
// enforce would do), watched, last change (usec), repairs, refusals
using UserRecord = sdbus::Struct<std::string, std::uint32_t, std::string, std::string, std::string,
                                 std::string, bool, std::uint64_t, std::uint32_t, std::uint32_t>;

// time (usec), user, address, port, network, cause, duration seconds (-1 = unknown)
using DisconnectRecord = sdbus::Struct<std::uint64_t, std::string, std::string, std::uint16_t,
                                       std::string, std::string, std::int64_t>;

class ManagerProxy;

class ManagerClient {
 public:
  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS overrides where it is).
  explicit ManagerClient(std::chrono::microseconds timeout = kCallTimeout);
  ~ManagerClient();
  Properties getAll();
  std::tuple<std::uint64_t, std::string> reload();
  // restricted: the caller is not root and got only its own user's records (see kOwnEntryOnly).
  std::tuple<std::vector<std::string>, bool> check();
  std::tuple<std::vector<UserRecord>, std::uint32_t, bool> listUsers(const std::string& filter);
  // Newest first; "" = any, limit 0 = all. restricted: only the caller's own sessions.
  std::tuple<std::vector<DisconnectRecord>, bool> listDisconnects(std::uint64_t sinceUsec,
                                                                  const std::string& cause,
                                                                  const std::string& network,
                                                                  const std::string& user,
                                                                  std::uint32_t limit);

 private:
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<ManagerProxy> proxy_;
};

// What users and check say when the daemon answered a caller other than root with only its own
// user's records.
inline constexpr const char* kOwnEntryOnly =
    "Showing only your own entry: other users' entries need root (run it with sudo).";

// Runs body, which talks to the daemon. A D-Bus error becomes one line on stderr, a sentence and
// a next step from bus_errors.h's table ("keepalivectl reload: reloading needs root: run it with
// sudo"), with the D-Bus name only under --verbose, and its exit code: 3 when keepalive-policyd
// was not reached (no bus, not running, no answer in time), else 1.
int withDaemon(const char* verb, const std::function<int()>& body);

// A property's value as the daemon's status table types it (core/status.h); nullopt for a D-Bus
// type the table does not use.
std::optional<daemon::PropertyValue> propertyValue(const sdbus::Variant& v);
// GetAll read back into the daemon's status through the same table. unread, if given, gets the
// table's properties that were missing, of another type, or held a word this keepalivectl does
// not know (a newer daemon's state): those keep their defaults.
daemon::DaemonStatus readStatus(const Properties& p, std::vector<std::string>* unread = nullptr);

// Text for a terminal: keepalive::escape(), so that a home directory or a reason cannot move the
// cursor, retitle the window or reorder the line (the daemon escaped it already; this is a no-op).
std::string printable(std::string_view s);
// A property as JSON: strings, numbers, string lists, and settings as
// {"keyword": {"value": ..., "source": ...}}; null for a type this keepalivectl does not know.
nlohmann::ordered_json jsonValue(const sdbus::Variant& v);
nlohmann::ordered_json jsonValue(const daemon::PropertyValue& v);
// The one way --json is printed: compact, keys in the order they were added, one line. D-Bus
// strings are valid UTF-8, but a byte that is not is replaced rather than thrown on.
void printJson(const nlohmann::ordered_json& j);
// A property as `show` prints it.
std::string showValue(const sdbus::Variant& v);

// "Tue 2023-11-14 22:13:20 UTC" in local time; "never" for 0.
std::string formatTimestamp(std::uint64_t usecRealtime);
// "3min 2s ago", "1h 3min ago", "2 days ago", as systemctl words it (systemd's
// format_timestamp_relative); "" for 0 or a time in the future (a clock stepped back: the date
// alone is shown then).
std::string formatAgo(std::uint64_t usecRealtime);
std::string formatAgo(std::uint64_t usecRealtime, std::uint64_t nowUsec);
// "since Mon 2026-12-07 10:11:12 UTC; 3min ago" (systemctl status's Active: line), local time;
// "never" for 0.
std::string formatSince(std::uint64_t usecRealtime, std::uint64_t nowUsec);
// A time property as --json adds it (status, users): ISO 8601 in UTC ("2026-12-07T10:11:12Z")
// and Unix seconds; null for 0.
nlohmann::ordered_json jsonIso(std::uint64_t usecRealtime);
nlohmann::ordered_json jsonUnix(std::uint64_t usecRealtime);

}  // namespace keepalive::cli
