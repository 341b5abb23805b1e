// SPDX-License-Identifier: GPL-2.0-or-later
// org.keepalivepolicy1 on a real private system bus: the service (run by dbus_service_driver on
// scripted data), units/org.keepalivepolicy1.conf as dbus-daemon enforces it, and keepalivectl's
// online verbs. Root is needed to run callers as nobody.
#include <signal.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "bus_fixture.h"
#include "strict_json.h"

using namespace keepalive::test;
using Catch::Contains;
using Catch::StartsWith;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const char* const kOnlineVerbs[] = {"status", "users", "reload", "check", "show", "disconnects"};
const std::string kOwnEntryOnly =
    "Showing only your own entry: other users' entries need root (run it with sudo).";
const char kNotRunning[] =
    "keepalive-policyd is not running: see systemctl status keepalive-policyd";

std::string show(const PrivateBus& bus, const std::string& property) {
  auto r = ctl(bus, {"show", "-p", property, "--value"});
  REQUIRE(r.exitCode == 0);
  return r.out;
}

int lineCount(const std::string& s) {
  int n = 0;
  for (char c : s)
    n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("status --json holds every property with the daemon's values") {
  PrivateBus bus;
  Driver driver(bus);
  auto r = ctl(bus, {"status", "--json"});
  REQUIRE(r.exitCode == 0);
  INFO(r.out);
  const Json j = parseJson(r.out);
  REQUIRE(j.is_object());
  // 42 properties, and for each of the 8 times its ISO 8601 and Unix seconds.
  CHECK(j.size() == 42 + 2 * 8);
  CHECK(u64(j.at("LastApplyTime")) == 1700000000123456u);  // as the bus has it
  CHECK(j.at("LastApplyTimeISO").get<std::string>() == "2023-11-14T22:13:20Z");
  CHECK(u64(j.at("LastApplyTimeUnix")) == 1700000000u);
  CHECK(j.at("StateSinceISO").is_null());  // 0: unknown
  CHECK(j.at("StateSinceUnix").is_null());
  CHECK(j.at("OpensshVersion").get<std::string>() == "9.2");
  CHECK(j.at("OpensshVersionSource").get<std::string>() == "sshd -V");
  REQUIRE(items(j.at("Keepalive")).size() == 2);
  const Json& def = items(j.at("Keepalive")).at(0);
  CHECK(def.at("network").get<std::string>().empty());
  CHECK(def.at("openssh").get<std::string>() == "9.2");
  CHECK(def.at("probe_after_seconds").get<std::int64_t>() == 200);
  CHECK(def.at("probe_factor").get<std::int64_t>() == 2);
  CHECK(def.at("dead_client_seconds").get<std::int64_t>() == 800);
  CHECK(def.at("dead_server_seconds").get<std::int64_t>() == 600);
  CHECK(items(j.at("Keepalive")).at(1).at("dead_server_seconds").is_null());  // never
  REQUIRE(items(j.at("Networks")).size() == 4);
  CHECK(items(j.at("Networks")).at(1).at("sample").get<std::string>() == "addr=10.20.0.1");
  CHECK(j.at("State").get<std::string>() == "ok");
  CHECK(j.at("StateReason").get<std::string>() == "policy sha256:0123abcd in force");
  CHECK(j.at("Version").get<std::string>() == "9.9.9-test");
  REQUIRE(items(j.at("PolicyFiles")).size() == 2);
  CHECK(items(j.at("PolicyFiles")).at(1).get<std::string>() ==
        "/etc/keepalive-policy/policy.d/10-db.yaml");
  CHECK(j.at("PolicyDigest").get<std::string>() == "sha256:0123abcd");
  CHECK(u64(j.at("Generation")) == 1);
  CHECK(u64(j.at("LastApplyTime")) == 1700000000123456u);
  CHECK(j.at("LastApplyResult").get<std::string>() == "applied");
  CHECK(j.at("LastError").get<std::string>().empty());
  CHECK(j.at("SshdUnit").get<std::string>() == "ssh.service");
  REQUIRE(items(j.at("DropIns")).size() == 2);
  CHECK(items(j.at("DropIns")).at(0).get<std::string>() ==
        "/etc/ssh/sshd_config.d/00-keepalive-policy.conf");
  CHECK(j.at("EffectiveServer").at("clientaliveinterval").at("value").get<std::string>() == "120");
  CHECK(j.at("EffectiveServer").at("clientaliveinterval").at("source").get<std::string>() ==
        "/etc/ssh/sshd_config.d/00-keepalive-policy.conf:3");
  CHECK(j.at("EffectiveServer").at("tcpkeepalive").at("source").get<std::string>() ==
        "sshd default");
  CHECK(j.at("EffectiveClient").at("serveraliveinterval").at("value").get<std::string>() == "240");
  CHECK(j.at("Shadowed").is_array());
  CHECK(items(j.at("Shadowed")).empty());
  CHECK(u64(j.at("UsersCovered")) == 5);
  CHECK(u64(j.at("UsersNonCompliant")) == 2);  // erin is unwatched, which UsersUnwatched counts
  CHECK(u64(j.at("UsersUnwatched")) == 1);
  CHECK(u64(j.at("RepairsTotal")) == 7);
  CHECK(u64(j.at("RefusalsTotal")) == 1);
  CHECK(u64(j.at("ReloadsTotal")) == 2);
  CHECK(u64(j.at("RollbacksTotal")) == 0);
  CHECK(u64(j.at("WatchesUsed")) == 13);

  // And a second, independent reader agrees it is JSON.
  TempDir tmp;
  writeFile(tmp / "status.json", r.out);
  auto py =
      run({"python3", "-c", "import json,sys; json.load(open(sys.argv[1]))", tmp / "status.json"});
  CHECK(py.exitCode == 0);
}

TEST_CASE("status prints a summary like systemctl status, in colour only on a terminal") {
  PrivateBus bus;
  Driver driver(bus);
  auto r = ctl(bus, {"status"});
  REQUIRE(r.exitCode == 0);
  INFO(r.out);
  CHECK_THAT(r.out, StartsWith("\u25cf keepalive-policyd: ok\n"));
  CHECK_THAT(r.out, Contains("      Reason: policy sha256:0123abcd in force\n"));
  CHECK_THAT(r.out, Contains("      Policy: /etc/keepalive-policy/policy.yaml\n"
                             "              /etc/keepalive-policy/policy.d/10-db.yaml\n"));
  CHECK_THAT(r.out, Contains("      Digest: sha256:0123abcd\n"));
  CHECK_THAT(r.out, Contains("  Last apply: "));
  CHECK_THAT(r.out, Contains(" ago: applied (generation 1)\n"));
  CHECK_THAT(r.out, Contains("   sshd unit: ssh.service\n"));
  CHECK_THAT(r.out, Contains("      Server: clientalivecountmax 3    "
                             "/etc/ssh/sshd_config.d/00-keepalive-policy.conf:4\n"));
  CHECK_THAT(r.out, Contains("              tcpkeepalive        yes  sshd default\n"));
  CHECK_THAT(r.out, Contains("      Client: serveralivecountmax 3    "));
  CHECK_THAT(r.out, Contains("    Shadowed: none\n"));
  CHECK_THAT(r.out, Contains("     OpenSSH: 9.2 (sshd -V)\n"));
  CHECK_THAT(r.out, Contains("   Keepalive: probe after 3m20s of silence (2 x 1m40s, OpenSSH 9.2); "
                             "dead client cut after 13m20s; dead server after 10m\n"
                             "              branch-nat: probe after 2m of silence (2 x 1m, "
                             "OpenSSH 9.2); dead client cut after 8m; no dead-server detection "
                             "(ServerAliveInterval 0)\n"));
  CHECK_THAT(r.out, Contains("    Networks: default: sshd addr=192.0.2.1 clientaliveinterval=100\n"
                             "              branch-nat: sshd addr=10.20.0.1 clientaliveinterval=60 "
                             "clientalivecountmax=3; ssh a.branch.example.com "
                             "serveraliveinterval=150\n"));
  CHECK_THAT(
      r.out,
      Contains("       Users: 5 covered, 2 non-compliant, 1 unwatched (13 inotify watches)"));
  CHECK_THAT(r.out, Contains("      Counts: 2 reloads, 7 repairs, 1 refusal, 0 rollbacks\n"));
  CHECK_THAT(r.out, Contains("  Last error: none\n"));
  CHECK(r.out.find('\x1b') == std::string::npos);

  // script(1) gives keepalivectl a terminal.
  const std::string cmd = keepalivectlPath() + " status";
  auto tty = run({"script", "-qec", cmd, "/dev/null"}, seconds(20), {bus.env(), "TERM=xterm"});
  REQUIRE(tty.exitCode == 0);
  CHECK_THAT(tty.out, Contains("\x1b[0;1;32m\u25cf\x1b[0m keepalive-policyd: ok"));
  auto noColor = run({"script", "-qec", cmd, "/dev/null"}, seconds(20),
                     {bus.env(), "TERM=xterm", "NO_COLOR=1"});
  REQUIRE(noColor.exitCode == 0);
  CHECK_THAT(noColor.out, Contains("\u25cf keepalive-policyd: ok"));
  CHECK(noColor.out.find("\x1b[") == std::string::npos);
}

TEST_CASE("keepalivectl with no verb prints what status prints") {
  PrivateBus bus;
  Driver driver(bus);
  // "Last apply: ...; 3min 2s ago" may tick between the two runs; every other line is the same.
  auto withoutAgo = [](const std::string& text) {
    std::string out;
    std::size_t b = 0;
    for (std::size_t e; (e = text.find('\n', b)) != std::string::npos; b = e + 1)
      if (text.compare(b, e - b, "  Last apply: ", 0, 14) != 0)
        out += text.substr(b, e - b + 1);
    return out + text.substr(b);
  };
  auto bare = ctl(bus, {});
  auto status = ctl(bus, {"status"});
  REQUIRE(status.exitCode == 0);
  CHECK(bare.exitCode == 0);
  CHECK_THAT(bare.out, StartsWith("\u25cf keepalive-policyd: ok\n"));
  CHECK_THAT(bare.out, Contains(" ago: applied (generation 1)\n"));
  CHECK(withoutAgo(bare.out) == withoutAgo(status.out));
  CHECK(lineCount(bare.out) == lineCount(status.out));
  CHECK(bare.err == status.err);
  // And as anyone, where the answer is the same too.
  auto nobody = ctl(bus, {}, /*asNobody=*/true);
  CHECK(nobody.exitCode == 0);
  CHECK(withoutAgo(nobody.out) == withoutAgo(ctl(bus, {"status"}, true).out));
}

TEST_CASE("show prints every property, -p picks some and --value drops the names") {
  PrivateBus bus;
  Driver driver(bus);
  auto all = ctl(bus, {"show"});
  REQUIRE(all.exitCode == 0);
  CHECK(lineCount(all.out) == 42);
  CHECK_THAT(all.out,
             StartsWith("ConfigLines=\nDisconnectCounts=\nDisconnectTotals=\nDisconnectsSince=0\n"
                        "DropIns=/etc/ssh/sshd_config.d/00-keepalive-policy.conf "
                        "/etc/ssh/ssh_config.d/00-keepalive-policy.conf\n"));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"State", "ok"},
      {"StateReason", "policy sha256:0123abcd in force"},
      {"Version", "9.9.9-test"},
      {"PolicyFiles",
       "/etc/keepalive-policy/policy.yaml /etc/keepalive-policy/policy.d/10-db.yaml"},
      {"PolicyDigest", "sha256:0123abcd"},
      {"Generation", "1"},
      {"OpensshVersion", "9.2"},
      {"OpensshVersionSource", "sshd -V"},
      {"Keepalive",
       "default (9.2) probe_after=200 k=2 client_alive_interval=100 dead_client=800 "
       "server_alive_interval=150 dead_server=600, branch-nat (9.2) probe_after=120 k=2 "
       "client_alive_interval=60 dead_client=480 server_alive_interval=0 dead_server=-1"},
      {"LastApplyTime", "1700000000123456"},
      {"LastApplyResult", "applied"},
      {"LastError", ""},
      {"SshdUnit", "ssh.service"},
      {"DropIns",
       "/etc/ssh/sshd_config.d/00-keepalive-policy.conf "
       "/etc/ssh/ssh_config.d/00-keepalive-policy.conf"},
      {"EffectiveServer",
       "clientalivecountmax=3 (/etc/ssh/sshd_config.d/00-keepalive-policy.conf:4), "
       "clientaliveinterval=120 (/etc/ssh/sshd_config.d/00-keepalive-policy.conf:3), "
       "tcpkeepalive=yes (sshd default)"},
      {"EffectiveClient",
       "serveralivecountmax=3 (/etc/ssh/ssh_config.d/00-keepalive-policy.conf:4), "
       "serveraliveinterval=240 (/etc/ssh/ssh_config.d/00-keepalive-policy.conf:3)"},
      {"Shadowed", ""},
      {"UsersCovered", "5"},
      {"UsersNonCompliant", "2"},
      {"UsersUnwatched", "1"},
      {"RepairsTotal", "7"},
      {"RefusalsTotal", "1"},
      {"ReloadsTotal", "2"},
      {"RollbacksTotal", "0"},
      {"WatchesUsed", "13"}};
  for (const auto& [name, value] : expected) {
    INFO(name);
    CHECK(show(bus, name) == value + "\n");
    CHECK_THAT(all.out, Contains(name + "=" + value + "\n"));
  }
  auto two = ctl(bus, {"show", "-p", "State,Generation", "--property", "UsersCovered"});
  CHECK(two.exitCode == 0);
  CHECK(two.out == "State=ok\nGeneration=1\nUsersCovered=5\n");
  auto bad = ctl(bus, {"show", "-p", "Nope"});
  CHECK(bad.exitCode == 2);
  CHECK_THAT(bad.err, Contains("no property 'Nope'"));
}

