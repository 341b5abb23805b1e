// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's offline verbs, run as a real process: exit codes, streams and output.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "keepalive/io/openssh_version.h"
#include "test_support.h"

using namespace keepalive::test;

namespace {

RunResult ctl(std::vector<std::string> args) {
  args.insert(args.begin(), keepalivectlPath());
  return run(args);
}

const std::string kExample = dataDir() + "/golden/example-web/policy.yaml";

// A world-readable policy root, so that nobody can read it too.
struct PolicyRoot {
  TempDir dir;
  PolicyRoot() {
    ::chmod(dir.path().c_str(), 0755);
    makeDirs(dir.path() + "/etc/keepalive-policy/policy.d");
  }
  std::string file(const std::string& rel) const {
    return dir.path() + "/etc/keepalive-policy/" + rel;
  }
};

}  // namespace

TEST_CASE("validate: a valid file exits 0 and says so") {
  auto r = ctl({"validate", kExample});
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("valid (1 file, 0 warnings)"));
  CHECK(r.err.empty());
  auto q = ctl({"validate", "--quiet", kExample});
  CHECK(q.exitCode == 0);
  CHECK(q.out.empty());
}

TEST_CASE("validate: an invalid file exits 1 with FILE:LINE:COL diagnostics on stderr") {
  PolicyRoot pr;
  const auto f = pr.file("bad.yaml");
  writeFile(f, "version: 1\nserver:\n  client_alive_intervall: 2m\n");
  auto r = ctl({"validate", f});
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.err, Catch::Contains(f + ":3:3: error: unknown key 'client_alive_intervall' in "
                                        "server; did you mean 'client_alive_interval'?"));
  CHECK_THAT(r.err, Catch::Contains("invalid: 1 error"));
}

TEST_CASE("validate: warnings pass unless --strict") {
  PolicyRoot pr;
  const auto f = pr.file("warn.yaml");
  writeFile(f, "version: 1\nserver: {client_alive_interval: 298, client_alive_count_max: 50}\n");
  auto r = ctl({"validate", f});
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.err, Catch::Contains(": warning: "));
  CHECK(ctl({"validate", "--strict", f}).exitCode == 1);
}

TEST_CASE("validate: the system policy under --root merges policy.d in byte order") {
  if (!isRoot()) {
    WARN("the system policy is read only when root owns it; skipped unprivileged");
    return;
  }
  PolicyRoot pr;
  writeFile(pr.file("policy.yaml"), "version: 1\nserver: {client_alive_interval: 2m}\n");
  writeFile(pr.file("policy.d/9-late.yaml"), "version: 1\nserver: {client_alive_interval: 90s}\n");
  writeFile(pr.file("policy.d/10-early.yaml"), "version: 1\nserver: {client_alive_interval: 1m}\n");
  writeFile(pr.file("policy.d/.ansible_tmp.yaml"), "this is not: [valid\n");
  writeFile(pr.file("policy.d/old.yml"), "version: 1\n");
  auto r = ctl({"validate", "--root", pr.dir.path()});
  INFO(r.err);
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("valid (3 files"));
  CHECK_THAT(r.err, Catch::Contains("old.yml: warning: ignored"));
  // "9-late" sorts after "10-early" byte-wise, so its value wins.
  auto s = ctl({"render", "--root", pr.dir.path(), "--sshd", "--host", "h"});
  CHECK(s.exitCode == 0);
  CHECK_THAT(s.out, Catch::Contains("ClientAliveInterval 90\n"));
}

TEST_CASE("validate: no policy at all is an error that says what to write") {
  TempDir empty;
  auto r = ctl({"validate", "--root", empty.path()});
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.err, Catch::Contains("no policy"));
  CHECK_THAT(r.err, Catch::Contains("version: 1"));
}

TEST_CASE("validate: a FIFO in place of the policy does not hang") {
  PolicyRoot pr;
  const auto f = pr.file("policy.yaml");
  REQUIRE(::mkfifo(f.c_str(), 0644) == 0);
  auto r = run({keepalivectlPath(), "validate", f}, std::chrono::seconds(5));
  CHECK_FALSE(r.timedOut);
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.err, Catch::Contains("not a regular file"));
}

TEST_CASE("validate: runs without root") {
  PolicyRoot pr;
  writeFile(pr.file("policy.yaml"), readFile(kExample));
  auto r = run(asNobody({keepalivectlPath(), "validate", pr.file("policy.yaml")}));
  INFO(r.err);
  CHECK(r.exitCode == 0);
}

