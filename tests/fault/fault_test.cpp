// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd's write path under faults, on a test root with the real sshd -t and ssh -G:
// EIO from fsync and ENOSPC from write (through the LD_PRELOAD shim fault_shim.c), a real full
// tmpfs, kill -9 between the steps of the atomic write, and a symlink or a FIFO put in place of a
// drop-in. Whatever happens, each drop-in must afterwards be the old file or the new one, never
// empty or partial, and no temporary file may stay behind.
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "test_support.h"

using namespace keepalive::test;

namespace {

const char* kPolicyA =
    "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
    "client: {server_alive_interval: 4m}\n";
const char* kPolicyB =
    "version: 1\nserver: {client_alive_interval: 1m, client_alive_count_max: 2}\n"
    "client: {server_alive_interval: 1m}\n";
const char* kSshdA = "ClientAliveInterval 120\nClientAliveCountMax 3\n";
const char* kClientA = "ServerAliveInterval 240\n";
const char* kSshdB = "ClientAliveInterval 60\nClientAliveCountMax 2\n";
const char* kClientB = "ServerAliveInterval 60\n";
const std::string kName = "00-keepalive-policy.conf";

// The file's bytes when it is a regular file (never opens a FIFO or follows a symlink);
// nullopt otherwise.
std::optional<std::string> regularFile(const std::string& path) {
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode))
    return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

mode_t modeOf(const std::string& path) {
  struct stat sb {};
  return ::lstat(path.c_str(), &sb) == 0 ? sb.st_mode : 0;
}

bool contains(const std::optional<std::string>& text, const std::string& what) {
  return text && text->find(what) != std::string::npos;
}

struct Root {
  TempDir dir{"keepalive-fault"};
  SshRoot ssh;
  Root() { ssh = makeDaemonRoot(dir.path(), kPolicyA); }
  const std::string& path() const { return dir.path(); }
  std::string policy() const { return dir / "etc/keepalive-policy/policy.yaml"; }
  std::string sshdDir() const { return dir / "etc/ssh/sshd_config.d"; }
  std::string clientDir() const { return dir / "etc/ssh/ssh_config.d"; }
  std::string sshdDropIn() const { return ssh.sshdDropIn(); }
  std::string clientDropIn() const { return ssh.clientDropIn(); }
  std::optional<std::string> sshd() const { return regularFile(sshdDropIn()); }
  std::optional<std::string> client() const { return regularFile(clientDropIn()); }
  // Leftovers of an interrupted write: ".00-keepalive-policy.conf.XXXXXXXX" in either directory.
  std::vector<std::string> temps() const {
    std::vector<std::string> out;
    const std::string prefix = "." + kName + ".";
    for (const auto& d : {sshdDir(), clientDir()}) {
      DIR* dh = ::opendir(d.c_str());
      if (!dh)
        continue;
      while (dirent* e = ::readdir(dh))
        if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0)
          out.push_back(d + "/" + e->d_name);
      ::closedir(dh);
    }
    return out;
  }
  bool holdsB() const { return contains(sshd(), kSshdB) && contains(client(), kClientB); }
};

// The drop-ins as the first apply (policy A) left them.
struct Installed {
  std::string sshd;
  std::string client;
};

// Waits for text in the daemon's log; on failure, shows the whole log.
void requireLog(const DaemonProcess& d, const std::string& text, int count = 1) {
  const bool found = d.waitForLog(text, count);
  INFO("waiting for \"" << text << "\"; the daemon's log:\n" << d.log());
  REQUIRE(found);
}

// Polls cond (with a deadline); on failure, shows the daemon's log.
void requireSoon(const DaemonProcess& d, const std::function<bool()>& cond,
                 const std::string& what) {
  const bool held = waitFor(cond);
  INFO("waiting until " << what << "; the daemon's log:\n" << d.log());
  REQUIRE(held);
}