TEST_CASE("users lists every covered user, --noncompliant the others, NAME one") {
  PrivateBus bus;
  Driver driver(bus);
  auto all = ctl(bus, {"users"});
  REQUIRE(all.exitCode == 0);
  INFO(all.out);
  // The state one word, its detail beside it: what is wrong now, then what was done (when) or
  // what enforce would do.
  CHECK_THAT(all.out, StartsWith("USER   UID STATE         DETAIL\n"));
  CHECK_THAT(all.out, Contains("\nalice 1000 ok\n"));
  CHECK_THAT(all.out, Contains("\nbob   1001 repaired      ~/.ssh/config: mode set to 0600 at "));
  CHECK_THAT(all.out, Contains("\ncarol 1002 non-compliant ~/.ssh/config is group-writable "
                               "(0664); ~/.ssh/config: enforce would set mode 0600\n"));
  CHECK_THAT(all.out, Contains("\ndave  1003 refused       config is a symlink\n"));
  CHECK_THAT(all.out, Contains("\nerin  1004 ok            unwatched: inotify's watch limit, "
                               "checked by rescans only\n"));
  CHECK_THAT(all.out, Contains("\n5 users listed.\n"));

  auto nc = ctl(bus, {"users", "--noncompliant", "--json"});
  REQUIRE(nc.exitCode == 0);
  const Json j = parseJson(nc.out);
  CHECK(u64(j.at("matched")) == 2);
  CHECK(j.at("restricted").is_boolean());
  CHECK_FALSE(j.at("restricted").get<bool>());  // root sees everyone
  CHECK_FALSE(j.contains("note"));  // not erin: unwatched is a gap in watching, not a finding
  REQUIRE(items(j.at("users")).size() == 2);
  std::vector<std::string> names;
  for (const auto& u : items(j.at("users")))
    names.push_back(u.at("name").get<std::string>());
  CHECK(names == std::vector<std::string>{"carol", "dave"});
  const Json& dave = items(j.at("users")).at(1);
  CHECK(u64(dave.at("uid")) == 1003);
  CHECK(dave.at("home").get<std::string>() == "/home/dave");
  CHECK(dave.at("state").get<std::string>() == "refused");
  CHECK(dave.at("detail").get<std::string>() == "config is a symlink");
  CHECK(dave.at("action").get<std::string>() == "");
  CHECK(dave.at("watched").get<bool>());
  CHECK(u64(dave.at("last_change")) == 1700000200000000u);
  CHECK(dave.at("last_change_iso").get<std::string>() == "2023-11-14T22:16:40Z");
  CHECK(u64(dave.at("last_change_unix")) == 1700000200u);
  const Json& carol = items(j.at("users")).at(0);
  CHECK(carol.at("state").get<std::string>() == "non-compliant");
  CHECK(carol.at("detail").get<std::string>() == "~/.ssh/config is group-writable (0664)");
  CHECK(carol.at("action").get<std::string>() == "~/.ssh/config: enforce would set mode 0600");
  CHECK(u64(dave.at("repairs")) == 0);
  CHECK(u64(dave.at("refusals")) == 1);

  auto bob = ctl(bus, {"users", "--json", "bob"});
  REQUIRE(bob.exitCode == 0);
  const Json b = parseJson(bob.out);
  REQUIRE(items(b.at("users")).size() == 1);
  CHECK(items(b.at("users")).at(0).at("state").get<std::string>() == "repaired");
  CHECK(u64(items(b.at("users")).at(0).at("repairs")) == 2);
  CHECK(items(b.at("users")).at(0).at("action").get<std::string>() ==
        "~/.ssh/config: mode set to 0600");
  CHECK(items(b.at("users")).at(0).at("detail").get<std::string>() == "");
  // erin is compliant, without a watch: the state says ok, watched says the rest.
  const Json e = parseJson(ctl(bus, {"users", "--json", "erin"}).out);
  CHECK(items(e.at("users")).at(0).at("state").get<std::string>() == "ok");
  CHECK_FALSE(items(e.at("users")).at(0).at("watched").get<bool>());
  CHECK(items(e.at("users")).at(0).at("last_change_iso").is_null());

  auto none = ctl(bus, {"users", "nosuchuser"});
  CHECK(none.exitCode == 1);
  CHECK_THAT(none.err, Contains("'nosuchuser' is not a covered user"));
  CHECK(ctl(bus, {"users", "--noncompliant", "bob"}).exitCode == 2);
}

