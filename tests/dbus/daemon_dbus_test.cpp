// SPDX-License-Identifier: GPL-2.0-or-later
// The real keepalive-policyd on a private system bus: what keepalivectl's online verbs show is
// what the daemon did on its test root, and Reload is root's alone.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "bus_fixture.h"
#include "keepalive/policy/model.h"
#include "keepalive/policy/networks.h"
#include "strict_json.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"});
  return r.exitCode == 0 ? r.out : "<exit " + std::to_string(r.exitCode) + ">";
}

}  // namespace

TEST_CASE("daemon: status, users, check and reload show what the daemon did") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0666);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));

  auto st = ctl(bus, {"status", "--json"});
  REQUIRE(st.exitCode == 0);
  INFO(st.out << "\nthe daemon's log:\n" << d.log());
  const Json j = parseJson(st.out);
  CHECK(j.at("State").get<std::string>() == "ok");
  CHECK(j.at("PolicyDigest").get<std::string>().rfind("sha256:", 0) == 0);
  CHECK(items(j.at("PolicyFiles")).at(0).get<std::string>() ==
        r.dir / "etc/keepalive-policy/policy.yaml");
  CHECK(u64(j.at("Generation")) == 1);
  CHECK(j.at("LastApplyResult").get<std::string>() == "applied");
  CHECK(j.at("EffectiveServer").at("clientaliveinterval").at("value").get<std::string>() == "120");
  CHECK(j.at("EffectiveServer").at("clientaliveinterval").at("source").get<std::string>() ==
        r.dir / "etc/ssh/sshd_config.d/00-keepalive-policy.conf:5");
  CHECK(u64(j.at("UsersCovered")) == 1);
  CHECK(u64(j.at("UsersNonCompliant")) == 0);
  CHECK(u64(j.at("RepairsTotal")) == 1);  // alice's 0666 at start
  CHECK(u64(j.at("WatchesUsed")) >= 2);
  CHECK(ctl(bus, {"check"}).exitCode == 0);
  // The installed sshd's version, as sshd -V says it, and the figures and proof for it.
  {
    const auto direct = run({"/usr/sbin/sshd", "-V"});
    const auto version = keepalive::policy::OpensshVersion::parse(direct.err + direct.out);
    REQUIRE(version);
    CHECK(j.at("OpensshVersion").get<std::string>() == version->str());
    CHECK(j.at("OpensshVersionSource").get<std::string>() == "sshd -V");
    REQUIRE_FALSE(items(j.at("Keepalive")).empty());
    const Json& def = items(j.at("Keepalive")).at(0);
    CHECK(def.at("network").get<std::string>().empty());
    CHECK(def.at("openssh").get<std::string>() == version->str());
    CHECK(def.at("client_alive_interval").get<std::int64_t>() == 120);
    const std::int64_t k = def.at("probe_factor").get<std::int64_t>();
    CHECK(k == keepalive::policy::probeFactor({version, "sshd -V"},
                                              keepalive::policy::OpensshTiming::kAuto));
    CHECK(def.at("probe_after_seconds").get<std::int64_t>() == k * 120);
    // What the figures do not say: the version's blind spot where it has one, and that
    // keepalives never log out a live idle user (this policy sets no idle_logout).
    std::string notes;
    for (const Json& n : items(j.at("KeepaliveNotes")))
      notes += n.get<std::string>() + "\n";
    CHECK((notes.find("is never probed") != std::string::npos) ==
          (*version >= keepalive::policy::OpensshVersion{9, 2}));
    CHECK(notes.find("a live idle client answers them") != std::string::npos);
    bool proven = false;
    for (const Json& c : items(j.at("Networks")))
      proven |= c.at("network").get<std::string>().empty() &&
                c.at("sample").get<std::string>().rfind("addr=", 0) == 0 &&
                c.at("keyword").get<std::string>() == "clientaliveinterval" &&
                c.at("value").get<std::string>() == "120";
    CHECK(proven);
    auto text = ctl(bus, {"status"});
    CHECK_THAT(text.out, Catch::Contains("     OpenSSH: " + version->str() + " (sshd -V)\n"));
    CHECK_THAT(text.out, Catch::Contains("   Keepalive: probe after "));
  }

  // alice's config becomes a symlink to a root file: refused, and every verb says so.
  REQUIRE(::unlink(r.config("alice").c_str()) == 0);
  REQUIRE(::symlink("/etc/hostname", r.config("alice").c_str()) == 0);
  REQUIRE(waitFor([&] { return show(bus, "UsersNonCompliant") == "1\n"; }));
  CHECK(show(bus, "RefusalsTotal") == "1\n");
  auto users = ctl(bus, {"users", "--noncompliant", "--json"});
  REQUIRE(users.exitCode == 0);
  const Json u = parseJson(users.out);
  INFO(users.out);
  CHECK(u64(u.at("matched")) == 1);
  REQUIRE(items(u.at("users")).size() == 1);
  const Json& alice = items(u.at("users")).at(0);
  CHECK(alice.at("name").get<std::string>() == "alice");
  CHECK(u64(alice.at("uid")) == 41000);
  CHECK(alice.at("state").get<std::string>() == "refused");
  CHECK(alice.at("detail").get<std::string>().rfind("~/.ssh/config is a symlink", 0) == 0);
  CHECK(u64(alice.at("repairs")) == 1);
  CHECK(u64(alice.at("refusals")) == 1);
  CHECK(u64(alice.at("last_change")) > 0);
  auto check = ctl(bus, {"check"});
  CHECK(check.exitCode == 1);
  CHECK(check.out.find("alice: refused: ~/.ssh/config is a symlink") != std::string::npos);

  // Reload: root's, a new generation; nobody is refused by the bus.
  auto reload = ctl(bus, {"reload"});
  CHECK(reload.exitCode == 0);
  CHECK(show(bus, "Generation") == "2\n");
  auto denied = ctl(bus, {"reload"}, /*asNobody=*/true);
  CHECK(denied.exitCode == 1);
  CHECK(denied.err == "keepalivectl reload: reloading needs root: run it with sudo\n");
  CHECK(show(bus, "Generation") == "2\n");
  CHECK(ctl(bus, {"status"}, /*asNobody=*/true).exitCode == 0);
}

