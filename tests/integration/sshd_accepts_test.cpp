// SPDX-License-Identifier: GPL-2.0-or-later
// The real sshd and ssh accept what we render, and show our values as effective.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "keepalive/policy/render.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace keepalive::test;
using namespace keepalive::policy;

namespace {

const char* kSshd = "/usr/sbin/sshd";

struct Rendered {
  std::string sshd, client;
};

Rendered renderFor(const std::string& text, const std::string& host) {
  Diagnostics d;
  Policy p = loadPolicy({{"policy.yaml", text}}, d);
  REQUIRE_FALSE(d.hasErrors());
  Resolved r = resolve(p, HostIdentity::fromName(host));
  return {renderSshd(r, policyDigest(p)), renderClient(r, policyDigest(p))};
}

RunResult sshdT(const SshRoot& s) {
  return run({kSshd, "-T", "-f", s.sshdConfig(), "-C",
              "user=alice,host=client.example.com,addr=192.0.2.10"});
}

}  // namespace

TEST_CASE("sshd -t accepts every golden drop-in and sshd -T shows its values") {
  if (!isRoot()) {
    WARN("sshd -t needs root; skipped");
    return;
  }
  for (const auto& entry : fs::directory_iterator(dataDir() + "/golden")) {
    const auto sshdFile = entry.path() / "sshd.conf";
    if (!fs::exists(sshdFile))
      continue;
    INFO(entry.path().string());
    TempDir tmp;
    SshRoot s = makeSshRoot(tmp.path());
    const std::string dropIn = readFile(sshdFile.string());
    writeFile(s.sshdDropIn(), dropIn);
    auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
    INFO(t.err);
    CHECK(t.exitCode == 0);
    auto dump = sshdT(s);
    REQUIRE(dump.exitCode == 0);
    // The global values: the lines before the first Match block (the networks' values are
    // checked per address in networks_test.cpp).
    for (const auto& [k, v] : parseDump(dropIn.substr(0, dropIn.find("\nMatch ")))) {
      if (k.empty() || k[0] == '#')
        continue;
      std::string lower = k;
      for (auto& c : lower)
        c = static_cast<char>(std::tolower(c));
      CHECK(dumpValue(dump.out, lower) == v);
    }
  }
}

TEST_CASE("sshd -T shows the example policy's per-host values") {
  if (!isRoot()) {
    WARN("sshd -t needs root; skipped");
    return;
  }
  const std::string policy = readFile(dataDir() + "/golden/example-db/policy.yaml");
  for (auto [host, interval, count] :
       {std::tuple{"db-1", "60", "2"}, std::tuple{"web-1", "120", "3"}}) {
    TempDir tmp;
    SshRoot s = makeSshRoot(tmp.path());
    writeFile(s.sshdDropIn(), renderFor(policy, host).sshd);
    auto dump = sshdT(s);
    REQUIRE(dump.exitCode == 0);
    CHECK(dumpValue(dump.out, "clientaliveinterval") == interval);
    CHECK(dumpValue(dump.out, "clientalivecountmax") == count);
  }
}

TEST_CASE("the sshd check can fail: a broken drop-in is rejected by sshd -t") {
  if (!isRoot()) {
    WARN("sshd -t needs root; skipped");
    return;
  }
  TempDir tmp;
  SshRoot s = makeSshRoot(tmp.path());
  writeFile(s.sshdDropIn(), "ClientAliveInterval often\n");
  auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
  CHECK(t.exitCode != 0);
  CHECK_THAT(t.err, Catch::Contains("00-keepalive-policy.conf line 1"));
}

