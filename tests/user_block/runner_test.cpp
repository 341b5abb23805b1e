// SPDX-License-Identifier: GPL-2.0-or-later
// runUserBlock with the real helper, run as a real unprivileged uid on real files, checked by the
// real ssh -G. ssh -G dies with "No user exists for uid" for a uid NSS does not know, so the
// tests borrow a system account every Debian has (daemon, bin, ...) and give it a home under a
// temp dir. Root only: the helper is started with setgroups/setresgid/setresuid.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "sys/process.h"
#include "test_support.h"
#include "user_block/helper_protocol.h"
#include "user_block/runner.h"
#include "user_block/scope.h"

using namespace keepalive::daemon;
using namespace keepalive::test;
using Kind = UserBlockResult::Kind;
using namespace std::chrono_literals;

namespace {

const BlockSettings kSettings = {{"ServerAliveInterval", "120"}, {"ServerAliveCountMax", "3"}};
const std::string kSsh = "/usr/bin/ssh";

void check0(int rc, const std::string& what) {
  if (rc != 0)
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct SystemUser {
  std::string name;
  uid_t uid;
  gid_t gid;
};

// Accounts base-passwd creates on every Debian system, so NSS knows them.
std::vector<SystemUser> systemUsers() {
  std::vector<SystemUser> out;
  for (const char* name : {"daemon", "bin", "sys", "games", "man", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name); pw && pw->pw_uid != 0)
      out.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid});
  }
  return out;
}

// A named one of them, else the first: the tests that start many processes each take an account
// of their own, so that under `ctest -j` one's RLIMIT_NPROC budget is not another's.
SystemUser systemUser(const std::string& name) {
  for (const auto& u : systemUsers())
    if (u.name == name)
      return u;
  return systemUsers().front();
}

struct Snapshot {
  ino_t ino = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  timespec mtime{}, ctime{};
  std::string bytes;
  bool operator==(const Snapshot& o) const {
    return ino == o.ino && mode == o.mode && uid == o.uid && gid == o.gid &&
           mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec && bytes == o.bytes;
  }
};

Snapshot snap(const std::string& path) {
  struct stat st {};
  check0(::lstat(path.c_str(), &st), "lstat " + path);
  Snapshot s{st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_mtim, st.st_ctim, {}};
  if (S_ISREG(st.st_mode))
    s.bytes = readFile(path);
  return s;
}

// A test root (traversable by everyone, as / is) with the user's home and ~/.ssh owned by them.
struct Home {
  TempDir dir{"keepalive-user-block"};
  SystemUser su;
  UserEntry u;

  explicit Home(SystemUser user) : su(std::move(user)) {
    check0(::chmod(dir.path().c_str(), 0755), "chmod");
    u = UserEntry{su.name, su.uid, su.gid, "/home/" + su.name};
    makeDirs(home(), 0755);
    own(home());
    makeDirs(sshDir(), 0700);
    own(sshDir());
  }
  std::string home() const { return dir.path() + u.home; }
  std::string sshDir() const { return home() + "/.ssh"; }
  std::string config() const { return sshDir() + "/config"; }
  void own(const std::string& path) const {
    check0(::lchown(path.c_str(), su.uid, su.gid), "lchown " + path);
  }
  // Written as root, then given to the user, as a user's editor would have left it.
  void writeConfig(const std::string& text, mode_t m = 0600) const {
    writeFile(config(), text, m);
    own(config());
    check0(::chmod(config().c_str(), m), "chmod");
  }
  UserBlockResult run(const BlockSettings& s, std::chrono::milliseconds timeout = 20s,
                      const std::string& ssh = kSsh) const {
    return runUserBlock(u, config(), s, KEEPALIVE_USER_BLOCK_HELPER_BUILD, ssh, timeout);
  }
  std::set<std::string> sshDirEntries() const {
    std::set<std::string> out;
    DIR* d = ::opendir(sshDir().c_str());
    REQUIRE(d);
    while (const dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.insert(e->d_name);
    ::closedir(d);
    return out;
  }
  // An executable script standing in for ssh, readable by the user.
  std::string fakeSsh(const std::string& body) const {
    const std::string path = dir / "fake-ssh";
    writeFile(path, "#!/bin/sh\n" + body, 0755);
    return path;
  }
};

std::string dump(const std::string& config, const std::string& host) {
  auto r = run({kSsh, "-G", "-T", "-o", "CanonicalizeHostname=no", "-F", config, host});
  REQUIRE(r.exitCode == 0);
  return r.out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

#define REQUIRE_ROOT_OR_SKIP()                                       \
  do {                                                               \
    if (!isRoot()) {                                                 \
      WARN("needs root (chown, setresuid to another uid); skipped"); \
      return;                                                        \
    }                                                                \
    REQUIRE_FALSE(systemUsers().empty());                            \
  } while (0)

const std::string kUserText =
    "# mine\nHost special\n  ServerAliveInterval 30\n\nHost *\n  User someone\n";

}  // namespace

TEST_CASE("runner: the block is added as the user and a second run writes nothing") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig(kUserText, 0640);
  // An mtime far in the past: any write would move it.
  const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  check0(::utimensat(AT_FDCWD, h.config().c_str(), old, AT_SYMLINK_NOFOLLOW), "utimensat");

