// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd's edge: one thread, one sd-event loop owning signals, the watchdog, inotify
// and timers. It feeds the engine and logs what the engine reports.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapters/child_runner.h"
#include "adapters/config_watch.h"
#include "adapters/fs_store.h"
#include "adapters/inotify.h"
#include "adapters/journal_follower.h"
#include "adapters/listen_check.h"
#include "adapters/metrics_writer.h"
#include "adapters/sshd_runner.h"
#include "adapters/systemd_manager.h"
#include "adapters/user_watcher.h"
#include "core/engine.h"
#include "core/transaction_queue.h"
#include "dbus_service.h"
#include "user_block/runner.h"

namespace keepalive::daemon {

struct DaemonOptions {
  std::string root;  // "" = the real system
  bool foreground = false;
  std::string sshd = "/usr/sbin/sshd";
  std::string ssh = "/usr/bin/ssh";
  std::string user_block_helper = kInstalledUserBlockHelper;
  std::string unit;  // "" = detect, "none" = no reloads
  // Where the listen check after a reload runs: "transient" (a unit of its own, outside the
  // daemon's network namespace and sandbox), "inline" (the daemon's child), "auto" (transient
  // when running as a systemd service on the real root with systemd on the bus, else inline).
  std::string probe = "auto";
  std::string log_level = "info";
  std::string host;  // "" = this host's names
  // Ansible's rename is one event, an editor's save a short burst: 20 ms covers the burst and
  // keeps a pushed policy in force within tens of milliseconds.
  std::chrono::milliseconds debounce{20};
  std::chrono::milliseconds command_timeout{10000};
  std::chrono::milliseconds job_timeout{15000};
  bool bus = true;                               // serve org.keepalivepolicy1 on the system bus
  std::string metrics_dir = kDefaultMetricsDir;  // "none": no Prometheus textfile
  // Disconnect accounting from sshd's journal lines: "system", "none" (the store is served as it
  // is on disk), "auto" (system on the real root, none under --root: a test root must not count
  // the host's sessions).
  std::string journal = "auto";
  std::string version;
};

class RealClock : public Clock {
 public:
  std::int64_t realtimeUsec() override;
  std::int64_t monotonicUsec() override;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions o);
  ~Daemon();
  int run();  // returns the exit code

 private:
  static int onSignal(sd_event_source*, const struct signalfd_siginfo* si, void* self);
  static int onTimer(sd_event_source* s, std::uint64_t usec, void* self);

  void setupWatches();
  // Watches sshd's and ssh's include trees as they are now (called after each transaction:
  // an Include added or removed changes what to watch).
  void watchConfigTree();
  void applyUsers(bool full);
  void updateUsersHealth();
  std::string usersSummary() const;
  void arm(sd_event_source* timer, std::chrono::milliseconds delay);
  // Requests for a transaction. One runs at a time; requests that arrive meanwhile are
  // coalesced into one follow-up run, started from the loop once the running one has ended.
  using ReloadDone = DbusHandlers::ReloadDone;
  // What waits for the next transaction.
  struct CheckWaiter {
    std::optional<std::uint32_t> onlyUid;
    DbusHandlers::CheckDone done;
  };
  using Queue = TransactionQueue<ReloadDone, CheckWaiter>;
  void applyPolicy(const std::string& trigger, ReloadDone done = {});
  void reconcile(const std::string& trigger);
  void check(std::optional<std::uint32_t> onlyUid, std::function<void(std::vector<Finding>)> done);
  void runNextSoon();
  static int onRunNext(sd_event_source*, void* self);
  void startApply(Queue::Run run);
  void startReconcile(Queue::Run run);
  void startCheck(Queue::Run run);
  void transactionEnded();
  void report(const Outcome& o);
  void notifyStatus();
  void logStateIfChanged();
  void scheduleReconcile();
  std::string representativeUser();
  // D-Bus: the service, its snapshot, the Check and ListUsers answers, the signals.
  void startBus();
  void publishSoon();
  static int onPublish(sd_event_source*, void* self);
  // Users' changes come as fast as a user can chmod: their counts reach the bus at most ten
  // times a second, so one user's loop cannot flood PropertiesChanged for every listener.
  void publishUsersSoon();
  static int onUsersPublish(sd_event_source*, std::uint64_t, void* self);
  static int onMetricsTimer(sd_event_source*, std::uint64_t, void* self);
  void writeMetrics(const DaemonStatus& s);
  DaemonStatus snapshot() const;
  // The host's findings now and, in slices on later turns, the users'.
  void findings(std::optional<std::uint32_t> onlyUid, DbusHandlers::CheckDone done);
  std::vector<UserRow> userRows() const;
  void signalDrift(const Outcome& o);
  void signalRepaired(const UserRecord& rec, const std::string& what);

  DaemonOptions o_;
  sd_event* loop_ = nullptr;
  sd_event_source* policyTimer_ = nullptr;
  sd_event_source* driftTimer_ = nullptr;
  sd_event_source* reconcileTimer_ = nullptr;
  std::unique_ptr<Inotify> inotify_;
  std::unique_ptr<ConfigWatch> configWatch_;  // after inotify_, whose watches it holds

  FsDropInStore store_;
  std::unique_ptr<ChildRunner> children_;
  std::unique_ptr<SshdRunner> sshd_;
  std::unique_ptr<SystemdManager> systemd_;
  std::unique_ptr<Probe> probe_;
  std::string probeMode_;  // "transient" or "inline", as decided
  RealClock clock_;
  std::unique_ptr<MetricsWriter> metrics_;  // after clock_, which it holds
  sd_event_source* metricsTimer_ = nullptr;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<UserWatcher> users_;
  std::unique_ptr<DbusService> dbus_;
  std::unique_ptr<JournalFollower> disconnects_;
  sd_event_source* publishSource_ = nullptr;
  sd_event_source* usersPublishTimer_ = nullptr;
  std::uint64_t lastUsersPublishUsec_ = 0;
  std::vector<Shadowing> lastShadowed_;
  // Repaired signals: a storm of 100k repairs must not become 100k bus messages.
  double repairedTokens_ = 100;
  std::int64_t repairedRefillUsec_ = 0;
  std::uint64_t repairedSuppressed_ = 0;

  Queue queue_;
  sd_event_source* runNext_ = nullptr;
  bool stopping_ = false;  // SIGTERM came during a transaction: exit when it ends

  bool otherConfigChanged_ = false;  // something besides our own drop-ins changed
  bool usersRescan_ = true;  // the next apply re-checks every user (start, overflow, reconcile)
  std::string lastSummary_;
  std::string lastUsersSummary_;
  bool ready_ = false;
};

}  // namespace keepalive::daemon
