// SPDX-License-Identifier: GPL-2.0-or-later
// No coverage holes for users (issue 15 §6): a home replaced by a new directory, and a file
// system mounted over a home or over /home (and unmounted), are watched again and checked, with a
// real daemon, real inotify and real mounts. The mounts are made in a private mount namespace of
// this test process (the daemon, its child, shares it), so nothing reaches the host's table.
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

// The daemon sees a home come back within a second (no polling); the margin is for a loaded CI
// machine, not for the daemon.
constexpr std::chrono::milliseconds kWithin{2000};

mode_t modeOf(const std::string& p) {
  return UsersRoot::modeOf(p);
}

// A home's content as a user makes it: ~/.ssh 0700 and ~/.ssh/config of the given mode.
void populateHome(const std::string& home, uid_t uid, mode_t configMode) {
  makeDirs(home + "/.ssh", 0700);
  (void)!::chown(home.c_str(), uid, uid);
  (void)!::chmod(home.c_str(), 0755);
  (void)!::chown((home + "/.ssh").c_str(), uid, uid);
  writeFile(home + "/.ssh/config", "Host *\n  ServerAliveInterval 60\n", configMode);
  (void)!::chown((home + "/.ssh/config").c_str(), uid, uid);
  (void)!::chmod((home + "/.ssh/config").c_str(), configMode);
}

// This process (and the daemon it starts) in a mount namespace of its own, whose mounts
// propagate nowhere: what the test mounts never reaches the host, and all of it goes with the
// process at the latest.
bool privateMounts() {
  if (::unshare(CLONE_NEWNS) != 0) {
    WARN("unshare(CLONE_NEWNS): " << std::strerror(errno));
    return false;
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    WARN("mount --make-rprivate /: " << std::strerror(errno));
    return false;
  }
  return true;
}

// A tmpfs populated at `stage` and then moved over `target`: what appears there is complete at
// once, so no inotify event inside the new file system tells the daemon about it; only the
// mount table does. Unmounted (lazily) when the object dies, before the test root is removed.
struct MovedTmpfs {
  std::string target;
  bool mounted = false;
  MovedTmpfs() = default;
  MovedTmpfs(const MovedTmpfs&) = delete;
  MovedTmpfs& operator=(const MovedTmpfs&) = delete;
  bool stage(const std::string& dir) {
    makeDirs(dir, 0755);
    return ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "mode=0755,size=1m") == 0;
  }
  bool moveTo(const std::string& from, const std::string& to) {
    if (::mount(from.c_str(), to.c_str(), nullptr, MS_MOVE, nullptr) != 0)
      return false;
    target = to;
    mounted = true;
    return true;
  }
  bool unmount() {
    if (!mounted)
      return true;
    mounted = false;
    return ::umount2(target.c_str(), 0) == 0;
  }
  ~MovedTmpfs() {
    if (mounted)
      ::umount2(target.c_str(), MNT_DETACH);
  }
};

}  // namespace

TEST_CASE("user coverage: a home renamed away and made anew is watched again") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0600);
  const std::string home = r.dir / "home/alice";
  DaemonProcess d(r.dir.path());
  REQUIRE(
      d.waitForLog("users: 1 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 1 watches"));

  // mv /home/alice /home/alice.old && mkdir /home/alice: the old watch went with the old
  // directory.
  REQUIRE(::rename(home.c_str(), (home + ".old").c_str()) == 0);
  populateHome(home, 41000, 0664);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  // A chmod in the new home is repaired too: the new home is watched, not only checked once.
  REQUIRE(::chmod(r.config("alice").c_str(), 0664) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  // The old directory is no one's home now: left alone.
  REQUIRE(::chmod((home + ".old/.ssh/config").c_str(), 0666) == 0);

  // A home restored by a rename onto its name (a backup put back), made complete elsewhere.
  const std::string restored = r.dir / "home/alice.restored";
  populateHome(restored, 41000, 0646);
  REQUIRE(::rename(home.c_str(), (home + ".older").c_str()) == 0);
  REQUIRE(::rename(restored.c_str(), home.c_str()) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  REQUIRE(::chmod(r.config("alice").c_str(), 0660) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  CHECK(d.waitForLog("(home replaced)"));
  CHECK(modeOf(home + ".old/.ssh/config") == 0666);
}

TEST_CASE("user coverage: a home that is removed and comes back as a symlink is refused") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0600);
  const std::string home = r.dir / "home/alice";
  const std::string victim = r.dir / "victim";
  populateHome(victim, 0, 0644);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("users: 1 covered, 0 non-compliant"));
  REQUIRE(::rename(home.c_str(), (home + ".old").c_str()) == 0);
  REQUIRE(::symlink(victim.c_str(), home.c_str()) == 0);
  // The symlinked home is treated as any symlinked home is: root's file under it untouched.
  CHECK(d.waitForLog("refusing to touch \"/home/alice/.ssh\" of alice: home"));
  CHECK(modeOf(victim + "/.ssh/config") == 0644);
}

