// SPDX-License-Identifier: GPL-2.0-or-later
// The per-user state machine: a check (inline, or on a worker for a home that may hang) and
// what its result makes of the user's record: ok, repaired, refused, non-compliant, error with a
// retry and backoff, unresponsive; a user who fights the repairs has their watch put down for a
// while; the counters follow every change, and what is said about it is rate-limited per user.
#include <sys/inotify.h>

#include <algorithm>
#include <cerrno>

#include "adapters/log.h"
#include "adapters/user_watch_masks.h"
#include "adapters/user_watcher.h"
#include "adapters/user_watcher_detail.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {

using detail::configPath;

bool UserWatcher::announce(const std::string& user, const char* kind) {
  const std::int64_t now = sys::monotonicUsec();
  if (limiter_.allow(user, kind, now))
    return true;
  int enabled = SD_EVENT_OFF;
  sd_event_source_get_enabled(summaryTimer_, &enabled);
  if (enabled == SD_EVENT_OFF) {
    sd_event_source_set_time(summaryTimer_,
                             static_cast<std::uint64_t>(now + limiter_.periodUsec()));
    sd_event_source_set_enabled(summaryTimer_, SD_EVENT_ONESHOT);
  }
  return false;
}

int UserWatcher::onSuppressedSummary(sd_event_source*, std::uint64_t, void* self) {
  auto& w = *static_cast<UserWatcher*>(self);
  for (const auto& s : w.limiter_.due(sys::monotonicUsec()))
    log::structured(
        LogEvent::Level::kNotice,
        describeSuppressed(s) + " (every one is counted: keepalivectl users " + s.key + ")",
        {{"USER", s.key}, {"ACTION", "suppressed"}}, log::kMessageIdSuppressed);
  if (auto next = w.limiter_.nextDueUsec()) {
    sd_event_source_set_time(w.summaryTimer_, static_cast<std::uint64_t>(*next));
    sd_event_source_set_enabled(w.summaryTimer_, SD_EVENT_ONESHOT);
  }
  return 0;
}

void UserWatcher::tally(const UserRecord& r, int sign) {
  const bool bad = !isCompliant(r.state);
  const long d = sign;
  nonCompliant_ += d * bad;
  unwatched_ += d * r.unwatched;
  unresponsive_ += d * (r.state == UserState::kUnresponsive);
  watches_ += d * (r.handle >= 0);
}

void UserWatcher::afterChange() {
  if (configuring_ || (unwatched_ == reportedUnwatched_ && unresponsive_ == reportedUnresponsive_))
    return;
  reportedUnwatched_ = unwatched_;
  reportedUnresponsive_ = unresponsive_;
  if (healthChanged_)
    healthChanged_();
}

void UserWatcher::recount() {
  nonCompliant_ = unwatched_ = unresponsive_ = watches_ = 0;
  for (const auto& r : records_)
    tally(r, +1);
}

void UserWatcher::watch(std::size_t i) {
  UserRecord& rec = records_[i];
  Tally t(*this, rec);
  const std::string home = io::underRoot(root_, rec.user.home);
  const std::uint32_t token = nextToken_++;
  // Watch ~/.ssh when it is a real directory; IN_DONT_FOLLOW keeps a symlink from redirecting
  // the watch (the check refuses it anyway). Without one, watch the home for its creation.
  bool watchingHome = false;
  int h = inotify_.add(home + "/.ssh", kSshDirMask, handlerFor(i, token), true);
  if (h < 0 && h != -ENOSPC) {
    h = inotify_.add(home, kHomeMask, handlerFor(i, token), true);
    watchingHome = true;
  }
  rec.unwatched = h == -ENOSPC;
  if (h < 0)
    return;
  rec.handle = h;
  rec.watchingHome = watchingHome;
  rec.watchToken = token;
}

void UserWatcher::unwatch(UserRecord& rec) {
  Tally t(*this, rec);
  if (rec.handle >= 0)
    inotify_.remove(rec.handle);
  rec.handle = -1;
  rec.watchToken = 0;
}

