#include "daemon.h"

#include "adapters/watchdog.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"
#include "keepalive/policy/render.h"

namespace keepalive::daemon {
namespace {

constexpr std::uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                   IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR;

// Policy files: IN_MODIFY too, so that a writer still writing keeps pushing the apply out; a
// symlinked directory is refused, not watched through.
constexpr std::uint32_t kPolicyDirMask = kDirMask | IN_MODIFY | IN_DONT_FOLLOW;

// A rename delivers a whole file in one event (Ansible, `mv`): no burst to wait for. Deletions
// and owner or mode changes get the full debounce.
constexpr std::chrono::milliseconds kRenameDebounce{2};
// A file written in place may be closed and written again (`echo >`, then `echo >>`): applying
// after its first close could install a valid prefix of the policy. Wait for the writer to be
// quiet this long; writing by rename stays at kRenameDebounce.
constexpr std::chrono::milliseconds kWriteSettle{500};

// The settle time for an event on a policy file.
std::chrono::milliseconds policySettle(std::uint32_t mask, std::chrono::milliseconds debounce) {
  if (mask & IN_MOVED_TO)
    return kRenameDebounce;
  if (mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE))
    return kWriteSettle;
  return debounce;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The transient probe runs this binary again. After a package upgrade replaced it, the kernel
// calls it "PATH (deleted)": the new binary at PATH answers --probe-banner as well.
std::string selfExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string path = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  const std::string deleted = " (deleted)";
  if (endsWith(path, deleted))
    path.resize(path.size() - deleted.size());
  return path.empty() ? std::string("/usr/sbin/keepalive-policyd") : path;
}

// The engine reports its results as words for now; they become an ApplyResult here, once.
ApplyResult applyResultOf(const std::string& engineResult) {
  return applyResultFromString(engineResult).value_or(ApplyResult::kNone);
}

UserRow userRow(const UserRecord& r) {
  return {r.user.name,
          r.user.uid,
          r.user.home,
          r.state,
          r.detail,
          r.unwatched,
          static_cast<std::uint64_t>(r.last_change_usec),
          r.repairs,
          r.refusals};
}

std::string parentOf(const std::string& p) {
  return p.substr(0, p.rfind('/'));
}
std::string baseOf(const std::string& p) {
  return p.substr(p.rfind('/') + 1);
}

}  // namespace

std::int64_t RealClock::realtimeUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::int64_t RealClock::monotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

