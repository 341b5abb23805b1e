// SPDX-License-Identifier: GPL-2.0-or-later
// inotify's watch limit used up (fs.inotify.max_user_watches is shared by every root process;
// 100k users exceed the default): the daemon goes on with what it could watch, re-checks the
// rest periodically, and says so in its state. The limit is simulated by the fault shim's
// KEEPALIVE_FAULT_INOTIFY_WATCHES budget over the homes' paths.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

TEST_CASE("watch budget: homes beyond the watch limit are unwatched, rescanned and reported") {
  if (!isRoot())
    return;
  // reconcile_interval 10s, the shortest allowed, is also the unwatched homes' rescan period.
  UsersRoot r(
      "version: 1\nreconcile_interval: 10s\nserver: {client_alive_interval: 2m}\n"
      "users: {action: enforce, min_uid: 41000}\n",
      false);
  const char* names[] = {"alice", "bob", "carol", "dave"};
  std::string passwd;
  for (int i = 0; i < 4; ++i) {
    const uid_t uid = 41000 + static_cast<uid_t>(i);
    passwd += std::string(names[i]) + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) +
              "::/home/" + names[i] + ":/bin/sh\n";
    r.home(names[i], uid);
    r.makeConfig(names[i], uid, 0600);
  }
  r.passwd(passwd);
  DaemonProcess d(r.dir.path(), {},
                  {std::string("LD_PRELOAD=") + FAULT_SHIM_PATH,
                   "KEEPALIVE_FAULT_INOTIFY_WATCHES=2", "KEEPALIVE_FAULT_MATCH=/home/"});
  // Users are checked in name order: alice and bob get the two watches.
  REQUIRE(
      d.waitForLog("users: 4 covered, 0 non-compliant, 2 unwatched, 0 unresponsive, 2 watches"));
  CHECK(
      d.waitForLog("state degraded: 2 of 4 homes are not watched: inotify's watch limit is "
                   "reached (raise fs.inotify.max_user_watches"));

  // A watched home: repaired as it drifts.
  ::chmod(r.config("alice").c_str(), 0666);
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; },
                std::chrono::seconds(2)));
  // An unwatched one: no event reaches us, the periodic rescan repairs it.
  ::chmod(r.config("dave").c_str(), 0666);
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("dave")) == 0600; },
                std::chrono::seconds(25)));
  CHECK(d.waitForLog("~/.ssh/config: mode set to 0600 (periodic rescan of an unwatched home)"));
  INFO("the daemon's log:\n" << d.log());
  CHECK(d.countInLog("inotify_add_watch ENOSPC") >= 2);
}

TEST_CASE("watch budget: watches freed by removed users go to the unwatched ones") {
  if (!isRoot())
    return;
  UsersRoot r(
      "version: 1\nreconcile_interval: 10s\nserver: {client_alive_interval: 2m}\n"
      "users: {action: enforce, min_uid: 41000}\n");
  r.passwd("alice:x:41000:41000::/home/alice:/bin/sh\nbob:x:41001:41001::/home/bob:/bin/sh\n");
  r.home("bob", 41001);
  r.makeConfig("alice", 41000, 0600);
  r.makeConfig("bob", 41001, 0600);
  DaemonProcess d(r.dir.path(), {},
                  {std::string("LD_PRELOAD=") + FAULT_SHIM_PATH,
                   "KEEPALIVE_FAULT_INOTIFY_WATCHES=1", "KEEPALIVE_FAULT_MATCH=/home/"});
  INFO("the daemon's log:\n" << d.log());
  REQUIRE(
      d.waitForLog("users: 2 covered, 0 non-compliant, 1 unwatched, 0 unresponsive, 1 watches"));
  // alice leaves: her watch is given back; bob gets it at the next periodic rescan of the
  // unwatched homes (every reconcile_interval, 10 s, here), and the state says so at once.
  r.passwd("bob:x:41001:41001::/home/bob:/bin/sh\n");
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(d.waitForLog("users: 1 covered, 0 non-compliant, 0 unwatched, 0 unresponsive, 1 watches",
                       1, std::chrono::seconds(25)));
  CHECK(d.waitForLog("state ok:", 2, std::chrono::seconds(5)));  // after "degraded"
  ::chmod(r.config("bob").c_str(), 0666);
  CHECK(
      waitFor([&] { return UsersRoot::modeOf(r.config("bob")) == 0600; }, std::chrono::seconds(2)));
}

TEST_CASE("race: a user's chmod during a repair is checked again, not failed with backoff") {
  if (!isRoot())
    return;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0644);
  // The daemon's final chmod to 0600 is followed at once by a chmod 0666 of the same file.
  DaemonProcess d(r.dir.path(), {},
                  {std::string("LD_PRELOAD=") + FAULT_SHIM_PATH, "KEEPALIVE_FAULT_RACE_CHMOD=1",
                   "KEEPALIVE_FAULT_MATCH=/home/alice/.ssh/config"});
  REQUIRE(d.waitForLog("raced with a chmod 0666"));
  // Within the 100 ms re-check, far sooner than the 5 s backoff of a failure.
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; },
                std::chrono::seconds(2)));
  CHECK(d.waitForLog("repaired \"/home/alice/.ssh\" of alice: ~/.ssh/config: mode set to 0600"));
  INFO(d.log());
  CHECK(d.countInLog("cannot check") == 0);
}
