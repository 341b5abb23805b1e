// The wiring of the users' watcher: configure() turns passwd and the policy into records and
// starts their checks; inotify's events come in through a queue, one entry per user; Check
// (verify) looks at every home without changing anything. The rest lives in its rooms (see
// user_watcher.h).
#include "user_watcher.h"

#include <malloc.h>
#include <sys/inotify.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "adapters/user_watcher_detail.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {

using detail::configPath;

namespace {

// Why a user was queued, kept in a byte of their record instead of a pointer in the queue.
constexpr const char* kQueueReasons[] = {"inotify", "~/.ssh replaced", "~/.ssh created"};

std::uint8_t queueReason(const char* why) {
  for (std::size_t r = 0; r < std::size(kQueueReasons); ++r)
    if (std::strcmp(kQueueReasons[r], why) == 0)
      return static_cast<std::uint8_t>(r);
  return 0;
}

}  // namespace

UserWatcher::UserWatcher(sd_event* loop, Inotify& inotify, std::string root, BlockTools tools)
    : loop_(loop), inotify_(inotify), root_(std::move(root)) {
  for (auto* t : {&retryTimer_, &unwatchedTimer_}) {
    // 1 ms accuracy: a repair that raced the user's own chmod is retried 100 ms later.
    sd_event_add_time(loop_, t, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                      t == &retryTimer_ ? &UserWatcher::onRetry : &UserWatcher::onUnwatchedRescan,
                      this);
    sd_event_source_set_enabled(*t, SD_EVENT_OFF);
  }
  sd_event_add_time(loop_, &summaryTimer_, CLOCK_MONOTONIC, UINT64_MAX, 100000,
                    &UserWatcher::onSuppressedSummary, this);
  sd_event_source_set_enabled(summaryTimer_, SD_EVENT_OFF);
  sd_event_add_defer(loop_, &queueSource_, &UserWatcher::onQueued, this);
  sd_event_source_set_enabled(queueSource_, SD_EVENT_OFF);
  // Check's slices come after everything else the loop has to do.
  sd_event_add_defer(loop_, &verifySource_, &UserWatcher::onVerify, this);
  sd_event_source_set_priority(verifySource_, SD_EVENT_PRIORITY_IDLE);
  sd_event_source_set_enabled(verifySource_, SD_EVENT_OFF);
  // A home mounted over NFS or FUSE after start is classified before it is next touched.
  mounts_ = std::make_unique<MountWatch>(loop_, [this] { onMountsChanged(); });
  remote_ = std::make_unique<RemoteChecks>(
      loop_, kRemoteDeadline,
      [this](const std::string& name, const RemoteChecks::Result& r) { finishRemote(name, r); },
      [this](const std::string& name) { overdue(name); });
  blocks_ = std::make_unique<UserBlocks>(
      loop_, root_, std::move(tools),
      UserBlocks::Hooks{
          [this](const std::string& user, const char* kind) { return announce(user, kind); },
          [this](const std::string& name) {
            const std::size_t i = indexOf(name);
            return i < records_.size() ? configPath(records_[i]) : std::string();
          },
          [this](const std::string& name) {
            const std::size_t i = indexOf(name);
            if (i < records_.size())
              check(i, "inotify");
          }});
}

UserWatcher::~UserWatcher() {
  remote_.reset();
  blocks_.reset();
  for (auto& rec : records_)
    unwatch(rec);
  sd_event_source_disable_unref(retryTimer_);
  sd_event_source_disable_unref(unwatchedTimer_);
  sd_event_source_disable_unref(summaryTimer_);
  sd_event_source_disable_unref(queueSource_);
  sd_event_source_disable_unref(verifySource_);
  mounts_.reset();
}

void UserWatcher::onMountsChanged() {
  // Containers and automounts change the table often: 100k paths are classified again only
  // when a mount that may hang is or was there.
  const bool any = mounts_->table().anyMayHang();
  if (!any && !mayHangMounts_)
    return;  // none before, none now: every home is still local
  mayHangMounts_ = any;
  for (auto& rec : records_)
    rec.remote = any && mounts_->table().mayHang(io::underRoot(root_, rec.user.home));
}

