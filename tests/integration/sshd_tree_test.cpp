// SPDX-License-Identifier: GPL-2.0-or-later
// The real sshd's configuration tree: what the scan reads, which directories decide it and when
// it last changed; and sshd -t / -T through SshdRunner while sshd's stopped unit has taken
// /run/sshd away.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include "adapters/child_runner.h"
#include "adapters/config_watch.h"
#include "adapters/inotify.h"
#include "adapters/sshd_runner.h"
#include "test_support.h"

using namespace keepalive::test;
namespace kd = keepalive::daemon;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> entriesOf(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

// CAP_SYS_ADMIN out of the effective and permitted sets (and so out of every child's).
bool dropSysAdmin() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0)
    return false;
  data[0].effective &= ~(1u << CAP_SYS_ADMIN);
  data[0].permitted &= ~(1u << CAP_SYS_ADMIN);
  data[0].inheritable &= ~(1u << CAP_SYS_ADMIN);
  return ::syscall(SYS_capset, &hdr, data) == 0;
}

// In a child of the test in a mount namespace of its own, with an empty tmpfs over /run (as
// after `systemctl stop ssh`: no /run/sshd): plain sshd -t fails, SshdRunner's test() and
// serverDump() pass, and nothing was created in that /run. Returns "" or what went wrong.
// withoutSysAdmin: as under the daemon's unit, which grants no CAP_SYS_ADMIN: the check then
// fails, saying sshd's reason and why it could not check past it.
std::string privsepInPrivateRun(const SshRoot& s, bool withoutSysAdmin) {
  int report[2];
  if (::pipe(report) != 0)
    return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    std::string why;
    auto fail = [&](const std::string& w) {
      if (why.empty())
        why = w;
    };
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
      fail(std::string("cannot set up the private /run: ") + std::strerror(errno));
    } else {
      auto plain = run({"/usr/sbin/sshd", "-t", "-f", s.sshdConfig()});
      if (plain.exitCode == 0 ||
          plain.err.find("Missing privilege separation directory: /run/sshd") == std::string::npos)
        fail("plain sshd -t did not fail for /run/sshd: " + plain.err);
      if (withoutSysAdmin && !dropSysAdmin())
        fail(std::string("cannot drop CAP_SYS_ADMIN: ") + std::strerror(errno));
      sigset_t chld;
      sigemptyset(&chld);
      sigaddset(&chld, SIGCHLD);
      ::sigprocmask(SIG_BLOCK, &chld, nullptr);
      sd_event* loop = nullptr;
      sd_event_new(&loop);
      {
        kd::ChildRunner children(loop);
        kd::SshdRunnerOptions o;
        o.root = s.root;
        kd::SshdRunner runner(o, children);
        std::optional<kd::CheckResult> check;
        std::optional<kd::Dump> dump;
        runner.test([&](kd::CheckResult c) { check = std::move(c); });
        kd::ConnectionSpec conn;
        conn.addr = "192.0.2.1";
        runner.serverDump(conn, [&](kd::Dump d) { dump = std::move(d); });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while ((!check || !dump) && std::chrono::steady_clock::now() < deadline)
          sd_event_run(loop, 1000000);
        if (!check || !dump) {
          fail("SshdRunner gave no answer");
        } else if (withoutSysAdmin) {
          const std::string expected =
              "Missing privilege separation directory: /run/sshd (checking again with a private "
              "privilege separation directory failed: cannot run /usr/sbin/sshd: Operation not "
              "permitted)";
          if (check->ok || check->message != expected)
            fail("SshdRunner::test() without CAP_SYS_ADMIN: " + check->message);
          if (dump->status.ok || dump->status.error != "sshd -T failed: " + expected)
            fail("SshdRunner::serverDump() without CAP_SYS_ADMIN: " + dump->status.error);
        } else {
          if (!check->ok)
            fail("SshdRunner::test() failed: " + check->message);
          if (!dump->status.ok || dump->entries.empty())
            fail("SshdRunner::serverDump() failed: " + dump->status.error);
        }
      }
      sd_event_unref(loop);
      if (!entriesOf("/run").empty())
        fail("something was created in /run: " + entriesOf("/run").front());
      if (::access("/run/sshd", F_OK) == 0)
        fail("/run/sshd exists in the test's namespace");
    }
    (void)!::write(report[1], why.data(), why.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string why;
  char buf[4096];
  ssize_t got;
  while ((got = ::read(report[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
    if (got > 0)
      why.append(buf, static_cast<std::size_t>(got));
  ::close(report[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    why += " (the test's child did not exit cleanly)";
  return why;
}

}  // namespace

TEST_CASE("sshd tree: sshd -t and -T pass while /run/sshd is missing, creating nothing") {
  if (!isRoot()) {
    WARN("needs root (a mount namespace and sshd -t); skipped");
    return;
  }
  TempDir tmp;
  SshRoot s = makeSshRoot(tmp.path());
  const bool hostHadIt = ::access("/run/sshd", F_OK) == 0;
  SECTION("with CAP_SYS_ADMIN (as root)") {
    const std::string why = privsepInPrivateRun(s, false);
    INFO(why);
    CHECK(why.empty());
  }
  SECTION("without it (as under the unit): a clear failure") {
    const std::string why = privsepInPrivateRun(s, true);
    INFO(why);
    CHECK(why.empty());
  }
  CHECK((::access("/run/sshd", F_OK) == 0) == hostHadIt);
}

TEST_CASE("sshd tree: the scan names every directory that decides it, matched or not") {
  TempDir tmp;
  SshRoot s = makeSshRoot(tmp.path(), "Include " + tmp.path() + "/etc/ssh/extra/*.conf\n");
  makeDirs(tmp.path() + "/etc/ssh/extra");
  writeFile(s.sshdDropIn(), "ClientAliveInterval 30\n");
  writeFile(tmp.path() + "/etc/ssh/sshd_config.d/50-other.conf", "ClientAliveCountMax 3\n");
  auto scan = kd::scanConfigFile(s.sshdConfig(), tmp.path() + "/etc/ssh", false);
  REQUIRE(scan.status.ok);
  CHECK(contains(scan.dirs, tmp.path() + "/etc/ssh"));
  CHECK(contains(scan.dirs, tmp.path() + "/etc/ssh/sshd_config.d"));
  CHECK(contains(scan.dirs, tmp.path() + "/etc/ssh/extra"));  // its glob matched nothing
  CHECK(std::count(scan.dirs.begin(), scan.dirs.end(), tmp.path() + "/etc/ssh") == 1);
  CHECK(scan.newest_change_usec > 0);

  // A file changed later: newer (ctime's clock is coarse: change again until it moves).
  const auto before = scan.newest_change_usec;
  const std::string other = tmp.path() + "/etc/ssh/sshd_config.d/50-other.conf";
  mode_t mode = 0644;
  CHECK(waitFor([&] {
    mode = mode == 0644 ? 0640 : 0644;
    ::chmod(other.c_str(), mode);
    return kd::scanConfigFile(s.sshdConfig(), tmp.path() + "/etc/ssh", false).newest_change_usec >
           before;
  }));

  // A file removed from a directory: the directory is newer, though no file read is.
  scan = kd::scanConfigFile(s.sshdConfig(), tmp.path() + "/etc/ssh", false);
  const auto beforeRemove = scan.newest_change_usec;
  int n = 0;
  CHECK(waitFor([&] {
    const std::string f = tmp.path() + "/etc/ssh/extra/.gone-" + std::to_string(n++);
    writeFile(f, "");
    ::unlink(f.c_str());
    return kd::scanConfigFile(s.sshdConfig(), tmp.path() + "/etc/ssh", false).newest_change_usec >
           beforeRemove;
  }));
}

TEST_CASE("sshd tree: the daemon sees a file written in a directory that sshd_config includes") {
  if (!isRoot()) {
    WARN("needs root for sshd -t; skipped");
    return;
  }
  TempDir tmp("keepalive-tree");
  makeDaemonRoot(tmp.path(),
                 "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
                 "client: {server_alive_interval: 4m}\n");
  // Read before our drop-in, from a directory outside sshd_config.d: no fixed watch sees it.
  const std::string main = tmp.path() + "/etc/ssh/sshd_config";
  const std::string extra = tmp.path() + "/etc/ssh/extra";
  makeDirs(extra);
  writeFile(main, "Include " + extra + "/*.conf\n" + readFile(main));
  DaemonProcess d(tmp.path());
  REQUIRE(d.waitForLog("state ok:"));

  // Written in place.
  const std::string shadow = extra + "/10-site.conf";
  writeFile(shadow, "ClientAliveInterval 0\n");
  CHECK(d.waitForLog("state shadowed: \"" + shadow + "\":1 sets ClientAliveInterval 0"));
  // Removed: the directory's watch.
  ::unlink(shadow.c_str());
  CHECK(d.waitForLog("no file shadows the policy any more"));
  // Renamed in, as Ansible writes.
  replaceByRename(extra + "/20-site.conf", "ClientAliveCountMax 9\n");
  CHECK(
      d.waitForLog("state shadowed: \"" + extra + "/20-site.conf\":1 sets ClientAliveCountMax 9"));
}

namespace {

// ConfigWatch on a test root with its own loop; `others` of each sshConfigChanged, in order.
struct WatchHarness {
  sd_event* loop = nullptr;
  std::unique_ptr<kd::Inotify> inotify;
  std::unique_ptr<kd::ConfigWatch> watch;
  std::vector<bool> changes;
  explicit WatchHarness(const std::string& root) {
    sd_event_new(&loop);
    inotify = std::make_unique<kd::Inotify>(loop, [] {});
    kd::ConfigWatchHandlers h;
    h.policyChanged = [](std::chrono::milliseconds) {};
    h.sshConfigChanged = [this](bool others) { changes.push_back(others); };
    h.passwdChanged = [] {};
    watch = std::make_unique<kd::ConfigWatch>(
        *inotify, root, std::vector<std::string>{root + "/etc/ssh/sshd_config.d"},
        "00-keepalive-policy.conf", std::chrono::milliseconds(50), std::move(h));
  }
  ~WatchHarness() {
    watch.reset();
    inotify.reset();
    sd_event_unref(loop);
  }
  // Runs the loop until `n` changes were reported (false at the deadline), then takes what
  // else is queued already.
  bool waitChanges(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (changes.size() < n && std::chrono::steady_clock::now() < deadline)
      sd_event_run(loop, 100000);
    while (sd_event_run(loop, 0) > 0) {
    }
    return changes.size() >= n;
  }
};

}  // namespace

TEST_CASE("sshd tree: watchTree watches the files and directories given, and only those") {
  TempDir tmp("keepalive-tree");
  const std::string extra = tmp.path() + "/etc/ssh/extra", other = tmp.path() + "/other";
  const std::string outside = tmp.path() + "/outside";
  makeDirs(tmp.path() + "/etc/ssh/sshd_config.d");
  makeDirs(extra);
  makeDirs(other);
  makeDirs(outside);
  writeFile(outside + "/target.conf", "ClientAliveInterval 5\n");
  REQUIRE(::symlink((outside + "/target.conf").c_str(), (extra + "/link.conf").c_str()) == 0);
  const std::string ours = tmp.path() + "/etc/ssh/sshd_config.d/00-keepalive-policy.conf";
  writeFile(ours, "ClientAliveInterval 120\n");
  WatchHarness h(tmp.path());

  h.watch->watchTree({extra + "/link.conf", ours}, {extra, tmp.path() + "/etc/ssh/sshd_config.d"});
  // extra and the file behind the link; the drop-in directory and our drop-in keep their
  // fixed watch.
  CHECK(h.watch->treeWatches() == 2);

  SECTION("a file created in a watched directory") {
    writeFile(extra + "/10-new.conf", "x\n");
    REQUIRE(h.waitChanges(1));
    CHECK(h.changes.front());
  }
  SECTION("a file behind a symlink, written in place where no directory is watched") {
    writeFile(outside + "/target.conf", "ClientAliveInterval 0\n");
    REQUIRE(h.waitChanges(1));
    CHECK(h.changes.front());
  }
  SECTION("a mode changed") {
    ::chmod((extra + "/link.conf").c_str(), 0600);  // the target's
    REQUIRE(h.waitChanges(1));
    CHECK(h.changes.front());
  }
  SECTION("our drop-in written in place stays ours") {
    writeFile(ours, "ClientAliveInterval 0\n");
    REQUIRE(h.waitChanges(1));
    for (bool others : h.changes)
      CHECK_FALSE(others);
  }
  SECTION("dot files (our temporaries; glob skips them) are not the tree's") {
    // How many events one file written there gives (create, close, mode): the baseline.
    writeFile(extra + "/marker1.conf", "x\n");
    REQUIRE(h.waitChanges(1));
    const std::size_t perFile = h.changes.size();
    h.changes.clear();
    writeFile(extra + "/.tmp-x", "x\n");
    writeFile(extra + "/marker2.conf", "x\n");
    REQUIRE(h.waitChanges(perFile));
    CHECK(h.changes.size() == perFile);
  }
  SECTION("a new set replaces the old one") {
    h.watch->watchTree({}, {other});
    CHECK(h.watch->treeWatches() == 1);
    writeFile(other + "/marker1.conf", "x\n");
    REQUIRE(h.waitChanges(1));
    const std::size_t perFile = h.changes.size();
    h.changes.clear();
    writeFile(extra + "/10-new.conf", "x\n");          // watched no more
    writeFile(outside + "/target.conf", "changed\n");  // nor this
    writeFile(other + "/marker2.conf", "x\n");
    REQUIRE(h.waitChanges(perFile));
    CHECK(h.changes.size() == perFile);
  }
  SECTION("a directory that does not exist yet: its creation is seen") {
    h.watch->watchTree({}, {tmp.path() + "/opt/a/b"});
    CHECK(h.watch->treeWatches() == 1);  // tmp itself, the nearest that exists
    makeDirs(tmp.path() + "/opt");
    REQUIRE(h.waitChanges(1));
    h.changes.clear();
    h.watch->watchTree({}, {tmp.path() + "/opt/a/b"});  // as after the transaction
    makeDirs(tmp.path() + "/opt/a/b");
    REQUIRE(h.waitChanges(1));
    h.changes.clear();
    h.watch->watchTree({}, {tmp.path() + "/opt/a/b"});
    writeFile(tmp.path() + "/opt/a/b/x.conf", "x\n");
    REQUIRE(h.waitChanges(1));
    CHECK(h.changes.front());
  }
  SECTION("a directory replaced is watched again on the next call") {
    REQUIRE(::rename(extra.c_str(), (extra + ".old").c_str()) == 0);
    makeDirs(extra);
    REQUIRE(h.waitChanges(1));  // the old one moved away
    h.changes.clear();
    h.watch->watchTree({}, {extra});
    writeFile(extra + "/10-new.conf", "x\n");
    REQUIRE(h.waitChanges(1));
    CHECK(h.changes.front());
  }
}

// Issue 16: the commands the daemon proves the policy with, against the real sshd and ssh.
TEST_CASE("sshd runner: the installed version, and sshd -T -C / ssh -G for a network's sample") {
  if (!isRoot()) {
    WARN("needs root for sshd -T (host keys); skipped");
    return;
  }
  TempDir t("keepalive-runner");
  ::chmod(t.path().c_str(), 0755);  // ssh -G runs as nobody
  const SshRoot s = makeSshRoot(t.path());
  writeFile(s.sshdDropIn(),
            "ClientAliveInterval 100\nClientAliveCountMax 3\n"
            "Match Address 10.20.0.0/16,2001:db8:20::/48\n  ClientAliveInterval 60\n");
  writeFile(s.clientDropIn(),
            "Host *.branch.example.com\n  ServerAliveInterval 150\nHost *\n"
            "  ServerAliveInterval 240\n");
  ::chmod(s.clientDropIn().c_str(), 0644);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  sd_event* loop = nullptr;
  REQUIRE(sd_event_new(&loop) >= 0);
  {
    kd::ChildRunner children(loop);
    kd::SshdRunnerOptions o;
    o.root = s.root;
    kd::SshdRunner runner(o, children);
    std::optional<kd::VersionText> version;
    std::map<std::string, kd::Dump> server, client;
    runner.version([&](kd::VersionText v) { version = std::move(v); });
    for (const std::string addr : {"10.20.3.4", "2001:db8:20::5", "192.0.2.1"}) {
      kd::ConnectionSpec c;
      c.addr = addr;
      runner.serverDump(c, [&server, addr](kd::Dump d) { server[addr] = std::move(d); });
    }
    for (const std::string host : {"a.branch.example.com", "keepalive-policy.invalid"})
      runner.clientDump(host, [&client, host](kd::Dump d) { client[host] = std::move(d); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((!version || server.size() < 3 || client.size() < 2) &&
           std::chrono::steady_clock::now() < deadline)
      sd_event_run(loop, 1000000);
    REQUIRE(version);
    // What sshd -V itself prints, read here independently.
    const auto direct = run({"/usr/sbin/sshd", "-V"});
    INFO(direct.err << direct.out);
    CHECK(version->status.ok);
    CHECK(version->source == "sshd -V");
    CHECK(version->text.rfind("OpenSSH_", 0) == 0);
    CHECK((direct.err + direct.out).find(version->text) != std::string::npos);
    REQUIRE(server.size() == 3);
    for (const auto& [addr, d] : server) {
      INFO(addr << ": " << d.status.error);
      CHECK(d.status.ok);
    }
    CHECK(server["10.20.3.4"].first("clientaliveinterval") == "60");
    CHECK(server["2001:db8:20::5"].first("clientaliveinterval") == "60");
    CHECK(server["192.0.2.1"].first("clientaliveinterval") == "100");
    CHECK(server["192.0.2.1"].first("clientalivecountmax") == "3");
    REQUIRE(client.size() == 2);
    CHECK(client["a.branch.example.com"].first("serveraliveinterval") == "150");
    CHECK(client["keepalive-policy.invalid"].first("serveraliveinterval") == "240");
  }
  sd_event_unref(loop);
}

TEST_CASE("sshd runner: an sshd that prints no version falls back to ssh -V") {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  sd_event* loop = nullptr;
  REQUIRE(sd_event_new(&loop) >= 0);
  {
    kd::ChildRunner children(loop);
    kd::SshdRunnerOptions o;
    o.sshd = "/bin/false";
    kd::SshdRunner runner(o, children);
    std::optional<kd::VersionText> version;
    runner.version([&](kd::VersionText v) { version = std::move(v); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!version && std::chrono::steady_clock::now() < deadline)
      sd_event_run(loop, 1000000);
    REQUIRE(version);
    CHECK(version->status.ok);
    CHECK(version->source == "ssh -V");
    CHECK(version->text.rfind("OpenSSH_", 0) == 0);
    // Neither: a failure that says what each printed.
    o.ssh = "/bin/false";
    kd::SshdRunner neither(o, children);
    version.reset();
    neither.version([&](kd::VersionText v) { version = std::move(v); });
    while (!version && std::chrono::steady_clock::now() < deadline)
      sd_event_run(loop, 1000000);
    REQUIRE(version);
    CHECK_FALSE(version->status.ok);
    CHECK_THAT(version->status.error,
               Catch::Contains("sshd -V: no version printed; ssh -V: no version printed"));
  }
  sd_event_unref(loop);
}
