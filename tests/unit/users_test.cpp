// SPDX-License-Identifier: GPL-2.0-or-later
// Who is covered, and the repair plan for what fstat observed: every refusal and the order of
// the changes.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "core/users.h"
#include "helpers.h"

using namespace keepalive::daemon;
using keepalive::policy::HostIdentity;
using keepalive::test::load;

namespace {
const UserEntry kAlice{"alice", 1000, 1000, "/home/alice"};

Observed file(mode_t perm, uid_t uid = 1000, nlink_t links = 1, mode_t type = S_IFREG) {
  Observed o;
  o.exists = true;
  o.type = type;
  o.perm = perm;
  o.uid = uid;
  o.gid = uid;
  o.nlink = links;
  return o;
}
}  // namespace

TEST_CASE("users: passwd lines are parsed, malformed ones skipped") {
  auto users = parsePasswd(
      "root:x:0:0:root:/root:/bin/bash\n"
      "# comment\n"
      "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
      "broken:x:10x0:1000::/home/b:/bin/sh\n"
      "short:x:1001\n"
      "+nis::::::\n"
      "huge:x:99999999999:1::/h:/bin/sh\n"
      "svc-web:x:1002:1002::/srv/web:/usr/sbin/nologin\n");
  REQUIRE(users.size() == 3);
  CHECK(users[1] == kAlice);
  CHECK(users[2].home == "/srv/web");
}

TEST_CASE("users: coverage follows min_uid, exclude globs, action and home") {
  auto l =
      load("version: 1\nusers: {action: enforce, min_uid: 1000, exclude: [backup, \"svc-*\"]}\n");
  REQUIRE_FALSE(l.diags.hasErrors());
  auto r = resolve(l.policy, HostIdentity::fromName("h"));
  CHECK(isCovered(kAlice, r));
  CHECK_FALSE(isCovered({"root", 0, 0, "/root"}, r));
  CHECK_FALSE(isCovered({"svc-web", 1002, 1002, "/srv/web"}, r));
  CHECK_FALSE(isCovered({"backup", 1003, 1003, "/home/backup"}, r));
  CHECK_FALSE(isCovered({"nobody", 65534, 65534, "/nonexistent"}, r));
  CHECK_FALSE(isCovered({"nohome", 1004, 1004, "/"}, r));
  CHECK_FALSE(isCovered({"relhome", 1005, 1005, "home/x"}, r));
  CHECK(isCovered({"ldap", 2000000, 100, "/net/home/ldap"}, r));
  auto off = load("version: 1\nusers: {action: off}\n");
  CHECK_FALSE(isCovered(kAlice, resolve(off.policy, HostIdentity::fromName("h"))));
  auto root = load("version: 1\nusers: {min_uid: 0}\n");
  CHECK(isCovered({"root", 0, 0, "/root"}, resolve(root.policy, HostIdentity::fromName("h"))));
}

TEST_CASE("users: a compliant config needs nothing, a missing one too") {
  CHECK(planConfig(file(0600), kAlice, 0600).nothingToDo());
  CHECK(planConfig(Observed{}, kAlice, 0600).nothingToDo());
  CHECK(planSshDir(file(0700, 1000, 2, S_IFDIR), kAlice, 0700).nothingToDo());
}

TEST_CASE("users: a world-writable config is narrowed to the wanted mode") {
  auto p = planConfig(file(0666), kAlice, 0600);
  CHECK(p.refusal.empty());
  CHECK(p.refused == Refusal::kNone);
  CHECK(p.leftAlone.empty());
  CHECK(p.mode == mode_t{0600});
  // What is true now, apart from what was done or would be done.
  CHECK(p.finding() == "~/.ssh/config is group- and world-writable (0666)");
  CHECK(p.action(true) == "~/.ssh/config: mode set to 0600");
  CHECK(p.action(false) == "~/.ssh/config: enforce would set mode 0600");
}

TEST_CASE("users: what is wrong with a mode is said in words, the most serious first") {
  auto finding = [](mode_t m, mode_t want = 0600) {
    return planConfig(file(m), kAlice, want).finding();
  };
  CHECK(finding(0664) == "~/.ssh/config is group-writable, world-readable (0664)");
  CHECK(finding(0620) == "~/.ssh/config is group-writable (0620)");
  CHECK(finding(0644) == "~/.ssh/config is group- and world-readable (0644)");
  CHECK(finding(0604) == "~/.ssh/config is world-readable (0604)");
  CHECK(finding(0610) == "~/.ssh/config is group-executable (0610)");
  CHECK(finding(0700) == "~/.ssh/config is more open to its owner than 0600 (0700)");
  CHECK(finding(04600) == "~/.ssh/config is setuid (4600)");
  CHECK(finding(0600).empty());
  // A directory's x bit is search.
  CHECK(planSshDir(file(0711, 1000, 2, S_IFDIR), kAlice, 0700).finding() ==
        "~/.ssh is group- and world-searchable (0711)");
  CHECK(planSshDir(file(0777, 1000, 2, S_IFDIR), kAlice, 0700).finding() ==
        "~/.ssh is group- and world-writable (0777)");
  CHECK(planSshDir(file(0777, 1000, 2, S_IFDIR), kAlice, 0700).action(false) ==
        "~/.ssh: enforce would set mode 0700");
}