Installed waitForPolicyA(const DaemonProcess& d, const Root& r) {
  requireLog(d, "state ok:");
  INFO("the daemon's log:\n" << d.log());
  // Both written once: the shim's countdown (KEEPALIVE_FAULT_AFTER) relies on it.
  REQUIRE(d.countInLog("wrote \"") == 2);
  Installed a{r.sshd().value_or("<not a regular file>"),
              r.client().value_or("<not a regular file>")};
  REQUIRE(contains(a.sshd, kSshdA));
  REQUIRE(contains(a.client, kClientA));
  REQUIRE(r.temps().empty());
  return a;
}

std::vector<std::string> withShim(std::vector<std::string> faults) {
  faults.insert(faults.begin(), std::string("LD_PRELOAD=") + FAULT_SHIM_PATH);
  return faults;
}

// After a failed apply of policy B: the last good drop-ins (A) are in place, byte for byte, as
// regular files, and nothing of the attempt remains.
void expectStillA(const DaemonProcess& d, const Root& r, const Installed& a) {
  INFO("the daemon's log:\n" << d.log());
  CHECK(r.sshd() == a.sshd);
  CHECK(r.client() == a.client);
  CHECK(r.temps().empty());
}

// The shim's probe: the daemon stops itself right after it logs the rollback, so that the files
// are seen as the daemon left them when it said "rolled back", before it handles any later event
// (such as inotify's news of its own writes, which would let a drift repair hide a bad rollback).
const char* kFreezeAtRollback = "KEEPALIVE_FAULT_STOP_ON_LOG=state policy-invalid:";

// Waits until the daemon stopped itself at the rollback (kFreezeAtRollback), checks that A is in
// place at that moment, and lets it go on.
void expectRolledBackToA(const DaemonProcess& d, const Root& r, const Installed& a) {
  requireSoon(
      d, [&] { return procState(d.pid()) == 'T'; },
      "the daemon stopped after logging the rollback");
  REQUIRE(d.countInLog("fault-shim: SIGSTOP after logging") == 1);
  {
    INFO("at the moment the daemon reports the rollback");
    expectStillA(d, r, a);
  }
  REQUIRE(::kill(d.pid(), SIGCONT) == 0);
  REQUIRE(waitFor([&] { return procState(d.pid()) != 'T'; }));
}

enum class FaultOn { kTempFile, kDirectory };

// Starts the daemon with policy A under `faults`, pushes policy B by rename and expects the
// fault (announced by the shim as "fault-shim: WHAT \"PATH\"") on the sshd drop-in (onSshd) or
// on the client one to roll B back, with A intact and no temporary file left. Then restarts it
// without faults: B is applied.
void rollsBackThenRecovers(std::vector<std::string> faults, const std::string& what, bool onSshd,
                           FaultOn on = FaultOn::kTempFile) {
  Root r;
  const std::string dir = onSshd ? r.sshdDir() : r.clientDir();
  const std::string injected = "fault-shim: " + what + " \"" +
                               (on == FaultOn::kDirectory ? dir + "\"" : dir + "/." + kName + ".");
  faults.push_back(kFreezeAtRollback);
  {
    DaemonProcess d(r.path(), {}, withShim(faults));
    const Installed a = waitForPolicyA(d, r);
    REQUIRE(d.countInLog("fault-shim: loaded") == 1);
    replaceByRename(r.policy(), kPolicyB);
    expectRolledBackToA(d, r, a);
    INFO("the daemon's log:\n" << d.log());
    CHECK(d.countInLog(injected) >= 1);
    // A fault on the client drop-in comes after the sshd one was written (and then restored).
    if (on == FaultOn::kTempFile)
      CHECK(d.countInLog("wrote \"") == (onSshd ? 2 : 3));
    CHECK(d.countInLog("cannot restore") == 0);
    // And A stays: nothing later undoes the rollback either.
    CHECK(waitFor([&] { return r.sshd() == a.sshd && r.client() == a.client; }));
    expectStillA(d, r, a);
    CHECK(d.stop() == 0);
  }
  DaemonProcess d(r.path());
  requireLog(d, "(start): applied");
  requireLog(d, "state ok:");
  INFO("the daemon's log:\n" << d.log());
  CHECK(r.holdsB());
  CHECK(r.temps().empty());
  CHECK(d.countInLog("removed ") == 0);  // the failed attempt cleaned up after itself
}