Daemon::Daemon(DaemonOptions o)
    : o_(std::move(o)),
      store_(o_.root, io::underRoot(o_.root, "/var/lib/keepalive-policy")),
      sshd_(SshdRunnerOptions{o_.root, o_.sshd, o_.ssh, "root", o_.command_timeout}) {
  if (int r = sd_event_default(&loop_); r < 0)
    throw std::runtime_error(std::string("sd_event_default: ") + strerror(-r));
  sigset_t ss;
  sigemptyset(&ss);
  for (int s : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&ss, s);
  sigprocmask(SIG_BLOCK, &ss, nullptr);
  for (int s : {SIGTERM, SIGINT, SIGHUP})
    sd_event_add_signal(loop_, nullptr, s, &Daemon::onSignal, this);
  for (auto* t : {&policyTimer_, &driftTimer_, &reconcileTimer_}) {
    sd_event_add_time(loop_, t, CLOCK_MONOTONIC, UINT64_MAX, 1000, &Daemon::onTimer, this);
    sd_event_source_set_enabled(*t, SD_EVENT_OFF);
  }
  inotify_ = std::make_unique<Inotify>(loop_, [this] {
    // Events were lost: look at everything again.
    log::warning("inotify queue overflowed; re-reading the policy and re-checking the drop-ins");
    otherConfigChanged_ = true;
    arm(policyTimer_, o_.debounce);  // the apply re-checks every user too
  });
  systemd_ = std::make_unique<SystemdManager>(o_.unit, o_.job_timeout);
  users_ = std::make_unique<UserWatcher>(loop_, *inotify_, o_.root,
                                         UserWatcher::BlockTools{o_.user_block_helper, o_.ssh});
  users_->setListener([this](const UserRecord& rec, const std::string& action,
                             const std::string& what, bool announced) {
    if (action == "repaired" && announced)
      signalRepaired(rec, what);
    publishUsersSoon();
  });
  // Homes on mounts that may hang are checked by workers: the summary once they are done.
  users_->setSettled([this] { updateUsersHealth(); });
  // ListUsers' rows, one per change: the bus never copies 100k users to answer.
  users_->setRecordChanged([this](const UserRecord& rec) {
    if (dbus_)
      dbus_->setUser(userRow(rec));
  });
  users_->setRecordsReplaced([this] {
    if (dbus_)
      dbus_->setUsers(userRows());
  });
  users_->setHealthChanged([this] { updateUsersHealth(); });
  // One snapshot per loop iteration for D-Bus and the metrics file, however many changes.
  sd_event_add_defer(loop_, &publishSource_, &Daemon::onPublish, this);
  sd_event_source_set_enabled(publishSource_, SD_EVENT_OFF);
  sd_event_add_time(loop_, &usersPublishTimer_, CLOCK_MONOTONIC, 0, 1000, &Daemon::onUsersPublish,
                    this);
  sd_event_source_set_enabled(usersPublishTimer_, SD_EVENT_OFF);
  if (o_.metrics_dir != "none") {
    metrics_ =
        std::make_unique<MetricsWriter>(MetricsWriterOptions{o_.root, o_.metrics_dir}, clock_);
    sd_event_add_time(loop_, &metricsTimer_, CLOCK_MONOTONIC, 0, 1000000, &Daemon::onMetricsTimer,
                      this);
    sd_event_source_set_enabled(metricsTimer_, SD_EVENT_OFF);
  }
  probeMode_ = o_.probe;
  if (probeMode_ == "auto")
    probeMode_ = o_.root.empty() && std::getenv("INVOCATION_ID") && systemd_->connected()
                     ? "transient"
                     : "inline";
  if (probeMode_ == "transient")
    probe_ = std::make_unique<TransientBannerProbe>(*systemd_, selfExecutable());
  else
    probe_ = std::make_unique<BannerProbe>();
  engine_ = std::make_unique<Engine>(store_, sshd_, *systemd_, *probe_, clock_,
                                     EngineOptions{io::localHostIdentity(o_.host)});
}

Daemon::~Daemon() {
  dbus_.reset();
  sd_event_source_disable_unref(publishSource_);
  sd_event_source_disable_unref(usersPublishTimer_);
  sd_event_source_disable_unref(metricsTimer_);
  users_.reset();  // holds watches in inotify_
  engine_.reset();
  inotify_.reset();
  for (auto* t : {policyTimer_, driftTimer_, reconcileTimer_})
    sd_event_source_disable_unref(t);
  sd_event_unref(loop_);
}

int Daemon::onSignal(sd_event_source*, const struct signalfd_siginfo* si, void* self) {
  auto* d = static_cast<Daemon*>(self);
  if (si->ssi_signo == SIGHUP) {
    d->applyPolicy("SIGHUP");
    return 0;
  }
  log::info(std::string("received ") + strsignal(static_cast<int>(si->ssi_signo)) + ", exiting");
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  sd_event_exit(d->loop_, 0);
  return 0;
}

int Daemon::onTimer(sd_event_source* s, std::uint64_t, void* self) {
  auto* d = static_cast<Daemon*>(self);
  if (s == d->policyTimer_)
    d->applyPolicy("policy changed");
  else if (s == d->driftTimer_)
    d->reconcile("drop-in directory changed");
  else if (s == d->reconcileTimer_) {
    // Re-read the policy too: this re-checks everything, and retries a policy that was rolled
    // back (a reload that failed, another admin's broken file since fixed).
    d->otherConfigChanged_ = true;
    d->applyPolicy("periodic reconcile");
  }
  return 0;
}

