// SPDX-License-Identifier: GPL-2.0-or-later
// The wiring of the users' watcher: configure() turns passwd and the policy into records and
// starts their checks; inotify's events come in through a queue, one entry per user; Check
// (verify) looks at every home without changing anything. The rest lives in its rooms (see
// user_watcher.h).
#include "user_watcher.h"

#include <malloc.h>
#include <sys/inotify.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <string_view>
#include <utility>

#include "adapters/log.h"
#include "adapters/user_watch_masks.h"
#include "adapters/user_watcher_detail.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {

using detail::configPath;

namespace {

// Why a user was queued, kept in a byte of their record instead of a pointer in the queue.
constexpr const char* kQueueReasons[] = {"inotify", "~/.ssh replaced", "~/.ssh created",
                                         "home replaced", "mount changed"};

std::uint8_t queueReason(const char* why) {
  for (std::size_t r = 0; r < std::size(kQueueReasons); ++r)
    if (std::strcmp(kQueueReasons[r], why) == 0)
      return static_cast<std::uint8_t>(r);
  return 0;
}

// "/home/alice/" -> "/home/alice": passwd may carry a trailing slash; the kernel's paths do not.
std::string_view trimmedHome(const std::string& home) {
  std::string_view v = home;
  while (v.size() > 1 && v.back() == '/')
    v.remove_suffix(1);
  return v;
}

// "/home/alice" -> "/home" and "alice"; false for "/", a relative path, "." or "..".
bool splitHome(const std::string& home, std::string_view& parent, std::string_view& name) {
  const std::string_view v = trimmedHome(home);
  if (v.size() < 2 || v[0] != '/')
    return false;
  const auto slash = v.rfind('/');
  parent = slash == 0 ? std::string_view("/") : v.substr(0, slash);
  name = v.substr(slash + 1);
  return !name.empty() && name != "." && name != "..";
}

std::string_view nameOf(const std::string& home) {
  std::string_view parent, name;
  return splitHome(home, parent, name) ? name : std::string_view();
}

bool atOrUnder(std::string_view path, std::string_view point) {
  return point == "/" || path == point ||
         (path.size() > point.size() && path.starts_with(point) && path[point.size()] == '/');
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
  mounts_ = std::make_unique<MountWatch>(
      loop_, [this](const std::vector<std::string>& points) { onMountsChanged(points); });
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
  for (auto& p : parents_)
    if (p.handle >= 0)
      inotify_.remove(p.handle);
  sd_event_source_disable_unref(retryTimer_);
  sd_event_source_disable_unref(unwatchedTimer_);
  sd_event_source_disable_unref(summaryTimer_);
  sd_event_source_disable_unref(queueSource_);
  sd_event_source_disable_unref(verifySource_);
  mounts_.reset();
}

void UserWatcher::onMountsChanged(const std::vector<std::string>& points) {
  // Containers and automounts change the table often: only the homes at, under or above a
  // mount point that changed are touched (all of them only when one is at or above the root,
  // or at the parent of every home, such as /home). Whether a home may hang changes with the
  // mounts above it, which are exactly these.
  const auto pts = homeSpace(points);
  if (pts.empty())
    return;
  mayHangMounts_ = mounts_->table().anyMayHang();
  for (auto& p : parents_) {
    // A mount over /home hides the directory its watch is on; an unmount drops the watch.
    if (std::none_of(pts.begin(), pts.end(),
                     [&](const std::string& pt) { return atOrUnder(p.path, pt); }))
      continue;
    if (p.handle >= 0)
      inotify_.remove(p.handle);
    p.handle = -1;
    watchParent(p);
  }
  const auto affected = homesAffectedBy(pts);
  for (const std::uint32_t i : affected) {
    UserRecord& rec = records_[i];
    rec.remote = mayHangMounts_ && mounts_->table().mayHang(io::underRoot(root_, rec.user.home));
    rescanHome(i, "mount changed");
  }
  if (!affected.empty())
    log::debug("mount table changed at \"" + pts.front() + "\"" +
               (pts.size() > 1 ? " and " + std::to_string(pts.size() - 1) + " more" : "") + ": " +
               std::to_string(affected.size()) + " homes watched and checked again");
}

std::vector<std::string> UserWatcher::homeSpace(const std::vector<std::string>& points) const {
  std::string r = root_;
  while (!r.empty() && r.back() == '/')
    r.pop_back();
  std::vector<std::string> out;
  for (const auto& p : points) {
    if (r.empty())
      out.push_back(p);
    else if (atOrUnder(r, p))
      out.emplace_back("/");  // at or above the root: under it, everything may have moved
    else if (p.size() > r.size() && p.starts_with(r) && p[r.size()] == '/')
      out.push_back(p.substr(r.size()));
    // elsewhere: no home of ours is there
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::uint32_t> UserWatcher::homesAffectedBy(
    const std::vector<std::string>& points) const {
  std::vector<std::uint32_t> out;
  auto homeOf = [&](std::uint32_t i) { return trimmedHome(records_[i].user.home); };
  auto less = [&](std::uint32_t i, std::string_view v) { return homeOf(i) < v; };
  // The homes that are `home`, by the sorted index: O(log n) and the matches.
  auto exactly = [&](std::string_view home) {
    for (auto it = std::lower_bound(byHome_.begin(), byHome_.end(), home, less);
         it != byHome_.end() && homeOf(*it) == home; ++it)
      out.push_back(*it);
  };
  for (const auto& pt : points) {
    if (pt == "/") {  // everything: the root's own mount, or one above it
      out.resize(records_.size());
      for (std::uint32_t i = 0; i < out.size(); ++i)
        out[i] = i;
      return out;
    }
    exactly(pt);
    // Under it: the range of homes that start with "pt/".
    const std::string under = pt + "/";
    for (auto it = std::lower_bound(byHome_.begin(), byHome_.end(), std::string_view(under), less);
         it != byHome_.end() && homeOf(*it).starts_with(under); ++it)
      out.push_back(*it);
    // Above it (a mount on ~/.ssh, or on a directory inside a home): its ancestors, each a home
    // or not.
    for (auto slash = pt.rfind('/'); slash != std::string::npos && slash > 0;
         slash = pt.rfind('/', slash - 1))
      exactly(std::string_view(pt).substr(0, slash));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void UserWatcher::rescanHome(std::size_t i, const char* why) {
  UserRecord& rec = records_[i];
  // A worker's check under way may bring back a watch on the directory that was there: it is
  // dropped when the worker is back (finishRemote).
  if (rec.inFlight)
    rec.rewatch = true;
  // Whatever failed before (a home that was missing, say) is looked at now, not at the backoff's
  // end: this is the one event that says the home is another one.
  rec.retry_at_usec = 0;
  unwatch(rec);
  queueCheck(i, why);
}

void UserWatcher::rebuildHomeIndex() {
  std::vector<std::string_view> paths;
  paths.reserve(4);
  for (const auto& rec : records_) {
    std::string_view parent, name;
    if (splitHome(rec.user.home, parent, name) && (paths.empty() || paths.back() != parent))
      paths.push_back(parent);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  // Parents that stay keep their watch: no gap, and no churn at a passwd re-read.
  std::vector<ParentDir> next;
  next.reserve(paths.size());
  std::size_t o = 0;
  for (const auto path : paths) {
    while (o < parents_.size() && parents_[o].path < path) {
      if (parents_[o].handle >= 0)
        inotify_.remove(parents_[o].handle);
      ++o;
    }
    if (o < parents_.size() && parents_[o].path == path)
      next.push_back(std::move(parents_[o++]));
    else
      next.push_back({std::string(path), -1});
  }
  for (; o < parents_.size(); ++o)
    if (parents_[o].handle >= 0)
      inotify_.remove(parents_[o].handle);
  parents_ = std::move(next);
  for (auto& p : parents_)
    if (p.handle < 0)
      watchParent(p);

  const auto n = static_cast<std::uint32_t>(records_.size());
  parentOf_.assign(n, kNoParent);
  byParent_.clear();
  byHome_.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    byHome_[i] = i;
    std::string_view parent, name;
    if (!splitHome(records_[i].user.home, parent, name))
      continue;
    auto it = std::lower_bound(parents_.begin(), parents_.end(), parent,
                               [](const ParentDir& p, std::string_view v) { return p.path < v; });
    parentOf_[i] = static_cast<std::uint32_t>(it - parents_.begin());
    byParent_.push_back(i);
  }
  std::sort(byParent_.begin(), byParent_.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (parentOf_[a] != parentOf_[b])
      return parentOf_[a] < parentOf_[b];
    return nameOf(records_[a].user.home) < nameOf(records_[b].user.home);
  });
  std::sort(byHome_.begin(), byHome_.end(), [&](std::uint32_t a, std::uint32_t b) {
    return trimmedHome(records_[a].user.home) < trimmedHome(records_[b].user.home);
  });
  byParent_.shrink_to_fit();
  byHome_.shrink_to_fit();
}

void UserWatcher::watchParent(ParentDir& p) {
  const std::string real = io::underRoot(root_, p.path);
  // Adding a watch resolves the path, which on a dead NFS server or FUSE daemon would hold the
  // loop: homes there are watched by the workers only (inotify sees no other client's changes
  // there anyway), and their parent not at all.
  if (mounts_->table().mayHang(real)) {
    log::debug("not watching \"" + p.path + "\" for homes replaced there: it may hang (" +
               mounts_->table().fstypeOf(real) + ")");
    return;
  }
  // IN_DONT_FOLLOW: a parent that is a symlink is not watched (its homes keep their own
  // watches; only a home replaced there goes unseen until the next scan).
  const int h = inotify_.add(
      real, kParentMask, [this, path = p.path](const inotify_event& ev, const std::string& entry) {
        onParentEvent(path, ev, entry);
      });
  if (h >= 0) {
    p.handle = h;
    return;
  }
  const std::string msg = "cannot watch \"" + p.path +
                          "\" for homes replaced there: " + std::strerror(-h) + ", ignoring";
  if (h == -ENOENT)
    log::debug(msg);
  else
    log::warning(msg);
}

void UserWatcher::onParentEvent(const std::string& path, const inotify_event& ev,
                                const std::string& entry) {
  auto pit = std::lower_bound(parents_.begin(), parents_.end(), path,
                              [](const ParentDir& p, const std::string& v) { return p.path < v; });
  if (pit == parents_.end() || pit->path != path)
    return;  // no longer a parent of a home; its last events are still in the queue
  const auto pid = static_cast<std::uint32_t>(pit - parents_.begin());
  auto key = [&](std::uint32_t i) {
    return std::pair(parentOf_[i], nameOf(records_[i].user.home));
  };
  if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
    // The parent itself went away (or the file system under it): watch what is at its path now,
    // and look at every home in it.
    if (pit->handle >= 0)
      inotify_.remove(pit->handle);
    pit->handle = -1;
    watchParent(*pit);
    for (auto it =
             std::lower_bound(byParent_.begin(), byParent_.end(), pid,
                              [&](std::uint32_t i, std::uint32_t p) { return parentOf_[i] < p; });
         it != byParent_.end() && parentOf_[*it] == pid; ++it)
      rescanHome(*it, "home replaced");
    return;
  }
  if (entry.empty())
    return;
  const auto want = std::pair(pid, std::string_view(entry));
  for (auto it = std::lower_bound(byParent_.begin(), byParent_.end(), want,
                                  [&](std::uint32_t i, const auto&w) { return key(i) < w; });
       it != byParent_.end() && key(*it) == want; ++it)
    rescanHome(*it, "home replaced");
}

std::size_t UserWatcher::indexOf(const std::string& name) const {
  auto it =
      std::lower_bound(records_.begin(), records_.end(), name,
                       [](const UserRecord& r, const std::string& n) { return r.user.name < n; });
  return it != records_.end() && it->user.name == name
             ? static_cast<std::size_t>(it - records_.begin())
             : records_.size();
}

const std::string* UserWatcher::nameOfUid(uid_t uid) const {
  auto it = uidNames_.find(uid);
  return it == uidNames_.end() ? nullptr : &it->second;
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
  uidNames_.clear();
  for (const auto& u : users)
    uidNames_.emplace(u.uid, u.name);  // the first of a uid stays
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

  // A mount change the loop has not dispatched yet is seen here, in this read's difference.
  const auto mountChanges = homeSpace(mounts_->reread());
  // Before the checks, which watch: a home replaced from here on is seen by one or the other.
  if (!sameNames || std::find(fresh.begin(), fresh.end(), true) != fresh.end())
    rebuildHomeIndex();
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
  if (!mountChanges.empty())
    for (const std::uint32_t i : homesAffectedBy(mountChanges))
      if (!fresh[i])
        rescanHome(i, "mount changed");
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
      add("not compliant: " + c.detail + (c.action.empty() ? "" : "; " + c.action));
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
