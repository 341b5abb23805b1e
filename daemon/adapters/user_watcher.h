// SPDX-License-Identifier: GPL-2.0-or-later
// Keeps covered users' ~/.ssh/config compliant: a full scan whenever the policy changes, a scan
// of the new and changed users whenever the passwd file does, then inotify on each user's ~/.ssh
// (the directory, not the file: editors and sed -i replace the file) or, while there is none, on
// the home, to catch its creation. Watches live as long as the user and their home do.
//
// No coverage holes: a watch follows its inode, so a home renamed away (mv /home/alice
// /home/alice.old; mkdir /home/alice) would take the user's watch with it. The homes' parent
// directories (few: /home, /srv/home) are watched for their entries coming and going, and a
// mount or unmount at, above or under a home (containers change the table often) re-watches
// and re-checks only the homes it touches; see rescanHome().
//
// Homes on file systems that may hang (NFS, FUSE, autofs; see core/mounts.h) are checked and
// watched by worker threads with a deadline: a user whose home does not answer is marked
// unresponsive and retried with backoff, and the loop goes on serving everyone else.
//
// Rooms, one job each; this class wires them to the records and to inotify:
//   passwd_source.*        who the users are (NSS, or ROOT/etc/passwd)
//   mount_watch.*          which mount holds each home (mountinfo's POLLPRI)
//   remote_checks.*        checks of homes that may hang, on workers with a deadline
//   user_watcher_states.cpp  the per-user state machine: check, repair, retry with backoff,
//                          put-down of a hot user's watch, the counters and what is said
//   user_blocks.*          client.per_user_block: one helper run per user at a time
//   user_watcher.cpp       the wiring: configure(), inotify events and their queue, Check
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/inotify.h"
#include "adapters/mount_watch.h"
#include "adapters/passwd_source.h"
#include "adapters/remote_checks.h"
#include "adapters/user_blocks.h"
#include "adapters/user_fs.h"
#include "core/rate_limit.h"
#include "core/users.h"

namespace keepalive::daemon {

struct UserRecord {
  UserEntry user;
  // What is true now and not as the policy wants ("~/.ssh/config is group-writable (0664)"), or
  // why refused, failed or unresponsive; "" for ok and repaired.
  std::string detail;
  // What was done ("~/.ssh/config: mode set to 0600", kept while repaired: at last_change) or
  // what enforce would do ("~/.ssh/config: enforce would set mode 0600"); "" for neither.
  std::string action;
  std::int64_t last_change_usec = 0;  // CLOCK_REALTIME of the last state change; 0 = none
  std::uint32_t repairs = 0, refusals = 0;
  UserState state = UserState::kOk;
  bool unwatched = false;  // no watch: inotify's limit is reached (ENOSPC)
  bool remote = false;     // on a file system that may hang: checked by the workers
  // For the journal and Check: "STATE: DETAIL" (ListUsers carries them apart).
  std::string stateText() const { return userStateText(state, detail); }

  // The watcher's bookkeeping, widest first: 100k of these, no padding between.
  std::int64_t lastRepairUsec = 0;  // CLOCK_MONOTONIC
  std::int64_t retry_at_usec = 0;   // CLOCK_MONOTONIC; 0 = no retry pending
  int handle = -1;                  // inotify handle, -1 = none
  std::uint32_t watchToken = 0;     // tells a stale watch's events from the current one's
  std::uint32_t quickRepairs = 0;   // repairs in a row, each within kQuickRepair of the last
  std::uint32_t failures = 0;       // consecutive errors or timeouts: the backoff's exponent
  bool watchingHome = false;
  bool inFlight = false;       // a worker is checking this user
  bool queued = false;         // in the check queue (an inotify event)
  std::uint8_t queuedWhy = 0;  // UserWatcher's kQueueReasons: why it was queued
  bool recheck = false;        // an event came meanwhile: check again when it is done
  bool rewatch = false;  // the home was replaced during a worker's check: its watch may be stale
};

class UserWatcher {
 public:
  // A repair, refusal or other state change: for D-Bus. what: the change made (for "repaired")
  // or the reason. announced: within the user's rate limit (kAnnounceBurst per
  // kAnnouncePeriod), so journalled and worth a signal; false: counted, and summed up in one
  // line when the window ends. Every change is reported, announced or not.
  using Listener = std::function<void(const UserRecord&, const std::string& action,
                                      const std::string& what, bool announced)>;

