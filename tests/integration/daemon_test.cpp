// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd on a test root with the real sshd -t / sshd -T and ssh -G, real inotify and
// real signals. Reloads are off here (--unit none); tests/system proves them against systemd.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "keepalive/policy/model.h"
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
  TempDir dir{"keepalive-daemon"};
  SshRoot ssh;
  explicit Root(const std::string& policy = kPolicyA) { ssh = makeDaemonRoot(dir.path(), policy); }
  std::string policy() const { return dir / "etc/keepalive-policy/policy.yaml"; }
  std::string sshdDropIn() const { return ssh.sshdDropIn(); }
  std::string clientDropIn() const { return ssh.clientDropIn(); }
  std::string read(const std::string& p) const {
    try {
      return readFile(p);
    } catch (...) {
      return "<absent>";
    }
  }
  bool has(const std::string& p, const std::string& text) const {
    return read(p).find(text) != std::string::npos;
  }
};

std::string sshdT(const Root& r) {
  auto dump = run(
      {"/usr/sbin/sshd", "-T", "-f", r.ssh.sshdConfig(), "-C", "user=root,host=x,addr=192.0.2.1"});
  return dump.out;
}

}  // namespace

TEST_CASE("daemon: the first apply installs both drop-ins that sshd and ssh accept") {
  if (!isRoot()) {
    WARN("needs root for sshd -t; skipped");
    return;
  }
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  CHECK(r.has(r.sshdDropIn(), "ClientAliveInterval 120\nClientAliveCountMax 3\n"));
  CHECK(r.has(r.clientDropIn(), "ServerAliveInterval 240\n"));
  struct stat st {};
  REQUIRE(::stat(r.sshdDropIn().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  REQUIRE(::stat(r.clientDropIn().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_uid == 0);
  CHECK(run({"/usr/sbin/sshd", "-t", "-f", r.ssh.sshdConfig()}).exitCode == 0);
  CHECK(dumpValue(sshdT(r), "clientaliveinterval") == "120");
  CHECK_THAT(d.log(),
             Catch::Contains("effective sshd: clientaliveinterval=120 (" + r.sshdDropIn() + ":5)"));
  CHECK(fs::exists(r.dir / "var/lib/keepalive-policy/last-good/sshd.absent"));
  CHECK(d.stop() == 0);
}

TEST_CASE("daemon: a restart with an unchanged policy writes nothing") {
  if (!isRoot())
    return;
  Root r;
  {
    DaemonProcess d(r.dir.path());
    REQUIRE(d.waitForLog("state ok:"));
  }
  struct stat before {};
  ::stat(r.sshdDropIn().c_str(), &before);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  CHECK(d.countInLog("wrote ") == 0);
  CHECK_THAT(d.log(), Catch::Contains("(start): unchanged"));
  struct stat after {};
  ::stat(r.sshdDropIn().c_str(), &after);
  CHECK(before.st_ino == after.st_ino);
  CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
}

TEST_CASE("daemon: a policy replaced by rename is applied, and so is a new fragment") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  replaceByRename(r.policy(), kPolicyB);
  CHECK(waitFor([&] { return r.has(r.sshdDropIn(), "ClientAliveInterval 60\n"); }));
  CHECK(d.waitForLog("(policy changed): applied"));
  CHECK(dumpValue(sshdT(r), "clientalivecountmax") == "2");
  replaceByRename(r.dir / "etc/keepalive-policy/policy.d/50-client.yaml",
                  "version: 1\nclient: {server_alive_interval: 1m}\n");
  CHECK(waitFor([&] { return r.has(r.clientDropIn(), "ServerAliveInterval 60\n"); }));
}

TEST_CASE("daemon: an edited or deleted drop-in is restored") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string good = r.read(r.sshdDropIn());
  writeFile(r.sshdDropIn(), "ClientAliveInterval 0\n", 0600);
  CHECK(waitFor([&] { return r.read(r.sshdDropIn()) == good; }));
  CHECK(d.waitForLog("drop-ins restored", 1));
  const std::string client = r.read(r.clientDropIn());
  ::unlink(r.clientDropIn().c_str());
  CHECK(waitFor([&] { return r.read(r.clientDropIn()) == client; }));
  CHECK(d.waitForLog("drop-ins restored", 2));
  // sed -i style: a new file renamed over ours.
  replaceByRename(r.sshdDropIn(), "ClientAliveInterval 5\n");
  CHECK(waitFor([&] { return r.read(r.sshdDropIn()) == good; }));
  CHECK(d.waitForLog("drift repairs 3"));
}

TEST_CASE("daemon: our own writes cause no restore loop") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  replaceByRename(r.policy(), kPolicyB);
  REQUIRE(d.waitForLog("(policy changed): applied"));
  // Our write's inotify events were seen and found nothing to do. Another policy change later
  // proves the loop is alive and that nothing was restored in between.
  replaceByRename(r.policy(), kPolicyA);
  REQUIRE(d.waitForLog("(policy changed): applied", 2));
  CHECK(d.countInLog("drop-ins restored") == 0);
  CHECK(d.countInLog("wrote ") == 6);
}