// Issue 16 §3: each network proven by the real sshd -T -C and ssh -G, v4 and v6, and the default.
TEST_CASE("daemon: each network's values are proven by sshd and ssh and shown per network") {
  if (!isRoot())
    return;
  if (!keepalive::policy::validCidr("10.20.0.0/16", nullptr)) {
    WARN("policy/networks.cpp is a stub in this build: nothing to prove per network");
    return;
  }
  PrivateBus bus;
  UsersRoot r(
      "version: 1\n"
      "network: {idle_timeout: 1h}\n"
      "server: {client_alive_count_max: 3}\n"
      "users: {action: enforce, min_uid: 41000}\n"
      "networks:\n"
      "  - name: branch-nat\n"
      "    addresses: [\"10.20.0.0/16\"]\n"
      "    destinations: [\"*.branch.example.com\"]\n"
      "    idle_timeout: 5m\n"
      "  - name: lab6\n"
      "    addresses: [\"2001:db8:30::/48\"]\n"
      "    idle_timeout: 10m\n");
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  auto st = ctl(bus, {"status", "--json"});
  REQUIRE(st.exitCode == 0);
  INFO(st.out << "\nthe daemon's log:\n" << d.log());
  const Json j = parseJson(st.out);
  // The figures: the default, then each network in the policy's order.
  const auto& rows = items(j.at("Keepalive"));
  REQUIRE(rows.size() == 3);
  CHECK(rows.at(1).at("network").get<std::string>() == "branch-nat");
  CHECK(rows.at(2).at("network").get<std::string>() == "lab6");
  // What sshd -T -C and ssh -G served for each network's sample is the interval its figures
  // are for, and differs from the default's.
  auto served = [&](const std::string& network, const std::string& target,
                    const std::string& keyword) {
    std::string out;
    for (const Json& c : items(j.at("Networks")))
      if (c.at("network").get<std::string>() == network &&
          c.at("target").get<std::string>() == target &&
          c.at("keyword").get<std::string>() == keyword)
        out = c.at("value").get<std::string>();
    return out;
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string network = rows.at(i).at("network").get<std::string>();
    INFO(network);
    CHECK(served(network, "sshd", "clientaliveinterval") ==
          std::to_string(rows.at(i).at("client_alive_interval").get<std::int64_t>()));
  }
  CHECK(served("branch-nat", "sshd", "clientaliveinterval") !=
        served("", "sshd", "clientaliveinterval"));
  CHECK(served("lab6", "sshd", "clientaliveinterval") != served("", "sshd", "clientaliveinterval"));
  CHECK(served("branch-nat", "ssh", "serveraliveinterval") ==
        std::to_string(rows.at(1).at("server_alive_interval").get<std::int64_t>()));
  bool v6 = false;
  for (const Json& c : items(j.at("Networks")))
    v6 |= c.at("network").get<std::string>() == "lab6" &&
          c.at("sample").get<std::string>().rfind("addr=2001:db8:30:", 0) == 0;
  CHECK(v6);
  CHECK(items(j.at("Shadowed")).empty());  // our own Match Address and Host blocks are ours
  auto text = ctl(bus, {"status"});
  CHECK_THAT(text.out, Catch::Contains("    Networks: default: sshd addr=192.0.2.1 "));
  CHECK_THAT(text.out, Catch::Contains("              branch-nat: sshd addr=10.20."));
  CHECK_THAT(text.out, Catch::Contains("              branch-nat: probe after "));
}

