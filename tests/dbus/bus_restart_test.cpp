// SPDX-License-Identifier: GPL-2.0-or-later
// The system bus comes and goes (dbus restarted, dbus-broker reloaded): the real keepalive-policyd
// rejoins a private dbus-daemon started again at the same address, with its name, its state and
// its users' rows, and a Reload that was under way when the bus went fails cleanly.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "bus_fixture.h"
#include "strict_json.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"}, false, std::chrono::seconds(5));
  return r.exitCode == 0 ? r.out : "<exit " + std::to_string(r.exitCode) + ">";
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("daemon: rejoins a restarted system bus with its name, state and users") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0666);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  REQUIRE(ctl(bus, {"reload"}).exitCode == 0);
  const std::string digest = show(bus, "PolicyDigest");
  REQUIRE(show(bus, "Generation") == "2\n");

  bus.restart();
  const auto lost = std::chrono::steady_clock::now();
  CHECK(d.waitForLog("lost the system bus: "));
  // Within seconds: status answers again, from the state the daemon had.
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }, std::chrono::seconds(10)));
  const auto took = std::chrono::steady_clock::now() - lost;
  CHECK(took < std::chrono::seconds(5));
  CHECK(d.waitForLog("rejoined the system bus as org.keepalivepolicy1"));
  auto st = ctl(bus, {"status", "--json"});
  REQUIRE(st.exitCode == 0);
  const Json j = parseJson(st.out);
  CHECK(j.at("PolicyDigest").get<std::string>() + "\n" == digest);
  CHECK(u64(j.at("Generation")) == 2);
  CHECK(u64(j.at("UsersCovered")) == 1);
  CHECK(u64(j.at("RepairsTotal")) == 1);
  // ListUsers' rows came through.
  const Json u = parseJson(ctl(bus, {"users", "--json"}).out);
  REQUIRE(items(u.at("users")).size() == 1);
  CHECK(items(u.at("users")).at(0).at("name").get<std::string>() == "alice");
  // Methods and signals work on the new bus: a Reload, and a repair's PropertiesChanged.
  Watcher watch(bus);
  auto rl = ctl(bus, {"reload"});
  INFO(rl.out << rl.err << "\nthe daemon's log:\n" << d.log());
  CHECK(rl.exitCode == 0);
  CHECK(show(bus, "Generation") == "3\n");
  REQUIRE(::chmod(r.config("alice").c_str(), 0644) == 0);
  CHECK(waitFor([&] { return watch.out().find(" RepairsTotal") != std::string::npos; }));
  // Root's privilege is looked up again on the new bus (unique names start over): nobody
  // still may not reload.
  CHECK(ctl(bus, {"reload"}, /*asNobody=*/true).exitCode == 1);

  // And again: the second loss is handled like the first.
  bus.restart();
  CHECK(waitFor([&] { return show(bus, "Generation") == "3\n"; }, std::chrono::seconds(10)));
  CHECK(d.countInLog("rejoined the system bus") == 2);
  CHECK(::kill(d.pid(), 0) == 0);
}

// sshd -t held by a gate: the Reload waits for it when the bus goes.
TEST_CASE("daemon: a Reload under way when the bus goes fails cleanly, the next one works") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r;
  const std::string dir = r.dir.path();
  REQUIRE(::mkfifo((dir + "/release").c_str(), 0600) == 0);
  writeFile(dir + "/gated-sshd",
            "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = -t ] && [ -e '" + dir +
                "/gate' ]; then\n    : > '" + dir + "/running'\n    read -r _ < '" + dir +
                "/release'\n    rm -f '" + dir +
                "/running'\n  fi\ndone\nexec /usr/sbin/sshd \"$@\"\n",
            0755);
  DaemonProcess d(dir, {"--bus", "system", "--sshd", dir + "/gated-sshd"}, {bus.env()});
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  INFO("the daemon's log:\n" << d.log());

  // A new policy whose sshd -t hangs until released; a Reload that comes meanwhile waits for
  // the follow-up run.
  writeFile(dir + "/gate", "");
  replaceByRename(dir + "/etc/keepalive-policy/policy.yaml",
                  "version: 1\nserver: {client_alive_interval: 1m}\n"
                  "users: {action: enforce, min_uid: 41000}\n");
  REQUIRE(waitFor([&] { return exists(dir + "/running"); }));
  Background reload({keepalivectlPath(), "reload"}, {bus.env()});
  REQUIRE_FALSE(reload.waitExit(std::chrono::milliseconds(300)));
  bus.restart();
  // The caller learns at once (its connection went with the bus), not at its deadline.
  const auto code = reload.waitExit(std::chrono::seconds(5));
  REQUIRE(code);
  CHECK(*code != 0);
  INFO("keepalivectl: " << reload.out() << reload.err());
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));

  // The transaction ends on its own; its result has no one to go to and harms nothing.
  ::unlink((dir + "/gate").c_str());
  const int fd = ::open((dir + "/release").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "\n", 1) == 1);
  ::close(fd);
  // The push and the follow-up run the lost Reload asked for.
  CHECK(waitFor([&] { return show(bus, "Generation") == "3\n"; }));
  CHECK_THAT(readFile(dir + "/etc/ssh/sshd_config.d/00-keepalive-policy.conf"),
             Catch::Contains("ClientAliveInterval 60\n"));
  CHECK(ctl(bus, {"reload"}).exitCode == 0);
  CHECK(show(bus, "Generation") == "4\n");
  CHECK(::kill(d.pid(), 0) == 0);
}

// The service alone (the driver), with a short limit: it rejoins a bus that comes back, and gives
// up (the daemon then exits non-zero for systemd to restart it) on one that does not.
TEST_CASE("the service rejoins a bus that comes back and gives up on one that does not") {
  if (!isRoot())
    return;
  PrivateBus bus;
  Driver driver(bus, {"--rejoin-give-up-ms", "1500"});
  bus.restart();
  CHECK(waitFor([&] { return driver.process().err().find("rejoined\n") != std::string::npos; }));
  CHECK(waitFor([&] { return show(bus, "Version") == "9.9.9-test\n"; }));

  bus.stop();
  const auto t0 = std::chrono::steady_clock::now();
  const auto code = driver.process().waitExit(std::chrono::seconds(10));
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(driver.process().err());
  REQUIRE(code);
  CHECK(*code == 5);
  CHECK_THAT(driver.process().err(),
             Catch::Contains("gave up: could not rejoin the system bus within 1 s: dbus: system "
                             "bus: cannot connect"));
  // Retried until the limit (250 ms, 500 ms, 1 s apart), not given up at the first failure.
  CHECK(took >= std::chrono::milliseconds(1400));
  CHECK(took < std::chrono::seconds(5));
}
