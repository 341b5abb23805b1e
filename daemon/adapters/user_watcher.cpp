#include "user_watcher.h"

#include <fcntl.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {
namespace {

constexpr std::uint32_t kSshDirMask = IN_ATTRIB | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
                                      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
constexpr std::uint32_t kHomeMask =
    IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW;

std::int64_t clockUsec(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::string configPath(const UserRecord& rec) {
  return rec.user.home + "/.ssh/config";
}

}  // namespace

std::vector<UserEntry> loadUsers(const std::string& root) {
  if (!root.empty()) {
    std::ifstream in(io::underRoot(root, "/etc/passwd"));
    std::stringstream ss;
    ss << in.rdbuf();
    return parsePasswd(ss.str());
  }
  std::vector<UserEntry> out;
  setpwent();
  while (passwd* pw = getpwent())
    out.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""});
  endpwent();
  return out;
}

UserWatcher::UserWatcher(sd_event* loop, Inotify& inotify, std::string root, BlockTools tools)
    : loop_(loop), inotify_(inotify), root_(std::move(root)), blockTools_(std::move(tools)) {
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
  // The kernel flags /proc/self/mountinfo with POLLPRI on every mount change: a home mounted
  // over NFS or FUSE after start is classified before it is next touched.
  mountinfoFd_ = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (mountinfoFd_ >= 0 && sd_event_add_io(loop_, &mountsSource_, mountinfoFd_, EPOLLPRI,
                                           &UserWatcher::onMountsChanged, this) < 0)
    mountsSource_ = nullptr;
  readMounts();
  // Two workers: the homes that may hang are usually a few mounts; four more may replace
  // workers stuck on a dead server before the queue waits for them to come back.
  pool_ = std::make_unique<BlockingPool>(loop_, 2, 4, kRemoteDeadline,
                                         [this](std::uint64_t seq) { overdue(seq); });
  // The block's helper kills its own children at blockTools_.timeout; past that and a margin,
  // it is stuck in the kernel (a hung home): its worker is written off.
  blockPool_ = std::make_unique<BlockingPool>(
      loop_, 2, 4, blockTools_.timeout + std::chrono::seconds(5), [](std::uint64_t) {});
}

UserWatcher::~UserWatcher() {
  pool_.reset();
  blockPool_.reset();
  for (auto& rec : records_)
    unwatch(rec);
  sd_event_source_disable_unref(retryTimer_);
  sd_event_source_disable_unref(unwatchedTimer_);
  sd_event_source_disable_unref(summaryTimer_);
  sd_event_source_disable_unref(queueSource_);
  sd_event_source_disable_unref(verifySource_);
  sd_event_source_disable_unref(mountsSource_);
  if (mountinfoFd_ >= 0)
    ::close(mountinfoFd_);
}

void UserWatcher::readMounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  mounts_ = MountTable(parseMountinfo(ss.str()));
}

