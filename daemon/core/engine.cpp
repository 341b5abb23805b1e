#include "engine.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

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
Callback<Dump> Engine::serverDump() {
  return callback<Dump>([this](Done<Dump> d) { sshd_.serverDump(std::move(d)); });
}
Callback<Dump> Engine::clientDump() {
  return callback<Dump>([this](Done<Dump> d) { sshd_.clientDump(std::move(d)); });
}
Callback<ReloadOutcome> Engine::reloadSshd() {
  return callback<ReloadOutcome>([this](Done<ReloadOutcome> d) { services_.reload(std::move(d)); });
}
Callback<Status> Engine::insertInclude() {
  return callback<Status>([this](Done<Status> d) { sshd_.insertInclude(std::move(d)); });
}
Callback<Status> Engine::probeBanner(const Dump& dump) {
  return callback<Status>([this, &dump](Done<Status> d) { probe_.banner(dump, std::move(d)); });
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

Task<Outcome> Engine::applyTask(std::vector<policy::PolicyFile> files,
                                policy::Diagnostics readDiags, std::string trigger) {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  ++state_.generation;
  state_.last_apply_usec = clock_.realtimeUsec();
  policy::Diagnostics diags = std::move(readDiags);
  policy::Policy p;
  if (!diags.hasErrors())
    p = policy::loadPolicy(files, diags);
  if (!diags.hasErrors())
    diags.append(policy::checkForHost(p, options_.host));
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
    policyError_ = true;
    policyErrorReason_ =
        "policy rejected (" + std::to_string(diags.errorCount()) + " error" +
        (diags.errorCount() == 1 ? "" : "s") + ", first: " + first + "); " +
        (desired_ ? "the last good policy " + state_.policy_digest + " stays in force"
                  : "nothing was changed");
    state_.last_error = first;
    state_.last_apply_result = o.result = ApplyResult::kPolicyError;
    o.log.push_back({Level::kError, "policy rejected (" + trigger +
                                        "): " + std::to_string(diags.errorCount()) + " error(s); " +
                                        (desired_ ? "the last good policy stays in force"
                                                  : "nothing was changed")});
    settle();
    co_return o;
  }

  policy::Resolved r = policy::resolve(p, options_.host);
  const std::string digest = policy::policyDigest(p);
  Desired want{policy::renderSshd(r, digest), policy::renderClient(r, digest)};
  step(o, "parse");
  co_await install(want, r, o);
  policyError_ = false;
  if (o.result != ApplyResult::kRolledBack) {
    // Only a successful apply ends a rollback: restoring the policy in force (reconcile) does
    // not apply the newer one that was rolled back.
    rolledBack_ = false;
    policy_ = std::move(p);
    resolved_ = policy::resolve(*policy_, options_.host);
    desired_ = want;
    state_.policy_files.clear();
    for (const auto& f : files)
      state_.policy_files.push_back(f.path);
    state_.policy_digest = digest;
    o.log.push_back({Level::kInfo, "policy " + digest + " (" + trigger +
                                       "): " + toString(o.result) + " in " + o.timing()});
  }
  state_.last_apply_result = o.result;
  settle();
  co_return o;
}

Task<Outcome> Engine::reconcileTask(std::string trigger) {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  if (!desired_ || !resolved_) {
    o.result = ApplyResult::kUnchanged;
    co_return o;
  }
  co_await install(*desired_, *resolved_, o);
  if (o.wrote && o.result != ApplyResult::kRolledBack) {
    ++state_.drift_repairs_total;
    o.result = ApplyResult::kRestored;
    o.log.push_back({Level::kNotice,
                     "drop-ins restored to policy " + state_.policy_digest + " (" + trigger + ")"});
  }
  settle();
  co_return o;
}

Task<Outcome> Engine::verifyTask() {
  Outcome o;
  stepStart_ = clock_.monotonicUsec();
  o.result = ApplyResult::kUnchanged;
  if (!resolved_)
    co_return o;
  const policy::Resolved r = *resolved_;
  co_await verify(r, o);
  settle();
  co_return o;
}