void Daemon::arm(sd_event_source* timer, std::chrono::milliseconds delay) {
  // Trailing debounce: a burst of events (an editor's save, Ansible's rename) is handled once,
  // a few tens of milliseconds after it ends.
  std::uint64_t now = 0;
  sd_event_now(loop_, CLOCK_MONOTONIC, &now);
  std::uint64_t at = now + static_cast<std::uint64_t>(delay.count()) * 1000u;
  // Never earlier than already due: a rename of one file must not cut short the settle time of
  // another file still being written in place.
  int enabled = SD_EVENT_OFF;
  std::uint64_t due = 0;
  if (timer == policyTimer_ && sd_event_source_get_enabled(timer, &enabled) >= 0 &&
      enabled != SD_EVENT_OFF && sd_event_source_get_time(timer, &due) >= 0 && due > at)
    at = due;
  sd_event_source_set_time(timer, at);
  sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

void Daemon::watchPolicyDir() {
  const std::string dir = io::underRoot(o_.root, policy::kPolicyDir);
  policyWd_ =
      inotify_->add(dir, kPolicyDirMask, [this](const inotify_event& ev, const std::string& name) {
        if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          policyWd_ = -1;
          fragmentsWd_ = -1;
          watchPolicyDir();
          arm(policyTimer_, o_.debounce);
          return;
        }
        if (name.empty() && (ev.mask & IN_ATTRIB)) {
          arm(policyTimer_, o_.debounce);  // its owner or mode: trusted no more, or again
        } else if (name == "policy.d") {
          if (fragmentsWd_ < 0 || (ev.mask & (IN_CREATE | IN_MOVED_TO)))
            watchPolicyDir();  // picks policy.d up
          arm(policyTimer_, o_.debounce);
        } else if (name == "policy.yaml") {
          arm(policyTimer_, policySettle(ev.mask, o_.debounce));
        }
      });
  if (policyWd_ < 0) {
    // No policy directory yet: wait for it to appear.
    const std::string parent = parentOf(dir), base = baseOf(dir);
    if (parentWd_ < 0)
      parentWd_ = inotify_->add(parent, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR,
                                [this, base](const inotify_event&, const std::string& name) {
                                  if (name != base || policyWd_ >= 0)
                                    return;
                                  watchPolicyDir();
                                  arm(policyTimer_, o_.debounce);
                                });
    return;
  }
  fragmentsWd_ = inotify_->add(
      dir + "/policy.d", kPolicyDirMask, [this](const inotify_event& ev, const std::string& name) {
        if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          fragmentsWd_ = -1;
          arm(policyTimer_, o_.debounce);
          return;
        }
        if (!name.empty() && name[0] != '.' && (endsWith(name, ".yaml") || endsWith(name, ".yml")))
          arm(policyTimer_, policySettle(ev.mask, o_.debounce));
      });
}

void Daemon::setupWatches() {
  watchPolicyDir();
  const std::string ourName = FsDropInStore::name();
  auto dropInHandler = [this, ourName](const inotify_event&, const std::string& name) {
    if (name.empty() || name[0] == '.')
      return;  // our own temporary files, and nothing sshd's *.conf glob reads
    if (name != ourName) {
      if (!endsWith(name, ".conf"))
        return;
      otherConfigChanged_ = true;
    }
    arm(driftTimer_, std::chrono::milliseconds(20));
  };
  for (Target t : {Target::kSshd, Target::kClient}) {
    const std::string dir = store_.dir(t);
    ::mkdir(dir.c_str(), 0755);  // Debian and RHEL ship them; a minimal image may not
    int wd = inotify_->add(dir, kDirMask & ~IN_ONLYDIR, dropInHandler);
    if (wd < 0)
      log::warning("cannot watch \"" + dir + "\": " + strerror(-wd) +
                   "; drift is found by the periodic reconcile only");
  }
  // sshd_config and ssh_config themselves: an edit there can shadow us too.
  const std::string etcSsh = io::underRoot(o_.root, "/etc/ssh");
  int wd = inotify_->add(etcSsh, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ONLYDIR,
                         [this](const inotify_event&, const std::string& name) {
                           if (name == "sshd_config" || name == "ssh_config") {
                             otherConfigChanged_ = true;
                             arm(driftTimer_, std::chrono::milliseconds(20));
                           }
                         });
  if (wd < 0)
    log::warning("cannot watch \"" + etcSsh + "\": " + strerror(-wd) + ", ignoring");
  // passwd is replaced by rename (useradd, vipw): re-read the users then.
  const std::string etc = io::underRoot(o_.root, "/etc");
  wd = inotify_->add(etc, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR,
                     [this](const inotify_event&, const std::string& name) {
                       if (name == "passwd")
                         applyUsers(false);
                     });
  if (wd < 0)
    log::warning("cannot watch \"" + etc + "\": " + strerror(-wd) + ", ignoring");
}

void Daemon::applyUsers(bool full) {
  if (!engine_->resolved())
    return;  // no policy in force: nothing says which users to cover
  users_->configure(*engine_->resolved(), full);
  updateUsersHealth();
}

