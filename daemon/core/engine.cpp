// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include "config_text.h"
#include "figures.h"
#include "keepalive/policy/networks.h"
#include "keepalive/policy/render.h"

namespace keepalive::daemon {

using Level = LogEvent::Level;

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The keywords our drop-in sets for a target, with our values as sshd -T / ssh -G print them:
// from the policy's one declaration of each setting.
std::vector<std::pair<std::string, std::string>> ours(const policy::Resolved& r, Target t) {
  return policy::renderedDirectives(r,
                                    t == Target::kSshd ? policy::Side::kSshd : policy::Side::kSsh);
}

// The lines sshd or ssh act on; comments (the header's digest, derivation notes) are not among
// them, so a change there needs a write but no reload.
std::vector<std::string> directives(const std::optional<std::string>& text) {
  std::vector<std::string> out;
  if (!text)
    return out;
  std::size_t start = 0;
  while (start <= text->size()) {
    auto end = text->find('\n', start);
    if (end == std::string::npos)
      end = text->size();
    std::string line = text->substr(start, end - start);
    auto b = line.find_first_not_of(" \t\r");
    if (b != std::string::npos && line[b] != '#')
      out.push_back(line.substr(b));
    start = end + 1;
  }
  return out;
}

std::string firstLines(const std::string& text, std::size_t max = 3) {
  // The lines that say something: sshd frames some errors in rows of '@', and its last lines
  // carry the verdict ("no hostkeys available -- exiting.").
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of("@ \t\r") != std::string::npos)
      lines.push_back(line.substr(line.find_first_not_of("@ \t")));
    start = end + 1;
  }
  std::string out;
  for (std::size_t i = lines.size() > max ? lines.size() - max : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : "; ") + lines[i];
  return out;
}

}  // namespace

Engine::Engine(DropInStore& store, Sshd& sshd, ServiceManager& services, Probe& probe, Clock& clock,
               EngineOptions options)
    : store_(store),
      sshd_(sshd),
      services_(services),
      probe_(probe),
      clock_(clock),
      options_(std::move(options)) {
  state_.sshd_unit = services_.unit();
  state_.drop_ins = {store_.path(Target::kSshd), store_.path(Target::kClient)};
  state_.since_usec = clock_.realtimeUsec();  // starting: since the daemon started
}

std::string Outcome::timing() const {
  auto ms = [](std::int64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(us) / 1000.0);
    return std::string(buf);
  };
  std::string out = ms(total_usec) + " ms (";
  for (std::size_t i = 0; i < steps_usec.size(); ++i)
    out += (i ? ", " : "") + steps_usec[i].first + " " + ms(steps_usec[i].second);
  return out + ")";
}

void Engine::step(Outcome& o, const char* name) {
  const std::int64_t now = clock_.monotonicUsec();
  o.steps_usec.emplace_back(name, now - stepStart_);
  o.total_usec += now - stepStart_;
  stepStart_ = now;
}

void Engine::run(Task<Outcome> transaction, Done<Outcome> done) {
  if (busy_)
    throw std::logic_error("engine: a transaction is already running");
  busy_ = true;
  tasks_.spawn(drive(std::move(transaction), std::move(done)));
}

Task<void> Engine::drive(Task<Outcome> transaction, Done<Outcome> done) {
  Outcome o = co_await transaction;
  busy_ = false;
  done(std::move(o));
}

Callback<CheckResult> Engine::sshdTest() {
  return callback<CheckResult>([this](Done<CheckResult> d) { sshd_.test(std::move(d)); });
}
Callback<Dump> Engine::serverDump(ConnectionSpec conn) {
  return callback<Dump>(
      [this, conn = std::move(conn)](Done<Dump> d) { sshd_.serverDump(conn, std::move(d)); });
}
Callback<Dump> Engine::clientDump(std::string host) {
  return callback<Dump>(
      [this, host = std::move(host)](Done<Dump> d) { sshd_.clientDump(host, std::move(d)); });
}
Callback<VersionText> Engine::opensshVersion() {
  return callback<VersionText>([this](Done<VersionText> d) { sshd_.version(std::move(d)); });
}

Task<void> Engine::learnVersion(Outcome& o) {
  if (versionLearnt_)
    co_return;
  versionLearnt_ = true;
  VersionText v = co_await opensshVersion();
  const auto parsed = v.status ? policy::OpensshVersion::parse(v.text) : std::nullopt;
  if (parsed) {
    model_ = policy::ModelContext{parsed, v.source};
    state_.openssh_version = parsed->str();
    state_.openssh_source = v.source;
    o.log.push_back({Level::kInfo, "OpenSSH " + parsed->str() + " (" + v.source + ": " + v.text +
                                       "): the keepalive figures hold for it"});
  } else {
    model_ = policy::ModelContext{std::nullopt, ""};
    state_.openssh_version.clear();
    state_.openssh_source.clear();
    o.log.push_back({Level::kWarning,
                     "cannot learn the installed OpenSSH's version (" +
                         (v.status ? v.source + " printed \"" + v.text + "\"" : v.status.error) +
                         "): the keepalive figures assume the worst case over OpenSSH " +
                         policy::kOldestKnown.str() + " to " + policy::kNewestKnown.str()});
  }
}

void Engine::setResolved(policy::Resolved r) {
  state_.keepalive = keepaliveFigures(r);
  state_.keepalive_notes = keepaliveNotes(r);
  resolved_ = std::move(r);
}

