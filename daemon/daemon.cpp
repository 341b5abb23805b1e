// SPDX-License-Identifier: GPL-2.0-or-later
#include "daemon.h"

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
#include <utility>

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"
#include "keepalive/policy/networks.h"
#include "keepalive/policy/render.h"
#include "sys/clock.h"

namespace keepalive::daemon {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The listen check runs this binary again. After a package upgrade replaced it, the kernel
// calls it "PATH (deleted)": the new binary at PATH answers --check-listening as well.
std::string selfExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string path = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  const std::string deleted = " (deleted)";
  if (endsWith(path, deleted))
    path.resize(path.size() - deleted.size());
  return path.empty() ? std::string("/usr/sbin/keepalive-policyd") : path;
}

UserRow userRow(const UserRecord& r) {
  return {r.user.name, r.user.uid, r.user.home, r.state,
          r.detail,    r.action,   r.unwatched, static_cast<std::uint64_t>(r.last_change_usec),
          r.repairs,   r.refusals};
}

}  // namespace

std::int64_t RealClock::realtimeUsec() {
  return sys::realtimeUsec();
}

std::int64_t RealClock::monotonicUsec() {
  return sys::monotonicUsec();
}

Daemon::Daemon(DaemonOptions o)
    : o_(std::move(o)), store_(o_.root, io::underRoot(o_.root, "/var/lib/keepalive-policy")) {
  if (int r = sd_event_default(&loop_); r < 0)
    throw std::runtime_error(std::string("sd_event_default: ") + strerror(-r));
  // SIGCHLD too, before any thread starts: children are watched by sd_event_add_child, which
  // needs it blocked in every thread.
  sigset_t ss;
  sigemptyset(&ss);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&ss, s);
  sigprocmask(SIG_BLOCK, &ss, nullptr);
  children_ = std::make_unique<ChildRunner>(loop_);
  sshd_ = std::make_unique<SshdRunner>(
      SshdRunnerOptions{o_.root, o_.sshd, o_.ssh, "root", o_.command_timeout}, *children_);
  sd_event_add_defer(loop_, &runNext_, &Daemon::onRunNext, this);
  sd_event_source_set_enabled(runNext_, SD_EVENT_OFF);
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
    usersRescan_ = true;  // users' events were lost too: the apply re-checks every user
    arm(policyTimer_, o_.debounce);
  });
  systemd_ = std::make_unique<SystemdManager>(loop_, o_.unit, o_.job_timeout);
  systemd_->setUnitListener([this] {
    const UnitState u = systemd_->unitState();
    log::debug("sshd unit: " + u.unit + " " + u.detail + ", main PID " +
               std::to_string(u.main_pid) + ", read its configuration at " +
               std::to_string(u.read_config_usec) +
               (u.socket.empty()
                    ? ""
                    : ", " + u.socket + (u.socket_listening ? " listening" : " not listening")));
    if (!engine_ || !ready_)
      return;  // the first apply reads the unit's state itself
    // Started, stopped or reloaded by anyone: what the running sshd serves is verified again
    // (a stopped sshd that starts turns the state ok by itself). During a transaction of ours
    // the bus shows it at once; the journal's state line waits for the verification.
    engine_->unitChanged();
    if (engine_->busy()) {
      // Our own reload (or a change racing our transaction): the transaction's verification
      // reads the unit's state when it ends.
      publishSoon();
      return;
    }
    logStateIfChanged();
    // The end of our own reload, signalled after the transaction ended: nothing new to verify.
    // (Our reload's time is taken after systemd's job ended, so it is never before the unit's.)
    if (u.activity == UnitState::Activity::kActive && u.read_config_usec != 0 &&
        u.read_config_usec <= static_cast<std::int64_t>(engine_->state().last_reload_usec))
      return;
    otherConfigChanged_ = true;
    reconcile(u.unit + " " + (u.detail.empty() ? "changed" : u.detail));
  });
  systemd_->setRejoinedListener([this] {
    // A reload awaited when the bus went is unknown: apply again (the pending mark makes it
    // reload), so the state ends on evidence rather than on the lost job.
    if (ready_ &&
        (engine_->state().last_apply_result == ApplyResult::kRolledBack || store_.reloadPending()))
      applyPolicy("rejoined the system bus");
  });
  systemd_->setGaveUpListener([this](const std::string& m) {
    log::error(m + "; exiting for systemd to restart keepalive-policyd");
    sd_event_exit(loop_, kExitBusLost);
  });
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
  if (probeMode_ == "transient") {
    probe_ = std::make_unique<TransientListenProbe>(*systemd_, selfExecutable());
    // Under systemd our unit may not build a private /run (no CAP_SYS_ADMIN): sshd's retry
    // with its privilege separation directory runs as a transient unit that systemd builds it for.
    sshd_->setPrivsepRetry([this](const std::vector<std::string>& argv, const std::string& dir,
                                  std::chrono::milliseconds timeout,
                                  Done<PrivsepRetryResult> done) {
      systemd_->runPrivsepCheck(argv, dir, timeout, [done = std::move(done)](OneshotResult r) {
        PrivsepRetryResult a{.ran = r.ran,
                             .ok = r.result == "done",
                             .timed_out = r.result == "timeout",
                             .truncated = r.truncated,
                             .out = std::move(r.output),
                             .err = std::move(r.errors),
                             .detail = r.ran ? r.unit + " ended with result '" + r.result + "'"
                                             : "cannot run it as unit " + r.unit + ": " + r.detail};
        done(std::move(a));
      });
    });
  } else {
    probe_ = std::make_unique<ListenProbe>(*children_, selfExecutable());
  }
  engine_ = std::make_unique<Engine>(store_, *sshd_, *systemd_, *probe_, clock_,
                                     EngineOptions{io::localHostIdentity(o_.host)});
  // A reload under way shows as pending-reload on the bus; the journal's state line waits for
  // the transaction's end.
  engine_->setStateListener([this] { publishSoon(); });
  JournalFollowerOptions jo;
  jo.state_dir = io::underRoot(o_.root, "/var/lib/keepalive-policy");
  jo.follow = o_.journal == "system" || (o_.journal == "auto" && o_.root.empty());
  disconnects_ = std::make_unique<JournalFollower>(loop_, jo, [this](const std::string& address) {
    // The policy in force when the session ended: its networks, in the order sshd matches them.
    if (!engine_ || !engine_->resolved())
      return std::string("default");
    return policy::networkFor(address, engine_->resolved()->networks);
  });
  disconnects_->setChanged([this] { publishSoon(); });
  disconnects_->setUserOfUid([this](std::uint32_t uid) { return users_->nameOfUid(uid); });
}

