// SPDX-License-Identifier: GPL-2.0-or-later
// Which homes may hang: mountinfo parsing and the longest-prefix lookup.
#include <catch2/catch.hpp>

#include "core/mounts.h"

using namespace keepalive::daemon;

namespace {

const char* kMountinfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 22 0:40 / /home rw shared:2 - nfs4 srv:/home rw,vers=4.2\n"
    "31 30 8:2 / /home/local rw shared:3 - xfs /dev/sdb1 rw\n"
    "32 22 0:41 / /srv/with\\040space rw - fuse.sshfs host: rw\n"
    "33 22 0:42 / /mnt/auto rw - autofs systemd-1 rw\n"
    "34 22 0:43 / /mnt/auto rw - ext4 /dev/sdc1 rw\n"
    "garbage line\n"
    "35 22 0:44 / /opt rw no-separator-here\n";

}  // namespace

TEST_CASE("mounts: mountinfo is parsed, escapes undone, bad lines skipped") {
  auto m = parseMountinfo(kMountinfo);
  REQUIRE(m.size() == 6);
  CHECK(m[0].point == "/");
  CHECK(m[0].fstype == "ext4");
  CHECK(m[1].fstype == "nfs4");
  CHECK(m[3].point == "/srv/with space");
  CHECK(m[3].fstype == "fuse.sshfs");
}

TEST_CASE("mounts: the longest mount point holding a path decides") {
  MountTable t(parseMountinfo(kMountinfo));
  CHECK(t.fstypeOf("/home/alice") == "nfs4");
  CHECK(t.mayHang("/home/alice"));
  CHECK(t.fstypeOf("/home/local/bob") == "xfs");
  CHECK_FALSE(t.mayHang("/home/local/bob"));
  CHECK(t.fstypeOf("/home") == "nfs4");
  // A prefix of a name is not a parent.
  CHECK(t.fstypeOf("/homestead/carol") == "ext4");
  CHECK(t.mayHang("/srv/with space/dave"));
  CHECK_FALSE(t.mayHang("/root"));
  // Of two mounts at one point, the later (on top) wins.
  CHECK(t.fstypeOf("/mnt/auto/x") == "ext4");
  CHECK(MountTable().fstypeOf("/x").empty());
}

TEST_CASE("mounts: network, cluster, user-space and automount file systems may hang") {
  for (const char* t : {"nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "fuse", "fuseblk",
                        "fuse.sshfs", "autofs", "9p", "lustre", "gpfs", "afs"})
    CHECK(mayHang(t));
  for (const char* t : {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", ""})
    CHECK_FALSE(mayHang(t));
}

TEST_CASE("mounts: the points that changed between two tables, by mount id") {
  const auto before = parseMountinfo(kMountinfo);
  CHECK(before[1].id == 30);
  CHECK(changedMountPoints(before, before).empty());
  auto after = before;
  after.push_back({"/home/alice", "tmpfs", 90});  // mounted over a home
  after.erase(after.begin() + 2);                 // /home/local unmounted
  after[2].id = 91;                               // /srv/with space unmounted and mounted again
  CHECK(changedMountPoints(before, after) ==
        std::vector<std::string>{"/home/alice", "/home/local", "/srv/with space"});
  // Moved (mount --move): the old point and the new one.
  auto moved = before;
  moved[4].point = "/mnt/elsewhere";
  CHECK(changedMountPoints(before, moved) ==
        std::vector<std::string>{"/mnt/auto", "/mnt/elsewhere"});
}