ConnectionSpec Engine::connection(const std::string& addr) const {
  // The address and port sshd listens on, as the last sshd -T printed them, where one of them is
  // of addr's family and not a wildcard; the runner fills in the rest.
  ConnectionSpec c;
  c.addr = addr;
  if (!lastServerDump_)
    return c;
  const bool v6 = addr.find(':') != std::string::npos;
  c.lport = lastServerDump_->first("port");
  for (const auto& la : lastServerDump_->all("listenaddress")) {
    const auto colon = la.rfind(':');
    if (colon == std::string::npos)
      continue;
    std::string host = la.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if ((host.find(':') != std::string::npos) != v6 || host == "0.0.0.0" || host == "::")
      continue;
    c.laddr = host;
    c.lport = la.substr(colon + 1);
    break;
  }
  return c;
}
Callback<ReloadOutcome> Engine::reloadSshd() {
  return callback<ReloadOutcome>([this](Done<ReloadOutcome> d) { services_.reload(std::move(d)); });
}
Callback<Status> Engine::insertInclude() {
  return callback<Status>([this](Done<Status> d) { sshd_.insertInclude(std::move(d)); });
}
Callback<ListenCheck> Engine::checkListening(const Dump& dump) {
  return callback<ListenCheck>([this, &dump](Done<ListenCheck> d) {
    probe_.listening(dump, services_.unitState(), std::move(d));
  });
}

void Engine::apply(std::vector<policy::PolicyFile> files, policy::Diagnostics readDiags,
                   std::string trigger, Done<Outcome> done) {
  run(applyTask(std::move(files), std::move(readDiags), std::move(trigger)), std::move(done));
}

void Engine::reconcile(std::string trigger, Done<Outcome> done) {
  run(reconcileTask(std::move(trigger)), std::move(done));
}

void Engine::verifyNow(Done<Outcome> done) {
  run(verifyTask(), std::move(done));
}

void Engine::setError(const std::string& error) {
  state_.last_error = error;
  state_.last_error_usec = clock_.realtimeUsec();
}

void Engine::loadGoodPolicy(Outcome& o) {
  goodPolicyLoaded_ = true;
  Status st;
  auto good = store_.loadGoodPolicy(st);
  if (!st.ok)
    o.log.push_back({Level::kWarning, st.error});
  if (!good)
    return;
  std::vector<policy::PolicyFile> files;
  for (const auto& [path, text] : good->files)
    files.push_back({path, text});
  policy::Diagnostics diags;
  policy::Policy p = policy::loadPolicy(files, diags, model_);
  if (diags.hasErrors()) {
    // Kept by an older version whose schema this one no longer reads: the drop-ins on disk stay.
    o.log.push_back({Level::kWarning, "the last good policy " + good->digest +
                                          " kept under the state directory no longer parses, "
                                          "ignoring it"});
    return;
  }
  policy_ = std::move(p);
  setResolved(policy::resolve(*policy_, options_.host, model_));
  desired_ = Desired{good->sshd, good->client};
  saved_ = good;
  state_.policy_digest = good->digest;
  state_.policy_since_usec = good->since_usec;
  state_.policy_files.clear();
  for (const auto& f : files)
    state_.policy_files.push_back(f.path);
}

void Engine::saveGoodPolicy(const std::vector<policy::PolicyFile>& files, Outcome& o) {
  GoodPolicy g;
  g.digest = state_.policy_digest;
  g.since_usec = state_.policy_since_usec;
  for (const auto& f : files)
    g.files.emplace_back(f.path, f.text);
  g.sshd = desired_->sshd;
  g.client = desired_->client;
  if (saved_ && *saved_ == g)
    return;  // an unchanged policy re-applied (start, SIGHUP, the periodic reconcile)
  saved_ = g;
  if (Status s = store_.saveGoodPolicy(g); !s)
    o.log.push_back({Level::kWarning, s.error + "; a restart with an invalid policy will not "
                                                "know the policy in force, ignoring"});
}

