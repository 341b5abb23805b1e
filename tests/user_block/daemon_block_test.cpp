// keepalive-policyd with client.per_user_block: the block is added to a covered user's
// ~/.ssh/config by the helper as the user, kept at the end through the user's edits, updated
// when the policy's values change, left alone when nothing changed, and removed when the policy
// turns it off.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

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
