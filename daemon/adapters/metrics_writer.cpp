// SPDX-License-Identifier: GPL-2.0-or-later
#include "metrics_writer.h"

#include "sys/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "adapters/fs_store.h"
#include "adapters/log.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {

MetricsWriter::MetricsWriter(MetricsWriterOptions o, Clock& clock)
    : o_(std::move(o)), clock_(clock), dir_(io::underRoot(o_.root, o_.dir)) {
  while (dir_.size() > 1 && dir_.back() == '/')
    dir_.pop_back();
}

void MetricsWriter::update(const DaemonStatus& in) {
  const std::int64_t now = clock_.monotonicUsec();
  if (!haveInput_ || !(in == input_)) {
    input_ = in;
    haveInput_ = true;
    want_ = renderMetrics(in);
  }
  const bool dirty = want_ != onDisk_;
  const std::int64_t minInterval = o_.minInterval.count() * 1000;
  const std::int64_t refresh = o_.refresh.count() * 1000;
  if (blocked_) {
    // Retried at the refresh pace: a host without node_exporter costs one open a minute.
    if (now < lastAttemptUsec_ + (refresh > 0 ? refresh : minInterval)) {
      last_ = saidMissing_ ? Action::kNoDirectory : Action::kFailed;
      return;
    }
  } else if (dirty) {
    if (attempted_ && now < lastAttemptUsec_ + minInterval) {
      last_ = Action::kDeferred;
      return;
    }
  } else if (refresh <= 0 || now < lastOkUsec_ + refresh) {
    last_ = Action::kUnchanged;
    return;
  }
  attempt(now);
}

std::optional<std::int64_t> MetricsWriter::nextWakeUsec() const {
  const std::int64_t refresh = o_.refresh.count() * 1000;
  const std::int64_t minInterval = o_.minInterval.count() * 1000;
  // No directory (no node_exporter on this host): no wake-up of its own; the next change after
  // the retry interval looks again. An idle daemon wakes for the watchdog and reconcile only.
  if (blocked_ && last_ == Action::kNoDirectory)
    return std::nullopt;
  if (blocked_)
    return lastAttemptUsec_ + (refresh > 0 ? refresh : minInterval);
  if (haveInput_ && want_ != onDisk_)
    return lastAttemptUsec_ + minInterval;
  if (refresh > 0 && attempted_)
    return lastOkUsec_ + refresh;
  return std::nullopt;
}

void MetricsWriter::attempt(std::int64_t now) {
  attempted_ = true;
  lastAttemptUsec_ = now;
  // O_NOFOLLOW: on Debian /var/lib/prometheus belongs to the prometheus user, who could put a
  // symlink in place of node-exporter/ and have root write wherever it points.
  Fd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dfd.get() < 0) {
    const int e = errno;
    if (e == ENOENT) {
      onDisk_.clear();
      blocked_ = true;
      last_ = Action::kNoDirectory;
      lastError_.clear();
      saidWriting_ = false;
      if (!saidMissing_)
        log::info("metrics: \"" + dir_ +
                  "\" does not exist (no prometheus-node-exporter here?), not writing " +
                  kMetricsFileName);
      saidMissing_ = true;
      return;
    }
    // O_NOFOLLOW with O_DIRECTORY fails a symlink with ENOTDIR: lstat tells which it was.
    struct stat ls {};
    if ((e == ELOOP || e == ENOTDIR) && ::lstat(dir_.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode))
      fail("refusing \"" + dir_ + "\": it is a symlink");
    else
      fail("cannot open \"" + dir_ + "\": " + std::strerror(e));
    return;
  }
  saidMissing_ = false;
  struct stat ds {};
  if (::fstat(dfd.get(), &ds) != 0) {
    fail("cannot stat \"" + dir_ + "\": " + std::strerror(errno));
    return;
  }
  // Root writing into a directory that someone else owns is how files get planted elsewhere.
  if (ds.st_uid != 0 && ds.st_uid != ::geteuid()) {
    fail("refusing \"" + dir_ + "\": owned by uid " + std::to_string(ds.st_uid) + ", not root");
    return;
  }
  if (!cleanedTemps_) {
    removeStaleTempsAt(dfd.get(), kMetricsFileName);
    cleanedTemps_ = true;
  }

  if (want_ == onDisk_) {
    // Refresh: only when the name still holds the file we wrote, unchanged; anything else there
    // (removed, replaced, a symlink, a chmod) is written anew.
    struct stat st {};
    if (::fstatat(dfd.get(), kMetricsFileName, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && st.st_dev == dev_ && st.st_ino == ino_ &&
        static_cast<std::size_t>(st.st_size) == onDisk_.size() && (st.st_mode & 07777) == 0644 &&
        ::utimensat(dfd.get(), kMetricsFileName, nullptr, AT_SYMLINK_NOFOLLOW) == 0) {
      lastOkUsec_ = now;
      last_ = Action::kTouched;
      return;
    }
    onDisk_.clear();
  }
  if (!write(dfd.get()))
    return;
  onDisk_ = want_;
  lastOkUsec_ = now;
  blocked_ = false;
  lastError_.clear();
  last_ = Action::kWritten;
  ++writes_;
  if (!saidWriting_)
    log::info("metrics: writing \"" + path() + "\"");
  saidWriting_ = true;
}

// As systemd's write_string_file_atomic, within the directory fd opened above: a temp file
// beside the target, mode set before the rename, fsync, renameat (which replaces whatever is at
// the name, a symlink included, never following it). The directory is not fsynced: a crash
// leaves the previous complete file, and the restarted daemon writes a new one.
bool MetricsWriter::write(int dfd) {
  // 0644: node_exporter runs as the prometheus user (the daemon's umask is 077). The temp file,
  // ".keepalive-policy.prom.XXXXXXXX", is not *.prom: node_exporter never reads a partial one.
  struct stat st {};
  const Status s = writeFileAtomicAt(dfd, dir_, kMetricsFileName, want_, 0644, 0, 0,
                                     /*durable=*/true, &st);
  if (!s) {
    fail(s.error);
    return false;
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return true;
}

void MetricsWriter::fail(const std::string& why) {
  onDisk_.clear();
  blocked_ = true;
  last_ = Action::kFailed;
  saidWriting_ = false;
  // Once per distinct reason: a read-only directory must not flood the journal every minute.
  if (why != lastError_)
    log::warning("metrics: " + why + ", ignoring");
  else
    log::debug("metrics: " + why + ", ignoring");
  lastError_ = why;
}

}  // namespace keepalive::daemon