  auto r = h.run(kSettings);
  INFO(r.detail);
  REQUIRE(r.kind == Kind::kUpdated);
  CHECK(r.detail.empty());
  const Snapshot first = snap(h.config());
  CHECK(first.bytes == kUserText + renderUserBlock(kSettings));
  CHECK(first.uid == h.su.uid);
  CHECK(first.gid == h.su.gid);
  CHECK((first.mode & 07777) == 0640);
  CHECK(h.sshDirEntries() == std::set<std::string>{"config"});
  // ssh keeps the first value it reads: the user's per-host value wins, ours fills the rest.
  CHECK(dumpValue(dump(h.config(), "special"), "serveraliveinterval") == "30");
  CHECK(dumpValue(dump(h.config(), "other"), "serveraliveinterval") == "120");
  CHECK(dumpValue(dump(h.config(), "other"), "serveralivecountmax") == "3");

  auto again = h.run(kSettings);
  CHECK(again.kind == Kind::kUnchanged);
  CHECK(snap(h.config()) == first);
  CHECK(h.sshDirEntries() == std::set<std::string>{"config"});

  SECTION("new values rewrite the block only") {
    const BlockSettings other = {{"ServerAliveInterval", "60"}};
    CHECK(h.run(other).kind == Kind::kUpdated);
    CHECK(readFile(h.config()) == kUserText + renderUserBlock(other));
  }
  SECTION("removal gives back the user's bytes, and then there is nothing to remove") {
    auto removed = h.run({});
    INFO(removed.detail);
    CHECK(removed.kind == Kind::kRemoved);
    CHECK(readFile(h.config()) == kUserText);
    CHECK((snap(h.config()).mode & 07777) == 0640);
    CHECK(h.run({}).kind == Kind::kUnchanged);
  }
}

TEST_CASE("runner: no config or no ~/.ssh is absent and nothing is created") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  CHECK(h.run(kSettings).kind == Kind::kAbsent);
  CHECK(h.sshDirEntries().empty());
  check0(::rmdir(h.sshDir().c_str()), "rmdir");
  CHECK(h.run(kSettings).kind == Kind::kAbsent);
  CHECK(::access(h.sshDir().c_str(), F_OK) != 0);
}

TEST_CASE("runner: a config ssh -G rejects is left untouched with ssh's reason") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n  Bogus yes\n");
  const Snapshot before = snap(h.config());
  auto r = h.run(kSettings);
  CHECK(r.kind == Kind::kRefused);
  // ssh named our temp file; the detail names the user's.
  CHECK_THAT(r.detail, Catch::Contains(h.config() + ": line 2: Bad configuration option: bogus"));
  CHECK_THAT(r.detail, Catch::StartsWith("left unchanged, ssh -G rejects it"));
  CHECK_THAT(r.detail, !Catch::Contains(".keepalive-policy-"));
  CHECK(snap(h.config()) == before);
  CHECK(h.sshDirEntries() == std::set<std::string>{"config"});
}