// A tmpfs mounted over a directory for the life of the object.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, const std::string& options) : dir_(std::move(dir)) {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
      throw std::runtime_error("mount tmpfs on " + dir_ + ": " + std::strerror(errno));
  }
  ~TmpfsMount() { ::umount2(dir_.c_str(), MNT_DETACH); }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

 private:
  std::string dir_;
};

// Writes to path until the filesystem is full; true when it ended with ENOSPC.
bool fillUp(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  std::setvbuf(f, nullptr, _IONBF, 0);
  static const char block[4096] = {};
  for (int i = 0; i < 1 << 16; ++i) {
    if (std::fwrite(block, 1, sizeof block, f) != sizeof block) {
      const int e = errno;
      std::fclose(f);
      return e == ENOSPC;
    }
  }
  std::fclose(f);
  return false;
}

}  // namespace

TEST_CASE("EIO from fsync of a temporary file rolls back, and once the fault is gone B applies") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  SECTION("on the sshd drop-in, every time from then on") {
    rollsBackThenRecovers({"KEEPALIVE_FAULT_FSYNC_EIO=1", "KEEPALIVE_FAULT_AFTER=2"},
                          "fsync -> EIO on", true);
  }
  SECTION("on the client drop-in, after the sshd one was replaced: sshd's is restored") {
    rollsBackThenRecovers(
        {"KEEPALIVE_FAULT_FSYNC_EIO=1", "KEEPALIVE_FAULT_AFTER=3", "KEEPALIVE_FAULT_TIMES=1"},
        "fsync -> EIO on", false);
  }
}

TEST_CASE("ENOSPC from write (shim) rolls back with the old drop-ins intact") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  SECTION("at once, on the sshd drop-in") {
    rollsBackThenRecovers(
        {"KEEPALIVE_FAULT_WRITE_ENOSPC=1", "KEEPALIVE_FAULT_AFTER=2", "KEEPALIVE_FAULT_TIMES=1"},
        "write -> ENOSPC on", true);
  }
  SECTION("after a short write, on the sshd drop-in") {
    rollsBackThenRecovers({"KEEPALIVE_FAULT_WRITE_ENOSPC=short", "KEEPALIVE_FAULT_AFTER=2",
                           "KEEPALIVE_FAULT_TIMES=2"},
                          "short write (half, then ENOSPC) to", true);
  }
  SECTION("after a short write, on the client drop-in: sshd's is restored") {
    rollsBackThenRecovers({"KEEPALIVE_FAULT_WRITE_ENOSPC=short", "KEEPALIVE_FAULT_AFTER=3",
                           "KEEPALIVE_FAULT_TIMES=2"},
                          "short write (half, then ENOSPC) to", false);
  }
}

TEST_CASE("EIO from fsync of the directory after the rename: the rollback puts the old file back") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  // The new file is in place under its name by then: a rollback must replace it with the old.
  SECTION("sshd's directory") {
    rollsBackThenRecovers(
        {"KEEPALIVE_FAULT_FSYNC_DIR_EIO=1", "KEEPALIVE_FAULT_AFTER=2", "KEEPALIVE_FAULT_TIMES=1"},
        "fsync -> EIO on", true, FaultOn::kDirectory);
  }
  SECTION("the client's directory, after sshd's drop-in was replaced") {
    rollsBackThenRecovers(
        {"KEEPALIVE_FAULT_FSYNC_DIR_EIO=1", "KEEPALIVE_FAULT_AFTER=3", "KEEPALIVE_FAULT_TIMES=1"},
        "fsync -> EIO on", false, FaultOn::kDirectory);
  }
}

