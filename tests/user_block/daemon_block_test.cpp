// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd with client.per_user_block: the block is added to a covered user's
// ~/.ssh/config by the helper as the user, kept at the end through the user's edits, updated
// when the policy's values change, left alone when nothing changed, and removed when the policy
// turns it off.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;
using namespace std::chrono_literals;

namespace {

std::string policy(const std::string& interval, bool block) {
  return "version: 1\nserver: {client_alive_interval: 2m}\nclient: {server_alive_interval: " +
         interval + ", per_user_block: " + (block ? "true" : "false") +
         "}\nusers: {action: enforce, min_uid: 1}\n";
}

ino_t inodeOf(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

// Live processes with KEEPALIVE_TEST_MARK=marker in their environment.
std::size_t markedProcesses(const std::string& marker) {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc");
  while (const dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (env.find("KEEPALIVE_TEST_MARK=" + marker + '\0') != std::string::npos)
      ++n;
  }
  if (d)
    ::closedir(d);
  return n;
}

}  // namespace

TEST_CASE("daemon: the per-user block follows the policy and the user's edits") {
  const passwd* pw = ::getpwnam("daemon");  // ssh -G needs a uid NSS knows
  if (!isRoot() || !pw)
    return;
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  UsersRoot r(policy("2m", true).c_str(), false);
  r.passwd("alice:x:" + std::to_string(uid) + ":" + std::to_string(gid) +
           "::/home/alice:/bin/sh\n");
  r.home("alice", uid);
  const std::string mine = "Host special\n  ServerAliveInterval 30\n";
  writeFile(r.config("alice"), mine, 0600);
  ::chown(r.config("alice").c_str(), uid, gid);

  DaemonProcess d(r.dir.path(), {"--user-block-helper", KEEPALIVE_USER_BLOCK_HELPER_BUILD,
                                 "--log-level", "debug"});
  REQUIRE(d.waitForLog("wrote the keepalive block in \"/home/alice/.ssh/config\" of alice"));
  INFO("the daemon's log:\n" << d.log());
  std::string text = readFile(r.config("alice"));
  CHECK(text.rfind(mine, 0) == 0);  // the user's text first, untouched
  CHECK(count(text, "# BEGIN keepalive-policy") == 1);
  CHECK(text.find("ServerAliveInterval 120") != std::string::npos);
  CHECK(text.substr(text.size() - std::string("# END keepalive-policy\n").size()) ==
        "# END keepalive-policy\n");
  struct stat st {};
  REQUIRE(::stat(r.config("alice").c_str(), &st) == 0);
  CHECK(st.st_uid == uid);
  CHECK((st.st_mode & 07777) == 0600);

  // The rename of the write brings one more run, which finds the file as it should be.
  REQUIRE(d.waitForLog("running the keepalive block helper for alice", 2));
  // Nothing changed since: a full rescan does not even run the helper.
  const ino_t written = inodeOf(r.config("alice"));
  ::kill(d.pid(), SIGHUP);
  REQUIRE(d.waitForLog("(SIGHUP): unchanged"));  // the scan is done when this apply is
  ::kill(d.pid(), SIGHUP);
  REQUIRE(d.waitForLog("(SIGHUP): unchanged", 2));
  CHECK(d.countInLog("running the keepalive block helper for alice") == 2);
  CHECK(inodeOf(r.config("alice")) == written);
  CHECK(d.countInLog("wrote the keepalive block") == 1);

  // The user puts a line on top (an editor's rename save, as the user): the block stays last
  // and single.
  const std::string edited = "Host top\n  User bob\n" + text;
  replaceByRename(r.config("alice"), edited);
  ::chown(r.config("alice").c_str(), uid, gid);
  ::chmod(r.config("alice").c_str(), 0600);
  REQUIRE(d.waitForLog("the keepalive block helper for alice: unchanged", 2));
  CHECK(readFile(r.config("alice")) == edited);
  CHECK(d.countInLog("wrote the keepalive block") == 1);  // nothing to rewrite: it was last

  // New values in the policy: the block is rewritten with them.
  replaceByRename(r.dir / "etc/keepalive-policy/policy.yaml", policy("3m", true));
  REQUIRE(d.waitForLog("wrote the keepalive block in \"/home/alice/.ssh/config\" of alice", 2));
  text = readFile(r.config("alice"));
  CHECK(text.rfind("Host top\n  User bob\n" + mine, 0) == 0);
  CHECK(text.find("ServerAliveInterval 180") != std::string::npos);
  CHECK(text.find("ServerAliveInterval 120") == std::string::npos);

  // Turned off: the block goes, the user's bytes stay.
  replaceByRename(r.dir / "etc/keepalive-policy/policy.yaml", policy("3m", false));
  REQUIRE(d.waitForLog("removed the keepalive block in \"/home/alice/.ssh/config\" of alice"));
  CHECK(readFile(r.config("alice")) == "Host top\n  User bob\n" + mine);
}

TEST_CASE("daemon: a config ssh -G rejects keeps its bytes and is reported") {
  const passwd* pw = ::getpwnam("daemon");
  if (!isRoot() || !pw)
    return;
  UsersRoot r(policy("2m", true).c_str(), false);
  r.passwd("alice:x:" + std::to_string(pw->pw_uid) + ":" + std::to_string(pw->pw_gid) +
           "::/home/alice:/bin/sh\n");
  r.home("alice", pw->pw_uid);
  const std::string broken = "Host *\n  NoSuchOption yes\n";
  writeFile(r.config("alice"), broken, 0600);
  ::chown(r.config("alice").c_str(), pw->pw_uid, pw->pw_gid);
  DaemonProcess d(r.dir.path(), {"--user-block-helper", KEEPALIVE_USER_BLOCK_HELPER_BUILD});
  REQUIRE(d.waitForLog("left \"/home/alice/.ssh/config\" of alice without the keepalive block: "));
  INFO("the daemon's log:\n" << d.log());
  CHECK(d.countInLog("line 2: Bad configuration option: nosuchoption") == 1);
  CHECK(readFile(r.config("alice")) == broken);
}

TEST_CASE("daemon: a hostile Match exec neither delays others' repairs nor outlives its run") {
  const passwd* pw = ::getpwnam("daemon");
  if (!isRoot() || !pw)
    return;
  UsersRoot r(policy("2m", true).c_str(), false);
  r.passwd("alice:x:" + std::to_string(pw->pw_uid) + ":" + std::to_string(pw->pw_gid) +
           "::/home/alice:/bin/sh\nbob:x:41001:41001::/home/bob:/bin/sh\n");
  r.home("alice", pw->pw_uid);
  r.home("bob", 41001);
  // alice's Match exec: two spinners (as many as this host's CI has cores), a daemon in a
  // session of its own, a hundred children, and then it hangs until the helper's deadline.
  const std::string marker = "daemon-hostile-" + std::to_string(::getpid());
  const std::string count = r.dir / "count";
  makeDirs(count, 0755);
  (void)!::chown(count.c_str(), pw->pw_uid, pw->pw_gid);
  const std::string script = r.dir / "hostile.sh";
  writeFile(script,
            "#!/bin/sh\nexport KEEPALIVE_TEST_MARK=" + marker + "\nP=" + count +
                "/pids\n"
                "spawn() { exec sh -c 'echo $$ >> \"$0\"; exec \"$@\"' \"$P\" \"$@\" "
                "</dev/null >/dev/null 2>&1; }\n"
                "spawn sh -c 'while :; do :; done' &\nspawn sh -c 'while :; do :; done' &\n"
                "setsid -f sh -c 'echo $$ >> \"$0\"; exec sleep 3600' \"$P\" "
                "</dev/null >/dev/null 2>&1\n"
                "n=0; while [ $n -lt 100 ]; do spawn sleep 3600 & n=$((n+1)); done\n"
                "exec sleep 3600\n",
            0755);
  writeFile(r.config("alice"), "Match exec \"" + script + "\"\n  User x\n", 0600);
  (void)!::chown(r.config("alice").c_str(), pw->pw_uid, pw->pw_gid);
  r.makeConfig("bob", 41001, 0600);

  DaemonProcess d(r.dir.path(), {"--user-block-helper", KEEPALIVE_USER_BLOCK_HELPER_BUILD,
                                 "--log-level", "debug"});
  INFO("the daemon's log:\n" << d.log());
  REQUIRE(d.waitForLog("running the keepalive block helper for alice"));
  // The hostile run is in full swing: everything it starts is there (each wrote its pid).
  auto recorded = [&] {
    std::vector<pid_t> pids;
    std::ifstream f(count + "/pids");
    for (long p; f >> p;)
      pids.push_back(static_cast<pid_t>(p));
    return pids;
  };
  REQUIRE(waitFor([&] { return recorded().size() >= 103; }));

  // bob loosens his file while it runs: repaired as fast as ever.
  const auto start = std::chrono::steady_clock::now();
  ::chmod(r.config("bob").c_str(), 0644);
  REQUIRE(waitFor([&] { return UsersRoot::modeOf(r.config("bob")) == 0600; }, 5s));
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << "bob's repair during alice's hostile helper run: " << latency.count() << " ms\n";
  CHECK(latency < 1s);
  CHECK(d.waitForLog("repaired \"/home/bob/.ssh\" of bob"));
  // The first run's processes (the helper's temp file brings a second run after it).
  const std::vector<pid_t> first = recorded();
  CHECK(first.size() >= 103);
  CHECK(markedProcesses(marker) >= 103);  // it was still going on

  // At the helper's deadline (10 s) the run fails, and nothing of it is left when it is
  // reported.
  REQUIRE(
      d.waitForLog("cannot write the keepalive block in \"/home/alice/.ssh/config\" of alice: "
                   "timed out after",
                   1, 20s));
  for (pid_t p : first) {
    INFO("pid " << p);
    CHECK(::kill(p, 0) != 0);
  }
  CHECK(readFile(r.config("alice")).find("# BEGIN keepalive-policy") == std::string::npos);
  // The daemon going away takes a run in progress with it (the intermediate's parent-death
  // signal).
  d.stop();
  CHECK(waitFor([&] { return markedProcesses(marker) == 0; }, 5s));
}