TEST_CASE("runner: ssh's reason quoting the user's line reaches root escaped") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  // A keyword carrying a terminal escape and a byte that is not UTF-8: ssh -G quotes it back in
  // its error, which travels from the user's helper to root's journal and the bus.
  h.writeConfig("Host a\n  Bog\x1b]0;owned\x07us\xff yes\n");
  auto r = h.run(kSettings);
  CHECK(r.kind == Kind::kRefused);
  INFO(r.detail);
  // ssh writes ESC and the bad byte in octal itself (\033, \377); the BEL it passes raw is ours
  // to escape.
  CHECK_THAT(r.detail, Catch::Contains("Bad configuration option: bog"));
  CHECK_THAT(r.detail, Catch::Contains("owned\\x07us"));
  for (unsigned char c : r.detail)
    CHECK((c >= 0x20 && c < 0x7f));
}

TEST_CASE("runner: broken markers are refused with their line") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n# BEGIN keepalive-policy\nHost *\n");
  const Snapshot before = snap(h.config());
  auto r = h.run(kSettings);
  CHECK(r.kind == Kind::kRefused);
  CHECK_THAT(r.detail, Catch::Contains("\"" + h.config() + "\":2: "));
  CHECK_THAT(r.detail, Catch::Contains("without an END marker"));
  CHECK(snap(h.config()) == before);
}

TEST_CASE("runner: files that are not the user's own plain config are refused untouched") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());

  SECTION("a symlink, even to the user's own file") {
    const std::string target = h.sshDir() + "/real";
    writeFile(target, "Host a\n", 0600);
    h.own(target);
    check0(::symlink("real", h.config().c_str()), "symlink");
    check0(::lchown(h.config().c_str(), h.su.uid, h.su.gid), "lchown");
    const Snapshot t = snap(target), l = snap(h.config());
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("symbolic link"));
    CHECK(snap(target) == t);
    CHECK(snap(h.config()) == l);
  }
  SECTION("~/.ssh as a symlink") {
    const std::string elsewhere = h.home() + "/elsewhere";
    check0(::rename(h.sshDir().c_str(), elsewhere.c_str()), "rename");
    check0(::symlink("elsewhere", h.sshDir().c_str()), "symlink");
    writeFile(elsewhere + "/config", "Host a\n", 0600);
    h.own(elsewhere + "/config");
    const Snapshot before = snap(elsewhere + "/config");
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("symbolic link"));
    CHECK(snap(elsewhere + "/config") == before);
  }
  SECTION("a hard link") {
    h.writeConfig("Host a\n");
    check0(::link(h.config().c_str(), (h.sshDir() + "/other").c_str()), "link");
    const Snapshot before = snap(h.config());
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("2 hard links"));
    CHECK(snap(h.config()) == before);
  }
  SECTION("another user's file, readable") {
    const auto users = systemUsers();
    REQUIRE(users.size() >= 2);
    h.writeConfig("Host a\n", 0644);
    check0(::chown(h.config().c_str(), users[1].uid, users[1].gid), "chown");
    const Snapshot before = snap(h.config());
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("owned by uid " + std::to_string(users[1].uid)));
    CHECK(snap(h.config()) == before);
  }
  SECTION("root's file, unreadable") {
    h.writeConfig("Host a\n", 0600);
    check0(::chown(h.config().c_str(), 0, 0), "chown");
    const Snapshot before = snap(h.config());
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("not readable by uid"));
    CHECK(snap(h.config()) == before);
  }
  SECTION("a FIFO, without blocking") {
    check0(::mkfifo(h.config().c_str(), 0600), "mkfifo");
    h.own(h.config());
    auto r = h.run(kSettings, 10s);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("not a regular file"));
  }
  SECTION("over 1 MiB") {
    h.writeConfig("# " + std::string(1 << 20, 'x') + "\n");
    const Snapshot before = snap(h.config());
    auto r = h.run(kSettings);
    CHECK(r.kind == Kind::kRefused);
    CHECK_THAT(r.detail, Catch::Contains("larger than 1 MiB"));
    CHECK(snap(h.config()) == before);
  }
}

