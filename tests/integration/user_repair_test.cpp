// SPDX-License-Identifier: GPL-2.0-or-later
// checkUser on real files with real owners under a temp root: the repairs it makes, and the
// attacks a user can mount from inside their own home (symlinks, hard links, FIFOs, sockets,
// mounts, and a racer swapping the file while we work). Every attack must leave its target
// exactly as it was: bytes, mode, owner and ctime (ctime catches even a chmod to the same mode).
#include <catch2/catch.hpp>

#include <cstdlib>

#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "adapters/user_fs.h"
#include "test_support.h"

using namespace keepalive::daemon;
using namespace keepalive::test;
using Result = UserCheck::Result;

namespace {

// KEEPALIVE_TEST_NO_OPENAT2=1 (CTest's second run of these cases): the component-by-component
// walk the daemon falls back to when openat2 is missing must hold against every attack too.
const bool kWalk = [] {
  const char* v = std::getenv("KEEPALIVE_TEST_NO_OPENAT2");
  const bool on = v && std::string(v) == "1";
  keepalive::daemon::walkWithoutOpenat2ForTesting(on);
  return on;
}();

const UserEntry kAlice{"alice", 41000, 41000, "/home/alice"};
const UserEntry kBob{"bob", 41001, 41001, "/home/bob"};
constexpr mode_t kConfigMode = 0600;
constexpr mode_t kSshDirMode = 0700;
const std::string kConfigText = "Host *\n  ServerAliveInterval 60\n";

void check0(int rc, const std::string& what) {
  if (rc != 0)
    throw std::runtime_error(what + ": " + std::strerror(errno));
}
void own(const std::string& path, uid_t uid, gid_t gid) {
  check0(::lchown(path.c_str(), uid, gid), "lchown " + path);
}
void mode(const std::string& path, mode_t m) {
  check0(::chmod(path.c_str(), m), "chmod " + path);
}

// Everything an attack could change about a file, read without following a final symlink.
struct Snapshot {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  ino_t ino = 0;
  timespec mtime{}, ctime{};
  std::string bytes;
  bool operator==(const Snapshot& o) const {
    return mode == o.mode && uid == o.uid && gid == o.gid && nlink == o.nlink && ino == o.ino &&
           mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec && bytes == o.bytes;
  }
};

Snapshot snap(const std::string& path) {
  struct stat st {};
  check0(::lstat(path.c_str(), &st), "lstat " + path);
  Snapshot s;
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.nlink = st.st_nlink;
  s.ino = st.st_ino;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  if (S_ISREG(st.st_mode))
    s.bytes = readFile(path);
  return s;
}

// A test root with /home and /etc, and helpers to give a user a home, ~/.ssh and a config.
struct Root {
  TempDir dir{"keepalive-users"};
  Root() {
    mode(dir.path(), 0755);  // users reach their homes, as on a real system
    makeDirs(dir / "home", 0755);
    makeDirs(dir / "etc", 0755);
  }
  std::string home(const UserEntry& u) const { return dir.path() + u.home; }
  std::string sshDir(const UserEntry& u) const { return home(u) + "/.ssh"; }
  std::string config(const UserEntry& u) const { return sshDir(u) + "/config"; }

