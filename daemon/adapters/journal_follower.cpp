// SPDX-License-Identifier: GPL-2.0-or-later
#include "adapters/journal_follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include "adapters/fs_store.h"
#include "adapters/log.h"
#include "sys/clock.h"
#include "sys/unique_fd.h"

namespace keepalive::daemon {
namespace {

// 100k events of about 150 bytes, the totals and 20k open sessions fit well within this.
constexpr std::size_t kMaxFileBytes = 256u << 20;

// "FIELD=value" as sd_journal_get_data gives it: the value; empty when the field is absent.
std::string_view field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  std::size_t len = 0;
  if (sd_journal_get_data(j, name, &data, &len) < 0)
    return {};
  std::string_view v(static_cast<const char*>(data), len);
  const std::size_t eq = v.find('=');
  return eq == std::string_view::npos ? std::string_view{} : v.substr(eq + 1);
}

std::string timestampSuffix() {
  const std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::uint64_t nowRealtime() {
  return static_cast<std::uint64_t>(sys::realtimeUsec());
}

std::uint64_t nowMonotonic() {
  return static_cast<std::uint64_t>(sys::monotonicUsec());
}

}  // namespace

JournalFollower::JournalFollower(sd_event* loop, JournalFollowerOptions o,
                                 std::function<std::string(const std::string&)> networkOf)
    : loop_(sd_event_ref(loop)), o_(std::move(o)), networkOf_(std::move(networkOf)) {
  sd_event_add_defer(loop_, &read_, &JournalFollower::onRead, this);
  sd_event_source_set_enabled(read_, SD_EVENT_OFF);
  sd_event_source_set_description(read_, "journal-read");
  sd_event_add_time(loop_, &saveTimer_, CLOCK_MONOTONIC, UINT64_MAX, 100000,
                    &JournalFollower::onSave, this);
  sd_event_source_set_enabled(saveTimer_, SD_EVENT_OFF);
  sd_event_add_time(loop_, &expiryTimer_, CLOCK_REALTIME, UINT64_MAX, 1000000,
                    &JournalFollower::onExpiry, this);
  sd_event_source_set_enabled(expiryTimer_, SD_EVENT_OFF);
}

JournalFollower::~JournalFollower() {
  flush();
  for (auto* s : {io_, journalTimer_, read_, saveTimer_, expiryTimer_})
    sd_event_source_disable_unref(s);
  if (journal_)
    sd_journal_close(journal_);
  sd_event_unref(loop_);
}

void JournalFollower::start() {
  load();
  store_.expire(nowRealtime());
  tracker_.restore(store_.openSessions());
  armExpiry();
  if (!o_.follow) {
    state_ = "off";
    return;
  }
  std::string why;
  if (!openJournal(why)) {
    unavailable(why);
    return;
  }
  state_ = "following";
  log::info("disconnect accounting: following sshd's journal entries " +
            (store_.cursor().empty()
                 ? std::string("from the last ") +
                       std::to_string(o_.first_start_lookback.count() / 86400) + " days"
                 : std::string("from where it stopped")) +
            " (" + std::to_string(store_.size()) + " disconnects kept)");
}

void JournalFollower::load() {
  Status st;
  const auto text = readFileNoFollow(o_.state_dir, kFileName, st, kMaxFileBytes);
  const std::string path = o_.state_dir + "/" + kFileName;
  if (!st) {
    log::warning("disconnect accounting: cannot read \"" + path + "\": " + st.error +
                 "; starting with no history, ignoring");
    return;
  }
  if (!text)
    return;  // first start
  std::string why;
  if (store_.parse(*text, &why))
    return;
  const std::string aside = std::string(kFileName) + ".corrupt-" + timestampSuffix();
  Fd dfd(::open(o_.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0 && ::renameat(dfd.get(), kFileName, dfd.get(), aside.c_str()) == 0) {
    ::fsync(dfd.get());
    log::warning("disconnect accounting: \"" + path + "\" is corrupt (" + why +
                 "); set aside as \"" + o_.state_dir + "/" + aside +
                 "\", starting with no history");
  } else {
    log::warning("disconnect accounting: \"" + path + "\" is corrupt (" + why +
                 ") and cannot be set aside (" + std::strerror(errno) +
                 "); starting with no history, it will be replaced");
  }
}

bool JournalFollower::openJournal(std::string& why) {
  // Not SD_JOURNAL_SYSTEM: after authentication sshd's session child runs as the user, and
  // journald files its lines ("Received disconnect", "Timeout, client not responding", the read
  // errors) in that user's journal file (user-UID.journal, SplitMode=uid), which SYSTEM leaves
  // out: every session would end as "unknown" (seen in tests/system/disconnects_test.sh).
  int r = sd_journal_open(&journal_, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) {
    journal_ = nullptr;
    why = std::string("cannot open the journal: ") + std::strerror(-r);
    return false;
  }
  // Two values of one field: the journal ORs them.
  for (const char* m : {"SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session"})
    if ((r = sd_journal_add_match(journal_, m, 0)) < 0) {
      why = std::string("cannot match ") + m + ": " + std::strerror(-r);
      return false;
    }
  bool seeked = false;
  if (!store_.cursor().empty()) {
    // Go on after the entry the store accounts for last. When that entry is gone (rotated or
    // vacuumed), the read pointer lands on the next one there is, which is not counted yet.
    if (sd_journal_seek_cursor(journal_, store_.cursor().c_str()) >= 0) {
      seeked = true;
      r = sd_journal_next(journal_);
      if (r > 0 && sd_journal_test_cursor(journal_, store_.cursor().c_str()) <= 0)
        pendingCurrent_ = true;
      lastCursor_ = store_.cursor();
    } else {
      log::warning("disconnect accounting: the saved journal cursor is not valid; reading from " +
                   std::to_string(o_.first_start_lookback.count()) + " s ago, ignoring");
    }
  }
  if (!seeked) {
    std::uint64_t from =
        nowRealtime() - static_cast<std::uint64_t>(o_.first_start_lookback.count()) * 1000000ULL;
    std::uint64_t oldest = 0;
    if (sd_journal_get_cutoff_realtime_usec(journal_, &oldest, nullptr) >= 0 && oldest > from)
      from = oldest;
    if (store_.since() == 0)
      store_.setSince(from);
    if ((r = sd_journal_seek_realtime_usec(journal_, from)) < 0) {
      why = std::string("cannot seek: ") + std::strerror(-r);
      return false;
    }
  }
  const int fd = sd_journal_get_fd(journal_);
  if (fd < 0) {
    why = std::string("cannot watch the journal: ") + std::strerror(-fd);
    return false;
  }
  const int events = sd_journal_get_events(journal_);
  r = events < 0 ? events
                 : sd_event_add_io(loop_, &io_, fd, static_cast<std::uint32_t>(events),
                                   &JournalFollower::onIo, this);
  if (r < 0) {
    why = std::string("cannot watch the journal: ") + std::strerror(-r);
    return false;
  }
  sd_event_source_set_description(io_, "journal");
  armJournalTimeout();
  sd_event_source_set_enabled(read_, SD_EVENT_ONESHOT);  // what is there already
  return true;
}

void JournalFollower::unavailable(const std::string& why) {
  state_ = "unavailable: " + why;
  log::warning("disconnect accounting: the journal is unavailable (" + why +
               "); sessions' ends are not counted, ignoring");
  if (io_)
    io_ = sd_event_source_disable_unref(io_);
  if (journal_) {
    sd_journal_close(journal_);
    journal_ = nullptr;
  }
  changed();
}

void JournalFollower::armJournalTimeout() {
  std::uint64_t t = UINT64_MAX;
  if (sd_journal_get_timeout(journal_, &t) < 0 || t == UINT64_MAX) {
    if (journalTimer_)
      sd_event_source_set_enabled(journalTimer_, SD_EVENT_OFF);
    return;
  }
  // The library asks to be called at t (CLOCK_MONOTONIC) even without an event on its fd.
  if (!journalTimer_) {
    sd_event_add_time(loop_, &journalTimer_, CLOCK_MONOTONIC, t, 0,
                      &JournalFollower::onJournalTimeout, this);
    if (!journalTimer_)
      return;
  }
  sd_event_source_set_time(journalTimer_, t);
  sd_event_source_set_enabled(journalTimer_, SD_EVENT_ONESHOT);
}

int JournalFollower::onIo(sd_event_source*, int, std::uint32_t, void* self) {
  static_cast<JournalFollower*>(self)->process();
  return 0;
}

int JournalFollower::onJournalTimeout(sd_event_source*, std::uint64_t, void* self) {
  static_cast<JournalFollower*>(self)->process();
  return 0;
}

void JournalFollower::process() {
  if (!journal_)
    return;
  const int r = sd_journal_process(journal_);
  if (r < 0) {
    unavailable(std::string("cannot process the journal's changes: ") + std::strerror(-r));
    return;
  }
  // SD_JOURNAL_APPEND or INVALIDATE (files added or removed): read on; NOP: nothing new.
  if (r != SD_JOURNAL_NOP)
    sd_event_source_set_enabled(read_, SD_EVENT_ONESHOT);
  armJournalTimeout();
}

int JournalFollower::onRead(sd_event_source*, void* self) {
  static_cast<JournalFollower*>(self)->readBatch();
  return 0;
}

void JournalFollower::readBatch() {
  if (!journal_)
    return;
  std::size_t n = 0;
  bool more = true;
  if (pendingCurrent_) {
    pendingCurrent_ = false;
    feed();
    ++n;
  }
  while (n < o_.batch) {
    const int r = sd_journal_next(journal_);
    if (r < 0) {
      unavailable(std::string("cannot read the journal: ") + std::strerror(-r));
      return;
    }
    if (r == 0) {
      more = false;
      break;
    }
    feed();
    ++n;
  }
  if (n > 0) {
    char* c = nullptr;
    if (sd_journal_get_cursor(journal_, &c) >= 0 && c) {
      lastCursor_ = c;
      std::free(c);
      scheduleSave(false);
    }
  }
  // The rest on a later turn: the loop serves the bus and the other sources in between.
  if (more)
    sd_event_source_set_enabled(read_, SD_EVENT_ONESHOT);
}

void JournalFollower::feed() {
  SshdLogEntry e;
  std::uint64_t t = 0;
  if (sd_journal_get_realtime_usec(journal_, &t) < 0)
    return;
  e.realtime_usec = t;
  // sd_journal_get_data's pointer is valid only until the next call (the mmap window may move):
  // each field is copied before the next is read, into buffers kept between entries.
  message_.assign(field(journal_, "MESSAGE"));
  identifier_.assign(field(journal_, "SYSLOG_IDENTIFIER"));
  bootId_.assign(field(journal_, "_BOOT_ID"));
  e.message = message_;
  e.identifier = identifier_;
  e.boot_id = bootId_;
  const std::string_view pid = field(journal_, "_PID");
  std::uint64_t p = 0;
  for (char ch : pid) {
    if (ch < '0' || ch > '9') {
      p = 0;
      break;
    }
    p = p * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  e.pid = p;
  // Anyone may write a journal entry as SYSLOG_IDENTIFIER=sshd (logger -t sshd): the tracker
  // opens sessions only at root's "Accepted" lines and takes a non-root line only for a session
  // of that same user (SshdLogEntry::from_root, sender_user).
  const std::string_view uid = field(journal_, "_UID");
  e.from_root = uid == "0";
  if (!e.from_root && userOfUid_) {
    std::uint32_t u = 0;
    auto [ptr, ec] = std::from_chars(uid.data(), uid.data() + uid.size(), u);
    const std::string* name = ec == std::errc() && ptr == uid.data() + uid.size() && !uid.empty()
                                  ? userOfUid_(u)
                                  : nullptr;
    if (name)
      e.sender_user = *name;
  }
  const std::size_t openBefore = tracker_.openCount();
  auto ended = tracker_.feed(e);
  if (ended) {
    ended->network = networkOf_ ? networkOf_(ended->address) : std::string("default");
    store_.add(std::move(*ended));
    scheduleSave(true);
    changed();
  } else if (tracker_.openCount() != openBefore) {
    scheduleSave(true);
  }
}

void JournalFollower::scheduleSave(bool significant) {
  dirty_ = true;
  significant_ = significant_ || significant;
  const std::uint64_t delay =
      significant_
          ? static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(kSaveDelay).count())
          : static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(kCursorSaveInterval).count());
  const std::uint64_t at = std::max(nowMonotonic(), lastSaveUsec_ + delay);
  int enabled = SD_EVENT_OFF;
  std::uint64_t due = 0;
  if (sd_event_source_get_enabled(saveTimer_, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
      sd_event_source_get_time(saveTimer_, &due) >= 0 && due <= at)
    return;  // an earlier write is already due
  sd_event_source_set_time(saveTimer_, at);
  sd_event_source_set_enabled(saveTimer_, SD_EVENT_ONESHOT);
}

int JournalFollower::onSave(sd_event_source*, std::uint64_t, void* self) {
  static_cast<JournalFollower*>(self)->flush();
  return 0;
}

void JournalFollower::flush() {
  if (!dirty_)
    return;
  // The cursor and the open sessions of the same moment as the events: one write.
  store_.setCursor(lastCursor_);
  store_.setOpenSessions(tracker_.openSessions());
  store_.expire(nowRealtime());
  ::mkdir(o_.state_dir.c_str(), 0700);  // absent under a fresh test root; EEXIST otherwise
  const Status st = writeFileAtomic(o_.state_dir, kFileName, store_.serialise(), 0600);
  lastSaveUsec_ = nowMonotonic();
  dirty_ = false;
  significant_ = false;
  if (saveTimer_)
    sd_event_source_set_enabled(saveTimer_, SD_EVENT_OFF);
  if (!st)
    log::warning("disconnect accounting: cannot save: " + st.error + ", ignoring");
}

void JournalFollower::armExpiry() {
  // The 24 h counts change by age alone when their oldest event turns 24 h old: one timer at
  // that moment, no polling.
  const auto at = store_.nextCountExpiry(nowRealtime());
  if (!at) {
    sd_event_source_set_enabled(expiryTimer_, SD_EVENT_OFF);
    return;
  }
  sd_event_source_set_time(expiryTimer_, *at);
  sd_event_source_set_enabled(expiryTimer_, SD_EVENT_ONESHOT);
}

int JournalFollower::onExpiry(sd_event_source*, std::uint64_t, void* self) {
  auto* f = static_cast<JournalFollower*>(self);
  f->store_.expire(nowRealtime());
  f->changed();
  return 0;
}

void JournalFollower::changed() {
  armExpiry();
  if (changed_)
    changed_();
}

}  // namespace keepalive::daemon