TEST_CASE(
    "runner: the helper and its ssh run with the user's ids and groups and nothing of root's") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n");
  // Readable by the root group only: a leftover gid 0 or supplementary group 0 would read it.
  const std::string secret = h.sshDir() + "/secret";
  writeFile(secret, "secret\n", 0640);
  check0(::chown(secret.c_str(), 0, 0), "chown");
  // The stand-in reports on one line (tabs would be sanitized away) and fails, so the report
  // comes back as the refusal's detail.
  const std::string ssh =
      h.fakeSsh("if cat " + secret +
                " >/dev/null 2>&1; then s=readable; else s=unreadable; fi\n"
                "ids=$(grep -E '^(Uid|Gid|Groups):' /proc/$$/status | tr '\\t\\n' '  ')\n"
                "envs=$(env | cut -d= -f1 | grep -v '^PWD$' | sort | tr '\\n' ,)\n"
                "echo \"env=$envs $ids secret=$s args=$*\" >&2\nexit 1\n");
  auto r = h.run(kSettings, 20s, ssh);
  INFO(r.detail);
  REQUIRE(r.kind == Kind::kRefused);
  const std::string u = std::to_string(h.su.uid), g = std::to_string(h.su.gid);
  CHECK_THAT(r.detail, Catch::Contains("Uid: " + u + " " + u + " " + u + " " + u + " "));
  CHECK_THAT(r.detail, Catch::Contains("Gid: " + g + " " + g + " " + g + " " + g + " "));
  CHECK_THAT(r.detail, Catch::Contains("secret=unreadable"));
  CHECK_THAT(r.detail, Catch::Contains("env=HOME,LC_ALL,LOGNAME,PATH,USER,"));
  // The temp file, named as the user's config, and a literal address: nothing to resolve.
  CHECK_THAT(r.detail, Catch::EndsWith("args=-G -T -o CanonicalizeHostname=no -F " + h.config() +
                                       " 192.0.2.1"));
  // Exactly the groups login would give: initgroups' list for an account NSS knows.
  const auto groupsAt = r.detail.find("Groups:");
  REQUIRE(groupsAt != std::string::npos);
  std::istringstream in(r.detail.substr(groupsAt + 7, r.detail.find(" secret=") - groupsAt - 7));
  std::set<gid_t> got;
  for (gid_t x; in >> x;)
    got.insert(x);
  const auto want = credentialsFor(h.su.name, h.su.uid, h.su.gid).groups;
  CHECK(got == std::set<gid_t>(want.begin(), want.end()));
  CHECK(got.count(0) == 0);
  CHECK(readFile(h.config()) == "Host a\n");
}

TEST_CASE("runner: credentialsFor takes groups from NSS only for the account it knows") {
  REQUIRE_ROOT_OR_SKIP();
  const auto su = systemUsers().front();
  auto c = credentialsFor(su.name, su.uid, su.gid);
  CHECK(c.uid == su.uid);
  CHECK(c.gid == su.gid);
  int n = 256;
  std::vector<gid_t> list(256);
  REQUIRE(::getgrouplist(su.name.c_str(), su.gid, list.data(), &n) >= 0);
  list.resize(static_cast<std::size_t>(n));
  CHECK(c.groups == list);
  CHECK(std::find(c.groups.begin(), c.groups.end(), su.gid) != c.groups.end());
  // A test root's user NSS does not know, and a known name with another uid: primary only.
  CHECK(credentialsFor("keepalive-no-such-user", 41000, 41000).groups == std::vector<gid_t>{41000});
  CHECK(credentialsFor(su.name, su.uid + 40000, 41000).groups == std::vector<gid_t>{41000});
}

TEST_CASE("runner: a hanging ssh -G is killed at the deadline and its temp file removed later") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  // A Match exec that never returns, as an NFS-mounted script or a prompt would.
  const std::string hang = "Match exec \"sleep 3600 # keepalive-user-block-test\"\n  User x\n";
  h.writeConfig(hang);
  const Snapshot before = snap(h.config());
  const auto start = std::chrono::steady_clock::now();
  auto r = h.run(kSettings, 2s);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.kind == Kind::kError);
  CHECK_THAT(r.detail, Catch::Contains("timed out after 2000 ms"));
  CHECK(took < 10s);
  CHECK(snap(h.config()) == before);
  // The sleep was in the helper's process group, so it died with it.
  auto sleeping = [&] {
    DIR* d = ::opendir("/proc");
    bool found = false;
    while (const dirent* e = d ? ::readdir(d) : nullptr) {
      std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
      std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      found = found || contains(cmd, "keepalive-user-block-test");
    }
    if (d)
      ::closedir(d);
    return found;
  };
  CHECK(waitFor([&] { return !sleeping(); }, 5s));
  // SIGKILL gave the helper no chance to remove its temp file.
  const auto left = h.sshDirEntries();
  CHECK(left.size() == 2);
  CHECK(std::any_of(left.begin(), left.end(), [](const std::string& n) {
    return n.starts_with(".config.keepalive-policy-");
  }));

  h.writeConfig("Host a\n");
  auto next = h.run(kSettings);
  INFO(next.detail);
  CHECK(next.kind == Kind::kUpdated);
  CHECK(h.sshDirEntries() == std::set<std::string>{"config"});
}