  // The per-user block's helper (client.per_user_block) and the ssh it checks the file with.
  using BlockTools = UserBlockTools;
  UserWatcher(sd_event* loop, Inotify& inotify, std::string root, BlockTools tools);
  ~UserWatcher();
  UserWatcher(const UserWatcher&) = delete;
  UserWatcher& operator=(const UserWatcher&) = delete;

  // Re-reads the users. full: re-check everyone (the policy changed); otherwise only the users
  // that are new or whose uid, gid or home changed (the passwd file changed).
  void configure(const policy::Resolved& r, bool full);
  void setListener(Listener l) { listener_ = std::move(l); }
  // D-Bus Check: a fresh look at every covered user, changing nothing ("USER: finding" lines,
  // at most 1000 and a count of the rest). Homes that may hang report their last state instead
  // of being looked at on the loop. Each line carries the user's uid (none: the count), so that
  // a caller who is not root gets only its own; onlyUid: look at that uid's users only.
  struct Finding {
    std::optional<uid_t> uid;
    std::string text;
  };
  std::vector<Finding> verify(std::optional<uid_t> onlyUid = std::nullopt) const;
  // The same, in slices of at most `slice` of loop time each at idle priority, so that a Check
  // at 100k users never holds the loop; done gets what verify() would return. Users added or
  // removed meanwhile are seen or not as the scan meets them (it goes by name). Dropped,
  // done uncalled, when the watcher is destroyed first.
  using VerifyDone = std::function<void(std::vector<Finding>)>;
  void verifyAsync(std::optional<uid_t> onlyUid, VerifyDone done,
                   std::chrono::microseconds slice = std::chrono::microseconds(500));
  // After every change of a record (state, counts, watch; not while configure() runs): D-Bus
  // keeps ListUsers' rows from it, one row per change.
  void setRecordChanged(std::function<void(const UserRecord&)> f) { recordChanged_ = std::move(f); }
  // After configure(): every record may have changed, come or gone.
  void setRecordsReplaced(std::function<void()> f) { recordsReplaced_ = std::move(f); }
  // Called when the last pending worker check is done: counts are final until the next event.
  void setSettled(std::function<void()> f) { settled_ = std::move(f); }
  // Called when the number of unwatched or unresponsive users changed outside configure() (a
  // watch regained at a periodic rescan, a home that stopped or started answering).
  void setHealthChanged(std::function<void()> f) { healthChanged_ = std::move(f); }

  std::size_t covered() const { return records_.size(); }
  // Kept up to date as records change: O(1), for status and D-Bus on every event.
  std::size_t nonCompliant() const { return static_cast<std::size_t>(nonCompliant_); }
  std::size_t unwatched() const { return static_cast<std::size_t>(unwatched_); }
  std::size_t unresponsive() const { return static_cast<std::size_t>(unresponsive_); }
  std::size_t watches() const { return static_cast<std::size_t>(watches_); }
  std::uint64_t repairs() const { return repairs_; }
  std::uint64_t refusals() const { return refusals_; }
  const std::vector<UserRecord>& records() const { return records_; }  // sorted by name
  const UserRecord* find(const std::string& name) const;
  // The name of a uid as the last read of the users listed it (every user, covered or not; the
  // first entry of a uid, as getpwuid gives it): per-user data for a bus caller's uid without
  // an NSS call on the loop. nullptr when unknown (or users: off, which reads no users).
  const std::string* nameOfUid(uid_t uid) const;