  void addHome(const UserEntry& u) const {
    makeDirs(home(u), 0755);
    own(home(u), u.uid, u.gid);
  }
  void addSshDir(const UserEntry& u, mode_t m = kSshDirMode, uid_t owner = ~0u) const {
    addHome(u);
    makeDirs(sshDir(u), m);
    own(sshDir(u), owner == ~0u ? u.uid : owner, owner == ~0u ? u.gid : owner);
  }
  void addConfig(const UserEntry& u, mode_t m, uid_t owner = ~0u) const {
    addSshDir(u);
    writeFile(config(u), kConfigText, m);
    own(config(u), owner == ~0u ? u.uid : owner, owner == ~0u ? u.gid : owner);
    mode(config(u), m);  // after the chown, which clears set-id bits
  }
  // A root-owned file a user must never gain: /etc/shadow's stand-in.
  std::string addVictim(const std::string& name = "shadow", mode_t m = 0640) const {
    const std::string v = dir / ("etc/" + name);
    writeFile(v, "root:$6$secret:19000:0:99999:7:::\n", m);
    own(v, 0, 0);
    return v;
  }
  UserCheck check(const UserEntry& u, bool enforce = true) const {
    return checkUser(u, dir.path(), kConfigMode, kSshDirMode, enforce);
  }
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// chown to unnamed uids needs root, and so does every attack worth testing.
#define REQUIRE_ROOT_OR_SKIP()                    \
  do {                                            \
    if (!isRoot()) {                              \
      WARN("needs root (chown, mount); skipped"); \
      return;                                     \
    }                                             \
  } while (0)

}  // namespace

TEST_CASE("user repair: a world-writable config becomes 0600, its bytes and mtime untouched") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0666);
  // An mtime far in the past: any write of content would move it.
  const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  check0(::utimensat(AT_FDCWD, r.config(kAlice).c_str(), old, AT_SYMLINK_NOFOLLOW), "utimensat");
  const Snapshot before = snap(r.config(kAlice));

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRepaired);
  CHECK(c.detail.empty());  // nothing is wrong any more
  CHECK(c.action == "~/.ssh/config: mode set to 0600");
  const Snapshot after = snap(r.config(kAlice));
  CHECK((after.mode & 07777) == 0600);
  CHECK(after.uid == kAlice.uid);
  CHECK(after.ino == before.ino);
  CHECK(after.bytes == kConfigText);
  CHECK(after.mtime.tv_sec == 1000000000);
  CHECK(after.mtime.tv_nsec == 0);

  auto again = r.check(kAlice);
  CHECK(again.result == Result::kCompliant);
  CHECK(snap(r.config(kAlice)) == after);
}

TEST_CASE("user repair: a root-owned config is never given away nor changed") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  SECTION("one ssh accepts is compliant as it is") {
    r.addConfig(kAlice, 0644, 0);
    const Snapshot before = snap(r.config(kAlice));
    auto c = r.check(kAlice);
    CHECK(c.result == Result::kCompliant);
    CHECK(snap(r.config(kAlice)) == before);
  }
  SECTION("one ssh rejects is reported and left alone") {
    r.addConfig(kAlice, 0664, 0);
    const Snapshot before = snap(r.config(kAlice));
    auto c = r.check(kAlice);
    CHECK(c.result == Result::kNonCompliant);
    CHECK(c.detail == "~/.ssh/config is owned by root and group-writable (0664)");
    CHECK(c.action == "~/.ssh/config: left alone (owned by root: never changed)");
    CHECK(snap(r.config(kAlice)) == before);
  }
}

TEST_CASE("user repair: ~/.ssh 0777 becomes 0700") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0600);
  mode(r.sshDir(kAlice), 0777);
  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRepaired);
  CHECK(c.detail.empty());
  CHECK(c.action == "~/.ssh: mode set to 0700");
  CHECK((snap(r.sshDir(kAlice)).mode & 07777) == 0700);
  CHECK((snap(r.config(kAlice)).mode & 07777) == 0600);

  SECTION("and with no config, ~/.ssh alone is still repaired") {
    check0(::unlink(r.config(kAlice).c_str()), "unlink");
    mode(r.sshDir(kAlice), 0755);
    auto d = r.check(kAlice);
    CHECK(d.result == Result::kRepaired);
    CHECK(d.action == "~/.ssh: mode set to 0700");
    CHECK((snap(r.sshDir(kAlice)).mode & 07777) == 0700);
  }
}

TEST_CASE("user repair: report mode says what it would do and changes nothing") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0664);
  mode(r.sshDir(kAlice), 0777);
  const Snapshot dirBefore = snap(r.sshDir(kAlice));
  const Snapshot configBefore = snap(r.config(kAlice));

  auto c = r.check(kAlice, /*enforce=*/false);
  CHECK(c.result == Result::kNonCompliant);
  // What is true now, and apart from it what enforce would do: nothing was set.
  CHECK(c.detail ==
        "~/.ssh is group- and world-writable (0777); ~/.ssh/config is group-writable, "
        "world-readable (0664)");
  CHECK(c.action ==
        "~/.ssh: enforce would set mode 0700; ~/.ssh/config: enforce would set mode 0600");
  CHECK(c.action.find("set to") == std::string::npos);
  CHECK(snap(r.sshDir(kAlice)) == dirBefore);
  CHECK(snap(r.config(kAlice)) == configBefore);

  mode(r.sshDir(kAlice), 0700);
  mode(r.config(kAlice), 0600);
  CHECK(r.check(kAlice, false).result == Result::kCompliant);
}