TEST_CASE("users pages on a terminal only, and colours states only there") {
  PrivateBus bus;
  Driver driver(bus);
  // script(1) gives keepalivectl a terminal. The pager named by SYSTEMD_PAGER marks each line it
  // shows, and says what LESS it was given.
  // env(1) clears what this process's environment may hold and sets the rest, the last wins.
  auto onTty = [&](const std::string& args, const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"env"};
    for (const char* name : {"LESS", "PAGER", "SYSTEMD_PAGER", "NO_COLOR", "SYSTEMD_COLORS"}) {
      argv.emplace_back("-u");
      argv.emplace_back(name);
    }
    argv.push_back(bus.env());
    argv.emplace_back("TERM=xterm");
    argv.insert(argv.end(), env.begin(), env.end());
    for (const char* a : {"script", "-qec"})
      argv.emplace_back(a);
    argv.push_back(keepalivectlPath() + " " + args);
    argv.emplace_back("/dev/null");
    return run(argv, seconds(20));
  };
  const std::string marker = "SYSTEMD_PAGER=echo \"LESS=$LESS\"; sed s/^/PAGED:/";
  // disconnects pages alike: tests/dbus/disconnects_dbus_test.cpp (the driver has no sessions).
  for (const char* verb : {"users"}) {
    INFO(verb);
    auto paged = onTty(verb, {marker});
    REQUIRE(paged.exitCode == 0);
    CHECK_THAT(paged.out, Contains("LESS=FRSXMK"));
    CHECK_THAT(paged.out, Contains("PAGED:"));
    // LESS set: left alone.
    CHECK_THAT(onTty(verb, {marker, "LESS=X"}).out, Contains("LESS=X\r\n"));
    // --json on a terminal is paged too, as systemctl pages it.
    CHECK_THAT(onTty(std::string(verb) + " --json", {marker}).out, Contains("PAGED:"));
    auto noPager = onTty(std::string(verb) + " --no-pager", {marker});
    CHECK(noPager.exitCode == 0);
    CHECK(noPager.out.find("PAGED:") == std::string::npos);
    // cat or empty: no pager; SYSTEMD_PAGER before PAGER.
    CHECK(onTty(verb, {"SYSTEMD_PAGER=cat", "PAGER=sed s/^/PAGED:/"}).out.find("PAGED:") ==
          std::string::npos);
    CHECK(onTty(verb, {"SYSTEMD_PAGER=", "PAGER=sed s/^/PAGED:/"}).out.find("PAGED:") ==
          std::string::npos);
    CHECK_THAT(onTty(verb, {"PAGER=sed s/^/PAGED:/"}).out, Contains("PAGED:"));
    // Not a terminal: never a pager.
    auto piped = run({"env", bus.env(), "SYSTEMD_PAGER=sed s/^/PAGED:/", keepalivectlPath(), verb},
                     seconds(20));
    CHECK(piped.exitCode == 0);
    CHECK(piped.out.find("PAGED:") == std::string::npos);
  }
  // No pager named: less -FRSXMK, which shows a list that fits the screen and quits (script's
  // terminal has no size: give it one; a line wider than the screen keeps less open, -S).
  RunResult less;
  {
    std::vector<std::string> argv = {
        "env",           "-u",
        "LESS",          "-u",
        "PAGER",         "-u",
        "SYSTEMD_PAGER", bus.env(),
        "TERM=xterm",    "script",
        "-qec",          "stty rows 50 cols 200; " + keepalivectlPath() + " users",
        "/dev/null"};
    less = run(argv, seconds(20));
  }
  CHECK(less.exitCode == 0);
  CHECK_THAT(less.out, Contains("USER"));
  CHECK_THAT(less.out, Contains("carol"));
  // A pager that does not read all of its input leaves the exit code alone.
  CHECK(onTty("users", {"SYSTEMD_PAGER=true"}).exitCode == 0);

  // The states in colour on a terminal: ok and repaired green, refused red, the others yellow.
  auto tty = onTty("users --no-pager", {});
  REQUIRE(tty.exitCode == 0);
  INFO(tty.out);
  CHECK_THAT(tty.out, Contains("\x1b[0;32mrepaired\x1b[0m"));
  CHECK_THAT(tty.out, Contains("\x1b[0;1;31mrefused\x1b[0m"));
  CHECK_THAT(tty.out, Contains("config is a symlink"));
  for (const char* off : {"NO_COLOR=1", "SYSTEMD_COLORS=0", "TERM=dumb"}) {
    INFO(off);
    auto plain = onTty("users --no-pager", {off});
    CHECK(plain.exitCode == 0);
    CHECK_THAT(plain.out, Contains("repaired"));
    CHECK(plain.out.find("\x1b[") == std::string::npos);
  }
  auto piped = ctl(bus, {"users"});
  CHECK(piped.out.find('\x1b') == std::string::npos);

  // On a terminal each user stays one line: the DETAIL column is cut to its width (COLUMNS
  // here), as systemctl does; --full and a pipe never cut it.
  auto cut = onTty("users --no-pager", {"NO_COLOR=1", "COLUMNS=50"});
  INFO(cut.out);
  CHECK(cut.exitCode == 0);
  CHECK_THAT(cut.out, Contains("\u2026"));
  std::istringstream lines(cut.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    std::size_t columns = 0;
    for (char c : line)
      columns += (static_cast<unsigned char>(c) & 0xC0) == 0x80 ? 0 : 1;
    CHECK(columns <= 50);
  }
  auto full = onTty("users --no-pager --full", {"NO_COLOR=1", "COLUMNS=50"});
  CHECK(full.out.find("\u2026") == std::string::npos);
  CHECK_THAT(full.out, Contains("enforce would set mode 0600"));
  CHECK_THAT(piped.out, Contains("enforce would set mode 0600"));
}