TEST_CASE("runner: a config changed while the block is written is left as it is now") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n");
  // The user's editor saves while ssh -G runs (as the user, it may write the file).
  const std::string ssh = h.fakeSsh("printf '  User edited\\n' >> " + h.config() + "\nexit 0\n");
  auto r = h.run(kSettings, 20s, ssh);
  CHECK(r.kind == Kind::kRefused);
  CHECK_THAT(r.detail, Catch::Contains("changed while the block was being written"));
  CHECK(readFile(h.config()) == "Host a\n  User edited\n");
  CHECK(h.sshDirEntries() == std::set<std::string>{"config"});
}

TEST_CASE("runner: root is refused by the runner and by the helper itself") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n");
  UserEntry root{"root", 0, 0, "/root"};
  auto r = runUserBlock(root, h.config(), kSettings, KEEPALIVE_USER_BLOCK_HELPER_BUILD, kSsh, 5s);
  CHECK(r.kind == Kind::kRefused);
  auto direct = run({KEEPALIVE_USER_BLOCK_HELPER_BUILD, "--config", h.config(), "--remove"});
  CHECK(direct.exitCode == helper::kExitError);
  CHECK_THAT(direct.err, Catch::Contains("refusing to run as root"));
  CHECK(readFile(h.config()) == "Host a\n");
}

TEST_CASE("runner: the helper checks its own arguments") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n");
  const auto as = credentialsFor(h.su.name, h.su.uid, h.su.gid);
  const std::string helperPath = KEEPALIVE_USER_BLOCK_HELPER_BUILD;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--config", h.config()},
           {"--config", h.config(), "--remove", "--set", "ServerAliveInterval=1"},
           {"--config", "relative/config", "--remove"},
           {"--config", h.config(), "--set", "ServerAliveInterval=1\nProxyCommand=x"},
           {"--config", h.config(), "--set", "ServerAliveInterval"},
           {"--config", h.config(), "--bogus"},
       }) {
    std::vector<std::string> argv = {helperPath};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProcess(argv, 10s, as);
    INFO(r.err);
    CHECK(r.exit_code == helper::kExitUsage);
    CHECK(r.out.empty());
  }
  CHECK(readFile(h.config()) == "Host a\n");
}

TEST_CASE("runner: the installed helper path is under libexec") {
  CHECK(std::string(kInstalledUserBlockHelper).ends_with("/keepalive-policy/keepalive-user-block"));
  CHECK(kInstalledUserBlockHelper[0] == '/');
}

// A user's code never outlives its run (issue 13, part 2): Match exec commands that daemonize,
// double-fork, fork 100 children, spin, hold the config open, kill the helper, or hang. Each
// process they start records its pid and carries a marker in its environment; when the run has
// returned, none of them exists.
namespace {

// Pids of live (not zombie: a zombie has an empty environ) processes with marker in their
// environment.
std::vector<pid_t> marked(const std::string& marker) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  while (const dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (contains(env, "KEEPALIVE_TEST_MARK=" + marker))
      out.push_back(static_cast<pid_t>(std::stol(e->d_name)));
  }
  if (d)
    ::closedir(d);
  return out;
}

std::vector<pid_t> pidsIn(const std::string& path) {
  std::vector<pid_t> out;
  std::ifstream f(path);
  for (long p; f >> p;)
    out.push_back(static_cast<pid_t>(p));
  return out;
}