Task<Outcome> Engine::applyTask(std::vector<policy::PolicyFile> files,
                                policy::Diagnostics readDiags, std::string trigger) {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  ++state_.generation;
  state_.last_apply_usec = clock_.realtimeUsec();
  co_await learnVersion(o);
  if (!goodPolicyLoaded_)
    loadGoodPolicy(o);
  policy::Diagnostics diags = std::move(readDiags);
  policy::Policy p;
  if (!diags.hasErrors())
    p = policy::loadPolicy(files, diags, model_);
  if (!diags.hasErrors())
    diags.append(policy::checkForHost(p, options_.host, model_));
  for (const auto& d : diags.sorted())
    o.log.push_back(
        {d.severity == policy::Severity::kError ? Level::kError : Level::kWarning, d.str()});
  if (diags.hasErrors()) {
    std::string first;
    for (const auto& d : diags.sorted())
      if (d.severity == policy::Severity::kError) {
        first = d.str();
        break;
      }
    policyInvalid_ = true;
    policyInvalidReason_ =
        "policy rejected (" + std::to_string(diags.errorCount()) + " error" +
        (diags.errorCount() == 1 ? "" : "s") + ", first: " + first + "); " +
        (desired_ ? "the last good policy " + state_.policy_digest + " stays in force"
                  : "nothing was changed") +
        "; keepalivectl validate lists every error";
    setError(first);
    state_.last_apply_result = o.result = ApplyResult::kPolicyError;
    o.log.push_back({Level::kError, "policy rejected (" + trigger +
                                        "): " + std::to_string(diags.errorCount()) + " error(s); " +
                                        (desired_ ? "the last good policy stays in force"
                                                  : "nothing was changed") +
                                        "; keepalivectl validate lists every error"});
    // The policy in force is still checked against what sshd serves.
    if (resolved_) {
      const policy::Resolved r = *resolved_;
      co_await verify(r, o);
    }
    settle();
    co_return o;
  }

  policy::Resolved r = policy::resolve(p, options_.host, model_);
  const std::string digest = policy::policyDigest(p);
  Desired want{policy::renderSshd(r, digest), policy::renderClient(r, digest)};
  step(o, "parse");
  if (brokenByOthers_) {
    // Another writer broke sshd's configuration: install nothing new until it is whole again.
    const bool whole = co_await testTree(o);
    if (!whole) {
      // Not in force: a caller waiting for this push (Reload, the Ansible role) learns it now,
      // as for a rollback; a push of the policy already in force changes nothing.
      o.result =
          digest == state_.policy_digest ? ApplyResult::kUnchanged : ApplyResult::kRolledBack;
      o.log.push_back(
          {Level::kWarning, "policy " + digest + " (" + trigger + ") waits: " + brokenReason_});
      state_.last_apply_result = o.result;
      settle();
      co_return o;
    }
  }
  policyInvalid_ = false;
  // A policy not yet in force must be proven; the one in force was (its drop-ins restored by a push
  // of the same policy are judged as a reconcile judges them).
  co_await install(want, r, o, /*proven=*/!desired_ || digest != state_.policy_digest);
  if (o.result != ApplyResult::kRolledBack) {
    const bool changed = state_.policy_digest != digest || !desired_;
    policy_ = std::move(p);
    setResolved(policy::resolve(*policy_, options_.host, model_));
    desired_ = want;
    state_.policy_files.clear();
    for (const auto& f : files)
      state_.policy_files.push_back(f.path);
    state_.policy_digest = digest;
    if (changed || state_.policy_since_usec == 0)
      state_.policy_since_usec = clock_.realtimeUsec();
    saveGoodPolicy(files, o);
    o.log.push_back({Level::kInfo, "policy " + digest + " (" + trigger +
                                       "): " + toString(o.result) + " in " + o.timing()});
    co_await reloadIfStale(o);
  }
  state_.last_apply_result = o.result;
  settle();
  co_return o;
}

Task<Outcome> Engine::reconcileTask(std::string trigger) {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  co_await learnVersion(o);
  if (!goodPolicyLoaded_)
    loadGoodPolicy(o);
  if (!desired_ || !resolved_) {
    o.result = ApplyResult::kUnchanged;
    settle();
    co_return o;
  }
  const bool wasBroken = brokenByOthers_;
  if (brokenByOthers_) {
    const bool whole = co_await testTree(o);
    if (!whole) {
      o.result = ApplyResult::kUnchanged;
      settle();
      co_return o;
    }
  }
  co_await install(*desired_, *resolved_, o);
  if (o.wrote && o.result != ApplyResult::kRolledBack) {
    ++state_.drift_repairs_total;
    o.result = ApplyResult::kRestored;
    o.log.push_back({Level::kNotice,
                     "drop-ins restored to policy " + state_.policy_digest + " (" + trigger + ")"});
  }
  if (o.result != ApplyResult::kRolledBack)
    co_await reloadIfStale(o);
  o.tree_repaired = wasBroken && !brokenByOthers_;
  settle();
  co_return o;
}

Task<Outcome> Engine::verifyTask() {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  o.result = ApplyResult::kUnchanged;
  co_await learnVersion(o);
  if (!resolved_) {
    settle();
    co_return o;
  }
  const policy::Resolved r = *resolved_;
  co_await verify(r, o);
  settle();
  co_return o;
}

void Engine::setDegraded(const std::string& reason) {
  degradedReason_ = reason;
  settle();
}

void Engine::unitChanged() {
  settle();
}

bool Engine::dropInsAsDesired() {
  if (!desired_)
    return true;
  for (Target t : {Target::kSshd, Target::kClient}) {
    Status st;
    auto now = store_.read(t, st);
    if (!st.ok || !now || *now != (t == Target::kSshd ? desired_->sshd : desired_->client))
      return false;
  }
  return true;
}

Task<bool> Engine::testTree(Outcome& o) {
  CheckResult t = co_await sshdTest();
  step(o, "sshd -t");
  co_return noteTree(t, o);
}

bool Engine::noteTree(const CheckResult& t, Outcome& o) {
  if (t.ok) {
    if (brokenByOthers_)
      o.log.push_back({Level::kNotice, "sshd -t accepts the sshd configuration again"});
    brokenByOthers_ = false;
    brokenReason_.clear();
    return true;
  }
  const ConfigErrorLocation at = locateConfigError(t.message);
  std::string why = t.timed_out ? std::string("sshd -t did not answer in time")
                                : "sshd -t rejects the sshd configuration: " +
                                      (at.message.empty() ? firstLines(t.message) : at.message);
  if (!at.file.empty() && at.file == store_.path(Target::kSshd)) {
    // Our drop-in as accepted earlier, rejected now: an sshd upgrade that dropped a keyword.
    why += " (our drop-in, accepted before: has sshd changed?)";
  }
  why += "; keepalive-policy installs nothing and does not reload sshd until it is fixed";
  if (!brokenByOthers_ || brokenReason_ != why) {
    o.log.push_back({Level::kCritical, why});
    setError(why);
  }
  brokenByOthers_ = true;
  brokenReason_ = why;
  return false;
}

