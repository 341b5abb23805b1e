// SPDX-License-Identifier: GPL-2.0-or-later
// The hang fixture itself: a real FUSE home that serves what it is told, hangs, refuses, dies, and
// never outlives its test. Needs root and /dev/fuse.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>

#include "hang_mount.h"

using keepalive::test::HangMount;
using keepalive::test::HangOptions;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kUid = 1234;
constexpr gid_t kGid = 2345;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/hang-fixture-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Root and /dev/fuse, or the test says why it did nothing (Catch2 v2 has no SKIP).
bool canMount() {
  if (::geteuid() != 0) {
    WARN("needs root: skipped");
    return false;
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    WARN("needs /dev/fuse: skipped");
    return false;
  }
  return true;
}

// A blocked call returns only once the mount answers: open the gate before anything (a failed
// REQUIRE included) waits for a future that may hold such a call.
struct ReleaseOnExit {
  HangMount& mount;
  ~ReleaseOnExit() {
    try {
      mount.release();
    } catch (...) {
    }
  }
};

// 0 or the errno of the call.
int statErrno(const fs::path& p, struct stat* out = nullptr) {
  struct stat st {};
  int r = ::stat(p.c_str(), &st);
  if (out)
    *out = st;
  return r == 0 ? 0 : errno;
}
int chmodErrno(const fs::path& p, mode_t mode) {
  return ::chmod(p.c_str(), mode) == 0 ? 0 : errno;
}
int chownErrno(const fs::path& p, uid_t u, gid_t g) {
  return ::chown(p.c_str(), u, g) == 0 ? 0 : errno;
}

std::future<int> inThread(std::function<int()> f) {
  return std::async(std::launch::async, std::move(f));
}