TEST_CASE("daemon: a drop-in that shadows ours is reported with file and line") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string shadow = r.dir / "etc/ssh/sshd_config.d/00-aaa.conf";
  writeFile(shadow, "# another admin's file\nClientAliveInterval 0\n");
  CHECK(d.waitForLog("state shadowed: \"" + shadow +
                     "\":2 sets ClientAliveInterval 0 before our drop-in is read"));
  ::unlink(shadow.c_str());
  CHECK(d.waitForLog("no file shadows the policy any more"));
  CHECK(d.waitForLog("state ok:", 2));
}

TEST_CASE("daemon: a line before the Include in sshd_config shadows too") {
  if (!isRoot())
    return;
  Root r;
  const std::string main = r.ssh.sshdConfig();
  writeFile(main, "ClientAliveCountMax 9\n" + readFile(main));
  DaemonProcess d(r.dir.path());
  CHECK(d.waitForLog("state shadowed: \"" + main + "\":1 sets ClientAliveCountMax 9"));
}

TEST_CASE("daemon: sshd_config without the Include is reported, and fixed when the policy asks") {
  if (!isRoot())
    return;
  Root r;
  const std::string main = r.ssh.sshdConfig();
  std::string text = readFile(main);
  text.erase(0, text.find('\n', text.find("Include")) + 1);
  writeFile(main, text);
  {
    DaemonProcess d(r.dir.path());
    CHECK(d.waitForLog("does not include our sshd drop-in"));
    CHECK(readFile(main) == text);
  }
  writeFile(r.policy(), "version: 1\nserver: {client_alive_interval: 2m, ensure_include: true}\n");
  DaemonProcess d(r.dir.path());
  CHECK(d.waitForLog("added an Include of the drop-in directory"));
  CHECK(d.waitForLog("state ok:"));
  CHECK_THAT(readFile(main), Catch::StartsWith("# Added by keepalive-policyd"));
  CHECK(dumpValue(sshdT(r), "clientaliveinterval") == "120");
}

TEST_CASE("daemon: an invalid policy changes nothing and says where the problem is") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string before = r.read(r.sshdDropIn());
  replaceByRename(r.policy(),
                  "version: 1\nserver: {client_alive_interval: 5m}\nnetwork: {idle_timeout: 5m}\n");
  CHECK(d.waitForLog("state policy-invalid:"));
  CHECK_THAT(
      d.log(),
      Catch::Contains(r.policy() + ":2:33: error: server.client_alive_interval 5m is not below"));
  CHECK_THAT(d.log(), Catch::Contains("the last good policy stays in force"));
  CHECK(r.read(r.sshdDropIn()) == before);
  CHECK(d.countInLog("wrote ") == 2);
}

TEST_CASE("daemon: another admin's broken drop-in blocks our change and is never papered over") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string before = r.read(r.sshdDropIn());
  writeFile(r.dir / "etc/ssh/sshd_config.d/50-broken.conf", "NoSuchOption yes\n");
  replaceByRename(r.policy(), kPolicyB);
  CHECK(d.waitForLog("state sshd-config-broken:"));
  CHECK_THAT(d.log(), Catch::Contains("without our change too"));
  CHECK_THAT(d.log(), Catch::Contains("installs nothing and does not reload sshd"));
  CHECK_THAT(d.log(), Catch::Contains("50-broken.conf"));
  // sshd ends its messages with "\r\n": none of it reaches the state reason or the log.
  CHECK(d.log().find('\r') == std::string::npos);
  CHECK(r.read(r.sshdDropIn()) == before);
  // The admin fixes their file: the next change goes through.
  ::unlink((r.dir / "etc/ssh/sshd_config.d/50-broken.conf").c_str());
  replaceByRename(r.policy(), std::string(kPolicyB) + "\n");
  CHECK(waitFor([&] { return r.has(r.sshdDropIn(), "ClientAliveInterval 60\n"); }));
}