  // Deadline of a check on a home that may hang, and the backoff of retries.
  static constexpr std::chrono::milliseconds kRemoteDeadline{5000};
  static constexpr std::chrono::seconds kRetryFirst{5};
  static constexpr std::chrono::seconds kRetryMax{3600};
  // Homes without a watch are re-checked every minute, or every reconcile_interval if shorter.
  static constexpr std::chrono::seconds kUnwatchedRescan{60};
  // What one user's actions make the daemon say (journal, log, D-Bus signals) is limited to
  // this many events per period; repairs themselves never wait.
  static constexpr std::uint32_t kAnnounceBurst = 10;
  static constexpr std::chrono::seconds kAnnouncePeriod{10};
  // A user who changes their file in a loop puts their own watch down for kPutDown, not the
  // daemon's CPU: when a repair races their chmod, or when they undo kQuickRepairsHot repairs
  // in a row each within kQuickRepair. The retry then puts the watch back before it looks, so
  // their file is repaired at the latest kPutDown after they stop.
  static constexpr std::chrono::microseconds kPutDown{100000};
  static constexpr std::chrono::microseconds kQuickRepair{50000};
  static constexpr std::uint32_t kQuickRepairsHot = 10;
  std::chrono::seconds unwatchedPeriod() const { return unwatchedPeriod_; }

 private:
  std::size_t indexOf(const std::string& name) const;  // records_.size() when absent
  std::unordered_map<uid_t, std::string> uidNames_;
  void verifyOne(const UserRecord& rec, std::vector<Finding>& out, std::size_t& more) const;
  static int onVerify(sd_event_source*, void* self);
  void check(std::size_t i, const char* why);
  // why: a string literal (it travels to a worker and back).
  void checkRemote(std::size_t i, const char* why);
  void finishRemote(const std::string& name, const RemoteChecks::Result& r);
  void overdue(const std::string& name);
  void record(std::size_t i, const UserCheck& c, const char* why);
  void fail(UserRecord& rec);
  void watch(std::size_t i);
  void unwatch(UserRecord& rec);
  Inotify::Handler handlerFor(std::size_t i, std::uint32_t token);
  void onEvent(std::size_t i, std::uint32_t token, const inotify_event& ev,
               const std::string& entry);
  // Events are queued, one entry per user however many events they caused, and checked in
  // arrival order once the inotify batch is read: a user changing their file in a loop costs
  // one check per round, and everyone else's events wait for at most that.
  void queueCheck(std::size_t i, const char* why);
  static int onQueued(sd_event_source*, void* self);
  // True when this per-user event may be journalled and signalled (see kAnnounceBurst).
  bool announce(const std::string& user, const char* kind);
  // True when this repair makes kQuickRepairsHot quick ones in a row (see kPutDown).
  bool quickRepair(UserRecord& rec);
  // No watch until the retry kPutDown from now, which puts it back before it looks.
  void putDownWatch(UserRecord& rec);
  static int onSuppressedSummary(sd_event_source*, std::uint64_t, void* self);
  // Mount points that changed (MountWatch): the homes at, under or above them are re-watched
  // and re-checked, and the parents' watches at or under them put back.
  void onMountsChanged(const std::vector<std::string>& points);
  // The home-space paths ("/home/alice", not ROOT/home/alice) of mount points; "/" when one is
  // at or above the root.
  std::vector<std::string> homeSpace(const std::vector<std::string>& points) const;
  // Record indices whose home is at, under or above one of the (home-space) points.
  std::vector<std::uint32_t> homesAffectedBy(const std::vector<std::string>& points) const;
  // Its watch dropped (it may be on a directory no longer at the home's path, or under a mount)
  // and a check queued, which watches the home anew first.
  void rescanHome(std::size_t i, const char* why);
  // The homes' parent directories, watched for homes renamed, removed or made anew.
  struct ParentDir {
    std::string path;  // home-space
    int handle = -1;
  };
  static constexpr std::uint32_t kNoParent = static_cast<std::uint32_t>(-1);
  // After the records changed: parents_ (kept watches stay), parentOf_, byParent_, byHome_.
  void rebuildHomeIndex();
  void watchParent(ParentDir& p);
  void onParentEvent(const std::string& path, const inotify_event& ev, const std::string& entry);
  // The counters: a record's share out before it changes, back in after.
  void tally(const UserRecord& r, int sign);
  void recount();
  void afterChange();
  // recordChanged_, outside configure(); also after the fields a Tally does not cover.
  void rowChanged(const UserRecord& r) {
    if (recordChanged_ && !configuring_)
      recordChanged_(r);
  }
  struct Tally {
    UserWatcher& w;
    const UserRecord& r;
    Tally(UserWatcher& watcher, const UserRecord& rec) : w(watcher), r(rec) { w.tally(r, -1); }
    ~Tally() {
      w.tally(r, +1);
      w.afterChange();
      w.rowChanged(r);
    }
    Tally(const Tally&) = delete;
    Tally& operator=(const Tally&) = delete;
  };
  void armRetry();
  void armRetryAt(std::int64_t at);
  void armUnwatchedRescan();
  static int onRetry(sd_event_source*, std::uint64_t, void* self);
  static int onUnwatchedRescan(sd_event_source*, std::uint64_t, void* self);

