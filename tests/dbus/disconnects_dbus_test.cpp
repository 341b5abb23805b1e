// SPDX-License-Identifier: GPL-2.0-or-later
// Disconnect accounting through the real keepalive-policyd on a private bus (issue 17): the
// daemon serves the store it loads from its test root (ROOT/var/lib/keepalive-policy/
// disconnects.json; no journal is read under --root), ListDisconnects gives root every session
// and anyone else only their own, and keepalivectl disconnects --json has exactly the contract's
// fields. The journal follower itself runs in the real journal: tests/system/disconnects_test.sh.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "bus_fixture.h"
#include "strict_json.h"
#include "test_files.h"
#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

std::uint64_t nowUsec() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return std::uint64_t(t.tv_sec) * 1000000u + std::uint64_t(t.tv_nsec) / 1000u;
}

// An event as the store file holds it: [time, user, address, port, network, cause, duration].
std::string event(std::uint64_t t, const std::string& user, const std::string& address, int port,
                  const std::string& network, const std::string& cause, long duration) {
  return "[" + std::to_string(t) + ",\"" + user + "\",\"" + address + "\"," + std::to_string(port) +
         ",\"" + network + "\",\"" + cause + "\"," + std::to_string(duration) + "]";
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"});
  return r.exitCode == 0 ? r.out : "<exit " + std::to_string(r.exitCode) + ">";
}

}  // namespace