// The hostile part of a Match exec: `body` runs with P (a pid file the user may write), C (the
// user's config) and spawn (runs its arguments in the background as a marked process that has
// first written its pid to P; always with &, as its exec replaces the background subshell, so
// that each costs one task) defined. Returns the Match block for the config.
struct Hostile {
  const Home& h;
  std::string marker;
  std::string pids;
  Hostile(const Home& home, const std::string& name)
      : h(home), marker(name + "-" + std::to_string(::getpid())), pids(home.dir / "pids/list") {
    makeDirs(h.dir / "pids", 0755);
    h.own(h.dir / "pids");
  }
  std::string match(const std::string& body) const {
    const std::string script = h.dir / "hostile.sh";
    writeFile(script,
              "#!/bin/sh\nexport KEEPALIVE_TEST_MARK=" + marker + "\nP=" + pids +
                  "\nC=" + h.config() +
                  "\nspawn() { exec sh -c 'echo $$ >> \"$0\"; exec \"$@\"' \"$P\" \"$@\" "
                  "</dev/null >/dev/null 2>&1; }\n"
                  // Waits (bounded) until n processes have written their pid: they run before
                  // ssh -G returns, so the run really has them to end.
                  "started() { i=0; while [ \"$(wc -l < \"$P\" 2>/dev/null || echo 0)\" -lt "
                  "\"$1\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; }\n" +
                  body,
              0755);
    return "Match exec \"" + script + "\"\n  User x\n";
  }
  // Nothing of the run is alive, and every process it recorded is gone.
  void checkNothingLeft(std::size_t atLeast) const {
    const auto recorded = pidsIn(pids);
    INFO("recorded pids: " << recorded.size());
    CHECK(recorded.size() >= atLeast);
    CHECK(marked(marker).empty());
    for (pid_t p : recorded) {
      INFO("pid " << p);
      CHECK(::kill(p, 0) != 0);
    }
  }
};

}  // namespace

TEST_CASE("runner: nothing a Match exec started outlives the run") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUser("bin"));
  Hostile x(h, "escape");
  const std::string match = x.match(
      // Daemons: a new session (setsid forks, the parent returns), and a double fork.
      "setsid -f sh -c 'echo $$ >> \"$0\"; exec sleep 3600' \"$P\" </dev/null >/dev/null 2>&1\n"
      "( ( spawn sleep 3600 & ) & )\n"
      // A hundred children, one spinning on the CPU, one holding the config open.
      "n=0; while [ $n -lt 100 ]; do spawn sleep 3600 & n=$((n+1)); done\n"
      "spawn sh -c 'while :; do :; done' &\n"
      "spawn sh -c 'exec 3<\"$0\"; exec sleep 3600' \"$C\" &\n"
      "started 104\nexit 1\n");
  h.writeConfig(match);
  const auto start = std::chrono::steady_clock::now();
  auto r = h.run(kSettings, 20s);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(r.detail);
  // The Match did not match and the file is fine: the block went in, long before the deadline.
  CHECK(r.kind == Kind::kUpdated);
  CHECK(took < 15s);
  x.checkNothingLeft(104);
}

TEST_CASE("runner: at the deadline, escaped processes die with the hanging ssh -G") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUser("sys"));
  Hostile x(h, "deadline");
  h.writeConfig(x.match(
      "setsid -f sh -c 'echo $$ >> \"$0\"; exec sleep 3600' \"$P\" </dev/null >/dev/null 2>&1\n"
      "( ( spawn sleep 3600 & ) & )\nspawn sh -c 'while :; do :; done' &\n"
      "started 3\nexec sleep 3600\n"));
  const Snapshot before = snap(h.config());
  const auto start = std::chrono::steady_clock::now();
  auto r = h.run(kSettings, 3s);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.kind == Kind::kError);
  CHECK_THAT(r.detail, Catch::Contains("timed out after 3000 ms"));
  // The deadline, and at most the intermediate's grace to kill and reap.
  CHECK(took >= 3s);
  CHECK(took < 5500ms);
  CHECK(snap(h.config()) == before);
  x.checkNothingLeft(3);
}