TEST_CASE("usage errors exit 2") {
  auto unknown = ctl({"frobnicate"});
  CHECK(unknown.exitCode == 2);
  CHECK(unknown.err == "keepalivectl: unknown command 'frobnicate'\nTry 'keepalivectl --help'.\n");
  auto r = ctl({"validate", "--bogus"});
  CHECK(r.exitCode == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown option '--bogus'"));
  CHECK(ctl({"render", "--sshd", "--client", kExample}).exitCode == 2);
  CHECK(ctl({"advise"}).exitCode == 2);
  CHECK(ctl({"advise", "--idle-timeout", "soon"}).exitCode == 2);
  CHECK(ctl({"advise", "--idle-timeout", "2s"}).exitCode == 2);
  auto missing = ctl({"validate", "--root"});
  CHECK(missing.exitCode == 2);
  CHECK_THAT(missing.err, Catch::Contains("option '--root' needs a value"));
  CHECK(ctl({"help", "nosuchverb"}).exitCode == 2);
  CHECK(ctl({"--bogus"}).exitCode == 2);
  CHECK(ctl({"--", "frobnicate"}).exitCode == 2);
}

TEST_CASE("a mistyped verb or option exits 2 and names the nearest one") {
  auto verb = ctl({"stauts"});
  CHECK(verb.exitCode == 2);
  CHECK(verb.out.empty());
  CHECK(verb.err ==
        "keepalivectl: unknown command 'stauts'; did you mean 'status'?\n"
        "Try 'keepalivectl --help'.\n");
  auto help = ctl({"help", "rendr"});
  CHECK(help.exitCode == 2);
  CHECK_THAT(help.err, Catch::StartsWith("keepalivectl: unknown command 'rendr'; did you mean "
                                         "'render'?\n"));
  // Parsed before the bus is asked: no daemon needed to be told.
  auto option = ctl({"status", "--jsn"});
  CHECK(option.exitCode == 2);
  CHECK(option.out.empty());
  CHECK(option.err ==
        "keepalivectl status: unknown option '--jsn'; did you mean '--json'?\n"
        "Try 'keepalivectl status --help'.\n");
  auto strict = ctl({"validate", kExample, "--stirct"});
  CHECK(strict.exitCode == 2);
  CHECK_THAT(strict.err, Catch::StartsWith("keepalivectl validate: unknown option '--stirct'; did "
                                           "you mean '--strict'?\n"));
  auto global = ctl({"--verison"});
  CHECK(global.exitCode == 2);
  CHECK_THAT(global.err, Catch::StartsWith("keepalivectl: unknown option '--verison'; did you "
                                           "mean '--version'?\n"));
  // Every verb's options, probe's and disconnects' too, and the global --verbose.
  for (const auto& [args, line] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"probe", "--laddr", "1s", "host"},
            "keepalivectl probe: unknown option '--laddr'; did you mean '--ladder'?\n"},
           {{"disconnects", "--cuase", "reset"},
            "keepalivectl disconnects: unknown option '--cuase'; did you mean '--cause'?\n"},
           {{"disconnects", "--cause", "keepalive-timout"},
            "keepalivectl disconnects: unknown cause 'keepalive-timout'; did you mean "
            "'keepalive-timeout'? (causes: keepalive-timeout, reset, timed-out, broken-pipe, "
            "closed, logout, unknown)\n"},
           {{"users", "--no-pagr"},
            "keepalivectl users: unknown option '--no-pagr'; did you mean '--no-pager'?\n"},
           {{"reload", "--verbsoe"},
            "keepalivectl reload: unknown option '--verbsoe'; did you mean '--verbose'?\n"},
           {{"--verbse", "status"},
            "keepalivectl: unknown option '--verbse'; did you mean "
            "'--verbose'?\n"}}) {
    auto r = ctl(args);
    INFO(args.front() << " " << args.at(1));
    CHECK(r.exitCode == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith(line));
  }
}

TEST_CASE("keepalivectl with no verb is keepalivectl status") {
  // No daemon here: both fail alike, exit 3, where a missing verb used to be a usage error. Every
  // online verb fails so without a daemon; the dbus suite tells status from them on a live bus.
  TempDir dir;
  const std::vector<std::string> env = {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + dir.path() + "/bus"};
  auto bare = run({keepalivectlPath()}, std::chrono::seconds(20), env);
  auto status = run({keepalivectlPath(), "status"}, std::chrono::seconds(20), env);
  CHECK(bare.exitCode == 3);
  CHECK(bare.exitCode == status.exitCode);
  CHECK(bare.out == status.out);
  CHECK(bare.err == status.err);
  CHECK(bare.err ==
        "keepalivectl status: cannot connect to the system bus at unix:path=" + dir.path() +
            "/bus (DBUS_SYSTEM_BUS_ADDRESS): check DBUS_SYSTEM_BUS_ADDRESS, or unset "
            "it\n");
}