TEST_CASE("daemon: root sees all, a user their own entry and findings and no one's Repaired") {
  if (!isRoot())
    return;
  const std::string ownOnly =
      "Showing only your own entry: other users' entries need root (run it with sudo).\n";
  PrivateBus bus;
  // Uids the host knows, so that clients can run as them on the bus (see knownUid).
  const uid_t aliceUid = knownUid(0), bobUid = knownUid(1);
  UsersRoot r(
      "version: 1\nserver: {client_alive_interval: 2m}\n"
      "users: {action: enforce, min_uid: 1}\n",
      /*withAlice=*/false);
  r.passwd("alice:x:" + std::to_string(aliceUid) + ":" + std::to_string(aliceUid) +
           "::/home/alice:/bin/sh\n" + "bob:x:" + std::to_string(bobUid) + ":" +
           std::to_string(bobUid) + "::/home/bob:/bin/sh\n");
  r.home("alice", aliceUid);
  r.home("bob", bobUid);
  r.makeConfig("alice", aliceUid, 0600);
  // bob's config is a symlink to a root file: refused, a finding with his home in it.
  REQUIRE(::symlink("/etc/hostname", r.config("bob").c_str()) == 0);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 2 covered"));
  REQUIRE(waitFor([&] { return show(bus, "UsersNonCompliant") == "1\n"; }));
  INFO("the daemon's log:\n" << d.log());

  // Root: both users, bob's finding.
  const Json all = parseJson(ctl(bus, {"users", "--json"}).out);
  CHECK(items(all.at("users")).size() == 2);
  CHECK_FALSE(all.at("restricted").get<bool>());
  auto rootCheck = ctl(bus, {"check"});
  CHECK(rootCheck.exitCode == 1);
  CHECK_THAT(rootCheck.out, Catch::Contains("bob: refused: "));

  // alice: herself only, even when she asks for bob by name.
  auto alice = ctlAs(bus, aliceUid, {"users", "--json"});
  REQUIRE(alice.exitCode == 0);
  const Json a = parseJson(alice.out);
  CHECK(u64(a.at("matched")) == 1);
  REQUIRE(items(a.at("users")).size() == 1);
  CHECK(items(a.at("users")).at(0).at("name").get<std::string>() == "alice");
  CHECK(u64(items(a.at("users")).at(0).at("uid")) == aliceUid);
  CHECK(a.at("restricted").get<bool>());
  auto aliceAsksBob = ctlAs(bus, aliceUid, {"users", "bob"});
  CHECK(aliceAsksBob.exitCode == 1);
  CHECK(aliceAsksBob.out.find("/home/bob") == std::string::npos);
  CHECK_THAT(aliceAsksBob.err, Catch::Contains("other users' entries need root"));
  auto aliceNc = ctlAs(bus, aliceUid, {"users", "--noncompliant"});
  CHECK(aliceNc.out == "0 non-compliant users listed.\n" + ownOnly);
  // Her check: the host is in line and so is she; bob's refusal is not hers to see.
  auto aliceCheck = ctlAs(bus, aliceUid, {"check"});
  CHECK(aliceCheck.exitCode == 0);
  CHECK(aliceCheck.out == "compliant: no findings\n" + ownOnly);
  // bob's check has his own finding.
  auto bobCheck = ctlAs(bus, bobUid, {"check"});
  CHECK(bobCheck.exitCode == 1);
  CHECK_THAT(bobCheck.out, Catch::Contains("bob: refused: "));
  CHECK_THAT(bobCheck.out, Catch::EndsWith(ownOnly));

  // nobody: no entry, but the counts.
  auto nobody = ctl(bus, {"users"}, /*asNobody=*/true);
  CHECK(nobody.exitCode == 0);
  CHECK(nobody.out == "0 users listed.\n" + ownOnly);
  const Json st = parseJson(ctl(bus, {"status", "--json"}, true).out);
  CHECK(u64(st.at("UsersCovered")) == 2);
  CHECK(u64(st.at("UsersNonCompliant")) == 1);
  CHECK(u64(st.at("RefusalsTotal")) >= 1);

  // alice's file is repaired: Repaired reaches root's watcher, not hers nor nobody's, while the
  // new RepairsTotal reaches all three.
  Watcher rootWatch(bus);
  Watcher aliceWatch(bus, aliceUid);
  Watcher nobodyWatch(bus, 65534);
  const std::string repairs = show(bus, "RepairsTotal");
  REQUIRE(::chmod(r.config("alice").c_str(), 0644) == 0);
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; }));
  CHECK(waitFor([&] { return rootWatch.out().find("\nRepaired alice ") != std::string::npos; }));
  auto sawRepairsTotal = [](const Watcher& w) {
    return waitFor([&] { return w.out().find(" RepairsTotal") != std::string::npos; });
  };
  CHECK(sawRepairsTotal(rootWatch));
  CHECK(sawRepairsTotal(aliceWatch));
  CHECK(sawRepairsTotal(nobodyWatch));
  CHECK(show(bus, "RepairsTotal") != repairs);
  // The daemon sends Repaired before the PropertiesChanged it causes, and the bus keeps that
  // order for every receiver: it would be here by now.
  CHECK(aliceWatch.out().find("Repaired") == std::string::npos);
  CHECK(nobodyWatch.out().find("Repaired") == std::string::npos);
  CHECK(aliceWatch.out().find("alice") == std::string::npos);
}