TEST_CASE("user repair: a missing home, ~/.ssh or config is nothing to do") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  auto noHome = r.check(kAlice);
  CHECK(noHome.result == Result::kAbsent);
  r.addHome(kAlice);
  auto noSsh = r.check(kAlice);
  CHECK(noSsh.result == Result::kAbsent);
  CHECK(noSsh.detail == "~/.ssh does not exist");
  r.addSshDir(kAlice);
  auto noConfig = r.check(kAlice);
  CHECK(noConfig.result == Result::kAbsent);
  CHECK(noConfig.detail == "~/.ssh/config does not exist");
  CHECK(r.check(kAlice, false).result == Result::kAbsent);
}

TEST_CASE("user repair: attack: config is a symlink to a root-owned file") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  const std::string victim = r.addVictim();
  check0(::symlink(victim.c_str(), r.config(kAlice).c_str()), "symlink");
  own(r.config(kAlice), kAlice.uid, kAlice.gid);
  const Snapshot before = snap(victim);

  for (bool enforce : {true, false}) {
    auto c = r.check(kAlice, enforce);
    CHECK(c.result == Result::kRefused);
    CHECK(contains(c.detail, "symlink"));
    CHECK(snap(victim) == before);
  }
}

TEST_CASE("user repair: attack: ~/.ssh is a symlink to another user's ~/.ssh") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  // Bob's ~/.ssh and config as an admin left them, root-owned: were the link followed, the
  // planner would hand both to alice.
  r.addConfig(kBob, 0644, 0);
  own(r.sshDir(kBob), 0, 0);
  mode(r.sshDir(kBob), 0755);
  r.addHome(kAlice);
  check0(::symlink(r.sshDir(kBob).c_str(), r.sshDir(kAlice).c_str()), "symlink");
  const Snapshot dirBefore = snap(r.sshDir(kBob));
  const Snapshot configBefore = snap(r.config(kBob));

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh is not a directory");  // the planner's word for a symlink
  CHECK(snap(r.sshDir(kBob)) == dirBefore);
  CHECK(snap(r.config(kBob)) == configBefore);
}

TEST_CASE("user repair: attack: the home itself is a symlink to a root-owned tree") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  makeDirs(r.dir / "etc/.ssh", 0755);
  const std::string victim = r.dir / "etc/.ssh/config";
  writeFile(victim, kConfigText, 0644);
  check0(::symlink((r.dir / "etc").c_str(), r.home(kAlice).c_str()), "symlink");
  const Snapshot dirBefore = snap(r.dir / "etc/.ssh");
  const Snapshot before = snap(victim);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(contains(c.detail, "symlink"));
  CHECK(snap(r.dir / "etc/.ssh") == dirBefore);
  CHECK(snap(victim) == before);
}

TEST_CASE("user repair: attack: a symlink in a parent of the home") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  // ROOT/home -> ROOT/elsewhere, which holds a real alice with a config worth repairing.
  check0(::rmdir((r.dir / "home").c_str()), "rmdir");
  makeDirs(r.dir / "elsewhere", 0755);
  check0(::symlink("elsewhere", (r.dir / "home").c_str()), "symlink");
  r.addConfig(kAlice, 0666, 0);
  const std::string real = r.dir / "elsewhere/alice/.ssh/config";
  const Snapshot before = snap(real);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(contains(c.detail, "symlink"));
  CHECK(snap(real) == before);
}

TEST_CASE("user repair: attack: config is a hard link to a root-owned file") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  const std::string victim = r.addVictim("shadow", 0644);
  check0(::link(victim.c_str(), r.config(kAlice).c_str()), "link");
  const Snapshot before = snap(victim);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config has 2 hard links");
  CHECK(snap(victim) == before);
}