TEST_CASE("render refuses a policy whose overrides break a rule together") {
  PolicyRoot pr;
  writeFile(pr.file("p.yaml"),
            "version: 1\nhosts:\n"
            "  - match: [\"a*\"]\n    network: {idle_timeout: 6m}\n"
            "  - match: [\"*b*\"]\n    client: {server_alive_count_max: 3}\n"
            "  - match: [\"*c\"]\n    server: {client_alive_interval: 4m}\n");
  auto bad = ctl({"render", "--host", "abc", pr.file("p.yaml")});
  CHECK(bad.exitCode == 1);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err, Catch::Contains("[for a host matching both hosts matching a*"));
  CHECK(ctl({"render", "--host", "xbx", pr.file("p.yaml")}).exitCode == 1);
}

TEST_CASE("every verb has --help") {
  for (const char* v :
       {"validate", "render", "advise", "status", "users", "reload", "check", "show", "help"}) {
    auto r = ctl({v, "--help"});
    CHECK(r.exitCode == 0);
    CHECK_THAT(r.out, Catch::StartsWith(std::string("Usage: keepalivectl ") + v));
    CHECK(ctl({"help", v}).out == r.out);
    CHECK(ctl({v, "-h"}).out == r.out);
  }
  auto global = ctl({"--help"});
  CHECK(global.exitCode == 0);
  CHECK_THAT(global.out, Catch::StartsWith("Usage: keepalivectl [-h|--help] [--version]"));
  CHECK(ctl({"help"}).out == global.out);
  CHECK(ctl({"-h"}).out == global.out);
  CHECK_THAT(ctl({"help", "render"}).out, Catch::Contains("--explain"));
  CHECK_THAT(ctl({"--version"}).out, Catch::StartsWith("keepalivectl "));
}

TEST_CASE("render prints both drop-ins, --sshd or --client one, nothing when invalid") {
  auto both = ctl({"render", kExample, "--host", "web-1"});
  CHECK(both.exitCode == 0);
  CHECK_THAT(both.out, Catch::Contains("==> /etc/ssh/sshd_config.d/00-keepalive-policy.conf <=="));
  CHECK_THAT(both.out, Catch::Contains("==> /etc/ssh/ssh_config.d/00-keepalive-policy.conf <=="));
  auto sshd = ctl({"render", "--sshd", "--host", "db-7", kExample});
  CHECK(sshd.out == readFile(dataDir() + "/golden/example-db/sshd.conf"));
  auto client = ctl({"render", "--client", "--host", "web-1", kExample});
  CHECK(client.out == readFile(dataDir() + "/golden/example-web/ssh.conf"));

  PolicyRoot pr;
  writeFile(pr.file("bad.yaml"),
            "version: 1\nnetwork: {idle_timeout: 5m}\nserver: {client_alive_interval: 298}\n");
  auto bad = ctl({"render", pr.file("bad.yaml")});
  CHECK(bad.exitCode == 1);
  CHECK(bad.out.empty());
  CHECK_THAT(
      bad.err,
      Catch::Contains("bad.yaml:3:33: error: server.client_alive_interval 4m58s is above half"));
}