TEST_CASE("daemon disconnects: the stored sessions, root sees all, a user only their own") {
  if (!isRoot())
    return;
  PrivateBus bus;
  const uid_t aliceUid = knownUid(0), bobUid = knownUid(1);
  UsersRoot r(
      "version: 1\nserver: {client_alive_interval: 2m}\n"
      "users: {action: enforce, min_uid: 1}\n"
      "networks:\n  - name: branch\n    addresses: [\"10.20.0.0/16\"]\n"
      "    client_alive_interval: 60\n",
      /*withAlice=*/false);
  r.passwd("alice:x:" + std::to_string(aliceUid) + ":" + std::to_string(aliceUid) +
           "::/home/alice:/bin/sh\n" + "bob:x:" + std::to_string(bobUid) + ":" +
           std::to_string(bobUid) + "::/home/bob:/bin/sh\n");
  r.home("alice", aliceUid);
  r.home("bob", bobUid);
  const std::uint64_t now = nowUsec(), hour = 3600ULL * 1000000;
  const std::string stateDir = r.dir / "var/lib/keepalive-policy";
  makeDirs(stateDir, 0700);
  writeFile(
      stateDir + "/disconnects.json",
      R"({"version":1,"cursor":"","since":)" + std::to_string(now - std::uint64_t{7} * 24 * hour) +
          R"(,"events":[)" +
          event(now - 30 * hour, "bob", "192.0.2.9", 40001, "default", "reset", 5) + "," +
          event(now - 4 * hour, "alice", "10.20.3.4", 50021, "branch", "keepalive-timeout", 120) +
          "," +
          event(now - 3 * hour, "alice", "10.20.3.4", 50022, "branch", "keepalive-timeout", 3600) +
          "," +
          event(now - 2 * hour, "bob", "10.20.3.5", 50023, "branch", "keepalive-timeout", -1) +
          "," + event(now - hour, "alice", "192.0.2.7", 50024, "default", "logout", 61) +
          R"(],"totals":[{"cause":"reset","network":"default","count":10},)"
          R"({"cause":"keepalive-timeout","network":"branch","count":3},)"
          R"({"cause":"logout","network":"default","count":1}],"open":[]})",
      0600);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(d.waitForLog("users: 2 covered"));
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  INFO("the daemon's log:\n" << d.log());

  // Counts and totals are for everyone: no user, no address.
  const Json st = parseJson(ctl(bus, {"status", "--json"}, /*asNobody=*/true).out);
  CHECK(st.at("JournalState").get<std::string>() == "off");
  std::set<std::string> counts;
  for (const Json& c : items(st.at("DisconnectCounts")))
    counts.insert(c.at("cause").get<std::string>() + "@" + c.at("network").get<std::string>() +
                  "=" + std::to_string(u64(c.at("count"))));
  CHECK(counts == std::set<std::string>{"keepalive-timeout@branch=3", "logout@default=1"});
  std::set<std::string> totals;
  for (const Json& c : items(st.at("DisconnectTotals")))
    totals.insert(c.at("cause").get<std::string>() + "@" + c.at("network").get<std::string>() +
                  "=" + std::to_string(u64(c.at("count"))));
  CHECK(totals == std::set<std::string>{"keepalive-timeout@branch=3", "logout@default=1",
                                        "reset@default=10"});
  CHECK(u64(st.at("LastKeepaliveTimeout")) == now - 2 * hour);
  CHECK(st.at("LastKeepaliveTimeoutNetwork").get<std::string>() == "branch");
  CHECK(u64(st.at("DisconnectsSince")) >= now - 24 * hour);
  CHECK_FALSE(st.at("SshdLogLevel").get<std::string>().empty());  // sshd -T's, e.g. INFO
  const auto text = ctl(bus, {"status"});
  CHECK_THAT(
      text.out,
      Catch::Contains("Disconnects (24h): 3 keepalive-timeout, 1 logout; last "
                      "keepalive-timeout 2h 0min ago on network branch, bob from 10.20.3.5\n"));
  CHECK_THAT(text.out, Catch::Contains("branch: 3 keepalive-timeout; default: 1 logout\n"));
  // All three keepalive-timeouts on one network: the hint to measure its idle timeout.
  CHECK_THAT(text.out, Catch::Contains("most keepalive-timeouts come from network branch: its "
                                       "idle_timeout may be shorter than the policy says; "
                                       "measure it with keepalivectl probe\n"));
  CHECK_THAT(text.out, Catch::Contains("journal: off\n"));
  // nobody's status: the counts, not who.
  const auto nobodyText = ctl(bus, {"status"}, /*asNobody=*/true);
  CHECK_THAT(nobodyText.out,
             Catch::Contains("last keepalive-timeout 2h 0min ago on network branch\n"));
  CHECK(nobodyText.out.find("10.20.3.5") == std::string::npos);

  // Root: every session, newest first, exactly the contract's fields.
  auto all = ctl(bus, {"disconnects", "--json"});
  REQUIRE(all.exitCode == 0);
  const Json a = parseJson(all.out);
  REQUIRE(items(a).size() == 5);
  const Json& newest = items(a).at(0);
  std::set<std::string> keys;
  for (auto it = newest.begin(); it != newest.end(); ++it)
    keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"time", "user", "address", "port", "network", "cause",
                                      "duration_seconds"});
  CHECK(newest.at("user").get<std::string>() == "alice");
  CHECK(newest.at("cause").get<std::string>() == "logout");
  CHECK(newest.at("port").get<std::int64_t>() == 50024);
  CHECK(newest.at("duration_seconds").get<std::int64_t>() == 61);
  const std::string t = newest.at("time").get<std::string>();
  CHECK(t.size() == 20);
  CHECK(t[10] == 'T');
  CHECK(t.back() == 'Z');
  CHECK(items(a).at(1).at("duration_seconds").is_null());
  CHECK(items(a).at(4).at("cause").get<std::string>() == "reset");
  // Filters.
  CHECK(items(parseJson(ctl(bus, {"disconnects", "--json", "--since", "24h"}).out)).size() == 4);
  CHECK(items(parseJson(ctl(bus, {"disconnects", "--json", "--cause", "keepalive-timeout"}).out))
            .size() == 3);
  CHECK(
      items(parseJson(
                ctl(bus, {"disconnects", "--json", "--network", "branch", "--user", "alice"}).out))
          .size() == 2);
  auto table = ctl(bus, {"disconnects"});
  CHECK(table.exitCode == 0);
  CHECK_THAT(table.out, Catch::StartsWith("TIME            USER  ADDRESS"));
  CHECK_THAT(table.out, Catch::EndsWith("\n5 sessions ended.\n"));
  for (const auto& line : lines(table.out))
    CHECK(line.size() <= 80);
  // On a terminal (script(1) gives one) the list goes through the pager; --no-pager, not.
  auto onTty = [&](const std::string& args) {
    return run({"env", "-u", "LESS", "-u", "PAGER", bus.env(), "TERM=xterm",
                "SYSTEMD_PAGER=sed s/^/PAGED:/", "script", "-qec", keepalivectlPath() + " " + args,
                "/dev/null"},
               std::chrono::seconds(20));
  };
  auto paged = onTty("disconnects");
  CHECK(paged.exitCode == 0);
  CHECK_THAT(paged.out, Catch::Contains("PAGED:TIME "));
  CHECK_THAT(paged.out, Catch::Contains("PAGED:5 sessions ended."));
  auto unpaged = onTty("disconnects --no-pager");
  CHECK(unpaged.exitCode == 0);
  CHECK_THAT(unpaged.out, Catch::Contains("5 sessions ended."));
  CHECK(unpaged.out.find("PAGED:") == std::string::npos);
  // A misspelt cause: usage, with the suggestion.
  auto bad = ctl(bus, {"disconnects", "--cause", "keepalive-timout"});
  CHECK(bad.exitCode == 2);
  CHECK_THAT(bad.err, Catch::Contains("did you mean 'keepalive-timeout'?"));
  CHECK(ctl(bus, {"disconnects", "--since", "yesterday"}).exitCode == 2);

  // alice: her own sessions only, even when she asks for bob's.
  auto mine = ctlAs(bus, aliceUid, {"disconnects", "--json"});
  REQUIRE(mine.exitCode == 0);
  const Json m = parseJson(mine.out);
  REQUIRE(items(m).size() == 3);
  for (const Json& e : items(m))
    CHECK(e.at("user").get<std::string>() == "alice");
  CHECK(items(parseJson(ctlAs(bus, aliceUid, {"disconnects", "--json", "--user", "bob"}).out))
            .empty());
  CHECK_THAT(ctlAs(bus, aliceUid, {"disconnects"}).out,
             Catch::EndsWith("Showing only your own sessions: other users' need root (run it "
                             "with sudo).\n"));
  // nobody has no name in the test root's users: nothing.
  auto nobody = ctl(bus, {"disconnects", "--json"}, /*asNobody=*/true);
  REQUIRE(nobody.exitCode == 0);
  CHECK(items(parseJson(nobody.out)).empty());

  // A restart keeps the totals (the store is saved at shutdown and read back).
  CHECK(d.stop() == 0);
  DaemonProcess again(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  const Json st2 = parseJson(ctl(bus, {"status", "--json"}).out);
  CHECK(st2.at("DisconnectTotals") == st.at("DisconnectTotals"));
}

TEST_CASE("daemon disconnects: a corrupt store is set aside with a warning, the daemon starts") {
  if (!isRoot())
    return;
  PrivateBus bus;
  UsersRoot r;
  const std::string stateDir = r.dir / "var/lib/keepalive-policy";
  makeDirs(stateDir, 0700);
  writeFile(stateDir + "/disconnects.json", "{\"version\":1,\"events\":[", 0600);
  DaemonProcess d(r.dir.path(), {"--bus", "system"}, {bus.env()});
  REQUIRE(waitFor([&] { return show(bus, "State") == "ok\n"; }));
  INFO(d.log());
  CHECK(d.countInLog("is corrupt") == 1);
  bool setAside = false;
  for (const auto& e : std::filesystem::directory_iterator(stateDir))
    setAside |= e.path().filename().string().rfind("disconnects.json.corrupt-", 0) == 0;
  CHECK(setAside);
  CHECK(show(bus, "DisconnectTotals") == "\n");
}