TEST_CASE("users: a mode is only ever narrowed, never widened") {
  // Taking away and granting at once: only the taking away happens.
  auto p = planConfig(file(0260), kAlice, 0600);
  CHECK(p.mode == mode_t{0200});
  // Tighter than the policy is the user's choice: compliant as it is.
  CHECK(planConfig(file(0400), kAlice, 0600).nothingToDo());
  CHECK(planSshDir(file(0500, 1000, 2, S_IFDIR), kAlice, 0700).nothingToDo());
  // Set-id and sticky bits go with the rest.
  CHECK(planConfig(file(04755), kAlice, 0600).mode == mode_t{0600});
  // Every plan is a subset of what was observed and of what is wanted.
  for (mode_t m = 0; m <= 07777; ++m) {
    const auto q = planConfig(file(m), kAlice, 0600);
    if (q.mode) {
      CHECK((*q.mode & ~m) == 0);
      CHECK((*q.mode & ~mode_t{0600}) == 0);
    }
  }
}

TEST_CASE("users: root's config is never changed, only judged as ssh judges it") {
  // ssh accepts a root-owned ~/.ssh/config that nobody else can write: compliant as it is.
  CHECK(planConfig(file(0644, 0), kAlice, 0600).nothingToDo());
  CHECK(planConfig(file(0600, 0), kAlice, 0600).nothingToDo());
  auto g = planConfig(file(0664, 0), kAlice, 0600);
  CHECK_FALSE(g.mode);
  CHECK(g.refusal.empty());
  CHECK(g.leftAlone == "~/.ssh/config is owned by root and group-writable (0664)");
  CHECK(g.finding() == g.leftAlone);
  // The same in either mode: nothing is done to root's file.
  CHECK(g.action(true) == "~/.ssh/config: left alone (owned by root: never changed)");
  CHECK(g.action(false) == g.action(true));
  CHECK(planConfig(file(0666, 0), kAlice, 0600).leftAlone ==
        "~/.ssh/config is owned by root and world-writable (0666)");
  auto d = planSshDir(file(0775, 0, 2, S_IFDIR), kAlice, 0700);
  CHECK_FALSE(d.mode);
  CHECK(d.leftAlone == "~/.ssh is owned by root and group-writable (0775)");
  CHECK(planSshDir(file(0755, 0, 2, S_IFDIR), kAlice, 0700).nothingToDo());
}

TEST_CASE("users: every kind of file that is not the user's plain config is refused") {
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).refusal == "~/.ssh/config has 2 hard links");
  // Code decides by the reason, people read the sentence.
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).refused == Refusal::kHardLinks);
  CHECK(planConfig(file(0600, 1001), kAlice, 0600).refused == Refusal::kForeignOwner);
  CHECK(planConfig(file(0777, 1000, 1, S_IFLNK), kAlice, 0600).refused == Refusal::kSymlink);
  CHECK(planSshDir(file(0600), kAlice, 0700).refused == Refusal::kNotDirectory);
  CHECK(std::string(toString(Refusal::kForeignOwner)) == "foreign-owner");
  CHECK(planConfig(file(0600, 1001), kAlice, 0600).refusal ==
        "~/.ssh/config belongs to uid 1001, not to alice");
  CHECK(planConfig(file(0777, 1000, 1, S_IFLNK), kAlice, 0600).refusal ==
        "~/.ssh/config is a symlink");
  CHECK(planConfig(file(0600, 1000, 1, S_IFIFO), kAlice, 0600).refusal ==
        "~/.ssh/config is a FIFO");
  CHECK(planConfig(file(0600, 1000, 1, S_IFSOCK), kAlice, 0600).refusal ==
        "~/.ssh/config is a socket");
  CHECK(planConfig(file(0600, 1000, 1, S_IFCHR), kAlice, 0600).refusal ==
        "~/.ssh/config is a device or special file");
  CHECK(planConfig(file(0700, 1000, 2, S_IFDIR), kAlice, 0600).refusal ==
        "~/.ssh/config is a directory");
  CHECK(planSshDir(file(0600), kAlice, 0700).refusal == "~/.ssh is not a directory");
  CHECK(planSshDir(file(0700, 1001, 2, S_IFDIR), kAlice, 0700).refusal ==
        "~/.ssh belongs to uid 1001, not to alice");
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).finding() ==
        "~/.ssh/config has 2 hard links");
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).action(true).empty());
}

TEST_CASE("users: ~/.ssh gets its mode narrowed") {
  auto p = planSshDir(file(0777, 1000, 2, S_IFDIR), kAlice, 0700);
  CHECK(p.mode == mode_t{0700});
}