TEST_CASE("render --explain shows where each value comes from") {
  auto r = ctl({"render", "--explain", "--host", "db-1.example.com", kExample});
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("Overrides: hosts matching db-*, *.dmz.example.com"));
  CHECK_THAT(r.out, Catch::Matches(
                        "[\\s\\S]*sshd +ClientAliveInterval +60 +\\S+policy.yaml:27:37[\\s\\S]*"));
  CHECK_THAT(r.out, Catch::Matches(
                        "[\\s\\S]*ssh +ServerAliveInterval +240 +\\S+policy.yaml:15:26[\\s\\S]*"));
  PolicyRoot pr;
  writeFile(pr.file("d.yaml"), "version: 1\nnetwork: {idle_timeout: 10m}\n");
  auto d = ctl({"render", "--explain", "--openssh", "9.2", pr.file("d.yaml")});
  CHECK_THAT(d.out, Catch::Contains("derived from network.idle_timeout 10m / 3: sshd 9.2 probes "
                                    "after 2 intervals of silence (" +
                                    pr.file("d.yaml") + ":2:25)"));
  // Below the table, the model's figures for that version.
  CHECK_THAT(d.out, Catch::Contains("Figures for OpenSSH 9.2 (--openssh):"));
  CHECK_THAT(d.out, Catch::Contains("sshd: probes a silent client after 6m40s (2 x "
                                    "ClientAliveInterval 3m20s), below the idle timeout 10m"));
  CHECK_THAT(d.out, Catch::Contains("cuts a dead client after 26m40s"));
  CHECK_THAT(d.out, Catch::Contains("drops a dead server after 20m"));
  CHECK_THAT(d.out, Catch::Contains("A session survives a connectivity break of up to 18m."));
  CHECK_THAT(d.out, Catch::Contains("never log out a live idle user"));
  auto d96 = ctl({"render", "--explain", "--openssh", "9.6", pr.file("d.yaml")});
  CHECK_THAT(d96.out, Catch::Matches("[\\s\\S]*sshd +ClientAliveInterval +300 [\\s\\S]*"));
  CHECK_THAT(d96.out, Catch::Contains("cuts a dead client after 20m (5m x (3 + 1))"));
  CHECK(ctl({"render", "--openssh", "nine", pr.file("d.yaml")}).exitCode == 2);
}

TEST_CASE("validate --openssh 9.2 on the seed's 298/50: the dead client stays 8h26m36s (k = 2)") {
  PolicyRoot pr;
  writeFile(pr.file("seed.yaml"),
            "version: 1\nserver:\n  client_alive_interval: 298\n  client_alive_count_max: 50\n");
  auto r = ctl({"validate", "--openssh", "9.2", pr.file("seed.yaml")});
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("Judged for OpenSSH 9.2 (--openssh)"));
  CHECK_THAT(r.err, Catch::Contains("keeps a dead client's session for 8h26m36s (8.4 hours) on "
                                    "OpenSSH 9.2 (k = 2: 2 x 4m58s x (50 + 1): sshd 9.2 sends its "
                                    "probe only after 2 x ClientAliveInterval of silence"));
  auto old = ctl({"validate", "--openssh", "8.9", pr.file("seed.yaml")});
  CHECK_THAT(old.err, Catch::Contains("4h13m18s"));
  // Without --openssh: the installed sshd's version, and the output names where it came from.
  auto local = ctl({"validate", pr.file("seed.yaml")});
  CHECK_THAT(local.out, Catch::Contains("Judged for OpenSSH ") && Catch::Contains("-V)"));
  CHECK(ctl({"validate", "--openssh", "", pr.file("seed.yaml")}).exitCode == 2);
}

TEST_CASE("advise: recommends settings for sshd, OpenSSH and PuTTY with reasons") {
  auto r = ctl({"advise", "--idle-timeout", "10m"});
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("ClientAliveInterval = 200"));
  CHECK_THAT(r.out, Catch::Contains("ServerAliveInterval = 300"));
  CHECK_THAT(r.out, Catch::Contains("Seconds between keepalives (0 to turn off) = 300"));
  CHECK_THAT(r.out, Catch::Contains("Enable TCP keepalives"));
  CHECK_THAT(r.out, Catch::Contains("never logs out a live idle user"));
  CHECK_THAT(r.out, Catch::Contains("no dead-server detection"));
  CHECK_THAT(r.out, Catch::Contains("A session survives a connectivity break of up to"));
}