void Daemon::updateUsersHealth() {
  std::string reason;
  const std::size_t unwatched = users_->unwatched(), unresponsive = users_->unresponsive();
  if (unwatched)
    reason = std::to_string(unwatched) + " of " + std::to_string(users_->covered()) +
             " homes are not watched: inotify's watch limit is reached (raise "
             "fs.inotify.max_user_watches, see /usr/lib/sysctl.d/60-keepalive-policy.conf); they "
             "are re-checked every " +
             std::to_string(users_->unwatchedPeriod().count()) + " s";
  if (unresponsive)
    reason += (reason.empty() ? "" : "; ") + std::to_string(unresponsive) +
              " homes do not answer (a hung NFS or FUSE mount?); retrying with backoff "
              "(keepalivectl users --noncompliant)";
  engine_->setDegraded(reason);
  logStateIfChanged();
  const std::string s = usersSummary();
  if (s != lastUsersSummary_) {
    log::info(s);
    lastUsersSummary_ = s;
  }
}

std::string Daemon::usersSummary() const {
  return "users: " + std::to_string(users_->covered()) + " covered, " +
         std::to_string(users_->nonCompliant()) + " non-compliant, " +
         std::to_string(users_->unwatched()) + " unwatched, " +
         std::to_string(users_->unresponsive()) + " unresponsive, " +
         std::to_string(users_->watches()) + " watches, repairs " +
         std::to_string(users_->repairs()) + ", refusals " + std::to_string(users_->refusals());
}

std::string Daemon::representativeUser() {
  // sshd -T evaluates Match blocks for one connection: take a user the policy covers, so that a
  // "Match User" shadowing them is seen. Root is the fallback on hosts without such users.
  std::int64_t minUid = 1000;
  if (engine_ && engine_->resolved())
    minUid = engine_->resolved()->users_min_uid.value;
  for (const auto& u : loadUsers(o_.root))
    if (u.uid >= minUid && u.uid < 65534)
      return u.name;
  return "root";
}

void Daemon::applyPolicy(const std::string& trigger) {
  if (ready_)
    sd_notify(0, "RELOADING=1\nSTATUS=applying the policy");
  policy::Diagnostics diags;
  auto files = io::readSystemPolicy(o_.root, diags);
  sshd_.setUser(representativeUser());
  Outcome o = engine_->apply(files, std::move(diags), trigger);
  report(o);
  applyUsers(true);
  if (dbus_) {
    // The new properties first: a client reacting to Applied (or to Reload's reply) reads them.
    dbus_->publish(snapshot());
    dbus_->emitApplied(engine_->state().generation, applyResultOf(o.result));
  }
  scheduleReconcile();
  if (ready_)
    sd_notify(0, "READY=1");
}

void Daemon::reconcile(const std::string& trigger) {
  if (!otherConfigChanged_ && engine_->dropInsAsDesired())
    return;  // our own write, seen through inotify: nothing to do
  otherConfigChanged_ = false;
  report(engine_->reconcile(trigger));
}

void Daemon::scheduleReconcile() {
  std::int64_t every = 3600;
  if (engine_->resolved())
    every = engine_->resolved()->reconcile_interval.value;
  if (every <= 0) {
    sd_event_source_set_enabled(reconcileTimer_, SD_EVENT_OFF);
    return;
  }
  arm(reconcileTimer_, std::chrono::milliseconds(every * 1000));
}

void Daemon::report(const Outcome& o) {
  for (const auto& e : o.log)
    log::emit(e.level, e.message);
  logStateIfChanged();
  signalDrift(o);
}

void Daemon::logStateIfChanged() {
  const std::string summary = journalLine(snapshot());
  if (summary != lastSummary_) {
    log::info(summary);
    lastSummary_ = summary;
  }
  notifyStatus();
  publishSoon();
}

void Daemon::notifyStatus() {
  const State& s = engine_->state();
  std::string status = std::string("STATUS=") + toString(s.kind) + ": " + s.reason;
  for (auto& c : status)
    if (c == '\n')
      c = ' ';
  sd_notify(0, status.c_str());
}