  sd_event* loop_;
  Inotify& inotify_;
  std::string root_;
  mode_t configMode_ = 0600, dirMode_ = 0700;
  bool enforce_ = false;
  std::chrono::seconds unwatchedPeriod_ = kUnwatchedRescan;
  std::vector<UserRecord> records_;
  std::unique_ptr<MountWatch> mounts_;
  std::vector<ParentDir> parents_;       // sorted by path; one watch each
  std::vector<std::uint32_t> parentOf_;  // per record: its index in parents_, or kNoParent
  // Record indices by (parent, home's last component): a parent's event to its users in
  // O(log n). And by home: a mount point to the homes at or under it. 4 bytes a user each.
  std::vector<std::uint32_t> byParent_;
  std::vector<std::uint32_t> byHome_;
  bool mayHangMounts_ = false;  // the records' `remote` were set from a table with such mounts
  sd_event_source* retryTimer_ = nullptr;
  sd_event_source* unwatchedTimer_ = nullptr;
  sd_event_source* queueSource_ = nullptr;
  sd_event_source* summaryTimer_ = nullptr;
  // Indices into records_, each user once (UserRecord::queued); 4 bytes an entry, as a storm
  // queues 100k. configure() re-reads them from the flags when it moves the records.
  std::vector<std::uint32_t> queue_;
  RateLimiter limiter_{kAnnounceBurst, std::chrono::microseconds(kAnnouncePeriod).count()};
  std::uint32_t nextToken_ = 1;
  std::uint64_t repairs_ = 0, refusals_ = 0;
  std::int64_t nonCompliant_ = 0, unwatched_ = 0, unresponsive_ = 0, watches_ = 0;
  std::unique_ptr<UserBlocks> blocks_;
  Listener listener_;
  std::function<void()> settled_;
  std::function<void()> healthChanged_;
  std::function<void(const UserRecord&)> recordChanged_;
  std::function<void()> recordsReplaced_;
  struct VerifyJob {
    std::optional<uid_t> onlyUid;
    VerifyDone done;
    std::chrono::microseconds slice;
    std::string next;  // the name to go on from; "" = the start
    std::vector<Finding> out;
    std::size_t more = 0;
  };
  std::deque<VerifyJob> verifyJobs_;
  sd_event_source* verifySource_ = nullptr;
  bool configuring_ = false;
  // During a full scan (configure() with every user to check): the index of the next user it
  // checks. Events of users from there on need no check of their own.
  static constexpr std::size_t kNoScan = static_cast<std::size_t>(-1);
  std::size_t scanNext_ = kNoScan;
  std::int64_t reportedUnwatched_ = 0, reportedUnresponsive_ = 0;
  // Last: destroyed first, so no result of a worker reaches a half-destroyed watcher.
  std::unique_ptr<RemoteChecks> remote_;
};

}  // namespace keepalive::daemon
