#include "bus_attachment.h"

#include <cstring>
#include <stdexcept>

#include <sdbus-c++/sdbus-c++.h>

namespace keepalive::daemon {

BusAttachment::BusAttachment(sd_event* loop, sdbus::IConnection& bus,
                             std::function<void(std::string)> lost)
    : bus_(bus), lost_(std::move(lost)) {
  const auto pd = bus_.getEventLoopPollData();
  int r = sd_event_add_io(loop, &io_, pd.fd, static_cast<std::uint32_t>(pd.events),
                          &BusAttachment::onIo, this);
  if (r >= 0)
    r = sd_event_source_set_prepare(io_, &BusAttachment::onPrepare);
  // Accuracy 1 us: a message sd-bus already read (timeout "now") must not wait for another
  // wake-up.
  if (r >= 0)
    r = sd_event_add_time(loop, &timer_, CLOCK_MONOTONIC, 0, 1, &BusAttachment::onTimer, this);
  if (r >= 0)
    r = sd_event_source_set_enabled(timer_, SD_EVENT_OFF);
  if (r < 0) {
    sd_event_source_disable_unref(io_);
    sd_event_source_disable_unref(timer_);
    throw std::runtime_error(std::string("cannot attach the bus to the event loop: ") +
                             std::strerror(-r));
  }
}

BusAttachment::~BusAttachment() {
  sd_event_source_disable_unref(io_);
  sd_event_source_disable_unref(timer_);
}

int BusAttachment::onPrepare(sd_event_source*, void* self) {
  auto* me = static_cast<BusAttachment*>(self);
  if (!me->connected_)
    return 0;
  try {
    const auto pd = me->bus_.getEventLoopPollData();
    sd_event_source_set_io_events(me->io_, static_cast<std::uint32_t>(pd.events));
    if (pd.timeout_usec == UINT64_MAX) {
      sd_event_source_set_enabled(me->timer_, SD_EVENT_OFF);
    } else {
      sd_event_source_set_time(me->timer_, pd.timeout_usec);
      sd_event_source_set_enabled(me->timer_, SD_EVENT_ONESHOT);
    }
  } catch (const sdbus::Error& e) {
    me->lose(e.getMessage());
  }
  return 0;
}

int BusAttachment::onIo(sd_event_source*, int, std::uint32_t, void* self) {
  static_cast<BusAttachment*>(self)->process();
  return 0;
}

int BusAttachment::onTimer(sd_event_source*, std::uint64_t, void* self) {
  static_cast<BusAttachment*>(self)->process();
  return 0;
}

void BusAttachment::process() {
  if (!connected_)
    return;
  try {
    bus_.processPendingRequest();
  } catch (const sdbus::Error& e) {
    lose(e.getMessage());
  }
}

void BusAttachment::lose(const std::string& why) {
  if (!connected_)
    return;
  connected_ = false;
  sd_event_source_set_enabled(io_, SD_EVENT_OFF);
  sd_event_source_set_enabled(timer_, SD_EVENT_OFF);
  if (lost_)
    lost_(why);
}

}  // namespace keepalive::daemon