TEST_CASE("daemon: a user's name and home with escapes and bad UTF-8 reach the bus escaped") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r(kUsersPolicy, /*withAlice=*/false);
  // sd-bus refuses a string that is not UTF-8: unescaped, this name would fail every ListUsers
  // and Check for everyone; its ESC sequences would reach keepalivectl's terminal.
  const std::string name = "ev\x1b[2Jil\xff";
  const std::string home = "/home/ev\x1b]0;x\x07il\xc3";
  r.passwd(name + ":x:41000:41000::" + home + ":/bin/sh\n");
  makeDirs(r.dir / home, 0755);
  REQUIRE(::chown((r.dir / home).c_str(), 41000, 41000) == 0);
  REQUIRE(::symlink("/etc", (r.dir / (home + "/.ssh")).c_str()) == 0);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  REQUIRE(waitFor([&] { return show(bus, "UsersNonCompliant") == "1\n"; }));
  auto users = ctl(bus, {"users", "--json"});
  INFO(users.out << users.err << "\nthe daemon's log:\n" << d.log());
  REQUIRE(users.exitCode == 0);
  const Json u = parseJson(users.out);
  REQUIRE(items(u.at("users")).size() == 1);
  CHECK(items(u.at("users")).at(0).at("name").get<std::string>() == "ev\\x1b[2Jil\\xff");
  CHECK(items(u.at("users")).at(0).at("home").get<std::string>() ==
        "/home/ev\\x1b]0;x\\x07il\\xc3");
  auto text = ctl(bus, {"users"});
  CHECK(text.out.find('\x1b') == std::string::npos);
  auto check = ctl(bus, {"check"});
  CHECK(check.exitCode == 1);
  CHECK(check.out.find("ev\\x1b[2Jil\\xff") != std::string::npos);
  CHECK(check.out.find('\x1b') == std::string::npos);
}

