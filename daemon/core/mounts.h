// SPDX-License-Identifier: GPL-2.0-or-later
// Which homes live on file systems that can hang: NFS with a dead server, a FUSE daemon that
// stopped answering, an automount that cannot mount. Checks of those homes run on worker threads
// with a deadline; local homes are checked inline, which is what keeps repairs in microseconds.
// Pure: the adapter reads /proc/self/mountinfo, so no syscall ever touches the mount itself.
#pragma once

#include <string>
#include <vector>

namespace keepalive::daemon {

struct Mount {
  std::string point;  // unescaped ("\040" -> ' ')
  std::string fstype;
  // mountinfo's first field, unique while the mount exists: tells a mount replaced at the same
  // point (umount, mount) from the one that was there.
  unsigned long id = 0;
};

// /proc/self/mountinfo (proc(5)); malformed lines are skipped.
std::vector<Mount> parseMountinfo(const std::string& text);

// The mount points where something was mounted, unmounted or moved between two reads of the
// table, sorted, each once: the homes at or under them (and those they lie under) sit on
// another file system now, and their watches on the one they left. Cost: the tables' sizes.
std::vector<std::string> changedMountPoints(const std::vector<Mount>& before,
                                            const std::vector<Mount>& after);

// Network, cluster and userspace file systems, and autofs (an access may wait for a mount).
bool mayHang(const std::string& fstype);

class MountTable {
 public:
  MountTable() = default;
  explicit MountTable(std::vector<Mount> mounts);
  // The file system type of the mount that holds path (an absolute, normalised path): the
  // longest mount point that is path or a parent of it; "" when nothing matches.
  const std::string& fstypeOf(const std::string& path) const;
  bool mayHang(const std::string& path) const { return daemon::mayHang(fstypeOf(path)); }
  // Some mount may hang: otherwise mayHang() is false for every path, and 100k homes need not
  // be looked up.
  bool anyMayHang() const;
  const std::vector<Mount>& mounts() const { return mounts_; }

 private:
  std::vector<Mount> mounts_;  // later mounts shadow earlier ones at the same point
};

}  // namespace keepalive::daemon
