// SPDX-License-Identifier: GPL-2.0-or-later
// The engine decides; the ports do. It turns a policy into installed drop-ins as a transaction
// (validate, write, sshd -t, reload, verify, or roll back) and keeps the daemon's State. It links
// the policy library only: no sdbus-c++, no libsystemd, no syscalls of its own.
//
// A transaction is a coroutine (task.h): it waits for sshd -t, the reload job and sshd -T
// without holding the caller, so the daemon's loop serves D-Bus, signals and users meanwhile.
// One transaction at a time: the daemon queues and coalesces requests (busy()).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "keepalive/policy/policy.h"
#include "ports.h"
#include "state.h"
#include "status.h"

namespace keepalive::daemon {

struct LogEvent {
  enum class Level { kDebug, kInfo, kNotice, kWarning, kError, kCritical };
  Level level;
  std::string message;
};

struct Outcome {
  ApplyResult result = ApplyResult::kNone;
  bool wrote = false;                // a drop-in was written
  std::vector<std::string> written;  // the paths written, in order (Drift names them)
  bool reloaded = false;             // sshd was reloaded
  // The sshd configuration was broken by another writer and is whole again: a policy held back
  // meanwhile can be applied now.
  bool tree_repaired = false;
  std::vector<LogEvent> log;
  // How long each step took, in order: parse, write, sshd -t, ssh -G, reload, probe, verify.
  std::vector<std::pair<std::string, std::int64_t>> steps_usec;
  std::int64_t total_usec = 0;
  std::string timing() const;  // "23.4 ms (parse 0.3, write 0.8, ...)"
};

struct EngineOptions {
  policy::HostIdentity host;
};

class Engine {
 public:
  Engine(DropInStore& store, Sshd& sshd, ServiceManager& services, Probe& probe, Clock& clock,
         EngineOptions options);

  // Each of the three starts a transaction and answers through done when it ends (at once when
  // the ports answer at once). Calling one while busy() is a logic error.
  //
  // Applies a policy read by the edge. readDiags holds problems met while reading the files.
  void apply(std::vector<policy::PolicyFile> files, policy::Diagnostics readDiags,
             std::string trigger, Done<Outcome> done);
  // Puts the drop-ins of the policy in force back if they drifted, and re-checks what shadows
  // them. Before any policy was applied, only re-checks.
  void reconcile(std::string trigger, Done<Outcome> done);
  // Re-reads the effective values (sshd -T, ssh -G) and what shadows them, changing no file
  // (D-Bus Check). Before any policy was applied, does nothing.
  void verifyNow(Done<Outcome> done);
  // A transaction has started and not yet answered.
  bool busy() const { return busy_; }
  // True when both drop-ins hold exactly what the policy in force renders (a cheap check for
  // inotify events our own writes cause).
  bool dropInsAsDesired();
  // The users' side reports it cannot watch every home (inotify's watch limit): the state is
  // degraded with this reason until it is cleared with "".
  void setDegraded(const std::string& reason);
  // systemd reported a change of sshd's units: the state is decided again from what is known
  // (a started sshd is judged by the next verification; the daemon runs one).
  void unitChanged();
  // Called when the state changed in the middle of a transaction (a reload under way), so that
  // readers see it before the transaction's end.
  void setStateListener(std::function<void()> changed) { stateChanged_ = std::move(changed); }

  const State& state() const { return state_; }
  // The OpenSSH version the policy is loaded, resolved and judged for: learnt at the start of the
  // first transaction (Sshd::version), no version (the worst case) when that failed.
  const policy::ModelContext& modelContext() const { return model_; }
  // The policy in force as resolved for this host; nullopt until one was applied.
  const std::optional<policy::Resolved>& resolved() const { return resolved_; }

 private:
  struct Desired {
    std::string sshd;
    std::string client;
  };
  struct Change {
    Target target;
    std::optional<std::string> before;
  };