Task<void> Engine::install(Desired want, policy::Resolved r, Outcome& o, bool proven) {
  bool includeAdded = false;
  if (r.ensure_include.value) {
    ConfigScan scan = sshd_.scanServer();
    const std::string mine = store_.path(Target::kSshd);
    if (scan.status &&
        std::find(scan.files_read.begin(), scan.files_read.end(), mine) == scan.files_read.end()) {
      Status s = co_await insertInclude();
      if (s) {
        includeAdded = true;
        o.log.push_back(
            {Level::kNotice, "added an Include of the drop-in directory at the top of \"" +
                                 sshd_.mainConfigPath() + "\" (server.ensure_include: true)"});
      } else {
        o.log.push_back({Level::kError, "cannot add the Include to \"" + sshd_.mainConfigPath() +
                                            "\": " + s.error});
      }
    }
  }
  std::vector<Change> changes;
  for (Target t : {Target::kSshd, Target::kClient}) {
    Status st;
    auto before = store_.read(t, st);
    if (!st.ok) {
      // Not a file we can trust (a symlink, a FIFO...). The atomic rename replaces the directory
      // entry itself, never what it points to, so writing ours is safe; there is nothing to roll
      // back to but absence.
      o.log.push_back({Level::kWarning, st.error + "; replacing it"});
      before.reset();
    }
    const std::string& bytes = t == Target::kSshd ? want.sshd : want.client;
    if (!st.ok || !before || *before != bytes)
      changes.push_back({t, before});
  }

  bool sshdChanged = false;
  bool sshdNeedsReload = false;
  bool reloadedNow = false;
  for (const auto& c : changes) {
    if (c.target == Target::kSshd) {
      sshdChanged = true;
      sshdNeedsReload = directives(c.before) != directives(want.sshd);
    }
  }
  if (includeAdded)
    sshdNeedsReload = true;
  pendingAtStart_ = store_.reloadPending();
  if (pendingAtStart_ && !sshdNeedsReload) {
    sshdNeedsReload = true;
    o.log.push_back({Level::kNotice, reloadRefused_
                                         ? "retrying the reload of sshd the unit refused"
                                         : "a reload of sshd was left pending by an interrupted "
                                           "run: reloading now"});
  }
  if (sshdNeedsReload && !pendingAtStart_) {
    if (Status s = store_.setReloadPending(true); !s) {
      o.log.push_back({Level::kError, s.error + "; nothing was changed"});
      policyInvalid_ = true;
      policyInvalidReason_ = "cannot record the pending reload: " + s.error;
      ++state_.rollbacks_total;
      setError(s.error);
      o.result = ApplyResult::kRolledBack;
      co_return;
    }
  }
  for (const auto& c : changes) {
    if (Status s = store_.saveLastGood(c.target, c.before); !s) {
      o.log.push_back({Level::kError, s.error + "; nothing was changed"});
      policyInvalid_ = true;
      policyInvalidReason_ = "cannot keep a last-known-good copy: " + s.error;
      ++state_.rollbacks_total;
      setError(s.error);
      o.result = ApplyResult::kRolledBack;
      co_return;
    }
  }

  std::vector<Change> done;
  for (const auto& c : changes) {
    const std::string& bytes = c.target == Target::kSshd ? want.sshd : want.client;
    if (Status s = store_.write(c.target, bytes); !s) {
      // A write can fail after its rename (the directory's fsync): then the new, unchecked
      // file is live and must be rolled back too. Judge by what is there, not by the step.
      Status rs;
      auto now = store_.read(c.target, rs);
      if (!rs.ok || now != c.before)
        done.push_back(c);
      // Named first: GCC 12 destroys a temporary in a co_await's operand twice.
      std::string why = s.error;
      co_await rollback(done, false, std::move(why), o);
      co_return;
    }
    done.push_back(c);
    ++state_.writes_total;
    o.wrote = true;
    o.written.push_back(store_.path(c.target));
    o.log.push_back({Level::kInfo, "wrote \"" + store_.path(c.target) + "\""});
  }
  if (!changes.empty())
    step(o, "write");

  // sshd -t over the whole tree, whether or not our drop-in changed: "ok" needs it.
  {
    CheckResult t = co_await sshdTest();
    if (!t.ok) {
      if (!sshdChanged && !includeAdded) {
        // Our drop-in is as sshd accepted it before: the break is someone else's.
        noteTree(t, o);
        if (!done.empty()) {
          std::string why = brokenReason_;
          co_await rollback(done, false, std::move(why), o);
          policyInvalid_ = false;  // the client's change was not the cause
        } else {
          o.result = ApplyResult::kUnchanged;
        }
        co_return;
      } else {
        std::string why =
            std::string(t.timed_out ? "sshd -t timed out" : "sshd -t rejected the configuration") +
            (t.message.empty() ? "" : ": " + firstLines(t.message));
        co_await rollback(done, false, std::move(why), o);
        co_return;
      }
    }
    brokenByOthers_ = false;
    brokenReason_.clear();
    step(o, "sshd -t");
  }
  std::optional<Dump> serverDumped, clientDumped;
  for (const auto& c : changes) {
    // A client change in comments only (the header's digest) cannot break ssh.
    if (c.target != Target::kClient || directives(c.before) == directives(want.client))
      continue;
    std::string outside = policy::outsideDestination(r);
    Dump d = co_await clientDump(std::move(outside));
    clientDumped = d;
    if (!d.status) {
      std::string why = "ssh -G rejected the client configuration: " + d.status.error;
      co_await rollback(done, false, std::move(why), o);
      co_return;
    }
    step(o, "ssh -G");
  }

  if (sshdChanged && !sshdNeedsReload)
    o.log.push_back({Level::kInfo, "only comments changed in \"" + store_.path(Target::kSshd) +
                                       "\": no reload needed"});
  if (sshdNeedsReload) {
    // Under way only where there is a running sshd to reload.
    reloadInFlight_ = services_.unitState().activity == UnitState::Activity::kActive;
    settle();
    ReloadOutcome ro = co_await reloadSshd();
    reloadInFlight_ = false;
    if (ro.attempted && !ro.ok) {
      const UnitState u = services_.unitState();
      if (u.activity == UnitState::Activity::kActive) {
        // The unit refused the reload and sshd still runs: sshd -t accepted the files, so they
        // stay installed (a start reads them); the running sshd serves the values it had.
        reloadRefused_ = true;
        reloadRefusedReason_ = "reload of " + services_.unit() + " failed (" + ro.detail +
                               "): the running sshd still serves its previous values; retried "
                               "at the next reconcile (or run: systemctl reload " +
                               services_.unit() + ")";
        setError("reload of " + services_.unit() + " failed: " + ro.detail);
        o.log.push_back({Level::kError, reloadRefusedReason_});
        o.result = changes.empty() ? ApplyResult::kUnchanged : ApplyResult::kApplied;
        co_await verify(r, o, serverDumped, clientDumped, true);
        co_return;
      }
      // The job may have half-happened: reload the restored configuration as well.
      std::string why = "reload of " + services_.unit() + " failed: " + ro.detail;
      co_await rollback(done, true, std::move(why), o);
      co_return;
    }
    step(o, "reload");
    if (!ro.attempted)
      store_.setReloadPending(false);  // no running sshd to reload: it reads the file at start
    if (ro.attempted) {
      ++state_.reloads_total;
      // sshd was reloaded now, whether or not it answers afterwards (a rollback may follow).
      state_.last_reload_usec = clock_.realtimeUsec();
      o.reloaded = true;
      reloadedNow = true;
      o.log.push_back({Level::kInfo, "reloaded " + services_.unit() + " (" + ro.detail + ")"});
      // Check where sshd listened at the last check first: that keeps sshd -T out of the path
      // to a serving sshd. Only a fresh sshd -T may conclude that sshd does not listen, so a
      // changed ListenAddress never causes a false rollback.
      ListenCheck b;
      b.status = Status::failure("not checked");
      if (lastServerDump_ && lastServerDump_->status) {
        const Dump last = *lastServerDump_;
        b = co_await checkListening(last);
      }
      if (!b.status || b.partial) {
        ConnectionSpec outside = connection(policy::outsideAddress(r, false));
        Dump d = co_await serverDump(std::move(outside));
        serverDumped = d;
        if (d.status)
          b = co_await checkListening(d);
        else if (!b.status)
          b.status = d.status;
      }
      if (!b.status) {
        std::string why = "sshd does not listen after the reload: " + b.status.error;
        co_await rollback(done, true, std::move(why), o);
        co_return;
      }
      if (b.partial)
        // Not rolled back: our drop-in sets no ListenAddress or Port, and sshd goes on with the
        // addresses it could bind (it logs "Bind to port ... failed" for the others).
        o.log.push_back({Level::kWarning,
                         "sshd listens after the reload, but not on every address of sshd -T: " +
                             b.detail + "; see sshd's \"Bind to port\" lines, ignoring"});
      else
        o.log.push_back({Level::kInfo, "sshd listens again: " + b.detail});
      step(o, "probe");
      store_.setReloadPending(false);
      served_.reset();  // taken from the verification below: sshd read every file just now
    }
    reloadRefused_ = false;
  }

  o.result = changes.empty() ? ApplyResult::kUnchanged : ApplyResult::kApplied;
  co_await verify(r, o, serverDumped, clientDumped, true);
  step(o, "verify");
  // Proven, not assumed: sshd -T -C and ssh -G serve the values of each network and of the
  // default. A value of ours they do not serve, with no other file to explain it, means our
  // drop-in does not do what the policy says: the change is undone. (A line of another file that
  // wins is reported as shadowed instead: undoing ours would not change what it does.)
  if (proven && !done.empty()) {
    if (auto bad = unexplainedMismatch()) {
      std::string why = "the installed drop-ins do not serve the policy: " + bad->describe();
      co_await rollback(done, reloadedNow, std::move(why), o);
      if (resolved_) {
        // What the policy still in force gets, now that the candidate is gone.
        const policy::Resolved current = *resolved_;
        co_await verify(current, o);
      }
    }
  }
}

