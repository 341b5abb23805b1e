// Drives an sdbus-c++ 1.2 connection from the daemon's sd-event loop: sdbus-c++ 1.2 has no
// sd-event attachment, so the connection's fd and timeout (getEventLoopPollData) become an io
// and a timer source, refreshed before every poll, and each wake-up processes one message
// (processPendingRequest), as sd-bus's own sd_bus_attach_event does. Replies to asynchronous
// calls and signals then arrive as events; nothing waits for the bus.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <string>

namespace sdbus {
class IConnection;
}

namespace keepalive::daemon {

class BusAttachment {
 public:
  // lost: called once when the connection fails; the sources are off from then on.
  BusAttachment(sd_event* loop, sdbus::IConnection& bus, std::function<void(std::string)> lost);
  ~BusAttachment();
  BusAttachment(const BusAttachment&) = delete;
  BusAttachment& operator=(const BusAttachment&) = delete;

  bool connected() const { return connected_; }

 private:
  static int onPrepare(sd_event_source*, void* self);
  static int onIo(sd_event_source*, int, std::uint32_t, void* self);
  static int onTimer(sd_event_source*, std::uint64_t, void* self);
  void process();
  void lose(const std::string& why);

  sdbus::IConnection& bus_;
  std::function<void(std::string)> lost_;
  sd_event_source* io_ = nullptr;
  sd_event_source* timer_ = nullptr;
  bool connected_ = true;
};

}  // namespace keepalive::daemon