TEST_CASE("daemon: SIGHUP re-reads the policy, SIGTERM exits 0 promptly") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  ::kill(d.pid(), SIGHUP);
  CHECK(d.waitForLog("(SIGHUP): unchanged"));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(d.stop(std::chrono::seconds(2)) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("daemon: a symlink planted as our drop-in is replaced, its target untouched") {
  if (!isRoot())
    return;
  Root r;
  const std::string victim = r.dir / "victim";
  writeFile(victim, "precious\n", 0640);
  ::symlink(victim.c_str(), r.sshdDropIn().c_str());
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  struct stat st {};
  REQUIRE(::lstat(r.sshdDropIn().c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(readFile(victim) == "precious\n");
  REQUIRE(::stat(victim.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK_THAT(d.log(), Catch::Contains("it is a symlink; replacing it"));
}

TEST_CASE("daemon: a policy directory created after start is picked up") {
  if (!isRoot())
    return;
  Root r;
  fs::remove_all(r.dir / "etc/keepalive-policy");
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state policy-invalid:"));
  CHECK_THAT(d.log(), Catch::Contains("no policy"));
  CHECK_FALSE(fs::exists(r.sshdDropIn()));
  makeDirs(r.dir / "etc/keepalive-policy");
  replaceByRename(r.policy(), kPolicyA);
  CHECK(d.waitForLog("state ok:"));
  CHECK(r.has(r.sshdDropIn(), "ClientAliveInterval 120\n"));
}

TEST_CASE("daemon: bad options are usage errors") {
  CHECK(run({policydPath(), "--bogus"}).exitCode == 2);
  CHECK(run({policydPath(), "--root"}).exitCode == 2);
  CHECK(run({policydPath(), "--root", "relative"}).exitCode == 2);
  CHECK(run({policydPath(), "--log-level", "loud"}).exitCode == 2);
  CHECK_THAT(run({policydPath(), "--help"}).out, Catch::Contains("--unit NAME"));
}

TEST_CASE("daemon: owner and mode drift of a drop-in is repaired") {
  if (!isRoot())
    return;
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  ::chmod(r.sshdDropIn().c_str(), 0666);
  struct stat st {};
  CHECK(waitFor(
      [&] { return ::stat(r.sshdDropIn().c_str(), &st) == 0 && (st.st_mode & 07777) == 0600; }));
  CHECK(d.waitForLog("has mode 0666 and owner 0:0, not 0600 root:root"));
  ::chown(r.clientDropIn().c_str(), 65534, 65534);
  CHECK(waitFor([&] { return ::stat(r.clientDropIn().c_str(), &st) == 0 && st.st_uid == 0; }));
}

TEST_CASE("daemon: fleet-wide warnings are logged once") {
  if (!isRoot())
    return;
  Root r("version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 1}\n");
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  CHECK(d.countInLog("flaky link") == 1);
}

// The states as statements of evidence (reloads are off here: tests/system/truth_test.sh covers
// the unit's side under a real systemd).
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

// Issue 16: the version every figure holds for is the installed sshd's, read once.
TEST_CASE("daemon: the installed sshd's version is read once, before the first apply") {
  if (!isRoot())
    return;
  const auto direct = run({"/usr/sbin/sshd", "-V"});
  const auto expected = keepalive::policy::OpensshVersion::parse(direct.err + direct.out);
  REQUIRE(expected);
  Root r;
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  const std::string line = "OpenSSH " + expected->str() + " (sshd -V: OpenSSH_";
  CHECK(d.countInLog(line) == 1);
  // Before the policy was loaded: the first apply's figures are for it.
  const std::string log = d.log();
  CHECK(log.find(line) < log.find("wrote "));
  ::kill(d.pid(), SIGHUP);
  REQUIRE(d.waitForLog("(SIGHUP): unchanged"));
  CHECK(d.countInLog(line) == 1);
  CHECK(d.countInLog("cannot learn the installed OpenSSH's version") == 0);
  CHECK(d.stop() == 0);
}