std::size_t UserWatcher::indexOf(const std::string& name) const {
  auto it =
      std::lower_bound(records_.begin(), records_.end(), name,
                       [](const UserRecord& r, const std::string& n) { return r.user.name < n; });
  return it != records_.end() && it->user.name == name
             ? static_cast<std::size_t>(it - records_.begin())
             : records_.size();
}

const UserRecord* UserWatcher::find(const std::string& name) const {
  const std::size_t i = indexOf(name);
  return i < records_.size() ? &records_[i] : nullptr;
}

void UserWatcher::configure(const policy::Resolved& r, bool full) {
  // The caller reports the health once configure() is done.
  configuring_ = true;
  const auto configMode = static_cast<mode_t>(r.users_config_mode.value);
  const auto dirMode = static_cast<mode_t>(r.users_ssh_dir_mode.value);
  const bool enforce = r.users_action.value == policy::UserAction::kEnforce;
  full = full || configMode != configMode_ || dirMode != dirMode_ || enforce != enforce_;
  // Other settings for the block: every user's block is rewritten (or removed) at this scan.
  if (blocks_->configure(enforce ? userBlockSettings(r) : BlockSettings{}))
    full = true;
  configMode_ = configMode;
  dirMode_ = dirMode;
  enforce_ = enforce;
  const std::int64_t every = r.reconcile_interval.value;
  unwatchedPeriod_ = every > 0 && every < kUnwatchedRescan.count() ? std::chrono::seconds(every)
                                                                   : kUnwatchedRescan;

  std::vector<UserEntry> users;
  if (r.users_action.value != policy::UserAction::kOff)
    users = loadUsers(root_);
  std::erase_if(users, [&](const UserEntry& u) { return !isCovered(u, r); });
  // By name through 4-byte indices: std::stable_sort's buffer was a second copy of every entry
  // (7 MB at 100k, the spike of an overflow's rescan). The index breaks ties, so that of a name
  // NSS lists twice (files, then LDAP) the first one wins, as getpwnam's does.
  std::vector<std::uint32_t> order(users.size());
  for (std::uint32_t k = 0; k < order.size(); ++k)
    order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const int c = users[a].name.compare(users[b].name);
    return c != 0 ? c < 0 : a < b;
  });
  order.erase(
      std::unique(order.begin(), order.end(),
                  [&](std::uint32_t a, std::uint32_t b) { return users[a].name == users[b].name; }),
      order.end());

  std::vector<bool> fresh;
  fresh.reserve(order.size());
  const bool sameNames =
      order.size() == records_.size() && std::equal(order.begin(), order.end(), records_.begin(),
                                                    [&](std::uint32_t k, const UserRecord& rec) {
                                                      return users[k].name == rec.user.name;
                                                    });
  if (sameNames) {
    // The usual re-read (an overflow's rescan, a policy change, passwd rewritten with the same
    // names): the records stay where they are, so no second copy of 100k records at the peak and
    // no handler to rebind; only those whose uid, gid or home changed start afresh.
    for (std::size_t i = 0; i < order.size(); ++i) {
      UserRecord& old = records_[i];
      UserEntry& u = users[order[i]];
      const bool same = old.user == u;
      if (!same) {
        unwatch(old);  // another home or owner: a new watch, and a check
        old = UserRecord{};
        old.user = std::move(u);
      }
      fresh.push_back(!same);
    }
    recount();
  } else {
    std::vector<UserRecord> next;
    next.reserve(order.size());
    std::size_t o = 0;
    for (const std::uint32_t k : order) {
      UserEntry& u = users[k];
      while (o < records_.size() && records_[o].user.name < u.name)
        unwatch(records_[o++]);  // gone from passwd, or no longer covered
      if (o < records_.size() && records_[o].user.name == u.name) {
        UserRecord& old = records_[o++];
        const bool same = old.user == u;
        if (!same) {
          unwatch(old);  // another home or owner: a new watch, and a check
          old = UserRecord{};
        }
        old.user = std::move(u);
        next.push_back(std::move(old));
        fresh.push_back(!same);
      } else {
        UserRecord rec;
        rec.user = std::move(u);
        next.push_back(std::move(rec));
        fresh.push_back(true);
      }
    }
    while (o < records_.size())
      unwatch(records_[o++]);
    records_ = std::move(next);
    recount();  // the unwatch() calls above counted records that are gone
    // Worker checks of users who are gone are dropped when they come back (finishRemote looks
    // the user up by name).
    // The queue holds indices: the users still queued, now where they are (in name order).
    queue_.clear();
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (records_[i].handle >= 0)
        inotify_.rebind(records_[i].handle, handlerFor(i, records_[i].watchToken));
      if (records_[i].queued)
        queue_.push_back(static_cast<std::uint32_t>(i));
    }
  }
  users.clear();
  users.shrink_to_fit();
  order.clear();
  order.shrink_to_fit();
  // 100k users come and go through many small allocations: hand the freed pages back.
  ::malloc_trim(0);

  mounts_->reread();
  const bool anyMayHang = mayHangMounts_ = mounts_->table().anyMayHang();
  std::size_t checked = 0;
  for (std::size_t i = 0; i < records_.size(); ++i) {
    records_[i].remote =
        anyMayHang && mounts_->table().mayHang(io::underRoot(root_, records_[i].user.home));
    if (full || fresh[i]) {
      check(i, "scan");
      // Each repair queues an event: take them off the kernel's queue as we go (see stash()).
      // In a full scan, an event of a user it has yet to reach needs no check of its own.
      if (full)
        scanNext_ = i + 1;
      if (++checked % 1024 == 0)
        inotify_.stash();
    }
  }
  scanNext_ = kNoScan;
  armUnwatchedRescan();
  configuring_ = false;
  reportedUnwatched_ = unwatched_;
  reportedUnresponsive_ = unresponsive_;
  if (recordsReplaced_)
    recordsReplaced_();
}