TEST_CASE("per-user data: root sees every user, a user their own entry, nobody no entry") {
  REQUIRE(isRoot());
  PrivateBus bus;
  // dave, a sixth user, has a uid the host knows, so that a client can run as him. His finding
  // and carol's are per-user, sshd's is the host's.
  const uid_t daveUid = knownUid(0);
  const std::string dave = std::to_string(daveUid);
  Driver driver(bus, {"--add-user", "dave2:" + dave + ":non-compliant", "--findings",
                      "@" + dave +
                          " dave2: ~/.ssh/config is 0644|@1002 carol: refused: a symlink|"
                          "sshd: ClientAliveInterval 0"});

  SECTION("root") {
    auto users = ctl(bus, {"users", "--json"});
    REQUIRE(users.exitCode == 0);
    const Json u = parseJson(users.out);
    CHECK(u64(u.at("matched")) == 6);
    CHECK(items(u.at("users")).size() == 6);
    CHECK_FALSE(u.at("restricted").get<bool>());
    auto carol = ctl(bus, {"users", "carol"});
    CHECK(carol.exitCode == 0);
    CHECK_THAT(carol.out, Contains("\ncarol 1002 non-compliant ~/.ssh/config is group-writable"));
    auto check = ctl(bus, {"check", "--json"});
    CHECK(check.exitCode == 1);
    const Json c = parseJson(check.out);
    CHECK_FALSE(c.at("restricted").get<bool>());
    CHECK(items(c.at("findings")).size() == 3);
    CHECK(ctl(bus, {"check"}).out.find(kOwnEntryOnly) == std::string::npos);
  }

  SECTION("a covered user, by the uid the bus recorded, whatever name is asked for") {
    auto users = ctlAs(bus, daveUid, {"users"});
    INFO(users.out << users.err);
    REQUIRE(users.exitCode == 0);
    CHECK_THAT(users.out, Contains("\ndave2 "));
    CHECK_THAT(users.out, Contains(" " + dave + " non-compliant\n"));
    CHECK(users.out.find("alice") == std::string::npos);
    CHECK(users.out.find("carol") == std::string::npos);
    CHECK_THAT(users.out, Contains("\n1 user listed.\n" + kOwnEntryOnly + "\n"));

    auto json = ctlAs(bus, daveUid, {"users", "--json"});
    REQUIRE(json.exitCode == 0);
    const Json j = parseJson(json.out);
    CHECK(u64(j.at("matched")) == 1);
    REQUIRE(items(j.at("users")).size() == 1);
    CHECK(items(j.at("users")).at(0).at("name").get<std::string>() == "dave2");
    CHECK(items(j.at("users")).at(0).at("home").get<std::string>() == "/home/dave2");
    CHECK(j.at("restricted").get<bool>());
    CHECK(j.at("note").get<std::string>() == kOwnEntryOnly);

    // Naming another user, or a name nobody has, gives nothing of them, not even whether they
    // exist.
    for (const char* other : {"carol", "nosuchuser"}) {
      INFO(other);
      auto named = ctlAs(bus, daveUid, {"users", "--json", other});
      CHECK(named.exitCode == 1);
      const Json n = parseJson(named.out);
      CHECK(u64(n.at("matched")) == 0);
      CHECK(items(n.at("users")).empty());
      CHECK(n.at("restricted").get<bool>());
      CHECK(named.err == "keepalivectl users: '" + std::string(other) +
                             "' is not a covered user of yours: other users' entries need root "
                             "(run it with sudo)\n");
    }
    CHECK(ctlAs(bus, daveUid, {"users", "dave2"}).exitCode == 0);
    // carol is non-compliant too, but not his to see.
    auto nc = ctlAs(bus, daveUid, {"users", "--noncompliant", "--json"});
    CHECK(nc.exitCode == 0);
    const Json ncj = parseJson(nc.out);
    CHECK(u64(ncj.at("matched")) == 1);
    REQUIRE(items(ncj.at("users")).size() == 1);
    CHECK(items(ncj.at("users")).at(0).at("name").get<std::string>() == "dave2");

    auto check = ctlAs(bus, daveUid, {"check"});
    CHECK(check.exitCode == 1);
    CHECK(check.out ==
          "dave2: ~/.ssh/config is 0644\nsshd: ClientAliveInterval 0\n"
          "not compliant: 2 findings\n" +
              kOwnEntryOnly + "\n");
    auto checkJson = ctlAs(bus, daveUid, {"check", "--json"});
    const Json c = parseJson(checkJson.out);
    CHECK(c.at("restricted").get<bool>());
    CHECK(c.at("note").get<std::string>() == kOwnEntryOnly);
    REQUIRE(items(c.at("findings")).size() == 2);
    CHECK(items(c.at("findings")).at(0).get<std::string>() == "dave2: ~/.ssh/config is 0644");
  }

  SECTION("nobody: no entry, the host's findings, and the aggregate counts") {
    auto users = ctl(bus, {"users", "--json"}, true);
    REQUIRE(users.exitCode == 0);
    const Json j = parseJson(users.out);
    CHECK(u64(j.at("matched")) == 0);
    CHECK(items(j.at("users")).empty());
    CHECK(j.at("restricted").get<bool>());
    auto text = ctl(bus, {"users"}, true);
    CHECK(text.out == "0 users listed.\n" + kOwnEntryOnly + "\n");
    auto check = ctl(bus, {"check"}, true);
    CHECK(check.exitCode == 1);
    CHECK(check.out ==
          "sshd: ClientAliveInterval 0\nnot compliant: 1 finding\n" + kOwnEntryOnly + "\n");
    const Json st = parseJson(ctl(bus, {"status", "--json"}, true).out);
    CHECK(u64(st.at("UsersCovered")) == 6);
    CHECK(u64(st.at("UsersNonCompliant")) == 3);
    CHECK(u64(st.at("UsersUnwatched")) == 1);
    CHECK(u64(st.at("RepairsTotal")) == 7);
    CHECK(u64(st.at("RefusalsTotal")) == 1);
  }
}