void UserWatcher::check(std::size_t i, const char* why) {
  UserRecord& rec = records_[i];
  if (rec.remote) {
    checkRemote(i, why);
    return;
  }
  if (rec.retry_at_usec > sys::monotonicUsec())
    return;  // failed lately: the retry timer comes back to it
  // The watch first, then the check: a change between the two is seen by one or the other.
  if (rec.handle < 0)
    watch(i);
  const UserCheck c = checkUser(rec.user, root_, configMode_, dirMode_, enforce_);
  record(i, c, why);
  blocks_->afterCheck(rec.user, c);
}

void UserWatcher::checkRemote(std::size_t i, const char* why) {
  UserRecord& rec = records_[i];
  if (rec.inFlight) {
    rec.recheck = true;  // one check per user at a time: a hung home holds one worker only
    return;
  }
  if (rec.retry_at_usec > sys::monotonicUsec())
    return;
  rec.inFlight = true;
  rec.recheck = false;
  // Adding the watch resolves the home's path too, so it happens on the worker as well.
  remote_->submit({rec.user, root_, io::underRoot(root_, rec.user.home), configMode_, dirMode_,
                   enforce_, rec.handle < 0, inotify_.fd(), why});
}

void UserWatcher::finishRemote(const std::string& name, const RemoteChecks::Result& r) {
  const int wd = r.wd, watchErr = r.watchErr;
  const bool home = r.atHome;
  const UserCheck& c = r.check;
  const char* why = r.why;
  const std::size_t i = indexOf(name);
  if (i == records_.size()) {
    // The user went away meanwhile: give the watch back, unless someone else shares it.
    if (wd >= 0) {
      bool missed = false;
      inotify_.remove(inotify_.adopt(wd, nullptr, missed));
    }
    if (remote_->idle() && settled_)
      settled_();
    return;
  }
  UserRecord& rec = records_[i];
  rec.inFlight = false;
  bool missed = false;
  {
    Tally t(*this, rec);
    if (wd >= 0) {
      const std::uint32_t token = nextToken_++;
      const int h = inotify_.adopt(wd, handlerFor(i, token), missed, true);
      if (rec.handle >= 0) {
        inotify_.remove(h);  // watched meanwhile (configure kept an older one)
      } else {
        rec.handle = h;
        rec.watchingHome = home;
        rec.watchToken = token;
      }
    }
    if (wd >= 0)
      rec.unwatched = false;
    else if (watchErr)
      rec.unwatched = watchErr == ENOSPC;
  }
  const bool late = rec.state == UserState::kUnresponsive;
  record(i, c, why);
  blocks_->afterCheck(rec.user, c);
  if (late && rec.state != UserState::kUnresponsive) {
    const bool announced = announce(rec.user.name, "state change");
    if (announced)
      log::structured(LogEvent::Level::kNotice,
                      "the home \"" + rec.user.home + "\" of " + rec.user.name + " answers again",
                      {{"USER", rec.user.name}, {"PATH", rec.user.home}, {"ACTION", "responsive"}},
                      log::kMessageIdUnresponsive);
    rowChanged(rec);
    if (listener_)
      listener_(rec, "responsive", "", announced);
  }
  if (rec.rewatch) {
    // The home was replaced (or mounted over) while the worker looked: the watch it brought may
    // be on the directory that left.
    rec.rewatch = false;
    unwatch(rec);
    check(i, "home replaced");
  } else if (missed || rec.recheck) {
    check(i, "inotify");
  }
  if (remote_->idle() && settled_)
    settled_();
}

void UserWatcher::overdue(const std::string& name) {
  const std::size_t i = indexOf(name);
  if (i == records_.size())
    return;
  UserRecord& rec = records_[i];
  const std::string fstype = mounts_->table().fstypeOf(io::underRoot(root_, rec.user.home));
  rec.detail = "the home (" + (fstype.empty() ? std::string("?") : fstype) +
               ") did not answer within " + std::to_string(kRemoteDeadline.count() / 1000) + " s";
  if (rec.state != UserState::kUnresponsive) {
    rec.action.clear();
    {
      Tally t(*this, rec);
      rec.state = UserState::kUnresponsive;
    }
    rec.last_change_usec = sys::realtimeUsec();
    const bool announced = announce(rec.user.name, "state change");
    if (announced)
      log::structured(
          LogEvent::Level::kWarning,
          "the home \"" + rec.user.home + "\" of " + rec.user.name + " is not answering (" +
              rec.detail + "); retrying with backoff",
          {{"USER", rec.user.name}, {"PATH", rec.user.home}, {"ACTION", "unresponsive"}},
          log::kMessageIdUnresponsive);
    rowChanged(rec);
    if (listener_)
      listener_(rec, "unresponsive", rec.detail, announced);
  }
  fail(rec);
}

