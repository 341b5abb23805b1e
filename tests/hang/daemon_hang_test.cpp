// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd with a home on a FUSE mount that hangs (a dead NFS server) or refuses chmod
// and chown (root_squash): the loop goes on serving everyone else, the user is marked and
// retried with backoff, and the home is repaired once it answers.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "hang_mount.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;
using namespace std::chrono_literals;

namespace {

bool canRun() {
  return isRoot() && ::access("/dev/fuse", R_OK | W_OK) == 0;
}

// alice's home is local, hank's is the FUSE mount.
struct HangRoot {
  UsersRoot r;
  std::optional<HangMount> mount;
  explicit HangRoot(HangOptions o = {}) {
    r.passwd("alice:x:41000:41000::/home/alice:/bin/sh\nhank:x:41001:41001::/home/hank:/bin/sh\n");
    r.makeConfig("alice", 41000, 0600);
    mount.emplace(r.dir / "home/hank", 41001, 41001, o);
  }
  mode_t hankMode() const {  // as hangfs serves it: only call while the mount answers
    return UsersRoot::modeOf(r.config("hank"));
  }
};

// Declared after the daemon, destroyed before it: a daemon worker stuck in the mount must be
// answered before the daemon can be stopped.
struct ReleaseAtEnd {
  HangMount& m;
  ~ReleaseAtEnd() { m.release(); }
};

}  // namespace

TEST_CASE("daemon: a hung home does not stall the loop and is marked then repaired") {
  if (!canRun())
    return;
  HangRoot h;
  DaemonProcess d(h.r.dir.path());
  ReleaseAtEnd guard{*h.mount};
  // Checked by a worker: hangfs's config 0644 is repaired like any other.
  REQUIRE(d.waitForLog("repaired \"/home/hank/.ssh\" of hank: ~/.ssh/config: mode set to 0600"));
  CHECK(h.hankMode() == 0600);
  REQUIRE(
      d.waitForLog("users: 2 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 2 watches"));

  // The server dies; a full rescan (SIGHUP) sends a worker into the mount, where it blocks.
  h.mount->hang();
  ::kill(d.pid(), SIGHUP);
  REQUIRE(h.mount->waitBlocked(5s));

  // Meanwhile the loop serves everything else: alice's drift, another SIGHUP's apply.
  ::chmod(h.r.config("alice").c_str(), 0666);
  CHECK(waitFor([&] { return UsersRoot::modeOf(h.r.config("alice")) == 0600; }, 2s));
  const int applies = d.countInLog("(SIGHUP): unchanged");
  ::kill(d.pid(), SIGHUP);
  CHECK(d.waitForLog("(SIGHUP): unchanged", applies + 1, 3s));

  // Past the deadline: marked, degraded, said once.
  CHECK(
      d.waitForLog("the home \"/home/hank\" of hank is not answering (the home (fuse.hangfs) did "
                   "not answer within 5 s); retrying with backoff",
                   1, 15s));
  CHECK(d.waitForLog("state degraded: 1 homes do not answer (a hung NFS or FUSE mount?)"));
  CHECK(procState(d.pid()) != 'D');  // the loop's thread is not the one waiting

  // The server comes back: the stuck check completes, the state recovers.
  h.mount->release();
  CHECK(d.waitForLog("the home \"/home/hank\" of hank answers again"));
  CHECK(d.waitForLog("state ok:", 2));
  ::chmod(h.r.config("alice").c_str(), 0644);
  CHECK(waitFor([&] { return UsersRoot::modeOf(h.r.config("alice")) == 0600; }, 2s));
  INFO("the daemon's log:\n" << d.log());
  CHECK(d.countInLog("is not answering") == 1);
}

TEST_CASE("daemon: a home that refuses root's chmod (root_squash) is retried with backoff") {
  if (!canRun())
    return;
  HangOptions o;
  o.refuse = true;
  HangRoot h(o);
  DaemonProcess d(h.r.dir.path());
  ReleaseAtEnd guard{*h.mount};
  REQUIRE(
      d.waitForLog("cannot check \"/home/hank/.ssh\" of hank: ~/.ssh/config: chmod: "
                   "Permission denied; retrying with backoff"));
  INFO("the daemon's log:\n" << d.log());
  const unsigned refusedFirst = h.mount->stats().refused;
  CHECK(refusedFirst >= 1);
  // The server lets root in again: the next retry (5 s after the failure) repairs it.
  h.mount->refuse(false);
  CHECK(
      d.waitForLog("repaired \"/home/hank/.ssh\" of hank: ~/.ssh/config: mode set to 0600 "
                   "(retry)",
                   1, 15s));
  CHECK(h.hankMode() == 0600);
  INFO("the daemon's log:\n" << d.log());
  // Backoff, not a loop: one failed attempt before the retry, not hundreds.
  CHECK(h.mount->stats().refused <= refusedFirst + 1);
  CHECK(d.countInLog("cannot check \"/home/hank/.ssh\"") == 1);
}