TEST_CASE("Repaired reaches root's connections only, PropertiesChanged everyone") {
  REQUIRE(isRoot());
  PrivateBus bus;
  Driver driver(bus);
  Watcher root(bus);
  Watcher user(bus, knownUid(0));
  Watcher nobody(bus, 65534);
  driver.process().signal(SIGUSR1);
  CHECK(root.saw("Repaired bob /home/bob/.ssh/config mode 0644 -> 0600"));
  CHECK(root.saw("PropertiesChanged RepairsTotal"));
  // The service sends Repaired before PropertiesChanged, and the bus keeps one sender's order for
  // each receiver: once PropertiesChanged is there, a Repaired would have been too.
  CHECK(user.saw("PropertiesChanged RepairsTotal"));
  CHECK(nobody.saw("PropertiesChanged RepairsTotal"));
  CHECK(user.out() == "watching\nPropertiesChanged RepairsTotal\n");
  CHECK(nobody.out() == "watching\nPropertiesChanged RepairsTotal\n");
  // Drift and Applied carry no per-user data: everyone gets them.
  driver.process().signal(SIGUSR2);
  CHECK(nobody.saw("Drift /etc/ssh/sshd_config.d/00-aaa.conf shadows ClientAliveInterval"));
  CHECK(ctl(bus, {"reload"}).exitCode == 0);
  CHECK(user.saw("Applied 2 applied"));
}

TEST_CASE("users lists 100000 users in one reply") {
  PrivateBus bus;
  Driver driver(bus, {"--users", "100000"});
  auto r = ctlUnbounded(bus, {"users", "--json"});
  REQUIRE(r.exitCode == 0);
  const Json j = parseJson(r.out);
  CHECK(u64(j.at("matched")) == 100000);
  REQUIRE(items(j.at("users")).size() == 100000);
  CHECK(items(j.at("users")).at(99999).at("name").get<std::string>() == "u099999");
  auto nc = ctlUnbounded(bus, {"users", "--noncompliant", "--json"});
  REQUIRE(nc.exitCode == 0);
  CHECK(items(parseJson(nc.out).at("users")).size() == 10000);
  auto table = ctlUnbounded(bus, {"users"});
  REQUIRE(table.exitCode == 0);
  CHECK(lineCount(table.out) == 100003);
  CHECK_THAT(table.out, Contains("\nu099999 109999 ok\n"));
  CHECK(show(bus, "UsersNonCompliant") == "10000\n");
}

// What one expensive call costs everyone else: the longest single dispatch of the service's loop
// while ListUsers answers 100000 users and Check answers later, measured by the driver around
// sd_event_dispatch(), in CPU time (wall time on a loaded machine also holds other processes'
// turns). The reply is built in 500 us slices; the bounds leave room for slow machines.
TEST_CASE("ListUsers and Check at 100000 users never hold the loop for long") {
  PrivateBus bus;
  TempDir tmp;
  const std::string report = tmp / "stalls";
  Driver driver(bus, {"--users", "100000", "--check-later", "--stalls", report});
  // Not parsed here: 11 MB of JSON is the harness's work, not the service's.
  auto all = ctlUnbounded(bus, {"users", "--json"});
  REQUIRE(all.exitCode == 0);
  CHECK_THAT(all.out, Contains("\"matched\":100000,"));
  CHECK(ctlUnbounded(bus, {"users", "--noncompliant"}).exitCode == 0);
  CHECK(ctl(bus, {"check"}).exitCode == 0);
  driver.process().signal(SIGTERM);
  REQUIRE(driver.process().waitExit() == 0);
  const std::string r = readFile(report);
  INFO(r);
  const auto maxCpuUsec = std::stoull(r.substr(r.find("max_cpu_usec ") + 13));
  const auto over = std::stoull(r.substr(r.find("over_1ms ") + 9));
  const auto dispatches = std::stoull(r.substr(r.find("dispatches ") + 11));
  CHECK(dispatches > 30);  // the replies were built in many slices
  CHECK(maxCpuUsec < 5000);
  CHECK(over * 10 < dispatches);
}

