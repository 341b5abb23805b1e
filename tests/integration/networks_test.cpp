// SPDX-License-Identifier: GPL-2.0-or-later
// Per-network policy, proven by the real sshd and ssh: a policy with a v4 and a v6 network, each
// with addresses and destinations and its own idle timeout, rendered into a test root laid out as
// Debian's (the drop-in directories Included at the top of sshd_config and ssh_config, more lines
// after the Include). `sshd -T -C addr=...` for a sample address of each network and one outside,
// and `ssh -G NAME` for a sample name of each and one outside, show each its own values.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cctype>

#include "keepalive/policy/networks.h"
#include "keepalive/policy/render.h"
#include "test_support.h"

using namespace keepalive::test;
using namespace keepalive::policy;

namespace {

const char* kSshd = "/usr/sbin/sshd";

// Different idle timeouts, so different derived intervals; branch's counts set explicitly.
const char* kPolicy = R"(version: 1
network: {idle_timeout: 1h}
networks:
  - name: branch-v4
    addresses: ["10.20.0.0/16", "192.0.2.128/25"]
    destinations: ["*.branch.example.com", "!skip.branch.example.com"]
    idle_timeout: 5m
    client_alive_count_max: 2
    server_alive_count_max: 4
  - name: dc-v6
    addresses: ["2001:db8:20::/48"]
    destinations: ["*.dc.example.com", "db-??.example.org"]
    idle_timeout: 20m
)";

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

using Directives = std::vector<std::pair<std::string, std::string>>;

void expectValues(const std::string& dump, const Directives& want, const std::string& what) {
  INFO(what << "\n" << dump);
  REQUIRE_FALSE(want.empty());
  for (const auto& [k, v] : want)
    CHECK(dumpValue(dump, lower(k)) == v);
}

}  // namespace

TEST_CASE("networks: sshd -T and ssh -G give each network its own values and others the global") {
  Diagnostics d;
  Policy p = loadPolicy({{"policy.yaml", kPolicy}}, d);
  REQUIRE_FALSE(d.hasErrors());
  const Resolved r = resolve(p, HostIdentity::fromName("server-1"));
  REQUIRE(r.networks.size() == 2);
  const std::string digest = policyDigest(p);
  // The networks differ from each other and from the global values, so a value in the wrong
  // place cannot pass for the right one.
  const auto global = renderedDirectives(r, Side::kSshd);
  const auto v4 = renderedDirectives(r.networks[0], Side::kSshd);
  const auto v6 = renderedDirectives(r.networks[1], Side::kSshd);
  CHECK(global != v4);
  CHECK(global != v6);
  CHECK(v4 != v6);

  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  SshRoot s = makeSshRoot(tmp.path(), "X11Forwarding yes\n");

  SECTION("sshd") {
    if (!isRoot()) {
      WARN("sshd -t needs root; skipped");
      return;
    }
    writeFile(s.sshdDropIn(), renderSshd(r, digest));
    // sshd_config goes on after the Include with HostKey and PidFile, which sshd refuses inside a
    // Match block: sshd -t passing shows that our Match blocks end with our file.
    auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
    INFO(t.err);
    REQUIRE(t.exitCode == 0);
    auto sshdT = [&](const std::string& addr, bool ipv6) {
      const std::string spec = "addr=" + addr + ",user=alice,host=client.example.com,laddr=" +
                               (ipv6 ? "2001:db8:ffff::1" : "198.51.100.1") + ",lport=22";
      auto out = run({kSshd, "-T", "-f", s.sshdConfig(), "-C", spec});
      INFO(spec << "\n" << out.err);
      REQUIRE(out.exitCode == 0);
      CHECK(dumpValue(out.out, "x11forwarding") == "yes");
      return out.out;
    };
    const auto a4 = sampleAddress(r, r.networks[0]);
    const auto a6 = sampleAddress(r, r.networks[1]);
    REQUIRE(a4);
    REQUIRE(a6);
    CHECK(*a4 == "10.20.0.1");
    CHECK(*a6 == "2001:db8:20::1");
    expectValues(sshdT(*a4, false), v4, "branch-v4 at " + *a4);
    expectValues(sshdT(*a6, true), v6, "dc-v6 at " + *a6);
    // The second address entry of branch-v4 gets its values too.
    expectValues(sshdT("192.0.2.200", false), v4, "branch-v4 at 192.0.2.200");
    const std::string out4 = outsideAddress(r, false), out6 = outsideAddress(r, true);
    CHECK(out4 == "192.0.2.1");  // outside 192.0.2.128/25
    expectValues(sshdT(out4, false), global, "outside at " + out4);
    expectValues(sshdT(out6, true), global, "outside at " + out6);
  }

  SECTION("ssh") {
    // As Debian's ssh_config: the Include at the top, then Host * with more settings.
    writeFile(s.sshConfig(), "Include " + tmp.path() +
                                 "/etc/ssh/ssh_config.d/*.conf\nHost *\n    HashKnownHosts yes\n");
    writeFile(s.clientDropIn(), renderClient(r, digest));
    auto sshG = [&](const std::string& name) {
      auto out = run(asNobody({"ssh", "-G", "-F", s.sshConfig(), name}));
      INFO(name << "\n" << out.err);
      REQUIRE(out.exitCode == 0);
      CHECK(dumpValue(out.out, "hashknownhosts") == "yes");
      return out.out;
    };
    const auto n4 = sampleDestination(r, r.networks[0]);
    const auto n6 = sampleDestination(r, r.networks[1]);
    REQUIRE(n4);
    REQUIRE(n6);
    CHECK(*n4 == "kp-probe.branch.example.com");
    expectValues(sshG(*n4), renderedDirectives(r.networks[0], Side::kSsh), *n4);
    expectValues(sshG(*n6), renderedDirectives(r.networks[1], Side::kSsh), *n6);
    expectValues(sshG("db-42.example.org"), renderedDirectives(r.networks[1], Side::kSsh),
                 "db-42.example.org");
    const auto globalSsh = renderedDirectives(r, Side::kSsh);
    // Excluded by '!': the global values, as for a name outside every network.
    expectValues(sshG("skip.branch.example.com"), globalSsh, "skip.branch.example.com");
    const std::string outside = outsideDestination(r);
    CHECK(outside == "keepalive-policy.invalid");
    expectValues(sshG(outside), globalSsh, outside);
  }
}