Task<void> Engine::rollback(std::vector<Change> changes, bool reloaded, std::string why,
                            Outcome& o) {
  o.result = ApplyResult::kRolledBack;
  ++state_.rollbacks_total;
  o.log.push_back({Level::kError, why + "; rolling back"});
  bool restored = true;
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
    Status s = it->before ? store_.write(it->target, *it->before) : store_.remove(it->target);
    if (!s) {
      restored = false;
      o.log.push_back(
          {Level::kCritical, "cannot restore \"" + store_.path(it->target) + "\": " + s.error});
    }
  }
  bool sshdTouched = std::any_of(changes.begin(), changes.end(),
                                 [](const Change& c) { return c.target == Target::kSshd; });
  // Ours unless sshd -t fails without our change too.
  policyInvalid_ = true;
  policyInvalidReason_ =
      why + (desired_ ? "; the last good policy " + state_.policy_digest + " stays in force"
                      : "; nothing is installed");
  setError(why);
  if (!sshdTouched)
    co_return;
  if (!reloaded && restored && !pendingAtStart_)
    store_.setReloadPending(false);  // sshd never saw the candidate: it runs what is on disk
  CheckResult t = co_await sshdTest();
  if (!t.ok) {
    // Not ours to fix: another file breaks sshd. Reloading now would take the listener down.
    policyInvalid_ = false;
    const ConfigErrorLocation at = locateConfigError(t.message);
    brokenByOthers_ = true;
    brokenReason_ = "sshd -t rejects the sshd configuration without our change too: " +
                    (at.message.empty() ? firstLines(t.message) : at.message) +
                    "; keepalive-policy installs nothing and does not reload sshd until it is "
                    "fixed";
    setError(brokenReason_);
    o.log.push_back({Level::kCritical, brokenReason_});
    co_return;
  }
  if (reloaded && restored) {
    ReloadOutcome ro = co_await reloadSshd();
    if (ro.ok) {
      ++state_.reloads_total;
      state_.last_reload_usec = clock_.realtimeUsec();
      store_.setReloadPending(false);
    }
    if (ro.attempted && !ro.ok)
      o.log.push_back({Level::kCritical, "reload after rollback failed: " + ro.detail});
  }
}