TEST_CASE("a ListUsers reply past its size cap is cut, and says how many matched") {
  PrivateBus bus;
  Driver driver(bus, {"--users", "1000", "--max-reply-bytes", "10000"});
  auto r = ctl(bus, {"users", "--json"});
  REQUIRE(r.exitCode == 0);
  const Json j = parseJson(r.out);
  CHECK(u64(j.at("matched")) == 1000);
  CHECK(items(j.at("users")).size() > 100);
  CHECK(items(j.at("users")).size() < 1000);
  auto human = ctl(bus, {"users"});
  CHECK(human.exitCode == 0);
  CHECK_THAT(human.out, Contains(" of 1000 users listed: the reply was cut at 16 MiB."));
}

TEST_CASE("check exits 0 when compliant and 1 with its findings") {
  PrivateBus bus;
  SECTION("compliant") {
    Driver driver(bus);
    auto r = ctl(bus, {"check"});
    CHECK(r.exitCode == 0);
    CHECK(r.out == "compliant: no findings\n");
    auto j = ctl(bus, {"check", "--json"});
    CHECK(j.exitCode == 0);
    CHECK(parseJson(j.out).at("compliant").get<bool>());
    // One line, keys in the documented order: scripts may compare it whole.
    CHECK(j.out == "{\"compliant\":true,\"restricted\":false,\"findings\":[]}\n");
  }
  SECTION("not compliant") {
    Driver driver(bus, {"--findings", "carol: ~/.ssh/config is 0644|sshd: ClientAliveInterval 0"});
    auto r = ctl(bus, {"check"});
    CHECK(r.exitCode == 1);
    CHECK(r.out ==
          "carol: ~/.ssh/config is 0644\nsshd: ClientAliveInterval 0\nnot compliant: 2 findings\n");
    auto j = ctl(bus, {"check", "--json"});
    CHECK(j.exitCode == 1);
    const Json p = parseJson(j.out);
    CHECK_FALSE(p.at("compliant").get<bool>());
    REQUIRE(items(p.at("findings")).size() == 2);
    CHECK(items(p.at("findings")).at(1).get<std::string>() == "sshd: ClientAliveInterval 0");
  }
}

TEST_CASE("reload as root applies: exit 0, a new generation, PropertiesChanged and Applied") {
  PrivateBus bus;
  Driver driver(bus);
  Watcher watch(bus);
  auto r = ctl(bus, {"reload"});
  CHECK(r.exitCode == 0);
  CHECK(r.out == "generation 2: applied (the policy is in force)\n");
  // Exactly what changed, in one signal; before the reply, so a caller sees it first.
  CHECK(watch.saw("PropertiesChanged Generation LastApplyTime ReloadsTotal"));
  CHECK(watch.saw("Applied 2 applied"));
  CHECK(show(bus, "Generation") == "2\n");
  CHECK(show(bus, "ReloadsTotal") == "3\n");
}

TEST_CASE("reload exits 1 when the new policy is not in force") {
  PrivateBus bus;
  Driver driver(bus, {"--reload-result", "rolled-back"});
  auto r = ctl(bus, {"reload"});
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.out, Contains("generation 2: rolled-back (the last good policy stays in force"));
  CHECK(show(bus, "State") == "policy-invalid\n");
  CHECK(show(bus, "RollbacksTotal") == "1\n");
}

TEST_CASE("as nobody, status, show, users and check work but the bus refuses Reload") {
  REQUIRE(isRoot());
  PrivateBus bus;
  Driver driver(bus);
  auto status = ctl(bus, {"status", "--json"}, true);
  CHECK(status.exitCode == 0);
  CHECK(parseJson(status.out).at("State").get<std::string>() == "ok");
  CHECK(ctl(bus, {"status"}, true).exitCode == 0);
  CHECK(ctl(bus, {"show", "-p", "Generation"}, true).out == "Generation=1\n");
  CHECK(ctl(bus, {"users", "--noncompliant"}, true).exitCode == 0);
  CHECK(ctl(bus, {"check"}, true).exitCode == 0);

  // A sentence and what to do; the D-Bus error only with --verbose.
  auto reload = ctl(bus, {"reload"}, true);
  CHECK(reload.exitCode == 1);
  CHECK(reload.out.empty());
  CHECK(reload.err == "keepalivectl reload: reloading needs root: run it with sudo\n");
  for (const auto& args : {std::vector<std::string>{"reload", "--verbose"},
                           std::vector<std::string>{"--verbose", "reload"}}) {
    auto verbose = ctl(bus, args, true);
    CHECK(verbose.exitCode == 1);
    INFO(verbose.err);
    CHECK(lineCount(verbose.err) == 1);
    CHECK_THAT(verbose.err,
               StartsWith("keepalivectl reload: reloading needs root: run it with sudo "
                          "(org.freedesktop.DBus.Error.AccessDenied: Rejected send message"));
  }
  CHECK(show(bus, "Generation") == "1\n");
}

TEST_CASE("with a permissive bus policy, Reload as nobody is still refused by the daemon") {
  REQUIRE(isRoot());
  PrivateBus bus(BusOptions{.permissive = true});
  SECTION("the daemon as root: sd-bus refuses the privileged method") {
    Driver driver(bus);
    CHECK(ctl(bus, {"reload"}, true).err ==
          "keepalivectl reload: reloading needs root: run it with sudo\n");
    auto r = ctl(bus, {"reload", "--verbose"}, true);
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, Contains("(org.freedesktop.DBus.Error.AccessDenied: Access to "
                               "org.keepalivepolicy1.Manager.Reload() not permitted.)"));
    CHECK(show(bus, "Generation") == "1\n");
  }
  SECTION("the daemon as the caller's own user: the handler refuses all but root") {
    // sd-bus lets a caller with the daemon's own uid through; the handler's euid check does not.
    Driver driver(bus, {}, true);
    CHECK(ctl(bus, {"reload"}, true).err ==
          "keepalivectl reload: reloading needs root: run it with sudo\n");
    auto r = ctl(bus, {"--verbose", "reload"}, true);
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, Contains("(org.keepalivepolicy1.Error.AccessDenied: Reload: only root may "
                               "reload the policy (the caller's bus connection runs as uid "
                               "65534))"));
    CHECK(show(bus, "Generation") == "1\n");
    // Root passes both.
    CHECK(ctl(bus, {"reload"}).exitCode == 0);
    CHECK(show(bus, "Generation") == "2\n");
  }
}

