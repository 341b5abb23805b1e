// SPDX-License-Identifier: GPL-2.0-or-later
#include "sdbus_event.h"

#include <cstring>

#include <sdbus-c++/sdbus-c++.h>

namespace keepalive::daemon {

SdbusEventSource::SdbusEventSource(sd_event* loop, sdbus::IConnection& bus, Lost lost,
                                   const std::string& description, int priority)
    : bus_(bus), lost_(std::move(lost)) {
  sdbus::IConnection::PollData pd;
  try {
    pd = bus_.getEventLoopPollData();
  } catch (const sdbus::Error& e) {
    throw SdbusEventError("sd-event: " + description + ": " + e.getMessage());
  }
  int r = sd_event_add_io(loop, &io_, pd.fd, static_cast<std::uint32_t>(pd.events),
                          &SdbusEventSource::onIo, this);
  if (r >= 0)
    r = sd_event_source_set_prepare(io_, &SdbusEventSource::onPrepare);
  // Accuracy 1 us: sd-event's default (250 ms) would let a message sd-bus already read (its
  // timeout is then "now") wait for the next wake-up of anything else.
  if (r >= 0)
    r = sd_event_add_time(loop, &timer_, CLOCK_MONOTONIC, 0, 1, &SdbusEventSource::onTimer, this);
  if (r >= 0)
    r = sd_event_source_set_enabled(timer_, SD_EVENT_OFF);
  if (r >= 0)
    r = sd_event_source_set_priority(io_, priority);
  if (r >= 0)
    r = sd_event_source_set_priority(timer_, priority);
  if (r >= 0) {
    sd_event_source_set_description(io_, (description + "-io").c_str());
    sd_event_source_set_description(timer_, (description + "-timeout").c_str());
  }
  if (r < 0) {
    sd_event_source_disable_unref(io_);
    sd_event_source_disable_unref(timer_);
    throw SdbusEventError("sd-event: " + description +
                          ": cannot attach the connection: " + std::strerror(-r));
  }
}

SdbusEventSource::~SdbusEventSource() {
  sd_event_source_disable_unref(io_);
  sd_event_source_disable_unref(timer_);
}

// Before every poll: what sd-bus waits for now (POLLOUT only while it has queued output) and
// when it must run again (0 = it holds read messages: at once).
int SdbusEventSource::onPrepare(sd_event_source*, void* self) {
  auto* me = static_cast<SdbusEventSource*>(self);
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

int SdbusEventSource::onIo(sd_event_source*, int, std::uint32_t, void* self) {
  static_cast<SdbusEventSource*>(self)->process();
  return 0;
}

int SdbusEventSource::onTimer(sd_event_source*, std::uint64_t, void* self) {
  static_cast<SdbusEventSource*>(self)->process();
  return 0;
}

// One message per wake-up, so that signals, inotify and the watchdog get their turn between
// the messages of a burst.
void SdbusEventSource::process() {
  if (!connected_)
    return;
  try {
    bus_.processPendingRequest();
  } catch (const sdbus::Error& e) {
    lose(e.getMessage());
  }
}

void SdbusEventSource::lose(const std::string& why) {
  if (!connected_)
    return;
  connected_ = false;
  sd_event_source_set_enabled(io_, SD_EVENT_OFF);
  sd_event_source_set_enabled(timer_, SD_EVENT_OFF);
  // sd-bus answers each call still awaiting a reply with an error (NoReply, "Connection
  // terminated") as it closes, one per process call: run them out, so that no asynchronous call
  // of ours waits forever for a reply that cannot come. Bounded: a closing connection has no
  // new input.
  for (int i = 0; i < 100000; ++i) {
    try {
      if (!bus_.processPendingRequest())
        break;
    } catch (const sdbus::Error&) {
      break;
    }
  }
  if (lost_)
    lost_(why);  // last: it may destroy us
}

}  // namespace keepalive::daemon