TEST_CASE("user repair: attack: config is a FIFO, refused without blocking") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  const std::string fifo = r.config(kAlice);
  check0(::mkfifo(fifo.c_str(), 0666), "mkfifo");
  own(fifo, kAlice.uid, kAlice.gid);
  mode(fifo, 0666);
  const Snapshot before = snap(fifo);

  // Not std::async: its future's destructor would wait for a hung call and hang the test too.
  auto done = std::make_shared<std::promise<UserCheck>>();
  auto result = done->get_future();
  std::thread([done, root = r.dir.path()] {
    done->set_value(checkUser(kAlice, root, kConfigMode, kSshDirMode, true));
  }).detach();
  const bool finished = result.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!finished) {
    // Release a reader stuck in open() so the detached thread can end, then fail.
    int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0)
      ::close(w);
  }
  REQUIRE(finished);
  auto c = result.get();
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config is a FIFO");
  CHECK(snap(fifo) == before);
}

TEST_CASE("user repair: attack: config is a socket") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  const std::string path = r.config(kAlice);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  const int bound = ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(s);  // the socket file stays
  REQUIRE(bound == 0);
  own(path, kAlice.uid, kAlice.gid);
  mode(path, 0666);
  const Snapshot before = snap(path);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config is a socket");
  CHECK(snap(path) == before);
}

TEST_CASE("user repair: attack: config is a directory") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  makeDirs(r.config(kAlice), 0777);
  own(r.config(kAlice), kAlice.uid, kAlice.gid);
  const Snapshot before = snap(r.config(kAlice));

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config is a directory");
  CHECK(snap(r.config(kAlice)) == before);
}

TEST_CASE("user repair: attack: config owned by another user") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0666, kBob.uid);
  const Snapshot before = snap(r.config(kAlice));

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config belongs to uid 41001, not to alice");
  CHECK(snap(r.config(kAlice)) == before);
}

namespace {
// A tmpfs mounted over a directory for the life of the object.
class TmpfsMount {
 public:
  explicit TmpfsMount(std::string dir) : dir_(std::move(dir)) {
    ok_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0777") == 0;
  }
  ~TmpfsMount() {
    if (ok_)
      ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};
}  // namespace

TEST_CASE("user repair: attack: ~/.ssh on another mount") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;  // declared first: destroyed last, after the umount
  r.addSshDir(kAlice);
  TmpfsMount m(r.sshDir(kAlice));
  if (!m.ok()) {
    WARN("cannot mount tmpfs (" << std::strerror(errno) << "); skipped");
    return;
  }
  writeFile(r.config(kAlice), kConfigText, 0666);
  const Snapshot dirBefore = snap(r.sshDir(kAlice));
  const Snapshot before = snap(r.config(kAlice));

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh is on another mount");
  CHECK(snap(r.sshDir(kAlice)) == dirBefore);
  CHECK(snap(r.config(kAlice)) == before);
}

TEST_CASE("user repair: attack: a racer swaps config and a symlink to a victim") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0666);
  const std::string victim = r.addVictim();
  const std::string spare = r.sshDir(kAlice) + "/spare";
  check0(::symlink(victim.c_str(), spare.c_str()), "symlink");
  own(spare, kAlice.uid, kAlice.gid);
  const Snapshot victimBefore = snap(victim);

  std::atomic<bool> racerDone{false};
  std::atomic<bool> racerOk{true};
  std::atomic<int> swaps{0};
  std::atomic<int> repaired{0}, refused{0};
  std::thread racer([&] {
    // The racer is alice herself. The raw syscalls change this thread's credentials only;
    // glibc's setresuid() would change every thread's, the checker's included.
    const int dfd = ::open(r.sshDir(kAlice).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::syscall(SYS_setresgid, kAlice.gid, kAlice.gid, kAlice.gid) != 0 ||
        ::syscall(SYS_setresuid, kAlice.uid, kAlice.uid, kAlice.uid) != 0) {
      racerOk = false;
      racerDone = true;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool regularInSpare = false;
    // 20000 swaps, and on until the checker has met both faces (a loaded machine may starve it).
    for (int i = 0; (i < 20000 || repaired == 0 || refused == 0) &&
                    std::chrono::steady_clock::now() < deadline;
         ++i) {
      // Re-open the regular file before it goes back in (the checker keeps narrowing it).
      if (regularInSpare && ::fchmodat(dfd, "spare", 0666, AT_SYMLINK_NOFOLLOW) != 0)
        racerOk = false;
      if (::syscall(SYS_renameat2, dfd, "spare", dfd, "config", RENAME_EXCHANGE) != 0) {
        racerOk = false;
        break;
      }
      regularInSpare = !regularInSpare;
      ++swaps;
    }
    ::close(dfd);
    racerDone = true;
  });

  int compliant = 0, errors = 0, other = 0, victimChanged = 0;
  std::string lastError;
  while (!racerDone) {
    auto c = r.check(kAlice);
    switch (c.result) {
      case Result::kRepaired:
        ++repaired;
        break;
      case Result::kRefused:
        ++refused;
        break;
      case Result::kCompliant:
        ++compliant;
        break;
      case Result::kError:
        ++errors;
        lastError = c.detail;
        break;
      default:
        ++other;
    }
    if (!(snap(victim) == victimBefore))
      ++victimChanged;
  }
  racer.join();

  std::printf(
      "user repair racer: %d swaps; checks: %d repaired, %d refused, %d compliant, %d errors, "
      "%d other; victim changed %d times%s%s\n",
      swaps.load(), repaired.load(), refused.load(), compliant, errors, other, victimChanged,
      lastError.empty() ? "" : "; last error: ", lastError.c_str());
  REQUIRE(racerOk);
  CHECK(victimChanged == 0);
  CHECK(snap(victim) == victimBefore);
  CHECK(readFile(victim) == victimBefore.bytes);
  CHECK(other == 0);
  CHECK(repaired > 0);
  CHECK(refused > 0);
}