void Engine::classify(Target t, const ConfigScan& scan, const Dump& dump,
                      const std::vector<std::pair<std::string, std::string>>& want,
                      std::vector<EffectiveValue>& eff, std::vector<Shadowing>& found, Outcome& o) {
  eff.clear();
  const std::string target = t == Target::kSshd ? "sshd" : "ssh";
  const std::string mine = store_.path(t);
  if (!scan.status) {
    o.log.push_back({Level::kWarning, "cannot read the " + target +
                                          " configuration to check it: " + scan.status.error});
  }
  if (!dump.status) {
    o.log.push_back({Level::kWarning, target + " dump failed: " + dump.status.error});
    return;
  }
  const bool included =
      std::find(scan.files_read.begin(), scan.files_read.end(), mine) != scan.files_read.end();
  if (!included && scan.status && !want.empty()) {
    Shadowing s{target, "Include", "", "", scan.files_read.empty() ? "" : scan.files_read[0],
                0,      ""};
    s.effect = LineEffect::kNotIncluded;
    found.push_back(s);
  }
  for (const auto& [kw, value] : want) {
    const std::string key = lower(kw);
    const std::string effective = dump.first(key);
    const ConfigLine* first = nullptr;
    bool afterOurs = false;
    for (const auto& l : scan.lines) {
      if (l.keyword != key)
        continue;
      if (l.file == mine) {
        afterOurs = true;
        if (l.condition.empty() && !first)
          first = &l;
        continue;
      }
      // ssh's "Host *" applies to every host: a plain line for our purpose.
      const bool conditional =
          !l.condition.empty() && !(t == Target::kClient && lower(l.condition) == "host *");
      const bool same = lower(l.value) == lower(value);
      Shadowing s{target, l.keyword_as_written, value, l.value, l.file, l.line, l.condition};
      // sshd evaluates every Match block for each connection, wherever it stands, and its values
      // replace the top-level ones for the connections it matches; ssh and sshd keep the first
      // value they read otherwise, so after ours a line (or an ssh Host block) has no effect.
      const bool matchAnywhere = conditional && t == Target::kSshd;
      const bool beforeOurs = !afterOurs && !(first && first->file == mine);
      if (!matchAnywhere && !beforeOurs) {
        s.effect = LineEffect::kIneffective;
      } else {
        if (!conditional && !first)
          first = &l;
        if (same)
          continue;  // the same value as ours: it changes nothing
        s.effect = conditional ? LineEffect::kOverrides : LineEffect::kShadows;
      }
      found.push_back(s);
    }
    std::string source = "default";
    if (first)
      source = first->file + ":" + std::to_string(first->line);
    eff.push_back({key, effective, source});
    if (lower(effective) == lower(value))
      continue;
    const bool explained = std::any_of(found.begin(), found.end(), [&](const Shadowing& s) {
      return s.target == target && lower(s.keyword) == key && s.wins();
    });
    if (!explained && included) {
      Shadowing s{target, kw, value, effective, mine, 0, ""};
      s.effect = LineEffect::kNotInEffect;
      found.push_back(s);
    }
  }
}

void Engine::proveNetwork(Target t, const std::string& network, const std::string& sample,
                          const Dump& dump,
                          const std::vector<std::pair<std::string, std::string>>& want,
                          std::vector<Shadowing>& found, Outcome& o) {
  const std::string target = t == Target::kSshd ? "sshd" : "ssh";
  const std::string mine = store_.path(t);
  const std::string what =
      "network " + network + " (" + (t == Target::kSshd ? "sshd -T -C " : "ssh -G ") + sample + ")";
  for (const auto& [kw, value] : want) {
    const std::string key = lower(kw);
    // A dump that failed proves nothing: not in effect as far as anyone can tell.
    const std::string got = dump.status ? dump.first(key) : "unknown";
    state_.network_checks.push_back({network, target, sample, key, got});
    if (dump.status && lower(got) == lower(value))
      continue;
    // Another file's line that wins for this keyword (a Match or Host block of theirs, a line
    // read before ours) explains it: classify has reported that line already.
    const bool explained = std::any_of(found.begin(), found.end(), [&](const Shadowing& s) {
      return s.target == target && lower(s.keyword) == key && s.wins() && s.file != mine;
    });
    if (explained)
      continue;
    Shadowing s{target, kw, value, got, mine, 0, what};
    s.effect = LineEffect::kNotInEffect;
    found.push_back(s);
  }
  if (!dump.status)
    o.log.push_back({Level::kWarning, "cannot prove " + what + ": " + dump.status.error});
}

std::optional<Shadowing> Engine::unexplainedMismatch() const {
  for (const auto& s : state_.shadowed)
    if (s.effect == LineEffect::kNotInEffect &&
        s.file == store_.path(s.target == "sshd" ? Target::kSshd : Target::kClient))
      return s;
  return std::nullopt;
}