TEST_CASE("runner: a Match exec that kills the helper does not free what it started") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUser("man"));
  Hostile x(h, "killer");
  // The helper is the user's: its own code may SIGKILL it. Its orphans then come to the
  // intermediate above it, which the user cannot signal.
  h.writeConfig(x.match(
      "setsid -f sh -c 'echo $$ >> \"$0\"; exec sleep 3600' \"$P\" </dev/null >/dev/null 2>&1\n"
      "spawn sleep 3600 &\nstarted 2\n"
      "p=$$; while [ \"$p\" -gt 1 ]; do\n"
      "  if [ \"$(cat /proc/$p/comm)\" = keepalive-user- ]; then kill -9 $p; break; fi\n"
      "  read -r line < /proc/$p/stat; set -- ${line##*) }; p=$2\ndone\nexit 1\n"));
  auto r = h.run(kSettings, 20s);
  INFO(r.detail);
  CHECK(r.kind == Kind::kError);
  CHECK_THAT(r.detail, Catch::Contains("killed by a signal"));
  x.checkNothingLeft(2);
}

TEST_CASE("runner: a fork bomb in Match exec is bounded and ended") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUser("games"));
  Hostile x(h, "bomb");
  // 300 tries: the run may have 128 tasks (RLIMIT_NPROC over the user's others, or the scope's
  // TasksMax); the forks past that fail, and the shell goes on.
  h.writeConfig(x.match(
      "n=0; while [ $n -lt 300 ]; do spawn sleep 3600 & n=$((n+1)); done\nstarted 100\nexit 1\n"));
  auto r = h.run(kSettings, 20s);
  INFO(r.detail);
  CHECK(r.kind == Kind::kUpdated);
  const auto recorded = pidsIn(x.pids);
  CHECK(recorded.size() >= 100);
  CHECK(recorded.size() < 128);
  x.checkNothingLeft(100);
}

TEST_CASE("runner: the helper and ssh get limits, no fd of ours, and a cgroup under systemd") {
  REQUIRE_ROOT_OR_SKIP();
  Home h(systemUsers().front());
  h.writeConfig("Host a\n");
  // Not O_CLOEXEC, as a careless open elsewhere in the daemon would be.
  const std::string leaked = h.dir / "leaked-fd-target";
  writeFile(leaked, "x", 0600);
  const int fd = ::open(leaked.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  makeDirs(h.dir / "report", 0755);
  h.own(h.dir / "report");
  const std::string report = h.dir / "report/out";
  // The stand-in for ssh reports on itself and on its parent, the helper.
  const std::string ssh = h.fakeSsh(
      "{ grep -E '^Max (cpu time|address space|processes|core file size)' /proc/self/limits\n"
      "  echo \"stdin=$(readlink /proc/$$/fd/0)\"\n"
      "  for f in /proc/$$/fd/* /proc/$PPID/fd/*; do echo \"fd=$(readlink $f)\"; done\n"
      "  echo \"cgroup=$(cat /proc/self/cgroup)\"\n"
      "} > " +
      report + "\nexit 0\n");
  auto r = h.run(kSettings, 20s, ssh);
  ::close(fd);
  INFO(r.detail);
  CHECK(r.kind == Kind::kUpdated);
  const std::string out = readFile(report);
  INFO(out);
  auto limitLine = [&](const std::string& name) {
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with(name))
        return line;
    return std::string();
  };
  // The timeout in seconds, soft and hard; 1 GiB; no core files.
  CHECK_THAT(limitLine("Max cpu time"), Catch::Matches("Max cpu time +20 +20 +seconds *"));
  // Unlimited only in ASan builds (process.h), whose shadow memory needs terabytes.
  const std::string as = Containment{}.addressSpace == ~0ull ? "unlimited" : "1073741824";
  CHECK_THAT(limitLine("Max address space"),
             Catch::Matches("Max address space +" + as + " +" + as + " +(bytes)? *"));
  CHECK_THAT(limitLine("Max core file size"), Catch::Matches("Max core file size +0 +0 +bytes *"));
  if (!systemdBooted()) {
    // No cgroup to bound the run: RLIMIT_NPROC, above what the user runs already.
    CHECK_THAT(limitLine("Max processes"), !Catch::Contains("unlimited"));
  } else {
    CHECK_THAT(out, Catch::Contains("keepalive-user-block-" + std::to_string(h.su.uid) + "-"));
    CHECK(r.note.empty());
  }
  CHECK_THAT(out, Catch::Contains("stdin=/dev/null"));
  CHECK_THAT(out, !Catch::Contains(leaked));
  CHECK_THAT(out, Catch::Contains("fd="));
}