// Section 1 of the safety promise: never give a file or directory away. Every way alice can put
// something she does not own at ~/.ssh/config or ~/.ssh ends with it untouched and her reported.
namespace {

// Runs f as the user in a child process (their uid and gid, no groups): the moves below are
// the user's own, with only the rights the user has. Returns f's success.
bool asUser(const UserEntry& u, const std::function<bool()>& f) {
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const bool ok = ::setgroups(0, nullptr) == 0 && ::setresgid(u.gid, u.gid, u.gid) == 0 &&
                    ::setresuid(u.uid, u.uid, u.uid) == 0 && f();
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A root-owned file an admin left in alice's home (a skeleton, a note): alice may rename it
// anywhere in her home, but never owns it.
std::string rootFileInHome(const Root& r, const std::string& name, mode_t m) {
  const std::string path = r.home(kAlice) + "/" + name;
  writeFile(path, "Host *\n  ProxyCommand nc evil 22\n", m);
  own(path, 0, 0);
  mode(path, m);
  return path;
}

}  // namespace

TEST_CASE("user repair: attack: a root-owned file the user moves or renames into place") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  const bool over = GENERATE(false, true);  // moved into an empty place, or renamed over hers
  const mode_t m = GENERATE(mode_t{0664}, mode_t{0666}, mode_t{0644}, mode_t{04755});
  CAPTURE(over, m);
  if (over)
    writeFile(r.config(kAlice), kConfigText, 0600), own(r.config(kAlice), kAlice.uid, kAlice.gid);
  const std::string src = rootFileInHome(r, "notes", m);
  const std::string dst = r.config(kAlice);
  REQUIRE(asUser(kAlice, [&] { return ::rename(src.c_str(), dst.c_str()) == 0; }));
  const Snapshot before = snap(dst);  // after the move: rename itself changes the ctime
  REQUIRE(before.uid == 0);

  auto c = r.check(kAlice);
  CHECK(snap(dst) == before);  // no chown, no chmod: not even the ctime moved
  if (m & 022) {
    CHECK(c.result == Result::kNonCompliant);
    CHECK(contains(c.detail, "~/.ssh/config is owned by root and"));
    CHECK(contains(c.action, "left alone"));
  } else {
    CHECK(c.result == Result::kCompliant);  // ssh accepts it as it is
  }
  // Report mode says the same and changes nothing either.
  CHECK(r.check(kAlice, false).result == c.result);
  CHECK(snap(dst) == before);
}