// Check looks at the homes in slices of the loop (UserWatcher::verifyAsync): reads of the
// properties are answered while it runs, each within a small part of its time.
TEST_CASE("daemon: Check over 10000 homes does not hold up property reads") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r(kUsersPolicy, false);
  constexpr int kUsers = 10000;
  std::string passwd;
  for (int i = 0; i < kUsers; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "u%05d", i);
    const auto uid = static_cast<uid_t>(41000 + i);
    r.home(name, uid);
    passwd += std::string(name) + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) +
              "::/home/" + name + ":/bin/sh\n";
  }
  r.passwd(passwd);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 10000 covered", 1, std::chrono::seconds(120)));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));

  const auto start = std::chrono::steady_clock::now();
  Background check({keepalivectlPath(), "check"}, {bus.env()});
  std::optional<int> code;
  int reads = 0;
  std::chrono::steady_clock::duration worst{};
  while (!(code = check.waitExit(std::chrono::milliseconds(0)))) {
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(show(bus, "UsersCovered") == "10000\n");
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    ++reads;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  INFO("Check took " << duration_cast<milliseconds>(took).count() << " ms; " << reads
                     << " reads meanwhile, the slowest "
                     << duration_cast<milliseconds>(worst).count() << " ms\n"
                     << check.out() << check.err());
  CHECK(*code == 0);
  CHECK(reads >= 1);
  WARN("Check over 10000 homes: " << duration_cast<milliseconds>(took).count() << " ms, " << reads
                                  << " property reads meanwhile, the slowest "
                                  << duration_cast<milliseconds>(worst).count() << " ms");
}

TEST_CASE("daemon: without a bus it enforces anyway and says why once") {
  if (!isRoot())
    return;
  TempDir nowhere;
  UsersRoot r;
  r.makeConfig("alice", 41000, 0666);
  DaemonProcess d(r.dir.path(), {"--bus", "system"},
                  {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + (nowhere / "no-bus")});
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; }));
  CHECK(d.waitForLog("cannot serve org.keepalivepolicy1 on the system bus: "));
  INFO(d.log());
  CHECK(d.countInLog("cannot serve org.keepalivepolicy1") == 1);
  ::chmod(r.config("alice").c_str(), 0644);
  CHECK(waitFor([&] { return UsersRoot::modeOf(r.config("alice")) == 0600; }));
}

// Issue 18: in report mode nothing is set, and users says so: the state one word, beside it what
// is wrong now and what enforce would do; in enforce mode what was done, and when.
TEST_CASE("daemon: users says what is true now, apart from what was done or would be done") {
  if (!isRoot())
    return;
  PrivateBus bus;
  const bool enforce = GENERATE(false, true);
  INFO((enforce ? "enforce" : "report"));
  UsersRoot r(enforce ? kUsersPolicy
                      : "version: 1\nserver: {client_alive_interval: 2m}\n"
                        "users: {action: report, min_uid: 41000}\n");
  r.makeConfig("alice", 41000, 0664);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 1 covered"));
  auto json = ctl(bus, {"users", "--json", "alice"});
  INFO(json.out << json.err << "\nthe daemon's log:\n" << d.log());
  REQUIRE(json.exitCode == 0);
  const Json all = parseJson(json.out);
  REQUIRE(items(all.at("users")).size() == 1);
  const Json& alice = items(all.at("users")).at(0);
  auto text = ctl(bus, {"users", "alice"});
  INFO(text.out);
  if (!enforce) {
    CHECK(alice.at("state").get<std::string>() == "non-compliant");
    CHECK(alice.at("detail").get<std::string>() ==
          "~/.ssh/config is group-writable, world-readable (0664)");
    CHECK(alice.at("action").get<std::string>() == "~/.ssh/config: enforce would set mode 0600");
    CHECK_THAT(text.out, Catch::Contains("\nalice 41000 non-compliant ~/.ssh/config is "
                                         "group-writable, world-readable (0664); ~/.ssh/config: "
                                         "enforce would set mode 0600\n"));
    CHECK(text.out.find("mode set to") == std::string::npos);
    CHECK(UsersRoot::modeOf(r.config("alice")) == 0664);
    CHECK(show(bus, "UsersNonCompliant") == "1\n");
  } else {
    CHECK(alice.at("state").get<std::string>() == "repaired");
    CHECK(alice.at("detail").get<std::string>().empty());
    CHECK(alice.at("action").get<std::string>() == "~/.ssh/config: mode set to 0600");
    CHECK(u64(alice.at("last_change")) > 0);
    CHECK(alice.at("last_change_iso").is_string());
    CHECK_THAT(text.out, Catch::Contains("\nalice 41000 repaired ~/.ssh/config: mode set to 0600 "
                                         "at "));
    CHECK(UsersRoot::modeOf(r.config("alice")) == 0600);
    CHECK(show(bus, "UsersNonCompliant") == "0\n");
  }
}