void UserWatcher::fail(UserRecord& rec) {
  // 5 s, 10 s, 20 s, ... up to an hour: a dead server or a root_squash refusal is not hammered,
  // and a transient failure is retried soon.
  const std::uint32_t shift = std::min<std::uint32_t>(rec.failures, 20);
  ++rec.failures;
  const std::int64_t delay =
      std::min<std::int64_t>(std::chrono::microseconds(kRetryFirst).count() << shift,
                             std::chrono::microseconds(kRetryMax).count());
  rec.retry_at_usec = sys::monotonicUsec() + delay;
  armRetryAt(rec.retry_at_usec);
}

bool UserWatcher::quickRepair(UserRecord& rec) {
  const std::int64_t now = sys::monotonicUsec();
  rec.quickRepairs = now - rec.lastRepairUsec < kQuickRepair.count() ? rec.quickRepairs + 1 : 0;
  rec.lastRepairUsec = now;
  if (rec.quickRepairs < kQuickRepairsHot)
    return false;
  rec.quickRepairs = 0;
  return true;
}

void UserWatcher::putDownWatch(UserRecord& rec) {
  unwatch(rec);
  rec.retry_at_usec = sys::monotonicUsec() + kPutDown.count();
  armRetryAt(rec.retry_at_usec);
}

void UserWatcher::record(std::size_t i, const UserCheck& c, const char* why) {
  UserRecord& rec = records_[i];
  if (c.raced) {
    // The user (or a storm of chmods) changed the file while we repaired it: not a failure, no
    // state change, no backoff; look again in 100 ms, when the burst has likely passed. Until
    // then their watch is put down: a user chmodding in a loop would otherwise wake the loop for
    // every chmod only for check() to skip them. The retry puts it back before it looks.
    putDownWatch(rec);
    return;
  }
  UserState state = rec.state;
  std::string detail;
  std::string done = c.action;  // what was done, or what enforce would do
  std::string action;
  bool announced = true;
  bool hot = false;
  switch (c.result) {
    case UserCheck::Result::kAbsent:
    case UserCheck::Result::kCompliant:
      state = rec.state == UserState::kRepaired ? UserState::kRepaired : UserState::kOk;
      // Still repaired: what was done, when it was done, stays.
      done = state == UserState::kRepaired ? rec.action : std::string();
      break;
    case UserCheck::Result::kRepaired:
      state = UserState::kRepaired;
      ++repairs_;
      ++rec.repairs;
      action = "repaired";
      hot = quickRepair(rec);
      announced = announce(rec.user.name, "repair");
      if (announced)
        log::structured(
            LogEvent::Level::kNotice,
            "repaired \"" + rec.user.home + "/.ssh\" of " + rec.user.name + ": " + c.action + " (" +
                why + ")",
            {{"USER", rec.user.name}, {"PATH", configPath(rec)}, {"ACTION", "repaired"}},
            log::kMessageIdRepaired);
      break;
    case UserCheck::Result::kNonCompliant:
      state = UserState::kNonCompliant;
      detail = c.detail;
      break;
    case UserCheck::Result::kRefused:
      state = UserState::kRefused;
      detail = c.detail;
      break;
    case UserCheck::Result::kError:
      state = UserState::kError;
      detail = c.detail;
      break;
  }
  if (c.result == UserCheck::Result::kError) {
    fail(rec);
  } else {
    rec.failures = 0;
    rec.retry_at_usec = 0;
  }
  if (hot)
    putDownWatch(rec);
  if (state == rec.state && detail == rec.detail && done == rec.action && action.empty())
    return;
  if (state == rec.state && detail == rec.detail && !action.empty()) {  // another repair
    rec.action = done;
    rec.last_change_usec = sys::realtimeUsec();
    rowChanged(rec);
    if (listener_)
      listener_(rec, action, action == "repaired" ? done : detail, announced);
    return;
  }
  {
    Tally t(*this, rec);
    rec.state = state;
  }
  rec.detail = detail;
  rec.action = done;
  rec.last_change_usec = sys::realtimeUsec();
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"USER", rec.user.name}, {"PATH", configPath(rec)}, {"ACTION", ""}};
  auto with = [&](const char* a) {
    auto f = fields;
    f.back().second = a;
    return f;
  };
  if (state == UserState::kRefused) {
    ++refusals_;
    ++rec.refusals;
    action = "refused";
    if ((announced = announce(rec.user.name, "refusal")))
      log::structured(
          LogEvent::Level::kWarning,
          "refusing to touch \"" + rec.user.home + "/.ssh\" of " + rec.user.name + ": " + detail,
          with("refused"), log::kMessageIdRefused);
  } else if (state == UserState::kNonCompliant) {
    action = "reported";
    if ((announced = announce(rec.user.name, "report")))
      log::structured(LogEvent::Level::kWarning,
                      "\"" + rec.user.home + "/.ssh\" of " + rec.user.name +
                          " is not compliant: " + detail + (done.empty() ? "" : "; " + done),
                      with("reported"), log::kMessageIdReported);
  } else if (state == UserState::kError) {
    action = "failed";
    if ((announced = announce(rec.user.name, "failure")))
      log::structured(LogEvent::Level::kWarning,
                      "cannot check \"" + rec.user.home + "/.ssh\" of " + rec.user.name + ": " +
                          detail + "; retrying with backoff",
                      with("failed"), log::kMessageIdFailed);
  }
  rowChanged(rec);
  if (listener_ && !action.empty())
    listener_(rec, action, action == "repaired" ? done : detail, announced);
}

