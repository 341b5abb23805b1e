// SPDX-License-Identifier: GPL-2.0-or-later
// Prometheus metrics for node_exporter's textfile collector: core/metrics.h renders them, this
// writes them to DIR/keepalive-policy.prom, atomically and only when they change.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/metrics.h"
#include "core/ports.h"
#include "core/status.h"

namespace keepalive::daemon {

// Debian's prometheus-node-exporter reads *.prom here (its --collector.textfile.directory
// default; the package ships the directory, root-owned, 0755).
inline constexpr const char* kDefaultMetricsDir = "/var/lib/prometheus/node-exporter";
inline constexpr const char* kMetricsFileName = "keepalive-policy.prom";

struct MetricsWriterOptions {
  std::string root;  // "" = the real system; dir is resolved under it
  std::string dir = kDefaultMetricsDir;
  // A storm of changes (repairs on many homes) makes at most one write and fsync per interval;
  // Prometheus scrapes every 15 s or more, so nothing is lost by waiting.
  std::chrono::milliseconds minInterval{1000};
  // An unchanged file is touched this often, so node_textfile_mtime_seconds tells a running
  // daemon from a dead one. Also how often a missing directory or a failed write is retried.
  // 0 = never touch.
  std::chrono::milliseconds refresh{60000};
};

class MetricsWriter {
 public:
  MetricsWriter(MetricsWriterOptions o, Clock& clock);

  // Call after each status change (once per loop iteration is plenty) and whenever
  // nextWakeUsec() has passed. Cheap when nothing changed and no refresh is due: one comparison,
  // no rendering, no syscall. Never throws and never fails the caller: a missing directory is
  // logged once at info level, a failed write as a warning ending in ", ignoring".
  void update(const DaemonStatus& in);

  // CLOCK_MONOTONIC usec when update() is due even without a change: a write held back by
  // minInterval, a retry, or the refresh. nullopt: not before the next change.
  std::optional<std::int64_t> nextWakeUsec() const;

  const std::string& dir() const { return dir_; }  // resolved under root
  std::string path() const { return dir_ + "/" + kMetricsFileName; }

  // What the last update() did, for tests and debug logs.
  enum class Action { kNone, kWritten, kTouched, kUnchanged, kDeferred, kNoDirectory, kFailed };
  Action lastAction() const { return last_; }
  const std::string& lastError() const { return lastError_; }
  std::uint64_t writes() const { return writes_; }

 private:
  void attempt(std::int64_t now);
  bool write(int dfd);
  void fail(const std::string& why);

  MetricsWriterOptions o_;
  Clock& clock_;
  std::string dir_;

  bool haveInput_ = false;
  DaemonStatus input_;
  std::string want_;    // the rendering of input_
  std::string onDisk_;  // what we last put in the file; "" = unknown, write it
  dev_t dev_ = 0;       // the file we put there: anything else at the name gets replaced
  ino_t ino_ = 0;

  bool attempted_ = false;
  bool blocked_ = false;  // the directory is missing or the last attempt failed
  std::int64_t lastAttemptUsec_ = 0;
  std::int64_t lastOkUsec_ = 0;  // written or touched
  bool saidMissing_ = false;
  bool saidWriting_ = false;
  bool cleanedTemps_ = false;
  Action last_ = Action::kNone;
  std::string lastError_;
  std::uint64_t writes_ = 0;
};

}  // namespace keepalive::daemon
