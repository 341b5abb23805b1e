// SPDX-License-Identifier: GPL-2.0-or-later
// Golden files: tests/data/golden/CASE/{policy.yaml,policy.d/*.yaml,host} render to
// CASE/sshd.conf and CASE/ssh.conf byte for byte. UPDATE_GOLDEN=1 rewrites them after a deliberate
// change; review the diff.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "helpers.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/render.h"
#include "test_files.h"

namespace fs = std::filesystem;
using namespace keepalive::policy;
using keepalive::test::dataDir;
using keepalive::test::readFile;
using keepalive::test::writeFile;

namespace {

std::vector<PolicyFile> policyFiles(const fs::path& dir) {
  std::vector<PolicyFile> files;
  if (fs::exists(dir / "policy.yaml"))
    files.push_back({"policy.yaml", readFile((dir / "policy.yaml").string())});
  std::vector<std::string> frags;
  if (fs::exists(dir / "policy.d"))
    for (const auto& e : fs::directory_iterator(dir / "policy.d"))
      frags.push_back(e.path().filename());
  std::sort(frags.begin(), frags.end());
  for (const auto& f : frags)
    files.push_back({"policy.d/" + f, readFile((dir / "policy.d" / f).string())});
  return files;
}

void compareOrUpdate(const fs::path& file, const std::string& actual) {
  if (std::getenv("UPDATE_GOLDEN")) {
    writeFile(file.string(), actual);
    return;
  }
  INFO("golden file " << file.string());
  REQUIRE(fs::exists(file));
  CHECK(readFile(file.string()) == actual);
}

}  // namespace

TEST_CASE("rendering matches the golden files") {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dataDir() + "/golden")) {
    const fs::path dir = entry.path();
    SECTION(dir.filename().string()) {
      Diagnostics d;
      Policy p = loadPolicy(policyFiles(dir), d);
      INFO(dir.string());
      REQUIRE_FALSE(d.hasErrors());
      std::string host = readFile((dir / "host").string());
      host.erase(host.find_last_not_of("\n") + 1);
      Resolved r = resolve(p, HostIdentity::fromName(host));
      const std::string digest = policyDigest(p);
      compareOrUpdate(dir / "sshd.conf", renderSshd(r, digest));
      compareOrUpdate(dir / "ssh.conf", renderClient(r, digest));
    }
    ++cases;
  }
  CHECK(cases >= 6);
}

TEST_CASE("rendering is deterministic and only emits known keywords") {
  auto l = keepalive::test::load(readFile(dataDir() + "/golden/example-db/policy.yaml"));
  REQUIRE_FALSE(l.diags.hasErrors());
  auto r1 = resolve(l.policy, HostIdentity::fromName("db-1"));
  auto r2 = resolve(l.policy, HostIdentity::fromName("db-1"));
  const auto a = renderSshd(r1, policyDigest(l.policy));
  CHECK(a == renderSshd(r2, policyDigest(l.policy)));
  CHECK_THAT(a, Catch::Contains("ClientAliveInterval 60\nClientAliveCountMax 2\n"));
  CHECK_THAT(a, Catch::Contains("# policy-digest: sha256:"));
  CHECK_THAT(a, Catch::Contains("Do not edit"));
}

TEST_CASE("derived values say so in the drop-in") {
  auto l = keepalive::test::load("version: 1\nnetwork: {idle_timeout: 10m}\n");
  auto r = resolve(l.policy, HostIdentity::fromName("h"));
  const auto s = renderSshd(r, "sha256:x");
  CHECK_THAT(s, Catch::Contains("# ClientAliveInterval: derived from network.idle_timeout 10m / "
                                "3: in the worst case over OpenSSH 7.4 to 10.5 sshd probes after "
                                "2 intervals of silence\nClientAliveInterval 200\n"));
  // For a known version, the drop-in says which.
  auto r96 = resolve(l.policy, HostIdentity::fromName("h"), ModelContext{OpensshVersion{9, 6}, ""});
  CHECK_THAT(renderSshd(r96, "sha256:x"),
             Catch::Contains("# ClientAliveInterval: derived from network.idle_timeout 10m / 2: "
                             "sshd 9.6 probes after one interval\nClientAliveInterval 300\n"));
  const auto c = renderClient(r, "sha256:x");
  CHECK_THAT(c, Catch::Contains("# ServerAliveInterval: derived from network.idle_timeout 10m / "
                                "2\nServerAliveInterval 300\n"));
}