void Daemon::startBus() {
  if (!o_.bus)
    return;
  DbusHandlers h;
  h.reload = [this](DbusHandlers::ReloadDone done) {
    applyPolicy("D-Bus Reload");
    done(engine_->state().generation, applyResultOf(engine_->state().last_apply_result));
  };
  h.check = [this](std::optional<std::uint32_t> onlyUid, DbusHandlers::CheckDone done) {
    checkAll(onlyUid, std::move(done));
  };
  h.warn = [](const std::string& m) { log::warning(m); };
  h.lost = [](const std::string& m) {
    log::warning("lost the system bus: " + m +
                 "; keepalivectl status will not answer until "
                 "keepalive-policyd restarts, enforcing goes on");
  };
  try {
    dbus_ = std::make_unique<DbusService>(loop_, std::move(h), snapshot());
    dbus_->setUsers(userRows());
  } catch (const std::exception& e) {
    // Enforcing matters more than being asked about it: go on without the bus.
    log::warning(std::string("cannot serve ") + kBusName + " on the system bus: " + e.what() +
                 "; keepalivectl status will not answer, ignoring");
    return;
  }
}

// Many changes in one loop iteration (a storm of repairs) make one PropertiesChanged.
void Daemon::publishSoon() {
  if (publishSource_)
    sd_event_source_set_enabled(publishSource_, SD_EVENT_ONESHOT);
}

void Daemon::publishUsersSoon() {
  int enabled = SD_EVENT_OFF;
  sd_event_source_get_enabled(usersPublishTimer_, &enabled);
  if (enabled != SD_EVENT_OFF)
    return;  // one is due already: it carries this change too
  const std::uint64_t now = static_cast<std::uint64_t>(clock_.monotonicUsec());
  sd_event_source_set_time(usersPublishTimer_, std::max(now, lastUsersPublishUsec_ + 100000));
  sd_event_source_set_enabled(usersPublishTimer_, SD_EVENT_ONESHOT);
}

int Daemon::onUsersPublish(sd_event_source*, std::uint64_t now, void* self) {
  auto* d = static_cast<Daemon*>(self);
  d->lastUsersPublishUsec_ = now;
  d->publishSoon();
  return 0;
}

int Daemon::onPublish(sd_event_source*, void* self) {
  auto* d = static_cast<Daemon*>(self);
  if (!d->dbus_ && !d->metrics_)
    return 0;
  const DaemonStatus s = d->snapshot();
  if (d->dbus_)
    d->dbus_->publish(s);
  d->writeMetrics(s);
  return 0;
}

void Daemon::writeMetrics(const DaemonStatus& s) {
  if (!metrics_)
    return;
  metrics_->update(s);
  // A write held back (at most one a second), a retry, or the refresh that keeps the file's
  // mtime telling a running daemon from a dead one.
  if (auto t = metrics_->nextWakeUsec()) {
    sd_event_source_set_time(metricsTimer_, static_cast<std::uint64_t>(*t));
    sd_event_source_set_enabled(metricsTimer_, SD_EVENT_ONESHOT);
  } else {
    sd_event_source_set_enabled(metricsTimer_, SD_EVENT_OFF);
  }
}

int Daemon::onMetricsTimer(sd_event_source*, std::uint64_t, void* self) {
  auto* d = static_cast<Daemon*>(self);
  d->writeMetrics(d->snapshot());
  return 0;
}

DaemonStatus Daemon::snapshot() const {
  const State& st = engine_->state();
  DaemonStatus s;
  s.state = st.kind;
  s.state_reason = st.reason;
  s.version = o_.version;
  s.policy_files = st.policy_files;
  s.policy_digest = st.policy_digest;
  s.generation = st.generation;
  s.last_apply_usec = static_cast<std::uint64_t>(st.last_apply_usec);
  s.last_apply_result = applyResultOf(st.last_apply_result);
  s.last_error = st.last_error;
  s.sshd_unit = st.sshd_unit;
  s.drop_ins = st.drop_ins;
  for (const auto& e : st.effective_server)
    s.effective_server[e.keyword] = {e.value, e.source};
  for (const auto& e : st.effective_client)
    s.effective_client[e.keyword] = {e.value, e.source};
  for (const auto& sh : st.shadowed)
    s.shadowed.push_back(sh.describe());
  s.users_covered = static_cast<std::uint32_t>(users_->covered());
  s.users_noncompliant = static_cast<std::uint32_t>(users_->nonCompliant());
  s.users_unwatched = static_cast<std::uint32_t>(users_->unwatched());
  s.repairs_total = users_->repairs();
  s.refusals_total = users_->refusals();
  s.reloads_total = st.reloads_total;
  s.rollbacks_total = st.rollbacks_total;
  s.watches_used = static_cast<std::uint32_t>(inotify_->size());
  s.writes_total = st.writes_total;
  s.drift_repairs_total = st.drift_repairs_total;
  return s;
}

