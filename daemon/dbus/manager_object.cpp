// SPDX-License-Identifier: GPL-2.0-or-later
#include "manager_object.h"

#include <map>
#include <variant>

#include "dbus_service.h"

namespace keepalive::daemon {
namespace {

const char* const kErrAccessDenied = "org.keepalivepolicy1.Error.AccessDenied";

using BusSettings = std::map<std::string, sdbus::Struct<std::string, std::string>>;

void put(sdbus::Message& m, const PropertyValue& v) {
  std::visit(
      [&](const auto& x) {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, EffectiveSettings>) {
          BusSettings out;
          for (const auto& [k, e] : x)
            out.emplace(k, sdbus::Struct<std::string, std::string>(e.value, e.source));
          m << out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, ConfigLineRows>) {
          std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string,
                                    std::string, std::uint32_t, std::string>>
              out;
          for (const auto& r : x)
            out.emplace_back(r.target, r.effect, r.keyword, r.value, r.ours, r.file, r.line,
                             r.condition);
          m << out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, KeepaliveRows>) {
          std::vector<sdbus::Struct<std::string, std::string, std::int64_t, std::int64_t,
                                    std::int64_t, std::int64_t, std::int64_t, std::int64_t>>
              out;
          for (const auto& r : x)
            out.emplace_back(r.network, r.openssh, r.probe_after, r.probe_factor,
                             r.client_alive_interval, r.dead_client, r.server_alive_interval,
                             r.dead_server);
          m << out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, NetworkCheckRows>) {
          std::vector<
              sdbus::Struct<std::string, std::string, std::string, std::string, std::string>>
              out;
          for (const auto& r : x)
            out.emplace_back(r.network, r.target, r.sample, r.keyword, r.value);
          m << out;
        } else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, DisconnectCountRows>) {
          std::vector<sdbus::Struct<std::string, std::string, std::uint64_t>> out;
          for (const auto& r : x)
            out.emplace_back(r.cause, r.network, r.count);
          m << out;
        } else {
          m << x;
        }
      },
      v);
}

}  // namespace

ManagerObject::ManagerObject(sdbus::IConnection& bus, ManagerCalls& calls)
    : AdaptorInterfaces(bus, kObjectPath), calls_(calls) {
  for (const StatusProperty& p : statusProperties()) {
    sdbus::Flags flags;
    flags.set(p.constant ? sdbus::Flags::CONST_PROPERTY_VALUE : sdbus::Flags::EMITS_CHANGE_SIGNAL);
    getObject().registerProperty(
        INTERFACE_NAME, p.name, p.signature,
        [this, &p](sdbus::PropertyGetReply& reply) { put(reply, p.get(calls_.status())); }, flags);
  }
  registerAdaptor();
}

ManagerObject::~ManagerObject() {
  unregisterAdaptor();
}

uid_t ManagerObject::callerEuid() {
  const sdbus::Message* m = getObject().getCurrentlyProcessedMessage();
  if (!m)
    throw sdbus::Error(kErrAccessDenied, "cannot tell who is calling");
  try {
    return m->getCredsEuid();
  } catch (const sdbus::Error& e) {
    throw sdbus::Error(kErrAccessDenied, "cannot tell who is calling: " + busSafe(e.getMessage()));
  }
}

std::string ManagerObject::callerName() {
  const sdbus::Message* m = getObject().getCurrentlyProcessedMessage();
  return m ? m->getSender() : std::string();
}

sdbus::MethodCall ManagerObject::currentCall() {
  // sdbus-c++ 1.2 processes a method call as a MethodCall (Object::sdbus_method_callback): the
  // Result it hands the method holds a copy of the same message.
  const sdbus::Message* m = getObject().getCurrentlyProcessedMessage();
  if (!m)
    throw sdbus::Error("org.keepalivepolicy1.Error.Failed", "no call is being processed");
  return *static_cast<const sdbus::MethodCall*>(m);
}

void ManagerObject::propertiesChanged(const std::vector<std::string>& names) {
  getObject().emitPropertiesChangedSignal(INTERFACE_NAME, names);
}

}  // namespace keepalive::daemon
