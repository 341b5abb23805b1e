// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's loop only reacts: while sshd -t runs (here held open by a gate), status reads,
// users' repairs and signals are served; a Reload that arrives meanwhile is answered when the
// run it asked for has ended; SIGTERM waits for the transaction, so no unaccepted candidate is
// left behind.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "bus_fixture.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"});
  return r.exitCode == 0 ? r.out : "<exit " + std::to_string(r.exitCode) + ">";
}

// sshd whose -t, while ROOT/gate exists, says so in ROOT/running and waits until a byte is
// written to the FIFO ROOT/release: a slow sshd -t the test ends when it wants, without sleeps.
std::string gatedSshd(const UsersRoot& r) {
  const std::string dir = r.dir.path();
  REQUIRE(::mkfifo((dir + "/release").c_str(), 0600) == 0);
  const std::string path = dir + "/gated-sshd";
  writeFile(path,
            "#!/bin/sh\n"
            "for a in \"$@\"; do\n"
            "  if [ \"$a\" = -t ] && [ -e '" +
                dir + "/gate' ]; then\n" + "    : > '" + dir + "/running'\n" + "    read -r _ < '" +
                dir + "/release'\n" + "    rm -f '" + dir +
                "/running'\n"
                "  fi\n"
                "done\n"
                "exec /usr/sbin/sshd \"$@\"\n",
            0755);
  return path;
}

void release(const UsersRoot& r) {
  ::unlink((r.dir / "gate").c_str());
  const int fd = ::open((r.dir / "release").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "\n", 1) == 1);
  ::close(fd);
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("daemon: status, repairs and Reload stay served while sshd -t is slow") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0600);
  const std::string sshd = gatedSshd(r);
  DaemonProcess d(r.dir.path(), {"--bus", "system", "--sshd", sshd}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  const std::string before = show(bus, "PolicyDigest");
  INFO("the daemon's log:\n" << d.log());

  // A new policy whose sshd -t hangs until released.
  writeFile(r.dir / "gate", "");
  replaceByRename(r.dir / "etc/keepalive-policy/policy.yaml",
                  "version: 1\nserver: {client_alive_interval: 1m}\n"
                  "users: {action: enforce, min_uid: 41000}\n");
  REQUIRE(waitFor([&] { return exists(r.dir / "running"); }));

  // Status answers at once, and tells the truth: the old policy is still the one in force.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(show(bus, "PolicyDigest") == before);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(show(bus, "State") == "ok\n");
  // A user's drift is repaired meanwhile.
  REQUIRE(::chmod(r.config("alice").c_str(), 0666) == 0);
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; }));
  // SIGHUP and a Reload that come now wait for one follow-up run; Reload answers when it ended.
  ::kill(d.pid(), SIGHUP);
  Background reload({keepalivectlPath(), "reload"}, {bus.env()});
  CHECK_FALSE(reload.waitExit(std::chrono::milliseconds(300)));  // still waiting, as it should
  CHECK(exists(r.dir / "running"));

  release(r);
  const auto code = reload.waitExit(std::chrono::seconds(20));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(show(bus, "PolicyDigest") != before);
  CHECK(show(bus, "State") == "ok\n");
  // The start, the push, and one run for both SIGHUP and Reload.
  CHECK(show(bus, "Generation") == "3\n");
  CHECK_THAT(readFile(r.dir / "etc/ssh/sshd_config.d/00-keepalive-policy.conf"),
             Catch::Contains("ClientAliveInterval 60\n"));
}

TEST_CASE("daemon: SIGTERM during sshd -t ends the transaction first, leaving no candidate") {
  if (!isRoot())
    return;
  UsersRoot r;
  const std::string sshd = gatedSshd(r);
  DaemonProcess d(r.dir.path(), {"--sshd", sshd});
  REQUIRE(d.waitForLog("users: 1 covered"));
  const std::string dropIn = r.dir / "etc/ssh/sshd_config.d/00-keepalive-policy.conf";
  const std::string installed = readFile(dropIn);
  // A policy sshd rejects (our fake lets it through sshd -t only after the gate; the real sshd
  // then refuses an unknown directive in another drop-in we add).
  writeFile(r.dir / "gate", "");
  writeFile(r.dir / "etc/ssh/sshd_config.d/50-broken.conf", "Bogus yes\n");
  replaceByRename(r.dir / "etc/keepalive-policy/policy.yaml",
                  "version: 1\nserver: {client_alive_interval: 1m}\n"
                  "users: {action: enforce, min_uid: 41000}\n");
  REQUIRE(waitFor([&] { return exists(r.dir / "running"); }));
  ::kill(d.pid(), SIGTERM);
  REQUIRE(d.waitForLog("exiting when the transaction under way has ended"));
  CHECK(::kill(d.pid(), 0) == 0);  // still there, waiting for sshd -t
  release(r);
  CHECK(d.stop(std::chrono::seconds(20)) == 0);
  // sshd -t refused the candidate: rolled back to what was installed before.
  CHECK(readFile(dropIn) == installed);
  CHECK(d.countInLog("rolling back") == 1);
}