namespace {

nlohmann::json adviseJson(std::vector<std::string> args) {
  args.insert(args.begin(), {"advise", "--json"});
  auto r = ctl(args);
  REQUIRE(r.exitCode == 0);
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST_CASE("advise --json: the exact keys, and the figures for 9.2 and 9.6") {
  const auto j = adviseJson({"--idle-timeout", "5m", "--openssh", "9.2"});
  CHECK(j["openssh"] == "9.2");
  CHECK(j["worst_case"] == false);
  for (const char* key : {"openssh", "server", "client", "putty", "warnings"})
    CHECK(j.contains(key));
  for (const char* key : {"client_alive_interval", "client_alive_count_max", "max_idle_gap_seconds",
                          "dead_client_seconds"})
    CHECK(j["server"].contains(key));
  for (const char* key : {"server_alive_interval", "server_alive_count_max", "dead_server_seconds"})
    CHECK(j["client"].contains(key));
  CHECK(j["server"]["client_alive_interval"] == 100);
  CHECK(j["server"]["client_alive_count_max"] == 3);
  CHECK(j["server"]["max_idle_gap_seconds"] == 200);
  CHECK(j["server"]["dead_client_seconds"] == 800);
  CHECK(j["client"]["server_alive_interval"] == 150);
  CHECK(j["client"]["server_alive_count_max"] == 3);
  CHECK(j["client"]["dead_server_seconds"] == 600);
  CHECK(j["putty"]["seconds_between_keepalives"] == 150);
  CHECK(j["putty"]["detects_dead_server"] == false);
  CHECK(j["break_survived_seconds"] == 480);
  REQUIRE(j["warnings"].is_array());
  bool blindSpot = false;
  for (const auto& w : j["warnings"])
    blindSpot = blindSpot || w["id"] == "busy-blind-spot";
  CHECK(blindSpot);

  const auto j96 = adviseJson({"--idle-timeout", "5m", "--openssh", "9.6"});
  CHECK(j96["openssh"] == "9.6");
  CHECK(j96["server"]["client_alive_interval"] == 150);
  CHECK(j96["server"]["max_idle_gap_seconds"] == 150);
  CHECK(j96["server"]["dead_client_seconds"] == 600);
}

TEST_CASE("advise --baseline stig --idle-timeout 5m satisfies both") {
  for (const char* v : {"8.9", "9.2", "9.6"}) {
    const auto j = adviseJson({"--idle-timeout", "5m", "--baseline", "stig", "--openssh", v});
    INFO(v);
    CHECK(j["server"]["client_alive_count_max"] == 1);
    CHECK(j["server"]["client_alive_interval"].get<int>() <= 600);
    CHECK(j["server"]["client_alive_interval"].get<int>() > 0);
    CHECK(j["server"]["max_idle_gap_seconds"].get<int>() < 300);
  }
  // An outage the STIG's count cannot cover: the baseline wins, and advise says so.
  const auto o = adviseJson({"--idle-timeout", "5m", "--baseline", "stig", "--openssh", "9.2",
                             "--outage-tolerance", "15m"});
  CHECK(o["server"]["client_alive_count_max"] == 1);
  CHECK(o["outage_tolerance_seconds"] == 900);
  bool wins = false;
  for (const auto& w : o["warnings"])
    wins = wins || (w["id"] == "outage-not-covered" &&
                    w["text"].get<std::string>().find("the baseline wins") != std::string::npos);
  CHECK(wins);
  CHECK(ctl({"advise", "--idle-timeout", "5m", "--baseline", "pci"}).exitCode == 2);
  CHECK(ctl({"advise", "--idle-timeout", "5m", "--outage-tolerance", "soon"}).exitCode == 2);
}

TEST_CASE("advise --outage-tolerance derives counts that cover the break") {
  const auto j =
      adviseJson({"--idle-timeout", "5m", "--openssh", "9.2", "--outage-tolerance", "15m"});
  CHECK(j["server"]["client_alive_count_max"] == 5);
  CHECK(j["server"]["break_survived_seconds"].get<int>() >= 900);
  CHECK(j["client"]["break_survived_seconds"].get<int>() >= 900);
  CHECK(j["break_survived_seconds"].get<int>() >= 900);
}

TEST_CASE("an empty --root is refused, never taken for the real /") {
  CHECK(ctl({"validate", "--root", ""}).exitCode == 2);
  CHECK(ctl({"render", "--root", ""}).exitCode == 2);
  CHECK(run({policydPath(), "--root", ""}).exitCode == 2);
}

TEST_CASE("the installed OpenSSH version is read from sshd -V, else ssh -V") {
  using keepalive::io::parseOpensshVersionOutput;
  CHECK(parseOpensshVersionOutput("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026\n") ==
        keepalive::policy::OpensshVersion{9, 2});
  CHECK(parseOpensshVersionOutput("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19\n") ==
        keepalive::policy::OpensshVersion{9, 2});
  // An sshd before 9.2 answers -V with its usage: the version on a later line does not count.
  CHECK_FALSE(parseOpensshVersionOutput("sshd: unknown option -- V\nOpenSSH_8.9p1, OpenSSL\n"));
  const auto ctx = keepalive::io::detectOpensshVersion();
  REQUIRE(ctx.openssh);  // this test host has OpenSSH (the integration tests run sshd)
  CHECK((ctx.source == "sshd -V" || ctx.source == "ssh -V"));
  auto ssh = run({"ssh", "-V"});
  CHECK(keepalive::policy::OpensshVersion::parse(ssh.err) == ctx.openssh);
}