Inotify::Handler UserWatcher::handlerFor(std::size_t i, std::uint32_t token) {
  // Small enough for std::function's inline buffer: no allocation per watch.
  return [this, i = static_cast<std::uint32_t>(i), token](
             const inotify_event& ev, const std::string& entry) { onEvent(i, token, ev, entry); };
}

void UserWatcher::onEvent(std::size_t i, std::uint32_t token, const inotify_event& ev,
                          const std::string& entry) {
  if (i >= records_.size() || records_[i].watchToken != token)
    return;  // a watch we replaced; its last events are still in the queue
  UserRecord& rec = records_[i];
  if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
    unwatch(rec);  // ~/.ssh went away: the check watches the home for a new one
    queueCheck(i, "~/.ssh replaced");
    return;
  }
  if (rec.watchingHome && entry == ".ssh" && (ev.mask & (IN_CREATE | IN_MOVED_TO))) {
    unwatch(rec);  // from the home's watch to the new ~/.ssh
    queueCheck(i, "~/.ssh created");
    return;
  }
  if (entry == "config" || entry == ".ssh" || entry.empty())
    queueCheck(i, "inotify");
}

void UserWatcher::queueCheck(std::size_t i, const char* why) {
  UserRecord& rec = records_[i];
  if (rec.queued || i >= scanNext_)
    return;  // queued already, or a full scan will look at them after this event
  rec.queued = true;
  rec.queuedWhy = queueReason(why);
  queue_.push_back(static_cast<std::uint32_t>(i));
  sd_event_source_set_enabled(queueSource_, SD_EVENT_ONESHOT);
}