void UserWatcher::armRetryAt(std::int64_t at) {
  // O(1): only ever brings the timer forward; onRetry() rescans for the next one.
  int enabled = SD_EVENT_OFF;
  std::uint64_t armed = 0;
  sd_event_source_get_enabled(retryTimer_, &enabled);
  sd_event_source_get_time(retryTimer_, &armed);
  if (enabled != SD_EVENT_OFF && armed <= static_cast<std::uint64_t>(at))
    return;
  sd_event_source_set_time(retryTimer_, static_cast<std::uint64_t>(at));
  sd_event_source_set_enabled(retryTimer_, SD_EVENT_ONESHOT);
}

void UserWatcher::armRetry() {
  std::int64_t next = 0;
  for (const auto& rec : records_)
    if (rec.retry_at_usec && (!next || rec.retry_at_usec < next))
      next = rec.retry_at_usec;
  if (!next) {
    sd_event_source_set_enabled(retryTimer_, SD_EVENT_OFF);
    return;
  }
  sd_event_source_set_time(retryTimer_, static_cast<std::uint64_t>(next));
  sd_event_source_set_enabled(retryTimer_, SD_EVENT_ONESHOT);
}

int UserWatcher::onRetry(sd_event_source*, std::uint64_t, void* self) {
  auto* w = static_cast<UserWatcher*>(self);
  const std::int64_t now = sys::monotonicUsec();
  for (std::size_t i = 0; i < w->records_.size(); ++i) {
    UserRecord& rec = w->records_[i];
    if (!rec.retry_at_usec || rec.retry_at_usec > now)
      continue;
    rec.retry_at_usec = 0;
    if (rec.inFlight)
      rec.recheck = true;  // still hung: checked again once the worker comes back
    else
      w->check(i, "retry");
  }
  w->armRetry();
  return 0;
}

void UserWatcher::armUnwatchedRescan() {
  // Only while some home has no watch: otherwise nothing wakes us up but events.
  if (unwatched() == 0) {
    sd_event_source_set_enabled(unwatchedTimer_, SD_EVENT_OFF);
    return;
  }
  sd_event_source_set_time_relative(
      unwatchedTimer_,
      static_cast<std::uint64_t>(std::chrono::microseconds(unwatchedPeriod_).count()));
  sd_event_source_set_enabled(unwatchedTimer_, SD_EVENT_ONESHOT);
}

int UserWatcher::onUnwatchedRescan(sd_event_source*, std::uint64_t, void* self) {
  auto* w = static_cast<UserWatcher*>(self);
  // Check the homes inotify cannot see; their watches are retried too (the limit may have been
  // raised, or other watches freed).
  for (std::size_t i = 0; i < w->records_.size(); ++i)
    if (w->records_[i].unwatched)
      w->check(i, "periodic rescan of an unwatched home");
  w->armUnwatchedRescan();
  return 0;
}

}  // namespace keepalive::daemon