TEST_CASE("networks: every probe of proofProbes passes with the real sshd and ssh") {
  Diagnostics d;
  Policy p = loadPolicy({{"policy.yaml", kPolicy}}, d);
  REQUIRE_FALSE(d.hasErrors());
  const Resolved r = resolve(p, HostIdentity::fromName("server-1"));
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  SshRoot s = makeSshRoot(tmp.path());
  writeFile(s.sshdDropIn(), renderSshd(r, policyDigest(p)));
  writeFile(s.clientDropIn(), renderClient(r, policyDigest(p)));
  const auto probes = proofProbes(r);
  CHECK(probes.size() == 7);  // 2 networks and 2 outside addresses, 2 networks and 1 outside name
  for (const auto& probe : probes) {
    if (probe.side == Side::kSshd && !isRoot())
      continue;
    const bool v6 = probe.target.find(':') != std::string::npos;
    auto out = probe.side == Side::kSshd
                   ? run({kSshd, "-T", "-f", s.sshdConfig(), "-C",
                          "addr=" + probe.target + ",user=alice,host=client.example.com,laddr=" +
                              (v6 ? "::1" : "127.0.0.1") + ",lport=22"})
                   : run(asNobody({"ssh", "-G", "-F", s.sshConfig(), probe.target}));
    INFO(out.err);
    REQUIRE(out.exitCode == 0);
    expectValues(out.out, probe.expect,
                 std::string(toString(probe.side)) + " " + probe.network + " " + probe.target);
  }
}

TEST_CASE("networks: the order facts the renderer relies on hold for the installed OpenSSH") {
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  SshRoot s = makeSshRoot(tmp.path());
  SECTION("ssh keeps the first value: a Host block after the global value never wins") {
    writeFile(s.clientDropIn(),
              "ServerAliveInterval 100\nHost *.branch.example.com\n  ServerAliveInterval 40\n");
    writeFile(s.sshConfig(),
              "Include " + tmp.path() + "/etc/ssh/ssh_config.d/*.conf\nServerAliveCountMax 7\n");
    auto out = run(asNobody({"ssh", "-G", "-F", s.sshConfig(), "a.branch.example.com"}));
    REQUIRE(out.exitCode == 0);
    CHECK(dumpValue(out.out, "serveraliveinterval") == "100");
    // ... and the Host state of the included file does not reach the including one.
    auto other = run(asNobody({"ssh", "-G", "-F", s.sshConfig(), "other.example.com"}));
    REQUIRE(other.exitCode == 0);
    CHECK(dumpValue(other.out, "serveralivecountmax") == "7");
  }
  SECTION("sshd takes each keyword from the first matching Match block that sets it") {
    if (!isRoot()) {
      WARN("sshd -T needs root; skipped");
      return;
    }
    writeFile(s.sshdDropIn(),
              "ClientAliveInterval 100\nMatch Address 10.20.0.0/16\n  ClientAliveInterval 50\n"
              "Match Address 10.0.0.0/8\n  ClientAliveInterval 70\n  ClientAliveCountMax 9\n");
    auto out = run({kSshd, "-T", "-f", s.sshdConfig(), "-C",
                    "addr=10.20.1.1,user=u,host=h,laddr=127.0.0.1,lport=22"});
    REQUIRE(out.exitCode == 0);
    CHECK(dumpValue(out.out, "clientaliveinterval") == "50");
    // A keyword the first block leaves unset comes from a later one: a network's block sets
    // every keepalive keyword that the network or the host sets, and validation warns about
    // overlapping networks.
    CHECK(dumpValue(out.out, "clientalivecountmax") == "9");
    // sshd refuses TCPKeepAlive inside Match: network blocks leave it out.
    writeFile(s.sshdDropIn(), "Match Address 10.20.0.0/16\n  TCPKeepAlive no\n");
    auto t = run({kSshd, "-t", "-f", s.sshdConfig()});
    CHECK(t.exitCode != 0);
    CHECK_THAT(t.err, Catch::Contains("not allowed within a Match block"));
    // Host bits set: refused by sshd, as validCidr refuses them.
    writeFile(s.sshdDropIn(), "Match Address 10.20.1.0/16\n  ClientAliveInterval 5\n");
    CHECK(run({kSshd, "-t", "-f", s.sshdConfig()}).exitCode != 0);
    CHECK_FALSE(validCidr("10.20.1.0/16", nullptr));
  }
}
