// The states as statements of evidence, with the real sshd -t / sshd -T and ssh -G on a test root
// (reloads are off here: --unit none; tests/system/truth_test.sh covers the unit's side under a
// real systemd): another writer's broken tree and its repair, an ineffective line after our
// drop-in, and the last good policy across a restart with an invalid policy.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "test_files.h"
#include "test_support.h"

using namespace keepalive::test;
namespace fs = std::filesystem;

namespace {

const char* kPolicyA =
    "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
    "client: {server_alive_interval: 4m}\n";
const char* kPolicyB =
    "version: 1\nserver: {client_alive_interval: 1m, client_alive_count_max: 2}\n"
    "client: {server_alive_interval: 4m}\n";

struct Root {
  TempDir dir{"keepalive-evidence"};
  SshRoot ssh;
  Root() { ssh = makeDaemonRoot(dir.path(), kPolicyA); }
  std::string policy() const { return dir / "etc/keepalive-policy/policy.yaml"; }
  std::string read(const std::string& p) const {
    try {
      return readFile(p);
    } catch (...) {
      return "<absent>";
    }
  }
};

}  // namespace

TEST_CASE("evidence: another writer's broken tree holds a push back, and its repair lets it in") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string before = r.read(r.ssh.sshdDropIn());
  const std::string broken = r.dir / "etc/ssh/sshd_config.d/50-broken.conf";
  // Seen through the include tree's watch, without any push: sshd -t names the file and line.
  writeFile(broken, "\nNoSuchOption yes\n");
  REQUIRE(d.waitForLog("state sshd-config-broken:"));
  CHECK_THAT(d.log(), Catch::Contains(broken + ": line 2: Bad configuration option: NoSuchOption"));
  CHECK(d.countInLog("wrote ") == 2);
  // A push meanwhile: nothing is written, not even for a moment.
  replaceByRename(r.policy(), kPolicyB);
  REQUIRE(d.waitForLog(") waits: sshd -t rejects the sshd configuration"));
  CHECK(r.read(r.ssh.sshdDropIn()) == before);
  CHECK(d.countInLog("wrote ") == 2);
  // Fixed by its writer: ok by itself, and the held-back policy goes in.
  fs::remove(broken);
  REQUIRE(d.waitForLog("sshd -t accepts the sshd configuration again"));
  REQUIRE(waitFor([&] {
    return r.read(r.ssh.sshdDropIn()).find("ClientAliveInterval 60\n") != std::string::npos;
  }));
  REQUIRE(d.waitForLog("state ok:", 2));
  CHECK(d.stop() == 0);
}

TEST_CASE("evidence: a line after our drop-in is reported as ineffective, the state stays ok") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  // An admin "fixes" the keepalive at the end of sshd_config, after the Include: sshd keeps the
  // first value it reads, ours.
  const std::string main = r.ssh.sshdConfig();
  writeFile(main, r.read(main) + "ClientAliveInterval 33\n");
  const std::string text = r.read(main);
  const int line = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  const bool seen = d.waitForLog("\"" + main + "\":" + std::to_string(line) +
                                 " sets ClientAliveInterval 33 after our drop-in");
  INFO(d.log());
  REQUIRE(seen);
  CHECK_THAT(d.log(), Catch::Contains("so this line has no effect (ours, 120, is in force)"));
  CHECK(d.countInLog("state shadowed") == 0);
  CHECK(d.stop() == 0);
}

TEST_CASE("evidence: a restart with an invalid policy keeps the last good one and its drop-ins") {
  if (!isRoot())
    return;
  Root r;
  std::string digest;
  {
    DaemonProcess d(r.dir.path());
    REQUIRE(d.waitForLog("state ok:"));
    const std::string log = d.log();
    const auto at = log.find("policy sha256:");
    REQUIRE(at != std::string::npos);
    digest = log.substr(at + 7, 71);
    CHECK(d.stop() == 0);
  }
  const std::string record = r.dir / "var/lib/keepalive-policy/last-good-policy.json";
  REQUIRE(fs::exists(record));
  CHECK((fs::status(record).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  const std::string sshdBefore = r.read(r.ssh.sshdDropIn());
  const std::string clientBefore = r.read(r.ssh.clientDropIn());
  writeFile(r.policy(), "version: 1\nserver: {client_alive_interval: soon}\n", 0644);
  {
    DaemonProcess d(r.dir.path());
    REQUIRE(d.waitForLog("state policy-invalid:"));
    CHECK_THAT(d.log(), Catch::Contains("the last good policy " + digest + " stays in force"));
    CHECK(d.countInLog("wrote ") == 0);
    CHECK(r.read(r.ssh.sshdDropIn()) == sshdBefore);
    CHECK(r.read(r.ssh.clientDropIn()) == clientBefore);
    // The values in force are still checked against sshd -T.
    CHECK_THAT(d.log(), Catch::Contains("effective sshd: clientaliveinterval=120"));
    CHECK(d.stop() == 0);
  }
  // A corrupt record: set aside with a warning, never fatal.
  writeFile(record, "{ not json", 0600);
  writeFile(r.policy(), kPolicyA, 0644);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  CHECK_THAT(d.log(), Catch::Contains("cannot be read"));
  CHECK(fs::exists(record + ".corrupt"));
  CHECK(fs::exists(record));  // written again by the valid policy
  CHECK(d.stop() == 0);
}