int UserWatcher::onQueued(sd_event_source*, void* self) {
  auto& w = *static_cast<UserWatcher*>(self);
  // The users queued so far, each once; events that come in meanwhile go to the next round.
  auto batch = std::move(w.queue_);
  w.queue_.clear();
  for (const std::uint32_t i : batch) {
    if (i >= w.records_.size() || !w.records_[i].queued)
      continue;  // gone, or re-read by a scan meanwhile
    w.records_[i].queued = false;
    w.check(i, kQueueReasons[w.records_[i].queuedWhy]);
  }
  return 0;
}

namespace {
constexpr std::size_t kMaxFindings = 1000;
}

void UserWatcher::verifyOne(const UserRecord& rec, std::vector<Finding>& out,
                            std::size_t& more) const {
  auto add = [&](const std::string& what) {
    if (out.size() < kMaxFindings)
      out.push_back({rec.user.uid, rec.user.name + ": " + what});
    else
      ++more;
  };
  if (rec.remote) {
    if (!isCompliant(rec.state))
      add(rec.stateText() + " (last seen; its home is on a mount that may hang)");
    return;
  }
  const UserCheck c = checkUser(rec.user, root_, configMode_, dirMode_, false);
  switch (c.result) {
    case UserCheck::Result::kNonCompliant:
      add("not compliant: needs " + c.detail);
      break;
    case UserCheck::Result::kRefused:
      add("refused: " + c.detail);
      break;
    case UserCheck::Result::kError:
      add("error: " + c.detail);
      break;
    default:
      if (rec.unwatched)
        add("unwatched (inotify's watch limit): drift is seen by the periodic rescan only");
      break;
  }
}

std::vector<UserWatcher::Finding> UserWatcher::verify(std::optional<uid_t> onlyUid) const {
  std::vector<Finding> out;
  std::size_t more = 0;
  for (const auto& rec : records_)
    if (!onlyUid || rec.user.uid == *onlyUid)
      verifyOne(rec, out, more);
  if (more)
    out.push_back({std::nullopt, "... and " + std::to_string(more) + " more users"});
  return out;
}

void UserWatcher::verifyAsync(std::optional<uid_t> onlyUid, VerifyDone done,
                              std::chrono::microseconds slice) {
  verifyJobs_.push_back({onlyUid, std::move(done), slice, {}, {}, 0});
  sd_event_source_set_enabled(verifySource_, SD_EVENT_ON);
}

int UserWatcher::onVerify(sd_event_source*, void* self) {
  auto* w = static_cast<UserWatcher*>(self);
  if (w->verifyJobs_.empty()) {
    sd_event_source_set_enabled(w->verifySource_, SD_EVENT_OFF);
    return 0;
  }
  VerifyJob& job = w->verifyJobs_.front();
  const std::int64_t deadline = sys::monotonicUsec() + job.slice.count();
  auto it = std::lower_bound(
      w->records_.begin(), w->records_.end(), job.next,
      [](const UserRecord& r, const std::string& name) { return r.user.name < name; });
  for (std::size_t n = 0; it != w->records_.end(); ++it, ++n) {
    // The clock every 16 users: a check is a few syscalls, tens of microseconds at most.
    if (n % 16 == 15 && sys::monotonicUsec() >= deadline)
      break;
    if (!job.onlyUid || it->user.uid == *job.onlyUid)
      w->verifyOne(*it, job.out, job.more);
  }
  if (it != w->records_.end()) {
    job.next = it->user.name;
    return 0;  // the rest at the next turn
  }
  VerifyJob finished = std::move(job);
  w->verifyJobs_.pop_front();
  if (w->verifyJobs_.empty())
    sd_event_source_set_enabled(w->verifySource_, SD_EVENT_OFF);
  if (finished.more)
    finished.out.push_back(
        {std::nullopt, "... and " + std::to_string(finished.more) + " more users"});
  if (finished.done)
    finished.done(std::move(finished.out));  // last: it may start another
  return 0;
}

}  // namespace keepalive::daemon
