// SPDX-License-Identifier: GPL-2.0-or-later
// The drop-in store on a real filesystem: every change is an atomic replacement made through
// directory fds, in the manner of systemd's write_string_file_atomic.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "core/ports.h"

namespace keepalive::daemon {

// Writes bytes to dir/name atomically: a temp file ".NAME.XXXXXX" beside it (outside any *.conf
// glob), mode and owner set before the rename, fsync of the file, renameat, fsync of the
// directory. On failure the temp file is removed and the old file stays untouched. durable=false
// keeps the atomic rename but skips both fsyncs, for copies a crash may lose.
Status writeFileAtomic(const std::string& dir, const std::string& name, const std::string& bytes,
                       mode_t mode, uid_t uid = 0, gid_t gid = 0, bool durable = true);
// The same beneath a directory the caller opened (and vetted): dirForMessages names it in errors;
// written, when given, receives the fstat of the file renamed into place.
Status writeFileAtomicAt(int dfd, const std::string& dirForMessages, const std::string& name,
                         const std::string& bytes, mode_t mode, uid_t uid = 0, gid_t gid = 0,
                         bool durable = true, struct stat* written = nullptr);
// Reads dir/name without following a symlink and without blocking on a FIFO; nullopt when
// absent. Anything but a regular file of at most maxBytes is an error.
// statOut, when given, receives the fstat of the file that was read.
std::optional<std::string> readFileNoFollow(const std::string& dir, const std::string& name,
                                            Status& st, std::size_t maxBytes = 1 << 20,
                                            struct stat* statOut = nullptr);
Status removeFileDurably(const std::string& dir, const std::string& name);
// Removes leftovers ".NAME.*" of an interrupted write; returns how many.
int removeStaleTemps(const std::string& dir, const std::string& name);
int removeStaleTempsAt(int dfd, const std::string& name);

class FsDropInStore : public DropInStore {
 public:
  // root: "" for the real system; stateDir: where last-known-good copies go.
  FsDropInStore(std::string root, std::string stateDir);

  std::optional<std::string> read(Target t, Status& st) override;
  Status write(Target t, const std::string& bytes) override;
  Status remove(Target t) override;
  Status saveLastGood(Target t, const std::optional<std::string>& bytes) override;
  bool reloadPending() override;
  Status setReloadPending(bool pending) override;
  std::optional<GoodPolicy> loadGoodPolicy(Status& st) override;
  Status saveGoodPolicy(const GoodPolicy& p) override;
  std::optional<ServedValues> loadServed() override;
  void saveServed(const ServedValues& v) override;
  std::string path(Target t) const override;

  std::string dir(Target t) const;
  static std::string name() { return "00-keepalive-policy.conf"; }
  // CIS asks og-rwx for sshd's configuration; ssh's must stay readable by every user.
  static mode_t mode(Target t) { return t == Target::kSshd ? 0600 : 0644; }
  int cleanStaleTemps();

 private:
  std::string root_;
  std::string stateDir_;
};

}  // namespace keepalive::daemon
