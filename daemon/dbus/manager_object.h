// SPDX-License-Identifier: GPL-2.0-or-later
// The exported object /org/keepalivepolicy1: the adaptor generated from
// org.keepalivepolicy1.xml for the methods and signals, and the properties registered from
// statusProperties() (core/status.h), so that a property is one row there plus its XML. The
// adaptor is generated from the XML without its <property> elements (CMakeLists.txt); the test
// tests/unit/status_test.cpp keeps the table and the XML's properties the same.
//
// Private to keepalive-dbus: it includes the generated header.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "core/status.h"
#include "keepalive_manager_adaptor.h"

namespace keepalive::daemon {

using UserRecordStruct =
    sdbus::Struct<std::string, std::uint32_t, std::string, std::string, std::string, std::string,
                  bool, std::uint64_t, std::uint32_t, std::uint32_t>;
inline constexpr const char* kUserRecordSignature = "sussssbtuu";
using ReloadResult = sdbus::Result<std::uint64_t, std::string>;
using CheckResult = sdbus::Result<std::vector<std::string>, bool>;
using ListUsersResult = sdbus::Result<std::vector<UserRecordStruct>, std::uint32_t, bool>;
using DisconnectStruct = sdbus::Struct<std::uint64_t, std::string, std::string, std::uint16_t,
                                       std::string, std::string, std::int64_t>;
using ListDisconnectsResult = sdbus::Result<std::vector<DisconnectStruct>, bool>;

// What the object calls: the service. Each method replies through its Result, now or later.
class ManagerCalls {
 public:
  virtual void reload(ReloadResult&& result) = 0;
  virtual void check(CheckResult&& result) = 0;
  virtual void listUsers(ListUsersResult&& result, std::string filter) = 0;
  virtual void listDisconnects(ListDisconnectsResult&& result, std::uint64_t sinceUsec,
                               std::string cause, std::string network, std::string user,
                               std::uint32_t limit) = 0;
  // The status the properties show, bus-safe.
  virtual const DaemonStatus& status() const = 0;

 protected:
  ~ManagerCalls() = default;
};

// sdbus-c++ (1.2) turns only sdbus::Error thrown by a method into a D-Bus error; anything else
// would unwind through sd-bus's C frames. So the service catches all and answers with one of
// our named errors, never org.sdbuscpp.Error.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::keepalivepolicy1::Manager_adaptor> {
 public:
  ManagerObject(sdbus::IConnection& bus, ManagerCalls& calls);
  ~ManagerObject();

  // The effective uid of the caller of the message being processed, as dbus-daemon recorded it
  // when the caller connected (SO_PEERCRED). getCredsEuid asks the bus for it
  // (GetConnectionCredentials' UnixUserID); getCredsUid would not: the bus gives no real uid,
  // so sd-bus reads /proc/PID/status at call time, which a caller can change after connecting,
  // or race. Throws sdbus::Error (AccessDenied).
  uid_t callerEuid();
  // The unique bus name of that caller; "" outside a call.
  std::string callerName();
  // The call being processed, for a reply built in parts (ListUsers); throws outside a call.
  sdbus::MethodCall currentCall();
  void propertiesChanged(const std::vector<std::string>& names);

 private:
  void Reload(ReloadResult&& result) override { calls_.reload(std::move(result)); }
  void Check(CheckResult&& result) override { calls_.check(std::move(result)); }
  void ListUsers(ListUsersResult&& result, std::string filter) override {
    calls_.listUsers(std::move(result), std::move(filter));
  }
  void ListDisconnects(ListDisconnectsResult&& result, std::uint64_t sinceUsec, std::string cause,
                       std::string network, std::string user, std::uint32_t limit) override {
    calls_.listDisconnects(std::move(result), sinceUsec, std::move(cause), std::move(network),
                           std::move(user), limit);
  }

  ManagerCalls& calls_;
};

}  // namespace keepalive::daemon