int UserWatcher::onMountsChanged(sd_event_source*, int, std::uint32_t, void* self) {
  auto* w = static_cast<UserWatcher*>(self);
  w->readMounts();
  for (auto& rec : w->records_)
    rec.remote = w->mounts_.mayHang(io::underRoot(w->root_, rec.user.home));
  return 0;
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
  BlockSettings block = enforce ? userBlockSettings(r) : BlockSettings{};
  if (block != blockSettings_) {
    blockSettings_ = std::move(block);
    ++blockGen_;  // every user's block is rewritten (or removed) at this scan
    full = true;
  }
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
  // NSS may list a name twice (files, then LDAP): the first one wins, as getpwnam's does.
  std::stable_sort(users.begin(), users.end(),
                   [](const UserEntry& a, const UserEntry& b) { return a.name < b.name; });
  users.erase(std::unique(users.begin(), users.end(),
                          [](const UserEntry& a, const UserEntry& b) { return a.name == b.name; }),
              users.end());

  std::vector<UserRecord> next;
  next.reserve(users.size());
  std::vector<bool> fresh;
  fresh.reserve(users.size());
  std::size_t o = 0;
  for (auto& u : users) {
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
  for (std::size_t i = 0; i < records_.size(); ++i)
    if (records_[i].handle >= 0)
      inotify_.rebind(records_[i].handle, handlerFor(i, records_[i].watchToken));
  users.clear();
  users.shrink_to_fit();
  // 100k users come and go through many small allocations: hand the freed pages back.
  ::malloc_trim(0);

  readMounts();
  for (std::size_t i = 0; i < records_.size(); ++i) {
    records_[i].remote = mounts_.mayHang(io::underRoot(root_, records_[i].user.home));
    if (full || fresh[i])
      check(i, "scan");
  }
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
  if (rec.queued)
    return;
  rec.queued = true;
  queue_.emplace_back(rec.user.name, why);
  sd_event_source_set_enabled(queueSource_, SD_EVENT_ONESHOT);
}

int UserWatcher::onQueued(sd_event_source*, void* self) {
  auto& w = *static_cast<UserWatcher*>(self);
  // The users queued so far, each once; events that come in meanwhile go to the next round.
  auto batch = std::move(w.queue_);
  w.queue_.clear();
  for (const auto& [name, why] : batch) {
    const std::size_t i = w.indexOf(name);
    if (i == w.records_.size() || !w.records_[i].queued)
      continue;  // gone, or re-read by a scan meanwhile
    w.records_[i].queued = false;
    w.check(i, why);
  }
  return 0;
}

bool UserWatcher::announce(const std::string& user, const char* kind) {
  const std::int64_t now = clockUsec(CLOCK_MONOTONIC);
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
  for (const auto& s : w.limiter_.due(clockUsec(CLOCK_MONOTONIC)))
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
  int h = inotify_.add(home + "/.ssh", kSshDirMask, handlerFor(i, token));
  if (h < 0 && h != -ENOSPC) {
    h = inotify_.add(home, kHomeMask, handlerFor(i, token));
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
  if (rec.retry_at_usec > clockUsec(CLOCK_MONOTONIC))
    return;  // failed lately: the retry timer comes back to it
  // The watch first, then the check: a change between the two is seen by one or the other.
  if (rec.handle < 0)
    watch(i);
  const UserCheck c = checkUser(rec.user, root_, configMode_, dirMode_, enforce_);
  record(i, c, why);
  maybeBlock(i, c);
}

void UserWatcher::checkRemote(std::size_t i, const char* why) {
  UserRecord& rec = records_[i];
  if (rec.inFlight) {
    rec.recheck = true;  // one check per user at a time: a hung home holds one worker only
    return;
  }
  if (rec.retry_at_usec > clockUsec(CLOCK_MONOTONIC))
    return;
  const std::uint64_t seq = nextSeq_++;
  inFlight_[seq] = rec.user.name;
  rec.inFlight = true;
  rec.recheck = false;
  // Everything by value: a worker stuck in the kernel may outlive this watcher. Adding the watch
  // resolves the home's path too, so it happens on the worker as well.
  const bool addWatch = rec.handle < 0;
  const std::string home = io::underRoot(root_, rec.user.home);
  pool_->submit(seq,
                [this, seq, addWatch, home, user = rec.user, root = root_, configMode = configMode_,
                 dirMode = dirMode_, enforce = enforce_, ifd = inotify_.fd(),
                 why]() -> std::function<void()> {
                  int wd = -1, err = 0;
                  bool atHome = false;
                  if (addWatch) {
                    wd = ::inotify_add_watch(ifd, (home + "/.ssh").c_str(),
                                             kSshDirMask | IN_MASK_ADD);
                    if (wd < 0 && errno != ENOSPC) {
                      wd = ::inotify_add_watch(ifd, home.c_str(), kHomeMask | IN_MASK_ADD);
                      atHome = true;
                    }
                    err = wd < 0 ? errno : 0;
                  }
                  UserCheck c = checkUser(user, root, configMode, dirMode, enforce);
                  return [this, seq, wd, err, atHome, why, c = std::move(c)] {
                    finishRemote(seq, wd, err, atHome, c, why);
                  };
                });
}

void UserWatcher::finishRemote(std::uint64_t seq, int wd, int watchErr, bool home,
                               const UserCheck& c, const char* why) {
  auto it = inFlight_.find(seq);
  const std::string name = it == inFlight_.end() ? std::string() : it->second;
  if (it != inFlight_.end())
    inFlight_.erase(it);
  const std::size_t i = indexOf(name);
  if (i == records_.size()) {
    // The user went away meanwhile: give the watch back, unless someone else shares it.
    if (wd >= 0) {
      bool missed = false;
      inotify_.remove(inotify_.adopt(wd, nullptr, missed));
    }
    if (inFlight_.empty() && settled_)
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
      const int h = inotify_.adopt(wd, handlerFor(i, token), missed);
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
  maybeBlock(i, c);
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
  if (missed || rec.recheck)
    check(i, "inotify");
  if (inFlight_.empty() && settled_)
    settled_();
}

void UserWatcher::overdue(std::uint64_t seq) {
  auto it = inFlight_.find(seq);
  if (it == inFlight_.end())
    return;
  const std::size_t i = indexOf(it->second);
  if (i == records_.size())
    return;
  UserRecord& rec = records_[i];
  const std::string fstype = mounts_.fstypeOf(io::underRoot(root_, rec.user.home));
  rec.detail = "the home (" + (fstype.empty() ? std::string("?") : fstype) +
               ") did not answer within " + std::to_string(kRemoteDeadline.count() / 1000) + " s";
  if (rec.state != UserState::kUnresponsive) {
    {
      Tally t(*this, rec);
      rec.state = UserState::kUnresponsive;
    }
    rec.last_change_usec = clockUsec(CLOCK_REALTIME);
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
  rec.retry_at_usec = clockUsec(CLOCK_MONOTONIC) + delay;
  armRetryAt(rec.retry_at_usec);
}

bool UserWatcher::quickRepair(UserRecord& rec) {
  const std::int64_t now = clockUsec(CLOCK_MONOTONIC);
  rec.quickRepairs = now - rec.lastRepairUsec < kQuickRepair.count() ? rec.quickRepairs + 1 : 0;
  rec.lastRepairUsec = now;
  if (rec.quickRepairs < kQuickRepairsHot)
    return false;
  rec.quickRepairs = 0;
  return true;
}

void UserWatcher::putDownWatch(UserRecord& rec) {
  unwatch(rec);
  rec.retry_at_usec = clockUsec(CLOCK_MONOTONIC) + kPutDown.count();
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
  std::string action;
  bool announced = true;
  bool hot = false;
  switch (c.result) {
    case UserCheck::Result::kAbsent:
    case UserCheck::Result::kCompliant:
      state = rec.state == UserState::kRepaired ? UserState::kRepaired : UserState::kOk;
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
            "repaired \"" + rec.user.home + "/.ssh\" of " + rec.user.name + ": " + c.detail + " (" +
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
  if (state == rec.state && detail == rec.detail && action.empty())
    return;
  if (state == rec.state && detail == rec.detail) {  // another repair, same state
    rec.last_change_usec = clockUsec(CLOCK_REALTIME);
    rowChanged(rec);
    if (listener_)
      listener_(rec, action, action == "repaired" ? c.detail : detail, announced);
    return;
  }
  {
    Tally t(*this, rec);
    rec.state = state;
  }
  rec.detail = detail;
  rec.last_change_usec = clockUsec(CLOCK_REALTIME);
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
                          " is not compliant, changed nothing: " + detail,
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
    listener_(rec, action, action == "repaired" ? c.detail : detail, announced);
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
  const std::int64_t now = clockUsec(CLOCK_MONOTONIC);
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
  const std::int64_t deadline = clockUsec(CLOCK_MONOTONIC) + job.slice.count();
  auto it = std::lower_bound(
      w->records_.begin(), w->records_.end(), job.next,
      [](const UserRecord& r, const std::string& name) { return r.user.name < name; });
  for (std::size_t n = 0; it != w->records_.end(); ++it, ++n) {
    // The clock every 16 users: a check is a few syscalls, tens of microseconds at most.
    if (n % 16 == 15 && clockUsec(CLOCK_MONOTONIC) >= deadline)
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

void UserWatcher::maybeBlock(std::size_t i, const UserCheck& c) {
  if (!c.config ||
      (c.result != UserCheck::Result::kCompliant && c.result != UserCheck::Result::kRepaired))
    return;  // no config (nothing is created), or not a file we would let the user's helper touch
  const UserRecord& rec = records_[i];
  auto it = blockMarks_.find(rec.user.name);
  if (blockSettings_.empty() && it == blockMarks_.end())
    return;  // off, and we never wrote one for this user
  BlockMark& m = it != blockMarks_.end() ? it->second : blockMarks_[rec.user.name];
  if (m.inFlight) {
    m.again = true;  // one helper per user at a time
    return;
  }
  if (m.id == c.config && m.gen == blockGen_)
    return;  // the file is as the helper left it, for these settings: nothing to do
  m.inFlight = true;
  m.again = false;
  const bool removal = blockSettings_.empty();
  log::debug("running the keepalive block helper for " + rec.user.name +
             (removal ? " (removal)" : ""));
  // The helper runs as the user and never as root: root neither reads the file nor evaluates
  // it (ssh -G runs a Match exec). A process per change, on a worker: never on the loop.
  blockPool_->submit(
      blockGen_,
      [this, user = rec.user, path = io::underRoot(root_, rec.user.home) + "/.ssh/config",
       settings = blockSettings_, tools = blockTools_, id = *c.config, gen = blockGen_,
       removal]() -> std::function<void()> {
        UserBlockResult r =
            runUserBlock(user, path, settings, tools.helper, tools.ssh, tools.timeout);
        return [this, name = user.name, id, gen, removal, r = std::move(r)] {
          finishBlock(name, id, gen, removal, r);
        };
      });
}

void UserWatcher::finishBlock(const std::string& name, const UserCheck::FileId& id,
                              std::uint64_t gen, bool removal, const UserBlockResult& r) {
  auto it = blockMarks_.find(name);
  if (it == blockMarks_.end())
    return;
  BlockMark& m = it->second;
  m.inFlight = false;
  m.gen = gen;
  // The host's matter, not the user's: said once, again only after scopes worked meanwhile.
  if (r.note != blockNote_) {
    if (!r.note.empty())
      log::warning("the keepalive block helper runs contained by its subreaper alone: " + r.note +
                   ", ignoring");
    blockNote_ = r.note;
  }
  const std::size_t i = indexOf(name);
  const std::string path = i < records_.size() ? configPath(records_[i]) : std::string();
  using Kind = UserBlockResult::Kind;
  switch (r.kind) {
    case Kind::kUnchanged:
    case Kind::kAbsent:
      m.id = id;
      log::debug("the keepalive block helper for " + name + ": " + toString(r.kind));
      break;
    case Kind::kUpdated:
    case Kind::kRemoved:
      // Renamed into place: a new file, whose event brings one more run that finds it
      // unchanged and records its identity.
      m.id.reset();
      if (announce(name, "block write"))
        log::structured(LogEvent::Level::kNotice,
                        std::string(r.kind == Kind::kUpdated ? "wrote" : "removed") +
                            " the keepalive block in \"" + path + "\" of " + name,
                        {{"USER", name},
                         {"PATH", path},
                         {"ACTION", r.kind == Kind::kUpdated ? "block-written" : "block-removed"}},
                        log::kMessageIdRepaired);
      break;
    case Kind::kRefused:
      m.id = id;  // not again until the user changes the file
      if (announce(name, "block refusal"))
        log::structured(
            LogEvent::Level::kWarning,
            (removal ? "left the keepalive block in \"" + path + "\" of " + name + ": "
                     : "left \"" + path + "\" of " + name + " without the keepalive block: ") +
                r.detail,
            {{"USER", name}, {"PATH", path}, {"ACTION", "block-refused"}}, log::kMessageIdRefused);
      break;
    case Kind::kError:
      m.id.reset();  // the next event or scan tries again
      if (announce(name, "block failure"))
        log::structured(LogEvent::Level::kWarning,
                        "cannot write the keepalive block in \"" + path + "\" of " + name + ": " +
                            r.detail + ", ignoring",
                        {{"USER", name}, {"PATH", path}, {"ACTION", "block-failed"}},
                        log::kMessageIdFailed);
      break;
  }
  const bool again = m.again;
  if (removal &&
      (r.kind == Kind::kRemoved || r.kind == Kind::kUnchanged || r.kind == Kind::kAbsent))
    blockMarks_.erase(it);  // nothing of ours is left in that file
  if (again && i < records_.size())
    check(i, "inotify");
}

}  // namespace keepalive::daemon