TEST_CASE(
    "a caller is judged by its connection, as root when it drops to nobody after connecting") {
  REQUIRE(isRoot());
  // dbus-daemon records a connection's uid when it connects (SO_PEERCRED) and answers with it;
  // getCredsEuid asks for exactly that, so the bus policy and the handler agree: this caller is
  // root. (getCredsUid would read /proc at call time and say 65534.) Dropping privileges does not
  // drop what a connection opened with them may do, as with any file descriptor.
  PrivateBus bus;
  Driver driver(bus);
  auto r = run({probePath(), "reload-after-drop"}, seconds(20), {bus.env()});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out == "euid 65534 uid 65534\nok 2 applied\n");
  CHECK(show(bus, "Generation") == "2\n");
}

TEST_CASE("an unreachable daemon gives exit 3 and one sentence that says what to do") {
  SECTION("no bus at all") {
    const std::string address = "unix:path=/nonexistent/keepalive-test-bus";
    for (const char* verb : kOnlineVerbs) {
      auto r = run({keepalivectlPath(), verb}, seconds(20), {"DBUS_SYSTEM_BUS_ADDRESS=" + address});
      INFO(verb << ": " << r.err);
      CHECK(r.exitCode == 3);
      CHECK(r.out.empty());
      CHECK(r.err ==
            "keepalivectl " + std::string(verb) + ": cannot connect to the system bus at " +
                address +
                " (DBUS_SYSTEM_BUS_ADDRESS): check DBUS_SYSTEM_BUS_ADDRESS, or unset it\n");
      auto v = run({keepalivectlPath(), verb, "--verbose"}, seconds(20),
                   {"DBUS_SYSTEM_BUS_ADDRESS=" + address});
      CHECK(v.exitCode == 3);
      CHECK(lineCount(v.err) == 1);
      CHECK_THAT(v.err, Contains(" or unset it (org.freedesktop.DBus.Error.FileNotFound: "));
    }
  }
  SECTION("a bus without the daemon") {
    PrivateBus bus;
    for (const char* verb : kOnlineVerbs) {
      auto r = ctl(bus, {verb});
      INFO(verb << ": " << r.err);
      CHECK(r.exitCode == 3);
      CHECK(r.err == "keepalivectl " + std::string(verb) + ": " + kNotRunning + "\n");
      auto v = ctl(bus, {"--verbose", verb});
      CHECK(v.exitCode == 3);
      CHECK(v.err == "keepalivectl " + std::string(verb) + ": " + kNotRunning +
                         " (org.freedesktop.DBus.Error.ServiceUnknown: The name "
                         "org.keepalivepolicy1 was not provided by any .service files)\n");
    }
    // And keepalivectl with no verb, as status.
    auto bare = ctl(bus, {});
    CHECK(bare.exitCode == 3);
    CHECK(bare.err == std::string("keepalivectl status: ") + kNotRunning + "\n");
  }
  SECTION("a daemon that does not answer") {
    PrivateBus bus;
    Driver driver(bus);
    driver.process().signal(SIGSTOP);
    auto r = ctl(bus, {"status"});
    driver.process().signal(SIGCONT);
    CHECK(r.exitCode == 3);
    CHECK(r.err ==
          "keepalivectl status: keepalive-policyd did not answer within 5s: see journalctl -u "
          "keepalive-policyd\n");
    CHECK(ctl(bus, {"status"}).exitCode == 0);
  }
}

TEST_CASE("bad calls get named errors, never org.sdbuscpp.Error, and the service keeps serving") {
  PrivateBus bus;
  Driver driver(bus);
  auto r = run({probePath(), "bad-calls"}, seconds(20), {bus.env()});
  REQUIRE(r.exitCode == 0);
  INFO(r.out);
  CHECK(r.out.find("org.sdbuscpp") == std::string::npos);
  CHECK_THAT(r.out, Contains("listusers-int org.freedesktop.DBus.Error.InvalidArgs: "));
  CHECK_THAT(r.out, Contains("listusers-two org.freedesktop.DBus.Error.InvalidArgs: "));
  CHECK_THAT(r.out, Contains("reload-arg org.freedesktop.DBus.Error.InvalidArgs: "));
  CHECK_THAT(r.out, Contains("unknown-method org.freedesktop.DBus.Error.UnknownMethod: "));
  CHECK_THAT(r.out, Contains("unknown-interface org.freedesktop.DBus.Error.UnknownMethod: "));
  CHECK_THAT(r.out, Contains("set-state org.freedesktop.DBus.Error.PropertyReadOnly: "));
  CHECK_THAT(r.out, Contains("get-unknown org.freedesktop.DBus.Error.UnknownProperty: "));
  CHECK_THAT(r.out, Contains("bad-filter org.keepalivepolicy1.Error.InvalidArgument: ListUsers: "
                             "unknown filter 'frobnicate'"));
  CHECK_THAT(r.out, Contains("huge-filter org.keepalivepolicy1.Error.InvalidArgument: ListUsers: "
                             "the filter is 1048576 bytes long"));
  CHECK_THAT(r.out, Contains("huge-user org.keepalivepolicy1.Error.InvalidArgument: "));
  CHECK_THAT(r.out, Contains("ping ok\n"));
  CHECK(ctl(bus, {"status"}).exitCode == 0);
  CHECK_FALSE(driver.process().exited());

  // The same as nobody stops at the bus, which lets through only what the policy names.
  auto n = run(asNobody({probePath(), "bad-calls"}), seconds(20), {bus.env()});
  CHECK_THAT(n.out, Contains("set-state org.freedesktop.DBus.Error.AccessDenied: "));
  CHECK_THAT(n.out, Contains("reload-arg org.freedesktop.DBus.Error.AccessDenied: "));
  CHECK_THAT(n.out, Contains("bad-filter org.keepalivepolicy1.Error.InvalidArgument: "));
  CHECK_THAT(n.out, Contains("ping ok\n"));
}

TEST_CASE(
    "a failing handler answers org.keepalivepolicy1.Error.Failed, keepalivectl says what failed") {
  PrivateBus bus;
  SECTION("check") {
    Driver driver(bus, {"--throw", "check"});
    auto r = ctl(bus, {"check"});
    CHECK(r.exitCode == 1);
    CHECK(r.err ==
          "keepalivectl check: keepalive-policyd failed: sshd -T: scripted failure: see "
          "journalctl -u keepalive-policyd\n");
    auto v = ctl(bus, {"check", "--verbose"});
    CHECK(v.exitCode == 1);
    CHECK(v.err ==
          "keepalivectl check: keepalive-policyd failed: sshd -T: scripted failure: see "
          "journalctl -u keepalive-policyd (org.keepalivepolicy1.Error.Failed: Check: sshd -T: "
          "scripted failure)\n");
  }
  SECTION("reload") {
    Driver driver(bus, {"--throw", "reload"});
    auto r = ctl(bus, {"reload"});
    CHECK(r.exitCode == 1);
    CHECK(r.err ==
          "keepalivectl reload: keepalive-policyd failed: apply: "
          "\"/etc/keepalive-policy/policy.yaml\": scripted failure: see journalctl -u "
          "keepalive-policyd\n");
    CHECK(ctl(bus, {"status"}).exitCode == 0);
  }
}