TEST_CASE("user coverage: a file system mounted over a home, then unmounted, is watched") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0600);
  const std::string home = r.dir / "home/alice";
  if (!privateMounts())
    return;  // no mount namespace here (WARNed): nothing to test with
  MovedTmpfs fs;
  DaemonProcess d(r.dir.path());
  REQUIRE(
      d.waitForLog("users: 1 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 1 watches"));

  const std::string stage = r.dir / "stage";
  REQUIRE(fs.stage(stage));
  populateHome(stage, 41000, 0664);
  REQUIRE(fs.moveTo(stage, home));
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  CHECK(d.waitForLog("(mount changed)"));
  // Watched on the new file system.
  REQUIRE(::chmod(r.config("alice").c_str(), 0664) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));

  // Unmounted: the home underneath (its config still 0600) is watched again.
  REQUIRE(fs.unmount());
  REQUIRE(modeOf(r.config("alice")) == 0600);
  REQUIRE(::chmod(r.config("alice").c_str(), 0664) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
}

TEST_CASE("user coverage: a file system mounted over /home is watched, homes replaced there too") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.passwd("alice:x:41000:41000::/home/alice:/bin/sh\nbob:x:41001:41001::/home/bob:/bin/sh\n");
  r.makeConfig("alice", 41000, 0600);
  r.home("bob", 41001);
  r.makeConfig("bob", 41001, 0600);
  const std::string homes = r.dir / "home";
  if (!privateMounts())
    return;
  MovedTmpfs fs;
  DaemonProcess d(r.dir.path());
  REQUIRE(
      d.waitForLog("users: 2 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 2 watches"));

  const std::string stage = r.dir / "stage";
  REQUIRE(fs.stage(stage));
  populateHome(stage + "/alice", 41000, 0664);
  populateHome(stage + "/bob", 41001, 0666);
  REQUIRE(fs.moveTo(stage, homes));
  CHECK(waitFor([&] { return modeOf(r.config("alice")) == 0600; }, kWithin));
  CHECK(waitFor([&] { return modeOf(r.config("bob")) == 0600; }, kWithin));
  // /home's watch moved to the new file system too: bob's home replaced there is seen.
  REQUIRE(::rename((homes + "/bob").c_str(), (homes + "/bob.old").c_str()) == 0);
  populateHome(homes + "/bob", 41001, 0664);
  CHECK(waitFor([&] { return modeOf(r.config("bob")) == 0600; }, kWithin));

  REQUIRE(fs.unmount());
  REQUIRE(::chmod(r.config("bob").c_str(), 0664) == 0);
  CHECK(waitFor([&] { return modeOf(r.config("bob")) == 0600; }, kWithin));
}

TEST_CASE("user coverage: a mount touches only the homes at, under or above it") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.passwd("alice:x:41000:41000::/home/alice:/bin/sh\nbob:x:41001:41001::/home/bob:/bin/sh\n");
  r.makeConfig("alice", 41000, 0600);
  r.home("bob", 41001);
  r.makeConfig("bob", 41001, 0600);
  if (!privateMounts())
    return;
  MovedTmpfs elsewhere, overBob, overSsh;
  DaemonProcess d(r.dir.path(), {"--log-level", "debug"});
  REQUIRE(
      d.waitForLog("users: 2 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 2 watches"));

  // A mount no home is at, under or above (a container's, say): no home is looked at.
  REQUIRE(elsewhere.stage(r.dir / "srv"));
  // One over bob's home: bob only.
  REQUIRE(overBob.stage(r.dir / "stage-bob"));
  populateHome(r.dir / "stage-bob", 41001, 0664);
  REQUIRE(overBob.moveTo(r.dir / "stage-bob", r.dir / "home/bob"));
  CHECK(waitFor([&] { return modeOf(r.config("bob")) == 0600; }, kWithin));
  CHECK(d.waitForLog("mount table changed at \"/home/bob\""));
  // One inside alice's home (over her ~/.ssh): alice only, and it is refused, as any ~/.ssh on
  // another file system is.
  REQUIRE(overSsh.stage(r.dir / "stage-ssh"));
  REQUIRE(overSsh.moveTo(r.dir / "stage-ssh", r.dir / "home/alice/.ssh"));
  CHECK(d.waitForLog("mount table changed at \"/home/alice/.ssh\""));
  CHECK(d.waitForLog("refusing to touch \"/home/alice/.ssh\" of alice"));
  INFO(d.log());
  CHECK(d.countInLog("homes watched and checked again") >= 2);
  CHECK(d.countInLog(": 1 homes watched and checked again") ==
        d.countInLog("homes watched and checked again"));
  CHECK(d.countInLog("mount table changed at \"/srv\"") == 0);
}
