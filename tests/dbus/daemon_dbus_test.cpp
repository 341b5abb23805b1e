// The real keepalive-policyd on a private system bus: what keepalivectl's online verbs show is
// what the daemon did on its test root, and Reload is root's alone.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "mini_json.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"});
  return r.exit_code == 0 ? r.out : "<exit " + std::to_string(r.exit_code) + ">";
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
  REQUIRE(st.exit_code == 0);
  INFO(st.out << "\nthe daemon's log:\n" << d.log());
  const Json j = parseJson(st.out);
  CHECK(j["State"].str() == "ok");
  CHECK(j["PolicyDigest"].str().rfind("sha256:", 0) == 0);
  CHECK(j["PolicyFiles"].array.at(0).str() == r.dir / "etc/keepalive-policy/policy.yaml");
  CHECK(j["Generation"].u64() == 1);
  CHECK(j["LastApplyResult"].str() == "applied");
  CHECK(j["EffectiveServer"]["clientaliveinterval"]["value"].str() == "120");
  CHECK(j["EffectiveServer"]["clientaliveinterval"]["source"].str() ==
        r.dir / "etc/ssh/sshd_config.d/00-keepalive-policy.conf:5");
  CHECK(j["UsersCovered"].u64() == 1);
  CHECK(j["UsersNonCompliant"].u64() == 0);
  CHECK(j["RepairsTotal"].u64() == 1);  // alice's 0666 at start
  CHECK(j["WatchesUsed"].u64() >= 2);
  CHECK(ctl(bus, {"check"}).exit_code == 0);

  // alice's config becomes a symlink to a root file: refused, and every verb says so.
  REQUIRE(::unlink(r.config("alice").c_str()) == 0);
  REQUIRE(::symlink("/etc/hostname", r.config("alice").c_str()) == 0);
  REQUIRE(waitFor([&] { return show(bus, "UsersNonCompliant") == "1\n"; }));
  CHECK(show(bus, "RefusalsTotal") == "1\n");
  auto users = ctl(bus, {"users", "--noncompliant", "--json"});
  REQUIRE(users.exit_code == 0);
  const Json u = parseJson(users.out);
  INFO(users.out);
  CHECK(u["matched"].u64() == 1);
  REQUIRE(u["users"].array.size() == 1);
  const Json& alice = u["users"].array[0];
  CHECK(alice["name"].str() == "alice");
  CHECK(alice["uid"].u64() == 41000);
  CHECK(alice["state"].str().rfind("refused:~/.ssh/config is a symlink", 0) == 0);
  CHECK(alice["repairs"].u64() == 1);
  CHECK(alice["refusals"].u64() == 1);
  CHECK(alice["last_change"].u64() > 0);
  auto check = ctl(bus, {"check"});
  CHECK(check.exit_code == 1);
  CHECK(check.out.find("alice: refused: ~/.ssh/config is a symlink") != std::string::npos);

  // Reload: root's, a new generation; nobody is refused by the bus.
  auto reload = ctl(bus, {"reload"});
  CHECK(reload.exit_code == 0);
  CHECK(show(bus, "Generation") == "2\n");
  auto denied = ctl(bus, {"reload"}, /*asNobody=*/true);
  CHECK(denied.exit_code == 1);
  CHECK(denied.err.find("permission denied") != std::string::npos);
  CHECK(show(bus, "Generation") == "2\n");
  CHECK(ctl(bus, {"status"}, /*asNobody=*/true).exit_code == 0);
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