TEST_CASE("explain names the file and line of every value") {
  auto l = keepalive::test::load(readFile(dataDir() + "/golden/example-db/policy.yaml"));
  auto r = resolve(l.policy, HostIdentity::fromName("db-1"));
  auto rows = explain(r);
  auto find = [&rows](const std::string& key) {
    for (const auto& e : rows)
      if (e.keyword == key)
        return e;
    FAIL("no row " << key);
    return Explanation{};
  };
  CHECK(find("ClientAliveInterval").value == "60");
  CHECK(find("ClientAliveInterval").source == "policy.yaml:27:37");
  CHECK(find("TCPKeepAlive").value == "-");
  CHECK(find("reconcile_interval").source == "default");
  CHECK(find("config_mode").value == "0600");
}

TEST_CASE("server.log_level renders LogLevel in the global section only, and nothing when unset") {
  auto l = keepalive::test::load(
      "version: 1\nnetwork: {idle_timeout: 10m}\nserver: {log_level: verbose}\nnetworks:\n"
      "  - name: lan\n    addresses: [10.0.0.0/8]\n    idle_timeout: 1h\n");
  REQUIRE_FALSE(l.diags.hasErrors());
  auto r = resolve(l.policy, HostIdentity::fromName("h"));
  const auto s = renderSshd(r, "sha256:x");
  // Before the first Match: a LogLevel after it would apply to that network's clients only.
  const auto at = s.find("LogLevel VERBOSE\n");
  REQUIRE(at != std::string::npos);
  CHECK(at < s.find("Match Address"));
  CHECK(s.find("LogLevel", at + 1) == std::string::npos);
  // What the daemon compares with sshd -T's "loglevel VERBOSE".
  const auto d = renderedDirectives(r, Side::kSshd);
  CHECK(std::count(d.begin(), d.end(),
                   std::pair<std::string, std::string>{"LogLevel", "VERBOSE"}) == 1);
  CHECK(renderClient(r, "sha256:x").find("LogLevel") == std::string::npos);

  auto info = keepalive::test::load("version: 1\nserver: {log_level: info}\n");
  CHECK_THAT(renderSshd(resolve(info.policy, HostIdentity::fromName("h")), "sha256:x"),
             Catch::Contains("\nLogLevel INFO\n"));
  auto none = keepalive::test::load("version: 1\nnetwork: {idle_timeout: 10m}\n");
  CHECK(
      renderSshd(resolve(none.policy, HostIdentity::fromName("h")), "sha256:x").find("LogLevel") ==
      std::string::npos);
}

TEST_CASE("explain: server.log_level unset says what the baseline wants") {
  auto find = [](const std::vector<Explanation>& rows) {
    for (const auto& e : rows)
      if (e.keyword == "LogLevel")
        return e;
    FAIL("no LogLevel row");
    return Explanation{};
  };
  auto stig = keepalive::test::load("version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m}\n");
  REQUIRE_FALSE(stig.diags.hasErrors());
  const auto e = find(explain(resolve(stig.policy, HostIdentity::fromName("h"))));
  CHECK(e.target == "sshd");
  CHECK(e.value == "-");
  CHECK_THAT(e.source,
             Catch::Contains("not set: sshd's own (INFO); baseline stig requires LogLevel "
                             "VERBOSE (sshd_set_loglevel_verbose"));
  CHECK_THAT(e.source, Catch::EndsWith("write server.log_level: verbose"));
  auto cis = keepalive::test::load("version: 1\nbaseline: cis\nnetwork: {idle_timeout: 5m}\n");
  CHECK(find(explain(resolve(cis.policy, HostIdentity::fromName("h")))).source ==
        "not set: sshd's own (INFO)");
  auto set = keepalive::test::load("version: 1\nserver: {log_level: verbose}\n");
  const auto s = find(explain(resolve(set.policy, HostIdentity::fromName("h"))));
  CHECK(s.value == "VERBOSE");
  CHECK(s.source == "policy.yaml:2:21");
}