// Waits, on the mount table's own change notification, until nothing is mounted at `path`.
bool waitUnmounted(const fs::path& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  bool gone = false;
  for (;;) {
    gone = !HangMount::isMounted(path);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (gone || left.count() <= 0)
      break;
    pollfd p{fd, POLLPRI, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  ::close(fd);
  return gone;
}

// No child left running or unreaped.
bool noChildren() {
  errno = 0;
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

}  // namespace

TEST_CASE("serves a fake home with the given owners and modes") {
  if (!canMount())
    return;
  TempDir dir;
  HangOptions options;
  options.configUid = 3456;
  HangMount mount(dir.path / "home", kUid, kGid, options);
  const fs::path home = mount.mountpoint();

  struct stat st {};
  REQUIRE(statErrno(home, &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(st.st_uid == kUid);
  CHECK(st.st_gid == kGid);
  CHECK(st.st_dev == mount.device());

  REQUIRE(statErrno(home / ".ssh", &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(st.st_uid == kUid);

  REQUIRE(statErrno(home / ".ssh/config", &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_uid == 3456);
  CHECK(st.st_gid == kGid);
  std::ifstream config(home / ".ssh/config");
  std::string first;
  CHECK(std::getline(config, first));
  CHECK(first == "Host *");

  CHECK(statErrno(home / "nothing") == ENOENT);
  CHECK(HangMount::isMounted(home));

  // allow_other lets another uid in; default_permissions makes the kernel apply the modes.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(10);
    struct stat s {};
    if (::stat(home.c_str(), &s) != 0)
      ::_exit(11);
    if (::stat((home / ".ssh/config").c_str(), &s) == 0 || errno != EACCES)
      ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("hang() blocks every access until release()") {
  if (!canMount())
    return;
  TempDir dir;
  HangMount mount(dir.path / "home", kUid, kGid);
  const fs::path config = mount.mountpoint() / ".ssh/config";
  REQUIRE(statErrno(config) == 0);

  mount.hang();
  std::future<int> statConfig, statHome;
  ReleaseOnExit guard{mount};
  statConfig = inThread([&] { return statErrno(config); });
  statHome = inThread([&] { return statErrno(mount.mountpoint()); });

  CHECK(statConfig.wait_for(300ms) == std::future_status::timeout);
  CHECK(statHome.wait_for(0ms) == std::future_status::timeout);
  REQUIRE(mount.waitFor([](const auto& s) { return s.blocked >= 2; }, 5s));
  // While hung, what hangfs reports (outside the mount) still answers.
  CHECK(mount.stats().blocked == 2);

  mount.release();
  REQUIRE(statConfig.wait_for(5s) == std::future_status::ready);
  REQUIRE(statHome.wait_for(5s) == std::future_status::ready);
  CHECK(statConfig.get() == 0);
  CHECK(statHome.get() == 0);
  CHECK(mount.waitFor([](const auto& s) { return s.blocked == 0; }, 5s));
}

TEST_CASE("chmod and chown are counted and change what is served") {
  if (!canMount())
    return;
  TempDir dir;
  HangMount mount(dir.path / "home", kUid, kGid);
  const fs::path config = mount.mountpoint() / ".ssh/config";
  CHECK(mount.setattrCount() == 0);

  REQUIRE(chmodErrno(config, 0600) == 0);
  CHECK(mount.setattrCount() == 1);
  CHECK(mount.stats().chmod == 1);
  struct stat st {};
  REQUIRE(statErrno(config, &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  REQUIRE(chownErrno(config, 4321, 5432) == 0);
  CHECK(mount.setattrCount() == 2);
  CHECK(mount.stats().chown == 1);
  REQUIRE(statErrno(config, &st) == 0);
  CHECK(st.st_uid == 4321);
  CHECK(st.st_gid == 5432);

  SECTION("a chmod while hung is not served until release()") {
    mount.hang();
    std::future<int> chmodConfig;
    ReleaseOnExit guard{mount};
    chmodConfig = inThread([&] { return chmodErrno(config, 0640); });
    REQUIRE(mount.waitBlocked(5s));
    CHECK(chmodConfig.wait_for(0ms) == std::future_status::timeout);
    CHECK(mount.setattrCount() == 2);
    mount.release();
    REQUIRE(chmodConfig.wait_for(5s) == std::future_status::ready);
    CHECK(chmodConfig.get() == 0);
    CHECK(mount.setattrCount() == 3);
    REQUIRE(statErrno(config, &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
  }
}

TEST_CASE("refusing makes chmod and chown fail as root_squash does") {
  if (!canMount())
    return;
  TempDir dir;
  HangOptions options;
  options.refuse = true;
  SECTION("EACCES by default") {}
  SECTION("or the errno asked for") {
    options.refuseErrno = EPERM;
  }
  HangMount mount(dir.path / "home", kUid, kGid, options);
  const fs::path config = mount.mountpoint() / ".ssh/config";

  CHECK(chmodErrno(config, 0600) == options.refuseErrno);
  CHECK(chownErrno(config, kUid, kGid) == options.refuseErrno);
  struct stat st {};
  REQUIRE(statErrno(config, &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(mount.setattrCount() == 2);
  CHECK(mount.stats().refused == 2);

  mount.refuse(false);
  CHECK(chmodErrno(config, 0600) == 0);
  REQUIRE(statErrno(config, &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(mount.stats().refused == 2);

  mount.refuse(true);
  CHECK(chmodErrno(config, 0644) == options.refuseErrno);
  CHECK(mount.stats().refused == 3);
}

TEST_CASE("abort() ends blocked and later accesses") {
  if (!canMount())
    return;
  TempDir dir;
  fs::path mountpoint;
  {
    HangMount mount(dir.path / "home", kUid, kGid);
    mountpoint = mount.mountpoint();
    const fs::path config = mountpoint / ".ssh/config";
    mount.hang();
    std::future<int> statConfig;
    ReleaseOnExit guard{mount};
    statConfig = inThread([&] { return statErrno(config); });
    REQUIRE(mount.waitBlocked(5s));

    mount.abort();
    REQUIRE(statConfig.wait_for(5s) == std::future_status::ready);
    // In flight when the connection went: ECONNABORTED; after: ENOTCONN.
    int inFlight = statConfig.get();
    CHECK((inFlight == ECONNABORTED || inFlight == ENOTCONN));
    CHECK(statErrno(config) == ENOTCONN);
    CHECK(HangMount::isMounted(mountpoint));
  }
  CHECK_FALSE(HangMount::isMounted(mountpoint));
  CHECK(noChildren());
}

TEST_CASE("the destructor leaves nothing mounted and no process, even while hung") {
  if (!canMount())
    return;
  TempDir dir;
  auto mount = std::make_unique<HangMount>(dir.path / "home", kUid, kGid);
  const fs::path mountpoint = mount->mountpoint();
  REQUIRE(HangMount::isMounted(mountpoint));

  SECTION("when idle") {
    mount.reset();
    CHECK_FALSE(HangMount::isMounted(mountpoint));
    CHECK(noChildren());
  }
  SECTION("when a caller is stuck in it") {
    mount->hang();
    std::future<int> statConfig = inThread([&] { return statErrno(mountpoint / ".ssh/config"); });
    if (!mount->waitBlocked(5s)) {
      mount->release();
      FAIL("the stat did not reach hangfs");
    }
    auto start = std::chrono::steady_clock::now();
    mount.reset();
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK_FALSE(HangMount::isMounted(mountpoint));
    CHECK(noChildren());
    // The stuck call came back (answered or ended with the connection), so it can be joined.
    REQUIRE(statConfig.wait_for(5s) == std::future_status::ready);
    statConfig.get();
  }
}

TEST_CASE("a test process that dies without cleaning up leaves no mount") {
  if (!canMount())
    return;
  TempDir dir;
  // hangfs outlives the dead child: make it ours to reap.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::setenv("TMPDIR", dir.path.c_str(), 1);  // its state directory goes with ours
    try {
      auto* leaked = new HangMount(dir.path / "home", kUid, kGid);
      leaked->hang();
      (void)::write(ready[1], "y", 1);
    } catch (...) {
    }
    ::_exit(0);  // no destructor runs
  }
  ::close(ready[1]);
  char c = 0;
  bool mounted = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  REQUIRE(mounted);
  const fs::path mountpoint = fs::canonical(dir.path) / "home";
  CHECK(waitUnmounted(mountpoint, 5s));
  // hangfs exits right after detaching; reap it.
  pid_t orphan = ::waitpid(-1, nullptr, 0);
  CHECK(orphan > 0);
  CHECK(noChildren());
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}
