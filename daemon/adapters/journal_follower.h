// SPDX-License-Identifier: GPL-2.0-or-later
// Disconnect accounting's edge (issue 17): follows sshd's lines in the system journal on the
// daemon's sd-event loop, hands each to the pure SessionTracker (core/disconnects.h), keeps the
// sessions that ended in the DisconnectStore (core/disconnect_store.h) and persists the store.
//
// Never waits: the journal's fd is an IO source (sd_journal_get_fd/get_events, a timer only when
// sd_journal_get_timeout asks for one); entries are read in batches of kBatch per turn of the
// loop, a defer source going on with the rest, so a brute-force attack's flood of sshd lines
// never holds the loop. Matches SYSLOG_IDENTIFIER=sshd and =sshd-session (OpenSSH 9.8 logs
// sessions from the user's session scope, not from ssh.service: never matched by unit).
//
// The store file (STATE_DIR/disconnects.json, mode 0600) is written atomically with the journal
// cursor of the last entry whose effect it holds, coalesced (at most once a second after an
// event, every kCursorSaveInterval when only the cursor moved, and at shutdown): a restart goes
// on after that entry, so it neither loses nor double-counts. A file that does not parse is set
// aside as disconnects.json.corrupt-TIMESTAMP with a warning and accounting starts again empty.
#pragma once

#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/disconnect_store.h"
#include "core/disconnects.h"

namespace keepalive::daemon {

struct JournalFollowerOptions {
  std::string state_dir;  // where disconnects.json lives (ROOT/var/lib/keepalive-policy)
  bool follow = true;     // false: the store is served as loaded, no journal is read ("off")
  // What sshd's lines are read from on a first start (no store): this far back.
  std::chrono::seconds first_start_lookback{7 * 24 * 3600};
  std::size_t batch = 2000;  // entries per turn of the loop
};

class JournalFollower {
 public:
  static constexpr const char* kFileName = "disconnects.json";
  static constexpr std::chrono::milliseconds kSaveDelay{1000};
  static constexpr std::chrono::seconds kCursorSaveInterval{30};

  // networkOf: the policy's network of a client address ("default" outside every network),
  // asked once per session that ended.
  JournalFollower(sd_event* loop, JournalFollowerOptions o,
                  std::function<std::string(const std::string& address)> networkOf);
  ~JournalFollower();  // saves what is not saved yet
  JournalFollower(const JournalFollower&) = delete;
  JournalFollower& operator=(const JournalFollower&) = delete;

  // Loads the store and starts following (or not, as the options say). Failures are logged
  // once and leave the follower "unavailable: WHY"; never fatal.
  void start();
  // Called after the store or the counts changed (a session ended, an event turned 24 h old).
  void setChanged(std::function<void()> f) { changed_ = std::move(f); }
  // The name of a uid's user (nullptr: not known), for the sender of a non-root entry: a line
  // another user wrote about a session is not sshd's (SshdLogEntry::sender_user).
  void setUserOfUid(std::function<const std::string*(std::uint32_t)> f) {
    userOfUid_ = std::move(f);
  }
  // Writes the store now if anything changed since the last write (shutdown).
  void flush();

  const DisconnectStore& store() const { return store_; }
  // "following" | "off" | "unavailable: WHY" (JournalState).
  const std::string& state() const { return state_; }

 private:
  static int onIo(sd_event_source*, int fd, std::uint32_t revents, void* self);
  static int onJournalTimeout(sd_event_source*, std::uint64_t, void* self);
  static int onRead(sd_event_source*, void* self);
  static int onSave(sd_event_source*, std::uint64_t, void* self);
  static int onExpiry(sd_event_source*, std::uint64_t, void* self);

  void load();
  bool openJournal(std::string& why);
  void process();  // sd_journal_process and re-arm the timeout
  void armJournalTimeout();
  void readBatch();
  void feed();  // the current entry
  void scheduleSave(bool significant);
  void armExpiry();
  void unavailable(const std::string& why);
  void changed();

  sd_event* loop_;
  JournalFollowerOptions o_;
  std::function<std::string(const std::string&)> networkOf_;
  std::function<void()> changed_;
  std::function<const std::string*(std::uint32_t)> userOfUid_;
  sd_journal* journal_ = nullptr;
  sd_event_source* io_ = nullptr;
  sd_event_source* journalTimer_ = nullptr;
  sd_event_source* read_ = nullptr;
  sd_event_source* saveTimer_ = nullptr;
  sd_event_source* expiryTimer_ = nullptr;
  SessionTracker tracker_;
  DisconnectStore store_;
  std::string state_ = "off";
  std::string lastCursor_;                     // of the last entry fed
  std::string message_, identifier_, bootId_;  // the entry being fed (copies)
  bool pendingCurrent_ = false;                // the entry under the read pointer is not fed yet
  bool dirty_ = false;                         // the file is behind
  bool significant_ = false;                   // ... by an event or a session, not just the cursor
  std::uint64_t lastSaveUsec_ = 0;             // CLOCK_MONOTONIC
};

}  // namespace keepalive::daemon