TEST_CASE("a flood of ListUsers from one client does not hold up other clients") {
  REQUIRE(isRoot());
  // dbus-daemon lets a connection have 128 calls awaiting replies; raised here so that all 1000
  // reach the service and its own limits are what is tested.
  PrivateBus bus(BusOptions{.maxRepliesPerConnection = 4096});
  Driver driver(bus, {"--users", "100000"});
  Background flood({probePath(), "flood", "1000"}, {bus.env()});
  REQUIRE(flood.waitForOut("sent\n"));
  // Each of those costs the service ~50 ms or more; served in order, they would hold these calls
  // up for nearly a minute.
  const auto start = std::chrono::steady_clock::now();
  auto status = ctl(bus, {"status", "--json"}, true);
  const auto statusTook = std::chrono::steady_clock::now() - start;
  CHECK(status.exitCode == 0);
  CHECK(u64(parseJson(status.out).at("UsersCovered")) == 100000);
  CHECK(statusTook < seconds(2));
  // Another user's expensive call takes its turn between the flood's.
  auto users = ctl(bus, {"users", "--noncompliant", "--json"}, true);
  const auto usersTook = std::chrono::steady_clock::now() - start;
  CHECK(users.exitCode == 0);
  CHECK(usersTook < seconds(3));

  REQUIRE(flood.waitForOut("ok=", seconds(60)));
  const std::string tally = flood.out();
  INFO(tally);
  const int ok = std::stoi(tally.substr(tally.find("ok=") + 3));
  const int limited = std::stoi(tally.substr(tally.find("limited=") + 8));
  CHECK(ok >= 1);
  CHECK(ok <= 40);
  CHECK(limited == 1000 - ok);
  CHECK_THAT(tally, Contains(" other=0"));
  // What the flood made the service hold at its peak: the users, and a few replies at a time.
  CHECK(driver.process().peakRssKib() < 400L * 1024);
}

TEST_CASE("PropertiesChanged names exactly what changed, Repaired and Drift are signalled") {
  PrivateBus bus;
  Driver driver(bus);
  Watcher watch(bus);
  driver.process().signal(SIGUSR1);
  CHECK(watch.saw("Repaired bob /home/bob/.ssh/config mode 0644 -> 0600"));
  CHECK(watch.saw("PropertiesChanged RepairsTotal"));
  driver.process().signal(SIGUSR2);
  CHECK(watch.saw("Drift /etc/ssh/sshd_config.d/00-aaa.conf shadows ClientAliveInterval"));
  CHECK(watch.saw("PropertiesChanged State StateReason Shadowed"));
  CHECK(show(bus, "Shadowed") ==
        "/etc/ssh/sshd_config.d/00-aaa.conf:1 sets ClientAliveInterval 0 before our drop-in\n");
  auto status = ctl(bus, {"status"});
  CHECK_THAT(status.out, StartsWith("\u25cf keepalive-policyd: shadowed\n"));
  CHECK_THAT(status.out, Contains("    Shadowed: /etc/ssh/sshd_config.d/00-aaa.conf:1 sets "));
  // Nothing else was sent: one line per signal.
  CHECK(lineCount(watch.out()) == 5);
}

TEST_CASE("bytes that are not UTF-8, and terminal escapes, reach clients escaped") {
  PrivateBus bus;
  Driver driver(bus, {"--weird"});
  auto status = ctl(bus, {"status"});
  REQUIRE(status.exitCode == 0);
  CHECK_THAT(status.out, Contains("/etc/keepalive-policy/policy.d/\\xff.yaml"));
  CHECK_THAT(status.out, Contains("  Last error: open \"/etc/keepalive-policy/policy.d/"
                                  "m\\xe9lanie.yaml\": \\x1b]0;owned\\x07 bad\n"));
  CHECK(status.out.find('\x1b') == std::string::npos);
  auto users = ctl(bus, {"users"});
  REQUIRE(users.exitCode == 0);
  CHECK_THAT(users.out, Contains("\nm\\xe9lanie 1100 error         bad byte \\xff\n"));
  CHECK(users.out.find('\x1b') == std::string::npos);
  auto json = ctl(bus, {"users", "--json"});
  REQUIRE(json.exitCode == 0);
  const Json j = parseJson(json.out);
  // Rows come in byte order of the names, as the daemon keeps them: "mallory" before "m\xe9...".
  CHECK(items(j.at("users")).at(6).at("name").get<std::string>() == "m\\xe9lanie");
  // JSON consumers get the same escaped text as the terminal: no control byte at all.
  CHECK(items(j.at("users")).at(5).at("home").get<std::string>() == "/home/\\x1b[31mred");
  CHECK(parseJson(ctl(bus, {"status", "--json"}).out).at("LastError").get<std::string>() ==
        "open \"/etc/keepalive-policy/policy.d/m\\xe9lanie.yaml\": \\x1b]0;owned\\x07 bad");
}

TEST_CASE("the name is root's alone, and taken only once") {
  PrivateBus bus;
  Driver first(bus);
  Background second({driverPath()}, {bus.env()});
  CHECK(second.waitExit() == 1);
  CHECK_THAT(second.err(), Contains("dbus: org.keepalivepolicy1: cannot own the name: another "
                                    "process owns it (is keepalive-policyd already running?)"));
  if (isRoot()) {
    Background nobody(asNobody({driverPath()}), {bus.env()});
    CHECK(nobody.waitExit() == 1);
    CHECK_THAT(nobody.err(), Contains("dbus: org.keepalivepolicy1: cannot own the name: the bus "
                                      "policy does not let this process own it"));
  }
  CHECK(show(bus, "Version") == "9.9.9-test\n");
}

TEST_CASE("the service stops, rather than spins, when the bus goes away") {
  PrivateBus bus;
  Driver driver(bus);
  bus.stop();
  CHECK(driver.process().waitExit() == 4);
  CHECK_THAT(driver.process().err(), Contains("lost: dbus: system bus: connection lost: "));
}

TEST_CASE("online verbs have --help and refuse --root as a usage error") {
  for (const char* verb : kOnlineVerbs) {
    INFO(verb);
    auto help = run({keepalivectlPath(), verb, "--help"});
    CHECK(help.exitCode == 0);
    CHECK_THAT(help.out, StartsWith(std::string("Usage: keepalivectl ") + verb));
    auto root = run({keepalivectlPath(), verb, "--root", "/tmp"});
    CHECK(root.exitCode == 2);
    CHECK_THAT(root.err, Contains("--root serves the offline verbs"));
    CHECK(run({keepalivectlPath(), verb, "--bogus"}).exitCode == 2);
  }
  CHECK(run({keepalivectlPath(), "status", "extra"}).exitCode == 2);
}