std::vector<UserRow> Daemon::userRows() const {
  std::vector<UserRow> rows;
  rows.reserve(users_->covered());
  for (const auto& r : users_->records())
    rows.push_back(userRow(r));
  return rows;
}

void Daemon::checkAll(std::optional<std::uint32_t> onlyUid, DbusHandlers::CheckDone done) {
  std::vector<Finding> findings;
  if (!engine_->resolved()) {
    findings.push_back({"no policy in force: " + engine_->state().reason, std::nullopt});
    done(std::move(findings));
    return;
  }
  // Fresh observations, no change: sshd -T and ssh -G, the drop-ins' bytes, every user.
  report(engine_->verifyNow());
  const State& st = engine_->state();
  if (st.kind != StateKind::kOk)
    findings.push_back({std::string("state ") + toString(st.kind) + ": " + st.reason, {}});
  if (!engine_->dropInsAsDesired())
    findings.push_back({"the drop-ins differ from what the policy renders (being restored)", {}});
  for (const auto& sh : st.shadowed)
    findings.push_back({sh.describe(), {}});
  // A caller who is not root sees only its own users' findings: the others are not looked at.
  // The users in slices, on later turns of the loop.
  users_->verifyAsync(onlyUid, [findings = std::move(findings), done = std::move(done)](
                                   std::vector<UserWatcher::Finding> users) mutable {
    for (auto& f : users)
      findings.push_back({std::move(f.text), f.uid});
    done(std::move(findings));
  });
}

void Daemon::signalDrift(const Outcome& o) {
  if (!dbus_)
    return;
  if (applyResultOf(o.result) == ApplyResult::kRestored)
    for (const auto& path : o.written)
      dbus_->emitDrift(path, "restored to policy " + engine_->state().policy_digest);
  const auto& now = engine_->state().shadowed;
  for (const auto& sh : now)
    if (std::find(lastShadowed_.begin(), lastShadowed_.end(), sh) == lastShadowed_.end())
      dbus_->emitDrift(sh.file, sh.describe());
  lastShadowed_ = now;
}

void Daemon::signalRepaired(const UserRecord& rec, const std::string& what) {
  if (!dbus_)
    return;
  // 100 at once, then 50 a second; the counters and the journal still have every repair.
  const std::int64_t now = clock_.monotonicUsec();
  repairedTokens_ = std::min(100.0, repairedTokens_ + (now - repairedRefillUsec_) * 50e-6);
  repairedRefillUsec_ = now;
  if (repairedTokens_ < 1) {
    if (repairedSuppressed_++ == 0)
      log::info(
          "too many repairs at once: Repaired signals are being dropped (RepairsTotal "
          "and the journal have them all)");
    return;
  }
  repairedTokens_ -= 1;
  repairedSuppressed_ = 0;
  dbus_->emitRepaired(rec.user.name, rec.user.home + "/.ssh/config", what);
}

int Daemon::run() {
  if (int n = store_.cleanStaleTemps(); n > 0)
    log::notice("removed " + std::to_string(n) + " temporary file(s) left by an interrupted write");
  log::info("starting: root \"" + (o_.root.empty() ? std::string("/") : o_.root) + "\", sshd " +
            o_.sshd + ", unit " + (systemd_->unit().empty() ? "-" : systemd_->unit()) +
            ", banner probe " + probeMode_);
  if (!systemd_->disabledReason().empty())
    log::emit(o_.unit == "none" ? LogEvent::Level::kInfo : LogEvent::Level::kWarning,
              "sshd will not be reloaded: " + systemd_->disabledReason());
  watchdogOwnThread();
  setupWatches();
  applyPolicy("start");
  // After the first apply: a status read at once shows the policy in force, not "starting".
  startBus();
  ready_ = true;
  sd_notify(0, "READY=1");
  notifyStatus();
  sd_event_set_watchdog(loop_, 1);
  int r = sd_event_loop(loop_);
  if (r < 0) {
    log::error(std::string("event loop failed: ") + strerror(-r));
    return 1;
  }
  return 0;
}

}  // namespace keepalive::daemon