TEST_CASE("ssh -G, run as nobody, shows the client drop-in's values") {
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  SshRoot s{tmp.path()};
  makeDirs(tmp.path() + "/etc/ssh/ssh_config.d");
  writeFile(s.sshConfig(), "Include " + tmp.path() + "/etc/ssh/ssh_config.d/*.conf\n");
  const std::string policy = readFile(dataDir() + "/golden/example-web/policy.yaml");
  writeFile(s.clientDropIn(), renderFor(policy, "web-1").client);
  auto client = run(asNobody({"ssh", "-G", "-F", s.sshConfig(), "server.example.com"}));
  INFO(client.err);
  REQUIRE(client.exitCode == 0);
  CHECK(dumpValue(client.out, "serveraliveinterval") == "240");
  CHECK(dumpValue(client.out, "serveralivecountmax") == "3");
}

TEST_CASE("a tcp_keepalive: false policy turns TCPKeepAlive off in sshd and ssh") {
  const auto r = renderFor(
      "version: 1\nserver: {tcp_keepalive: false}\nclient: {tcp_keepalive: false}\n", "h");
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  SshRoot s{tmp.path()};
  makeDirs(tmp.path() + "/etc/ssh/ssh_config.d");
  writeFile(s.sshConfig(), "Include " + tmp.path() + "/etc/ssh/ssh_config.d/*.conf\n");
  writeFile(s.clientDropIn(), r.client);
  auto client = run(asNobody({"ssh", "-G", "-F", s.sshConfig(), "x"}));
  REQUIRE(client.exitCode == 0);
  CHECK(dumpValue(client.out, "tcpkeepalive") == "no");
  if (!isRoot())
    return;
  TempDir tmp2;
  SshRoot s2 = makeSshRoot(tmp2.path());
  writeFile(s2.sshdDropIn(), r.sshd);
  auto dump = sshdT(s2);
  REQUIRE(dump.exitCode == 0);
  CHECK(dumpValue(dump.out, "tcpkeepalive") == "no");
}

TEST_CASE("server.log_level: sshd -t accepts LogLevel and sshd -T serves loglevel VERBOSE") {
  if (!isRoot()) {
    WARN("sshd -t needs root; skipped");
    return;
  }
  auto served = [](const std::string& policy, const std::string& extraSshdConfig) {
    TempDir tmp;
    SshRoot s = makeSshRoot(tmp.path(), extraSshdConfig);
    writeFile(s.sshdDropIn(), renderFor(policy, "h").sshd);
    auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
    INFO(t.err);
    CHECK(t.exitCode == 0);
    auto dump = sshdT(s);
    REQUIRE(dump.exitCode == 0);
    // sshd -T prints the level in upper case, as the drop-in writes it.
    CHECK_THAT(dump.out, Catch::Contains("\nloglevel "));
    return dumpValue(dump.out, "loglevel");
  };
  const std::string verbose = "version: 1\nserver: {log_level: verbose}\n";
  CHECK(served(verbose, "") == "VERBOSE");
  CHECK(served("version: 1\nserver: {log_level: info}\n", "") == "INFO");
  // Unset: nothing rendered, sshd's own default.
  CHECK(served("version: 1\nnetwork: {idle_timeout: 10m}\n", "") == "INFO");
  // The drop-in is read through the Include at the top of sshd_config: its LogLevel wins over
  // one that sshd_config sets after it (sshd keeps the first value).
  CHECK(served(verbose, "LogLevel INFO\n") == "VERBOSE");
  // sshd 9.2 accepts LogLevel inside Match (SSHCFG_ALL since 7.6) and serves it for the
  // connections that match: why the policy keeps it global, judged from one level.
  TempDir tmp;
  SshRoot s = makeSshRoot(tmp.path());
  writeFile(s.sshdDropIn(), renderFor(verbose, "h").sshd);
  writeFile(s.sshdConfig(),
            readFile(s.sshdConfig()) + "Match Address 192.0.2.0/24\n  LogLevel ERROR\n");
  auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
  INFO(t.err);
  CHECK(t.exitCode == 0);
  auto dump = sshdT(s);  // -C addr=192.0.2.10
  REQUIRE(dump.exitCode == 0);
  CHECK(dumpValue(dump.out, "loglevel") == "ERROR");
}
