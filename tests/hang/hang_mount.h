// SPDX-License-Identifier: GPL-2.0-or-later
// A real FUSE mount that plays a remote home going bad, for tests of keepalive-policyd's bounded
// user checks. It serves a fake home at `mountpoint`:
//   MOUNTPOINT/             dir  homeMode   (0755) uid:gid
//   MOUNTPOINT/.ssh/        dir  sshMode    (0700) uid:gid
//   MOUNTPOINT/.ssh/config  file configMode (0644, so it needs a repair) configUid:configGid
// and can, at any time:
//   hang()        every operation on the mount blocks (a dead NFS server, hard mount) until
//                 release(); nothing the kernel caches answers in its place.
//   refuse(true)  chmod and chown fail with refuseErrno (EACCES: root_squash) until refuse(false).
//   abort()       the server dies: blocked operations fail with ECONNABORTED, later ones with
//                 ENOTCONN.
// chmod and chown that are not refused change what the mount serves.
//
// It is mounted allow_other,default_permissions (any uid may look, the kernel checks modes), type
// kFsType ("fuse.hangfs", source "hangfs" in /proc/self/mountinfo). Needs root and /dev/fuse.
//
// The destructor always leaves nothing mounted and no process behind, even while hung: it opens
// the gate, detaches the mount, ends hangfs (aborting the FUSE connection if it must). If the
// test process dies without it, hangfs notices and detaches the mount itself.
//
// Ordering, because a thread or process blocked in the mount only returns when the server answers:
// - Destroy (or release()) the HangMount before joining threads or waiting for processes that
//   may be blocked in it. A SIGKILLed process whose request already reached hangfs waits
//   uninterruptibly for the answer: call release() or abort() before reaping it.
// - Create it after, so it is destroyed before, the temporary directory holding the mountpoint: a
//   recursive remove would walk into a hung mount.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace keepalive::test {

struct HangOptions {
  std::optional<uid_t> configUid;  // default: the home's uid
  std::optional<gid_t> configGid;  // default: the home's gid
  mode_t homeMode = 0755;
  mode_t sshMode = 0700;
  mode_t configMode = 0644;
  bool refuse = false;  // start refusing chmod and chown (see refuse())
  int refuseErrno = EACCES;
  std::chrono::milliseconds startTimeout{10000};  // until the mount is live
};

// What hangfs has seen, read from a file outside the mount (never blocks).
struct HangStats {
  unsigned blocked = 0;   // operations waiting in hang() now
  unsigned requests = 0;  // operations served (past the gate)
  unsigned chmod = 0;     // chmod calls served, refused ones included
  unsigned chown = 0;     // chown calls served, refused ones included
  unsigned refused = 0;   // chmod and chown calls refused
};

class HangMount {
 public:
  static constexpr const char* kFsType = "fuse.hangfs";

  // Creates `mountpoint` if missing (it is left in place) and returns once the mount is live.
  // Throws std::runtime_error (with hangfs's stderr) when it cannot.
  HangMount(std::filesystem::path mountpoint, uid_t uid, gid_t gid, HangOptions options = {});
  ~HangMount();
  HangMount(const HangMount&) = delete;
  HangMount& operator=(const HangMount&) = delete;

  const std::filesystem::path& mountpoint() const { return mountpoint_; }
  // The mount's st_dev, known without touching the mount (which may be hung).
  dev_t device() const { return device_; }

  void hang();
  void release();
  void refuse(bool on);
  // Kills hangfs: the kernel ends the connection (operations in flight fail with ECONNABORTED).
  // The mount stays, failing with ENOTCONN, until destruction.
  void abort();

  HangStats stats() const;
  unsigned setattrCount() const {
    HangStats s = stats();
    return s.chmod + s.chown;
  }
  // Waits for hangfs's stats to satisfy `pred` (driven by inotify, no polling); false at the
  // deadline. E.g. waitFor([](auto& s) { return s.blocked > 0; }, 5s): a request is stuck.
  bool waitFor(const std::function<bool(const HangStats&)>& pred,
               std::chrono::milliseconds timeout) const;
  bool waitBlocked(std::chrono::milliseconds timeout) const {
    return waitFor([](const HangStats& s) { return s.blocked > 0; }, timeout);
  }

  // Whether /proc/self/mountinfo has a mount at `path` (not resolved: give it as mounted).
  static bool isMounted(const std::filesystem::path& path);

 private:
  void cleanup() noexcept;
  std::string hangfsErrors() const;

  std::filesystem::path mountpoint_;
  // Under $TMPDIR (or /tmp), never in the mount: gate, refuse file, stats, hangfs's stderr.
  std::filesystem::path stateDir_;
  dev_t device_ = 0;
  int mountId_ = -1;
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

}  // namespace keepalive::test