  void run(Task<Outcome> transaction, Done<Outcome> done);
  Task<void> drive(Task<Outcome> transaction, Done<Outcome> done);
  Task<Outcome> applyTask(std::vector<policy::PolicyFile> files, policy::Diagnostics diags,
                          std::string trigger);
  Task<Outcome> reconcileTask(std::string trigger);
  Task<Outcome> verifyTask();
  // The first transaction learns the installed OpenSSH's version before it loads anything.
  Task<void> learnVersion(Outcome& o);
  void setResolved(policy::Resolved r);
  // Appends to o what it did; o.result says how it ended.
  // proven: a value the verification finds our drop-ins do not serve rolls the change back (a new
  // policy); a reconcile restoring the policy in force reports it instead (state shadowed), so
  // that a restore and its undo never chase each other.
  Task<void> install(Desired want, policy::Resolved r, Outcome& o, bool proven = false);
  Task<void> rollback(std::vector<Change> changes, bool reloaded, std::string why, Outcome& o);
  // serverDump/clientDump: taken during this transaction after the last change, or nullopt.
  // testedTree: sshd -t accepted the tree in this transaction after its last change.
  // The outside dumps are the default's proof: sshd -T -C for policy::outsideAddress and ssh -G
  // for policy::outsideDestination; each network with a sample is proven with a dump of its own.
  Task<void> verify(const policy::Resolved& r, Outcome& o, std::optional<Dump> serverDump = {},
                    std::optional<Dump> clientDump = {}, bool testedTree = false);
  // One network's (or the default's) dump against the directives its block renders: the values
  // into checks, a value that is not ours into found (not-in-effect, naming the network and the
  // sample) unless a line of another file explains it.
  void proveNetwork(Target t, const std::string& network, const std::string& sample,
                    const Dump& dump, const std::vector<std::pair<std::string, std::string>>& want,
                    std::vector<Shadowing>& found, Outcome& o);
  // A value of ours that sshd or ssh do not serve and no other file explains: our drop-in does not
  // do what the policy says (a failed apply).
  std::optional<Shadowing> unexplainedMismatch() const;
  ConnectionSpec connection(const std::string& addr) const;
  // sshd -t over the whole tree, our drop-in unchanged: records whether another writer broke it.
  Task<bool> testTree(Outcome& o);
  bool noteTree(const CheckResult& t, Outcome& o);  // records what an sshd -t said
  // Someone else's change altered a keepalive value sshd serves: reload (through systemd, as for
  // our own changes), sshd -t having accepted the tree.
  Task<void> reloadIfStale(Outcome& o);
  void classify(Target t, const ConfigScan& scan, const Dump& dump,
                const std::vector<std::pair<std::string, std::string>>& want,
                std::vector<EffectiveValue>& eff, std::vector<Shadowing>& found, Outcome& o);
  void loadGoodPolicy(Outcome& o);
  void saveGoodPolicy(const std::vector<policy::PolicyFile>& files, Outcome& o);
  void setError(const std::string& error);
  void settle();
  void step(Outcome& o, const char* name);

  // The ports' answers, awaited.
  Callback<CheckResult> sshdTest();
  Callback<Dump> serverDump(ConnectionSpec conn);
  Callback<Dump> clientDump(std::string host);
  Callback<VersionText> opensshVersion();
  Callback<ReloadOutcome> reloadSshd();
  Callback<ListenCheck> checkListening(const Dump& d);
  Callback<Status> insertInclude();
  // Note for every co_await here: GCC 12 may destroy a temporary of a class type (a string, a
  // std::function) in a co_await's operand twice; name such values first.

  DropInStore& store_;
  Sshd& sshd_;
  ServiceManager& services_;
  Probe& probe_;
  Clock& clock_;
  EngineOptions options_;

  State state_;
  std::optional<policy::Policy> policy_;  // in force
  std::optional<policy::Resolved> resolved_;
  std::optional<Desired> desired_;
  bool policyInvalid_ = false;   // the newest policy (or what it renders) was rejected
  bool brokenByOthers_ = false;  // sshd -t fails with our drop-ins as they were accepted
  std::string brokenReason_;
  bool reloadRefused_ = false;  // installed, but the unit refused the reload
  std::string reloadRefusedReason_;
  bool reloadInFlight_ = false;
  bool goodPolicyLoaded_ = false;
  std::optional<GoodPolicy> saved_;  // as kept by the store
  // sshd's keepalive values (sshd -T) when the running sshd was known to have read every file:
  // after our reload, or when systemd's time of its last start or reload is newer than the
  // newest file. A later sshd -T that differs means the running sshd serves something else.
  std::optional<std::vector<std::pair<std::string, std::string>>> served_;
  bool servedLoaded_ = false;
  std::int64_t servedReadUsec_ = 0;  // the read time of the record the store keeps
  // The running sshd has not read the newest files, and what they say differs from served_ (or
  // served_ is unknown): stale_differs_ tells which.
  bool stale_ = false;
  bool staleDiffers_ = false;
  std::string staleReason_;
  bool pendingAtStart_ = false;  // a reload was pending when this transaction began
  std::int64_t stepStart_ = 0;
  std::optional<Dump> lastServerDump_;  // from the last verify: sshd's listen addresses
  std::string policyInvalidReason_;
  std::string degradedReason_;

  std::string lastProof_;  // the networks' proof as last logged
  bool versionLearnt_ = false;
  policy::ModelContext model_;

  bool busy_ = false;
  TaskSet tasks_;
  std::function<void()> stateChanged_;
};

}  // namespace keepalive::daemon
