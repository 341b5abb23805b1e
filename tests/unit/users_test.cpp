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
  CHECK_FALSE(p.chown);
  CHECK(p.mode == mode_t{0600});
  CHECK_FALSE(p.narrow);  // only taking bits away: one chmod is already narrowing
  CHECK(p.describe() == "mode set to 0600");
}

TEST_CASE("users: taking away and granting at once narrows first") {
  auto p = planConfig(file(0260), kAlice, 0600);
  CHECK(p.narrow == mode_t{0200});
  CHECK(p.mode == mode_t{0600});
}

TEST_CASE("users: a root-owned config is handed to the user, never more open than before") {
  auto p = planConfig(file(0644, 0), kAlice, 0600);
  CHECK(p.narrow == mode_t{0600 & 0644});
  REQUIRE(p.chown);
  CHECK(p.chown->first == 1000);
  CHECK(p.chown->second == 1000);
  CHECK(p.mode == mode_t{0600});
  CHECK(p.describe() == "mode narrowed to 0600, owner set to uid 1000, mode set to 0600");
  auto tight = planConfig(file(0600, 0), kAlice, 0600);
  CHECK_FALSE(tight.narrow);
  CHECK(tight.chown);
  CHECK_FALSE(tight.mode);
}

TEST_CASE("users: every kind of file that is not the user's plain config is refused") {
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).refusal == "~/.ssh/config has 2 hard links");
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
  CHECK(planConfig(file(0600, 1000, 2), kAlice, 0600).describe() ==
        "refused: ~/.ssh/config has 2 hard links");
}

TEST_CASE("users: ~/.ssh gets its mode and owner") {
  auto p = planSshDir(file(0777, 1000, 2, S_IFDIR), kAlice, 0700);
  CHECK(p.mode == mode_t{0700});
  auto root = planSshDir(file(0755, 0, 2, S_IFDIR), kAlice, 0700);
  CHECK(root.chown);
  CHECK(root.narrow == mode_t{0700});
}