Task<void> Engine::verify(const policy::Resolved& r, Outcome& o, std::optional<Dump> serverDumped,
                          std::optional<Dump> clientDumped, bool testedTree) {
  if (!testedTree)
    co_await testTree(o);
  // An address outside every network: IPv4, else IPv6 (validation refuses networks that cover
  // both families whole).
  std::string outsideAddr = policy::outsideAddress(r, false);
  if (outsideAddr.empty())
    outsideAddr = policy::outsideAddress(r, true);
  const std::string outsideHost = policy::outsideDestination(r);
  if (!serverDumped) {
    ConnectionSpec outside = connection(outsideAddr);
    serverDumped = co_await serverDump(std::move(outside));
  }
  if (serverDumped->status) {
    lastServerDump_ = serverDumped;
    state_.sshd_log_level = serverDumped->first("loglevel");
  }
  if (!clientDumped) {
    std::string outside = outsideHost;
    clientDumped = co_await clientDump(std::move(outside));
  }
  std::vector<Shadowing> found;
  const ConfigScan serverScan = sshd_.scanServer();
  const auto wantServer = ours(r, Target::kSshd);
  const auto wantClient = ours(r, Target::kClient);
  classify(Target::kSshd, serverScan, *serverDumped, wantServer, state_.effective_server, found, o);
  classify(Target::kClient, sshd_.scanClient(), *clientDumped, wantClient, state_.effective_client,
           found, o);
  // The default, as the outside samples saw it (classify judged its values), then each network
  // with a sample of its own: one sshd -T -C per network with addresses, one ssh -G per network
  // with destinations, one after the other.
  state_.network_checks.clear();
  for (const auto& [kw, value] : wantServer)
    state_.network_checks.push_back(
        {"", "sshd", "addr=" + outsideAddr, lower(kw), serverDumped->first(lower(kw))});
  for (const auto& [kw, value] : wantClient)
    state_.network_checks.push_back(
        {"", "ssh", outsideHost, lower(kw), clientDumped->first(lower(kw))});
  for (const auto& n : r.networks) {
    if (auto addr = policy::sampleAddress(r, n)) {
      ConnectionSpec conn = connection(*addr);
      Dump d = co_await serverDump(std::move(conn));
      proveNetwork(Target::kSshd, n.name, "addr=" + *addr, d,
                   policy::renderedDirectives(n, policy::Side::kSshd), found, o);
    }
    if (auto host = policy::sampleDestination(r, n)) {
      std::string sample = *host;
      Dump d = co_await clientDump(std::move(sample));
      proveNetwork(Target::kClient, n.name, *host, d,
                   policy::renderedDirectives(n, policy::Side::kSsh), found, o);
    }
  }
  {
    // The networks' proof in the journal once per change: what sshd and ssh served per network,
    // "branch-nat: sshd -T -C addr=10.20.0.1 clientaliveinterval=60, ssh -G a.example.com ...".
    std::string proof, network, sample;
    for (const auto& c : state_.network_checks) {
      if (c.network.empty())
        continue;
      if (c.network != network) {
        proof += (proof.empty() ? "" : "; ") + c.network + ":";
        network = c.network;
        sample.clear();
      }
      if (c.target + " " + c.sample != sample) {
        proof += std::string(sample.empty() ? "" : ",") +
                 (c.target == "sshd" ? " sshd -T -C " : " ssh -G ") + c.sample;
        sample = c.target + " " + c.sample;
      }
      proof += " " + c.keyword + "=" + c.value;
    }
    if (proof != lastProof_ && !proof.empty())
      o.log.push_back({Level::kInfo, "served per network: " + proof});
    lastProof_ = proof;
  }
  if (found != state_.shadowed) {
    for (const auto& s : found)
      o.log.push_back({s.wins() ? Level::kWarning : Level::kNotice, s.describe()});
    if (found.empty() && !state_.shadowed.empty())
      o.log.push_back({Level::kNotice, "no file shadows the policy any more"});
  }
  state_.shadowed = std::move(found);

  // Does the running sshd serve what the files say? It does when it read them after their last
  // change (systemd's time of its start or last reload, or our own reload just now); otherwise
  // sshd -T (the files) must still show the keepalive values it served then.
  stale_ = staleDiffers_ = false;
  staleReason_.clear();
  if (!serverDumped->status)
    co_return;
  std::vector<std::pair<std::string, std::string>> now;
  for (const auto& [kw, value] : wantServer) {
    const std::string key = lower(kw);
    now.emplace_back(key, serverDumped->first(key));
  }
  std::sort(now.begin(), now.end());  // as the store keeps them
  const UnitState u = services_.unitState();
  if (u.activity != UnitState::Activity::kActive)
    co_return;  // stopped, starting or unknown: the state says so; nothing runs to compare
  const std::int64_t readAt = std::max(u.read_config_usec, state_.last_reload_usec);
  if (readAt == 0)
    co_return;
  if (!servedLoaded_) {
    // A daemon restarted while sshd kept running: what it was known to serve still holds if
    // sshd has not started or reloaded since (systemd's time is then not after the record's).
    servedLoaded_ = true;
    if (auto kept = store_.loadServed();
        kept && !served_ && u.read_config_usec != 0 && u.read_config_usec <= kept->read_usec) {
      served_ = kept->values;
      servedReadUsec_ = kept->read_usec;
    }
  }
  // After our own refused reload nothing is concluded (the adapter also leaves a failed
  // ExecReload= out of systemd's time).
  if (reloadRefused_)
    co_return;  // pending-reload already: the reload-pending mark retries it in the next run
  if (readAt >= serverScan.newest_change_usec) {
    // Kept for a restarted daemon, also when only the time moved on (sshd restarted with the
    // same values): a record older than systemd's time would not be trusted.
    if (served_ != now || readAt > servedReadUsec_) {
      store_.saveServed({readAt, now});
      servedReadUsec_ = readAt;
    }
    served_ = now;
    co_return;
  }
  if (served_ && *served_ == now)
    co_return;  // files changed since, but not in a keepalive value sshd serves
  stale_ = true;
  staleDiffers_ = served_.has_value();
  std::string diff;
  if (served_) {
    for (std::size_t i = 0; i < now.size() && i < served_->size(); ++i)
      if ((*served_)[i] != now[i])
        diff += (diff.empty() ? "" : ", ") + now[i].first + " " + (*served_)[i].second + " -> " +
                now[i].second;
  }
  staleReason_ = "sshd's configuration changed after the running sshd last read it (" +
                 (served_ ? diff : std::string("what it serves is not known")) + ")";
}