Daemon::~Daemon() {
  // Reload calls still waiting (queued, or held by a transaction) hold replies on the bus
  // connection: they go first, unanswered, while the connection is still there.
  queue_ = Queue{};
  engine_.reset();  // a transaction still waiting goes with it, before the ports it waits on
  dbus_.reset();
  disconnects_.reset();  // saves what it has not saved yet
  sd_event_source_disable_unref(publishSource_);
  sd_event_source_disable_unref(usersPublishTimer_);
  sd_event_source_disable_unref(metricsTimer_);
  users_.reset();  // holds watches in inotify_
  probe_.reset();
  systemd_.reset();
  sshd_.reset();
  children_.reset();
  configWatch_.reset();
  inotify_.reset();
  for (auto* t : {policyTimer_, driftTimer_, reconcileTimer_, runNext_})
    sd_event_source_disable_unref(t);
  sd_event_unref(loop_);
}

int Daemon::onSignal(sd_event_source*, const struct signalfd_siginfo* si, void* self) {
  auto* d = static_cast<Daemon*>(self);
  if (si->ssi_signo == SIGHUP) {
    d->usersRescan_ = true;  // an admin's explicit request: everything is looked at again
    d->applyPolicy("SIGHUP");
    return 0;
  }
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  if (d->engine_->busy()) {
    // Never leave a candidate drop-in that sshd -t has not accepted: the transaction ends (or
    // rolls back) within its own deadlines first.
    log::info(std::string("received ") + strsignal(static_cast<int>(si->ssi_signo)) +
              ", exiting when the transaction under way has ended");
    d->stopping_ = true;
    return 0;
  }
  log::info(std::string("received ") + strsignal(static_cast<int>(si->ssi_signo)) + ", exiting");
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
    d->usersRescan_ = true;
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

void Daemon::setupWatches() {
  ConfigWatchHandlers h;
  h.policyChanged = [this](std::chrono::milliseconds settle) { arm(policyTimer_, settle); };
  h.sshConfigChanged = [this](bool others) {
    otherConfigChanged_ = otherConfigChanged_ || others;
    arm(driftTimer_, std::chrono::milliseconds(20));
  };
  h.passwdChanged = [this] { applyUsers(false); };
  configWatch_ = std::make_unique<ConfigWatch>(
      *inotify_, o_.root,
      std::vector<std::string>{store_.dir(Target::kSshd), store_.dir(Target::kClient)},
      FsDropInStore::name(), o_.debounce, std::move(h));
  watchConfigTree();
}

void Daemon::watchConfigTree() {
  if (!configWatch_ || !sshd_)
    return;
  std::vector<std::string> files, dirs;
  for (const ConfigScan& scan : {sshd_->scanServer(), sshd_->scanClient()}) {
    files.insert(files.end(), scan.files_read.begin(), scan.files_read.end());
    dirs.insert(dirs.end(), scan.dirs.begin(), scan.dirs.end());
  }
  configWatch_->watchTree(files, dirs);
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

void Daemon::applyPolicy(const std::string& trigger, ReloadDone done) {
  queue_.requestApply(trigger, done ? std::optional<ReloadDone>(std::move(done)) : std::nullopt);
  runNextSoon();
}

void Daemon::reconcile(const std::string& trigger) {
  queue_.requestReconcile(trigger);
  runNextSoon();
}

void Daemon::check(std::optional<std::uint32_t> onlyUid,
                   std::function<void(std::vector<Finding>)> done) {
  if (!engine_->resolved()) {
    done({{"no policy in force: " + engine_->state().reason, std::nullopt}});
    return;
  }
  queue_.requestCheck({onlyUid, std::move(done)});
  runNextSoon();
}

void Daemon::runNextSoon() {
  // From the loop, never from inside the call that asked: the transaction that ends may be
  // the caller.
  if (!engine_->busy())
    sd_event_source_set_enabled(runNext_, SD_EVENT_ONESHOT);
}

int Daemon::onRunNext(sd_event_source*, void* self) {
  auto* d = static_cast<Daemon*>(self);
  if (d->engine_->busy())
    return 0;  // the one running starts the next when it ends
  if (d->stopping_) {
    sd_event_exit(d->loop_, 0);
    return 0;
  }
  auto run = d->queue_.next();
  if (!run)
    return 0;
  switch (run->kind) {
    case RunKind::kApply:
      d->startApply(std::move(*run));
      break;
    case RunKind::kReconcile:
      d->startReconcile(std::move(*run));
      break;
    case RunKind::kVerify:
      d->startCheck(std::move(*run));
      break;
  }
  return 0;
}

void Daemon::transactionEnded() {
  // The include tree may have changed (a file added, an Include directory created): watch what
  // sshd and ssh read now.
  watchConfigTree();
  if (stopping_) {
    sd_event_exit(loop_, 0);
    return;
  }
  if (queue_.pending())
    runNextSoon();
}

void Daemon::startApply(Queue::Run run) {
  if (ready_)
    sd_notify(0, "RELOADING=1\nSTATUS=applying the policy");
  policy::Diagnostics diags;
  auto files = io::readSystemPolicy(o_.root, diags);
  sshd_->setUser(representativeUser());
  engine_->apply(std::move(files), std::move(diags), run.trigger,
                 [this, reloads = std::move(run.reloads)](Outcome o) {
                   report(o);
                   // Every user is checked again at start, after an overflow, at the periodic
                   // reconcile and on SIGHUP or Reload; a policy pushed as a file re-checks
                   // them all only when it changes what users need (configure() sees that),
                   // not for a new keepalive value: at 100k homes that holds the loop for
                   // most of a second.
                   applyUsers(std::exchange(usersRescan_, false));
                   if (dbus_) {
                     // The new properties first: a client reacting to Applied (or to Reload's
                     // reply) reads them.
                     dbus_->publish(snapshot());
                     dbus_->emitApplied(engine_->state().generation, o.result);
                   }
                   scheduleReconcile();
                   if (ready_)
                     sd_notify(0, "READY=1");
                   for (const auto& done : reloads)
                     done(engine_->state().generation, engine_->state().last_apply_result);
                   transactionEnded();
                 });
}

void Daemon::startReconcile(Queue::Run run) {
  if (!otherConfigChanged_ && engine_->dropInsAsDesired()) {
    transactionEnded();  // our own write, seen through inotify: nothing to do
    return;
  }
  otherConfigChanged_ = false;
  engine_->reconcile(run.trigger, [this](Outcome o) {
    report(o);
    // Another writer's break is fixed: the newest policy, held back meanwhile, goes in now.
    if (o.tree_repaired)
      applyPolicy("sshd configuration whole again");
    transactionEnded();
  });
}

void Daemon::startCheck(Queue::Run run) {
  // Fresh observations, no change: sshd -T and ssh -G, the drop-ins' bytes, every user.
  engine_->verifyNow([this, checks = std::move(run.checks)](Outcome o) {
    report(o);
    for (const auto& c : checks)
      findings(c.onlyUid, c.done);
    transactionEnded();
  });
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
    usersRescan_ = true;
    applyPolicy("D-Bus Reload", std::move(done));
  };
  h.check = [this](std::optional<std::uint32_t> onlyUid, DbusHandlers::CheckDone done) {
    check(onlyUid, std::move(done));
  };
  h.listDisconnects = [this](const DisconnectQuery& q, std::optional<std::uint32_t> onlyUid) {
    DisconnectQuery mine = q;
    if (onlyUid) {
      // A caller who is not root: its own user's sessions, by the name its bus uid has in the
      // users the daemon last read (no NSS call here); a uid without a name gets none.
      const std::string* name = users_->nameOfUid(*onlyUid);
      if (!name || (!q.user.empty() && q.user != *name))
        return std::vector<DisconnectEvent>{};
      mine.user = *name;
    }
    return disconnects_->store().query(mine);
  };
  h.warn = [](const std::string& m) { log::warning(m); };
  h.lost = [](const std::string& m) {
    log::warning("lost the system bus: " + m +
                 "; rejoining (keepalivectl status does not answer meanwhile), enforcing goes on");
  };
  h.rejoined = [] { log::notice(std::string("rejoined the system bus as ") + kBusName); };
  // Exits non-zero: Restart=on-failure starts a fresh daemon, which connects from scratch.
  h.gaveUp = [this](const std::string& m) {
    log::error("dbus: " + m + "; exiting for systemd to restart keepalive-policyd");
    sd_event_exit(loop_, kExitBusLost);
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
  s.state_since_usec = static_cast<std::uint64_t>(st.since_usec);
  s.version = o_.version;
  s.policy_files = st.policy_files;
  s.policy_digest = st.policy_digest;
  s.generation = st.generation;
  s.last_apply_usec = static_cast<std::uint64_t>(st.last_apply_usec);
  s.last_apply_result = st.last_apply_result;
  s.last_error = st.last_error;
  s.last_error_usec = static_cast<std::uint64_t>(st.last_error_usec);
  s.policy_since_usec = static_cast<std::uint64_t>(st.policy_since_usec);
  s.last_reload_usec = static_cast<std::uint64_t>(st.last_reload_usec);
  s.sshd_unit = st.sshd_unit;
  if (st.unit.activity != UnitState::Activity::kUnknown)
    s.sshd_state = st.unit.detail.empty() ? toString(st.unit.activity) : st.unit.detail;
  if (!st.unit.socket.empty())
    s.sshd_socket = st.unit.socket + (st.unit.socket_listening ? " (listening)" : " (inactive)");
  s.sshd_read_config_usec = static_cast<std::uint64_t>(st.unit.read_config_usec);
  s.drop_ins = st.drop_ins;
  for (const auto& e : st.effective_server)
    s.effective_server[e.keyword] = {e.value, e.source};
  for (const auto& e : st.effective_client)
    s.effective_client[e.keyword] = {e.value, e.source};
  for (const auto& sh : st.shadowed) {
    if (sh.wins())
      s.shadowed.push_back(sh.describe());
    s.config_lines.push_back(toRow(sh));
  }
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
  s.openssh_version = st.openssh_version;
  s.openssh_source = st.openssh_source;
  s.keepalive = st.keepalive;
  s.keepalive_notes = st.keepalive_notes;
  s.network_checks = st.network_checks;
  s.sshd_log_level = st.sshd_log_level;
  if (disconnects_) {
    const DisconnectStore& d = disconnects_->store();
    const std::uint64_t now = static_cast<std::uint64_t>(sys::realtimeUsec());
    for (const auto& c : d.counts(now))
      s.disconnect_counts.push_back({toString(c.cause), c.network, c.count});
    for (const auto& c : d.totals())
      s.disconnect_totals.push_back({toString(c.cause), c.network, c.count});
    if (auto last = d.last(DisconnectCause::kKeepaliveTimeout)) {
      s.last_keepalive_timeout_usec = last->time_usec;
      s.last_keepalive_timeout_network = last->network;
    }
    s.disconnects_since_usec = d.since() == 0 ? 0 : d.coveredSince(now);
    s.journal_state = disconnects_->state();
  }
  return s;
}

std::vector<UserRow> Daemon::userRows() const {
  std::vector<UserRow> rows;
  rows.reserve(users_->covered());
  for (const auto& r : users_->records())
    rows.push_back(userRow(r));
  return rows;
}

void Daemon::findings(std::optional<std::uint32_t> onlyUid, DbusHandlers::CheckDone done) {
  std::vector<Finding> out;
  const State& st = engine_->state();
  // sshd-stopped: the policy is installed and accepted, and nothing runs that serves another
  // value; the state is shown by status, and check stays 0 (docs/daemon.md, States).
  if (st.kind != StateKind::kOk && st.kind != StateKind::kSshdStopped)
    out.push_back({std::string("state ") + toString(st.kind) + ": " + st.reason, {}});
  if (!engine_->dropInsAsDesired())
    out.push_back({"the drop-ins differ from what the policy renders (being restored)", {}});
  for (const auto& sh : st.shadowed)
    if (sh.wins())
      out.push_back({sh.describe(), {}});
  // A caller who is not root sees only its own users' findings: the others are not looked at.
  // The users in slices, on later turns of the loop.
  users_->verifyAsync(onlyUid, [out = std::move(out), done = std::move(done)](
                                   std::vector<UserWatcher::Finding> users) mutable {
    for (auto& f : users)
      out.push_back({std::move(f.text), f.uid});
    done(std::move(out));
  });
}

void Daemon::signalDrift(const Outcome& o) {
  if (!dbus_)
    return;
  if (o.result == ApplyResult::kRestored)
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
            ", listen check " + probeMode_);
  if (!systemd_->disabledReason().empty())
    log::emit(o_.unit == "none" ? LogEvent::Level::kInfo : LogEvent::Level::kWarning,
              "sshd will not be reloaded: " + systemd_->disabledReason());
  setupWatches();
  // The first apply runs on the loop like every other; the bus and READY=1 come once it ended,
  // so a status read at once shows the policy in force, not "starting".
  applyPolicy("start", [this](std::uint64_t, ApplyResult) {
    // After the first apply: sessions that ended are placed in the networks of the policy in
    // force.
    disconnects_->start();
    startBus();
    ready_ = true;
    sd_notify(0, "READY=1");
    notifyStatus();
  });
  sd_event_set_watchdog(loop_, 1);
  int r = sd_event_loop(loop_);
  if (r < 0) {
    log::error(std::string("event loop failed: ") + strerror(-r));
    return 1;
  }
  return r;  // 0, or kExitBusLost
}

}  // namespace keepalive::daemon