void Engine::setDegraded(const std::string& reason) {
  degradedReason_ = reason;
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

Task<void> Engine::install(Desired want, policy::Resolved r, Outcome& o) {
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
    o.log.push_back({Level::kNotice,
                     "a reload of sshd was left pending by an interrupted run: "
                     "reloading now"});
  }
  if (sshdNeedsReload && !pendingAtStart_) {
    if (Status s = store_.setReloadPending(true); !s) {
      o.log.push_back({Level::kError, s.error + "; nothing was changed"});
      rollbackReason_ = "cannot record the pending reload: " + s.error;
      rolledBack_ = true;
      ++state_.rollbacks_total;
      state_.last_error = s.error;
      o.result = ApplyResult::kRolledBack;
      co_return;
    }
  }
  for (const auto& c : changes) {
    if (Status s = store_.saveLastGood(c.target, c.before); !s) {
      o.log.push_back({Level::kError, s.error + "; nothing was changed"});
      rollbackReason_ = "cannot keep a last-known-good copy: " + s.error;
      rolledBack_ = true;
      ++state_.rollbacks_total;
      state_.last_error = s.error;
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

  if (sshdChanged || sshdNeedsReload) {
    CheckResult t = co_await sshdTest();
    if (!t.ok) {
      std::string why =
          std::string(t.timed_out ? "sshd -t timed out" : "sshd -t rejected the configuration") +
          (t.message.empty() ? "" : ": " + firstLines(t.message));
      co_await rollback(done, false, std::move(why), o);
      co_return;
    }
    step(o, "sshd -t");
  }
  std::optional<Dump> serverDumped, clientDumped;
  for (const auto& c : changes) {
    // A client change in comments only (the header's digest) cannot break ssh.
    if (c.target != Target::kClient || directives(c.before) == directives(want.client))
      continue;
    Dump d = co_await clientDump();
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
    ReloadOutcome ro = co_await reloadSshd();
    if (ro.attempted && !ro.ok) {
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
      o.reloaded = true;
      o.log.push_back({Level::kInfo, "reloaded " + services_.unit() + " (" + ro.detail + ")"});
      // Probe where sshd listened at the last check first: that keeps sshd -T out of the path to
      // a serving sshd. Only a fresh sshd -T may conclude that sshd does not answer, so a
      // changed ListenAddress never causes a false rollback.
      Status b = Status::failure("not probed");
      if (lastServerDump_ && lastServerDump_->status) {
        const Dump last = *lastServerDump_;
        b = co_await probeBanner(last);
      }
      if (!b) {
        Dump d = co_await serverDump();
        serverDumped = d;
        if (d.status)
          b = co_await probeBanner(d);
        else
          b = d.status;
      }
      if (!b) {
        std::string why = "sshd does not answer after the reload: " + b.error;
        co_await rollback(done, true, std::move(why), o);
        co_return;
      }
      step(o, "probe");
      store_.setReloadPending(false);
    } else if (!ro.detail.empty()) {
      o.log.push_back({Level::kDebug, ro.detail});
    }
  }

  o.result = changes.empty() ? ApplyResult::kUnchanged : ApplyResult::kApplied;
  co_await verify(r, o, serverDumped, clientDumped);
  step(o, "verify");
}

Task<void> Engine::rollback(std::vector<Change> changes, bool reloaded, std::string why,
                            Outcome& o) {
  o.result = ApplyResult::kRolledBack;
  rolledBack_ = true;
  rollbackReason_ = why;
  state_.last_error = why;
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
  if (!sshdTouched)
    co_return;
  if (!reloaded && restored && !pendingAtStart_)
    store_.setReloadPending(false);  // sshd never saw the candidate: it runs what is on disk
  CheckResult t = co_await sshdTest();
  if (!t.ok) {
    // Not ours to fix: another file breaks sshd. Reloading now would take the listener down.
    const std::string again = firstLines(t.message);
    rollbackReason_ = why +
                      (why.find(again) != std::string::npos
                           ? "; sshd -t fails the same way without our change"
                           : "; without our change sshd -t fails too (" + again + ")") +
                      ": the sshd configuration is broken outside keepalive-policy, not reloading";
    o.log.push_back({Level::kCritical, rollbackReason_});
    co_return;
  }
  if (reloaded && restored) {
    ReloadOutcome ro = co_await reloadSshd();
    if (ro.ok) {
      ++state_.reloads_total;
      store_.setReloadPending(false);
    }
    if (ro.attempted && !ro.ok)
      o.log.push_back({Level::kCritical, "reload after rollback failed: " + ro.detail});
  }
}

Task<void> Engine::verify(const policy::Resolved& r, Outcome& o, std::optional<Dump> serverDumped,
                          std::optional<Dump> clientDumped) {
  std::vector<Shadowing> found;
  auto check = [&](Target t, const ConfigScan& scan, const Dump& dump,
                   std::vector<EffectiveValue>& eff) {
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
    const auto want = ours(r, t);
    if (!included && scan.status && !want.empty()) {
      found.push_back(
          {target, "Include", "", "", scan.files_read.empty() ? "" : scan.files_read[0], 0, ""});
    }
    for (const auto& [kw, value] : want) {
      const std::string key = lower(kw);
      const std::string effective = dump.first(key);
      const ConfigLine* first = nullptr;
      const ConfigLine* mineLine = nullptr;
      for (const auto& l : scan.lines) {
        if (l.keyword != key)
          continue;
        if (l.file == mine && !mineLine)
          mineLine = &l;
        if (l.condition.empty() && !first)
          first = &l;
        // A conditional block overrides for the connections it matches, wherever it stands.
        if (!l.condition.empty() && l.file != mine && lower(l.value) != lower(value))
          found.push_back({target, kw, value, l.value, l.file, l.line, l.condition});
      }
      std::string source = "default";
      if (first)
        source = first->file + ":" + std::to_string(first->line);
      eff.push_back({key, effective, source});
      if (lower(effective) == lower(value))
        continue;
      if (first && first->file != mine)
        found.push_back({target, kw, value, effective, first->file, first->line, ""});
      else if (included)
        found.push_back({target, kw, value, effective, mineLine ? mineLine->file : mine,
                         mineLine ? mineLine->line : 0, "not in effect"});
    }
  };
  if (!serverDumped)
    serverDumped = co_await serverDump();
  if (serverDumped->status)
    lastServerDump_ = serverDumped;
  if (!clientDumped)
    clientDumped = co_await clientDump();
  check(Target::kSshd, sshd_.scanServer(), *serverDumped, state_.effective_server);
  check(Target::kClient, sshd_.scanClient(), *clientDumped, state_.effective_client);
  if (found != state_.shadowed) {
    for (const auto& s : found)
      o.log.push_back({Level::kWarning, s.describe()});
    if (found.empty() && !state_.shadowed.empty())
      o.log.push_back({Level::kNotice, "no file shadows the policy any more"});
  }
  state_.shadowed = std::move(found);
}

void Engine::settle() {
  if (policyError_) {
    state_.kind = StateKind::kPolicyError;
    state_.reason = policyErrorReason_;
  } else if (rolledBack_) {
    state_.kind = StateKind::kRolledBack;
    state_.reason = rollbackReason_;
  } else if (!state_.shadowed.empty()) {
    state_.kind = StateKind::kShadowed;
    state_.reason = state_.shadowed.front().describe();
    if (state_.shadowed.size() > 1)
      state_.reason += " (and " + std::to_string(state_.shadowed.size() - 1) + " more)";
  } else if (!degradedReason_.empty()) {
    state_.kind = StateKind::kDegraded;
    state_.reason = degradedReason_;
  } else {
    state_.kind = StateKind::kOk;
    state_.reason = desired_ ? "policy " + state_.policy_digest + " in force" : "no policy applied";
  }
}

}  // namespace keepalive::daemon
