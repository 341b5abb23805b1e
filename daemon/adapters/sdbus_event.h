// SPDX-License-Identifier: GPL-2.0-or-later
// An sdbus-c++ (1.2) connection served by an sd-event loop, on the loop's thread. sdbus-c++ 1.2
// has no sd-event attachment of its own: the connection's fd and timeout
// (getEventLoopPollData) become an io and a timer source, refreshed before every poll, and each
// wake-up processes one message (processPendingRequest), as sd-bus's own sd_bus_attach_event
// does. Any IConnection: the D-Bus service's, and the systemd manager adapter's.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <stdexcept>
#include <string>

namespace sdbus {
class IConnection;
}

namespace keepalive::daemon {

// The loop refused a source, or the connection has no fd: "sd-event: DESCRIPTION: reason".
class SdbusEventError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SdbusEventSource {
 public:
  // Called once when processing the connection fails (the bus went away): the sources are off
  // by then, every asynchronous call still waiting has had its error reply (sd-bus fails them
  // as it closes), and the connection is processed no more. It may destroy this object; a new
  // connection and a new SdbusEventSource rejoin the bus.
  using Lost = std::function<void(const std::string& why)>;

  // Attaches bus to loop at `priority` (sd-event's; the daemon's own events come first at
  // SD_EVENT_PRIORITY_NORMAL too, in order). description names the sources ("dbus-io",
  // "dbus-timeout" for "dbus"). Throws SdbusEventError. bus must outlive this object.
  SdbusEventSource(sd_event* loop, sdbus::IConnection& bus, Lost lost,
                   const std::string& description = "dbus",
                   int priority = SD_EVENT_PRIORITY_NORMAL);
  // Detaches: nothing of the connection is processed afterwards.
  ~SdbusEventSource();
  SdbusEventSource(const SdbusEventSource&) = delete;
  SdbusEventSource& operator=(const SdbusEventSource&) = delete;

  bool connected() const { return connected_; }

 private:
  static int onPrepare(sd_event_source*, void* self);
  static int onIo(sd_event_source*, int, std::uint32_t, void* self);
  static int onTimer(sd_event_source*, std::uint64_t, void* self);
  void process();
  void lose(const std::string& why);

  sdbus::IConnection& bus_;
  Lost lost_;
  sd_event_source* io_ = nullptr;
  sd_event_source* timer_ = nullptr;
  bool connected_ = true;
};

}  // namespace keepalive::daemon