TEST_CASE("user repair: attack: ~/.ssh swapped for a directory the user does not own") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0600);
  // A root-owned, group-writable directory in alice's home, with a root-owned config in it.
  const std::string rootDir = r.home(kAlice) + "/shared";
  makeDirs(rootDir, 0775);
  own(rootDir, 0, 0);
  mode(rootDir, 0775);
  writeFile(rootDir + "/config", kConfigText, 0666);
  own(rootDir + "/config", 0, 0);
  mode(rootDir + "/config", 0666);
  const std::string mine = r.home(kAlice) + "/mine";

  SECTION("renamed into place") {
    REQUIRE(asUser(kAlice, [&] {
      return ::rename(r.sshDir(kAlice).c_str(), mine.c_str()) == 0 &&
             ::rename(rootDir.c_str(), r.sshDir(kAlice).c_str()) == 0;
    }));
  }
  SECTION("exchanged atomically") {
    REQUIRE(asUser(kAlice, [&] {
      return ::syscall(SYS_renameat2, AT_FDCWD, r.sshDir(kAlice).c_str(), AT_FDCWD, rootDir.c_str(),
                       RENAME_EXCHANGE) == 0;
    }));
  }
  const Snapshot dirBefore = snap(r.sshDir(kAlice));
  const Snapshot configBefore = snap(r.config(kAlice));
  REQUIRE(dirBefore.uid == 0);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kNonCompliant);
  CHECK(c.detail ==
        "~/.ssh is owned by root and group-writable (0775); ~/.ssh/config is owned by root and "
        "world-writable (0666)");
  CHECK(c.action ==
        "~/.ssh: left alone (owned by root: never changed); ~/.ssh/config: left alone (owned by "
        "root: never changed)");
  CHECK(snap(r.sshDir(kAlice)) == dirBefore);
  CHECK(snap(r.config(kAlice)) == configBefore);
}

TEST_CASE("user repair: attack: another user's ~/.ssh or config put in place") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addSshDir(kAlice);
  // bob's files, in a directory alice can write to (as a shared project directory would be).
  const std::string drop = r.home(kAlice) + "/drop";
  makeDirs(drop, 0777);
  mode(drop, 0777);
  writeFile(drop + "/config", kConfigText, 0666);
  own(drop + "/config", kBob.uid, kBob.gid);
  mode(drop + "/config", 0666);
  makeDirs(drop + "/dir", 0777);
  own(drop + "/dir", kBob.uid, kBob.gid);
  mode(drop + "/dir", 0777);

  SECTION("config") {
    REQUIRE(asUser(kAlice, [&] {
      return ::rename((drop + "/config").c_str(), r.config(kAlice).c_str()) == 0;
    }));
    const Snapshot before = snap(r.config(kAlice));
    auto c = r.check(kAlice);
    CHECK(c.result == Result::kRefused);
    CHECK(c.detail == "~/.ssh/config belongs to uid 41001, not to alice");
    CHECK(snap(r.config(kAlice)) == before);
  }
  SECTION("~/.ssh") {
    REQUIRE(asUser(kAlice, [&] {
      return ::rename(r.sshDir(kAlice).c_str(), (r.home(kAlice) + "/old").c_str()) == 0 &&
             ::rename((drop + "/dir").c_str(), r.sshDir(kAlice).c_str()) == 0;
    }));
    const Snapshot before = snap(r.sshDir(kAlice));
    auto c = r.check(kAlice);
    CHECK(c.result == Result::kRefused);
    CHECK(c.detail == "~/.ssh belongs to uid 41001, not to alice");
    CHECK(snap(r.sshDir(kAlice)) == before);
  }
}

TEST_CASE("user repair: attack: a file bind-mounted over ~/.ssh/config") {
  REQUIRE_ROOT_OR_SKIP();
  Root r;
  r.addConfig(kAlice, 0600);
  // A root-owned, world-writable victim, and one of alice's own 0666 files: neither is changed
  // through a mount point, whoever owns it.
  const std::string victim = r.addVictim("victim", 0666);
  own(victim, 0, 0);
  mode(victim, 0666);
  const std::string hers = r.home(kAlice) + "/hers";
  writeFile(hers, kConfigText, 0666);
  own(hers, kAlice.uid, kAlice.gid);
  mode(hers, 0666);
  const std::string source = GENERATE_REF(victim, hers);
  CAPTURE(source);
  if (::mount(source.c_str(), r.config(kAlice).c_str(), nullptr, MS_BIND, nullptr) != 0) {
    WARN("cannot bind-mount (" << std::strerror(errno) << "); skipped");
    return;
  }
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{r.config(kAlice)};
  const Snapshot before = snap(source);

  auto c = r.check(kAlice);
  CHECK(c.result == Result::kRefused);
  CHECK(c.detail == "~/.ssh/config is on another mount");
  CHECK(snap(source) == before);
}