TEST_CASE(
    "a full filesystem (tmpfs) under the client drop-in rolls back, and once freed B applies") {
  if (!isRoot()) {
    WARN("needs root (sshd -t, mount); skipped");
    return;
  }
  Root r;  // declared first: destroyed last, after the umount
  TmpfsMount mount(r.clientDir(), "size=16k,nr_inodes=64,mode=0755");
  DaemonProcess d(r.path(), {}, withShim({kFreezeAtRollback}));  // the probe only, no faults
  const Installed a = waitForPolicyA(d, r);
  const std::string filler = r.clientDir() + "/.filler";
  REQUIRE(fillUp(filler));
  replaceByRename(r.policy(), kPolicyB);
  expectRolledBackToA(d, r, a);
  INFO("the daemon's log:\n" << d.log());
  CHECK_THAT(d.log(), Catch::Contains("No space left on device"));
  CHECK(d.countInLog("cannot restore") == 0);
  expectStillA(d, r, a);
  CHECK((modeOf(r.sshdDropIn()) & 07777) == 0600);
  CHECK((modeOf(r.clientDropIn()) & 07777) == 0644);

  // Room again: a re-read of the policy (SIGHUP) applies B.
  REQUIRE(::unlink(filler.c_str()) == 0);
  REQUIRE(::kill(d.pid(), SIGHUP) == 0);
  requireLog(d, "(SIGHUP): applied");
  CHECK(r.holdsB());
  CHECK(r.temps().empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("kill -9 in the middle of the atomic write leaves old or new, and a restart cleans up") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  const std::string fault = GENERATE(as<std::string>{}, "KEEPALIVE_FAULT_STOP_BEFORE_RENAME",
                                     "KEEPALIVE_FAULT_STOP_AFTER_TEMP_WRITE");
  // 2: while writing the sshd drop-in; 3: the client one, after sshd's was renamed into place.
  const int after = GENERATE(2, 3);
  const bool onSshd = after == 2;
  const bool beforeRename = fault == "KEEPALIVE_FAULT_STOP_BEFORE_RENAME";
  INFO(fault << ", after " << after << " matching calls");

  Root r;
  Installed a;
  std::vector<std::string> left;
  std::optional<std::string> sshdAtKill, clientAtKill;
  {
    DaemonProcess d(r.path(), {},
                    withShim({fault + "=1", "KEEPALIVE_FAULT_AFTER=" + std::to_string(after),
                              "KEEPALIVE_FAULT_TIMES=1"}));
    a = waitForPolicyA(d, r);
    replaceByRename(r.policy(), kPolicyB);
    requireSoon(
        d, [&] { return procState(d.pid()) == 'T'; }, "the daemon is stopped");
    INFO("the daemon's log:\n" << d.log());
    REQUIRE(d.countInLog("fault-shim: SIGSTOP") == 1);
    const std::string dir = onSshd ? r.sshdDir() : r.clientDir();
    CHECK(d.countInLog(beforeRename
                           ? "fault-shim: SIGSTOP before renaming into \"" + dir + "/" + kName
                           : "fault-shim: SIGSTOP after a write to \"" + dir + "/." + kName +
                                 ".") == 1);
    d.kill9();
  }
  left = r.temps();
  sshdAtKill = r.sshd();
  clientAtKill = r.client();

  // The live files are whole: the old one where the rename did not happen yet.
  REQUIRE(left.size() == 1);
  CHECK(left[0].rfind((onSshd ? r.sshdDir() : r.clientDir()) + "/", 0) == 0);
  const std::optional<std::string> tempBytes = regularFile(left[0]);
  REQUIRE(tempBytes);
  CHECK(!tempBytes->empty());
  if (beforeRename)  // mode is set before the rename, never after
    CHECK((modeOf(left[0]) & 07777) == (onSshd ? 0600 : 0644));
  CHECK(clientAtKill == a.client);
  if (onSshd)
    CHECK(sshdAtKill == a.sshd);
  else
    CHECK(contains(sshdAtKill, kSshdB));

  DaemonProcess d(r.path());
  requireLog(d, "state ok:");
  INFO("the daemon's log:\n" << d.log());
  CHECK(d.countInLog("removed 1 temporary file(s)") == 1);
  CHECK(r.temps().empty());
  CHECK(r.holdsB());
  const std::string sshdB = r.sshd().value_or(""), clientB = r.client().value_or("");
  if (!onSshd)
    CHECK(sshdAtKill == sshdB);  // renamed whole before the kill
  // The temporary file held (a prefix of) the new bytes, never anything else.
  const std::string& wanted = onSshd ? sshdB : clientB;
  CHECK(wanted.compare(0, tempBytes->size(), *tempBytes) == 0);
  if (beforeRename)
    CHECK(*tempBytes == wanted);
}

TEST_CASE("a drop-in replaced by a symlink is replaced by a regular file, the target untouched") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  const bool sshdSide = GENERATE(true, false);
  INFO((sshdSide ? "sshd" : "client") << " drop-in");
  Root r;
  DaemonProcess d(r.path());
  const Installed a = waitForPolicyA(d, r);
  const std::string victim = r.path() + "/victim";
  const std::string victimText = "not a keepalive drop-in: must stay as it is\n";
  writeFile(victim, victimText, 0640);
  struct stat before {};
  REQUIRE(::stat(victim.c_str(), &before) == 0);

  const std::string dir = sshdSide ? r.sshdDir() : r.clientDir();
  const std::string dropIn = sshdSide ? r.sshdDropIn() : r.clientDropIn();
  const std::string link = dir + "/.symlink-tmp";
  REQUIRE(::symlink(victim.c_str(), link.c_str()) == 0);
  REQUIRE(::rename(link.c_str(), dropIn.c_str()) == 0);

  requireSoon(
      d, [&] { return regularFile(dropIn) == (sshdSide ? a.sshd : a.client); },
      "the drop-in is a regular file with policy A again");
  requireLog(d, "drop-ins restored");
  INFO("the daemon's log:\n" << d.log());
  CHECK((modeOf(dropIn) & 07777) == (sshdSide ? 0600 : 0644));
  CHECK(regularFile(victim) == victimText);
  struct stat after {};
  REQUIRE(::lstat(victim.c_str(), &after) == 0);
  CHECK(S_ISREG(after.st_mode));
  CHECK((after.st_mode & 07777) == 0640);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_uid == before.st_uid);
  CHECK(after.st_nlink == 1);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  CHECK(r.temps().empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("drop-ins replaced by FIFOs: the daemon does not hang and puts regular files back") {
  if (!isRoot()) {
    WARN("needs root (sshd -t); skipped");
    return;
  }
  Root r;
  DaemonProcess d(r.path());
  const Installed a = waitForPolicyA(d, r);
  for (const auto& [dir, dropIn] :
       {std::pair{r.sshdDir(), r.sshdDropIn()}, std::pair{r.clientDir(), r.clientDropIn()}}) {
    const std::string fifo = dir + "/.fifo-tmp";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    REQUIRE(::rename(fifo.c_str(), dropIn.c_str()) == 0);
  }
  requireSoon(
      d, [&] { return r.sshd() == a.sshd && r.client() == a.client; },
      "both drop-ins are regular files with policy A again");
  requireLog(d, "not a regular file");

  // Still answering: a later policy change applies, and SIGTERM ends it.
  replaceByRename(r.policy(), kPolicyB);
  requireLog(d, "(policy changed): applied");
  INFO("the daemon's log:\n" << d.log());
  CHECK(r.holdsB());
  CHECK(S_ISREG(modeOf(r.sshdDropIn())));
  CHECK(S_ISREG(modeOf(r.clientDropIn())));
  CHECK(r.temps().empty());
  CHECK(d.stop() == 0);
}