Task<void> Engine::reloadIfStale(Outcome& o) {
  // Only when the difference is known: what a sshd started before our daemon serves is not,
  // and reloading it would also apply whatever else its admin left unreloaded.
  if (!stale_ || !staleDiffers_ || brokenByOthers_ || policyInvalid_)
    co_return;
  const UnitState u = services_.unitState();
  if (u.activity != UnitState::Activity::kActive || services_.unit().empty())
    co_return;
  o.log.push_back({Level::kNotice, staleReason_ + ": reloading " + services_.unit() +
                                       " so that it serves the files"});
  reloadInFlight_ = true;
  settle();
  ReloadOutcome ro = co_await reloadSshd();
  reloadInFlight_ = false;
  if (!ro.ok) {
    if (ro.attempted) {
      reloadRefused_ = true;
      reloadRefusedReason_ = "reload of " + services_.unit() + " failed (" + ro.detail +
                             "): the running sshd still serves its previous values; see "
                             "systemctl status " +
                             services_.unit() + ", then run systemctl reload " + services_.unit();
      setError(reloadRefusedReason_);
      o.log.push_back({Level::kError, reloadRefusedReason_});
    }
    co_return;
  }
  ++state_.reloads_total;
  o.reloaded = true;
  state_.last_reload_usec = clock_.realtimeUsec();
  reloadRefused_ = false;
  served_.reset();
  o.log.push_back({Level::kInfo, "reloaded " + services_.unit() + " (" + ro.detail + ")"});
  const policy::Resolved r = *resolved_;
  co_await verify(r, o);
}

void Engine::settle() {
  const UnitState u = services_.unitState();
  state_.unit = u;
  StateKind kind = StateKind::kOk;
  std::string reason;
  const bool pending = reloadInFlight_ || reloadRefused_ || stale_ ||
                       (u.activity == UnitState::Activity::kActive && store_.reloadPending()) ||
                       u.activity == UnitState::Activity::kReloading ||
                       u.activity == UnitState::Activity::kActivating;
  const bool stopped =
      (u.activity == UnitState::Activity::kInactive || u.activity == UnitState::Activity::kFailed ||
       u.activity == UnitState::Activity::kDeactivating) &&
      !u.socket_listening;
  const std::size_t wins = static_cast<std::size_t>(std::count_if(
      state_.shadowed.begin(), state_.shadowed.end(), [](const Shadowing& s) { return s.wins(); }));
  if (brokenByOthers_) {
    kind = StateKind::kSshdConfigBroken;
    reason = brokenReason_;
  } else if (policyInvalid_) {
    kind = StateKind::kPolicyInvalid;
    reason = policyInvalidReason_;
  } else if (!desired_) {
    kind = state_.generation == 0 ? StateKind::kStarting : StateKind::kOk;
    reason = "no policy applied";
  } else if (pending) {
    kind = StateKind::kPendingReload;
    if (reloadInFlight_ || u.activity == UnitState::Activity::kReloading)
      reason = "a reload of " + u.unit + " is under way";
    else if (u.activity == UnitState::Activity::kActivating)
      reason = u.unit + " is starting";
    else if (reloadRefused_)
      reason = reloadRefusedReason_;
    else if (stale_)
      reason = staleReason_ + (staleDiffers_ ? ": a reload is due"
                                             : ": whether it serves the policy is not known until "
                                               "it is reloaded (systemctl reload " +
                                                   u.unit + ")");
    else
      reason = "a reload of " + u.unit + " is pending";
  } else if (stopped) {
    kind = StateKind::kSshdStopped;
    reason = u.unit + " is " + u.detail + ": policy " + state_.policy_digest +
             " is installed and accepted by sshd -t; sshd reads it when it starts";
  } else if (wins > 0) {
    kind = StateKind::kShadowed;
    for (const auto& s : state_.shadowed)
      if (s.wins()) {
        reason = s.describe();
        break;
      }
    if (wins > 1)
      reason += " (and " + std::to_string(wins - 1) + " more)";
  } else if (!degradedReason_.empty()) {
    kind = StateKind::kDegraded;
    reason = degradedReason_;
  } else {
    kind = StateKind::kOk;
    reason = "policy " + state_.policy_digest + " in force";
    if (u.activity != UnitState::Activity::kActive && u.socket_listening)
      reason += "; socket-activated: sshd reads the policy when it next starts (" + u.socket +
                " listening)";
    else if (u.activity == UnitState::Activity::kUnknown)
      reason +=
          "; sshd's unit is not known, so whether the running sshd read the files is not "
          "checked";
  }
  const bool changed = kind != state_.kind || reason != state_.reason;
  if (kind != state_.kind || state_.since_usec == 0)
    state_.since_usec = clock_.realtimeUsec();
  state_.kind = kind;
  state_.reason = reason;
  if (changed && busy_ && stateChanged_)
    stateChanged_();
}

}  // namespace keepalive::daemon
