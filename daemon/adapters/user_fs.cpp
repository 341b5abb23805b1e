// SPDX-License-Identifier: GPL-2.0-or-later
#include "user_fs.h"

#include "sys/unique_fd.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace keepalive::daemon {
namespace {

using Result = UserCheck::Result;

// glibc 2.36 has no openat2() wrapper. O_PATH never opens the file itself: no read or write
// access as root, and a FIFO cannot block us.
int openat2Path(int dirfd, const std::string& path, std::uint64_t flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_PATH | O_CLOEXEC;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

std::atomic<bool> forceWalk{false};

// openat2 is missing on kernels before 5.6 (RHEL 8) and refused (ENOSYS) by some seccomp
// filters, among them the one systemd installs for RestrictSUIDSGID=.
bool useOpenat2() {
  static const bool available = [] {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    const long fd = ::syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
    if (fd >= 0)
      ::close(static_cast<int>(fd));
    return fd >= 0 || errno != ENOSYS;
  }();
  return available && !forceWalk.load(std::memory_order_relaxed);
}

// The mount an fd is on: the mount ID where statx knows it (5.8+), else the device. Two mounts
// of one file system share a device but not a mount ID.
bool sameMount(int a, int b) {
  struct statx x {
  }, y{};
  if (::statx(a, "", AT_EMPTY_PATH, STATX_MNT_ID, &x) != 0 ||
      ::statx(b, "", AT_EMPTY_PATH, STATX_MNT_ID, &y) != 0)
    return false;
  if ((x.stx_mask & STATX_MNT_ID) && (y.stx_mask & STATX_MNT_ID))
    return x.stx_mnt_id == y.stx_mnt_id;
  return x.stx_dev_major == y.stx_dev_major && x.stx_dev_minor == y.stx_dev_minor;
}

bool isSymlink(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode);
}

// Without openat2: one component at a time, each opened O_PATH|O_NOFOLLOW beneath the last, so
// a symlink (or a /proc magic link) anywhere comes back as itself and ends the walk with ELOOP,
// as RESOLVE_NO_SYMLINKS does. Mounts may be crossed (homes are often mounts of their own).
int walkNoSymlinks(const std::string& path) {
  int fd = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::size_t pos = 0;
  while (fd >= 0 && pos < path.size()) {
    const std::size_t end = std::min(path.find('/', pos), path.size());
    const std::string comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".")
      continue;
    const int next = ::openat(fd, comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    const int e = errno;
    ::close(fd);
    fd = next;
    if (fd < 0) {
      errno = e;
      return -1;
    }
    if (isSymlink(fd)) {
      ::close(fd);
      errno = ELOOP;
      return -1;
    }
  }
  struct stat st {};
  if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode))) {
    ::close(fd);
    errno = ENOTDIR;
    return -1;
  }
  return fd;
}

std::string errnoText(const std::string& what, int e) {
  return what + ": " + std::strerror(e);
}

// last: the fstat itself, for the config's identity (one fstat instead of two).
bool observe(int fd, Observed& o, struct stat* last = nullptr) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return false;
  o.exists = true;
  o.type = st.st_mode & S_IFMT;
  o.perm = st.st_mode & 07777;
  o.uid = st.st_uid;
  o.gid = st.st_gid;
  o.nlink = st.st_nlink;
  if (last)
    *last = st;
  return true;
}

Observed observedFrom(const struct statx& x) {
  Observed o;
  o.exists = true;
  o.type = x.stx_mode & S_IFMT;
  o.perm = x.stx_mode & 07777;
  o.uid = x.stx_uid;
  o.gid = x.stx_gid;
  o.nlink = x.stx_nlink;
  return o;
}

// fchmod() refuses O_PATH fds and fchmodat() has no AT_EMPTY_PATH here, so, as systemd's
// fchmod_opath(), go through the fd's magic link: it names exactly the inode the fd holds, not
// whatever the path it was opened by names now.
// Linux 6.6's fchmodat2 does the same on the fd itself (AT_EMPTY_PATH), without building a
// path and looking up /proc (a third of a repair's time in a storm); older kernels say ENOSYS
// (EINVAL for flags they do not know) and the magic link is used from then on.
int chmodFd(int fd, mode_t mode) {
#if defined(SYS_fchmodat2)
  constexpr long kSysFchmodat2 = SYS_fchmodat2;
#elif defined(__x86_64__) || defined(__aarch64__)
  constexpr long kSysFchmodat2 = 452;  // the same on every architecture of the unified table
#endif
#if defined(SYS_fchmodat2) || defined(__x86_64__) || defined(__aarch64__)
  static std::atomic<bool> noFchmodat2{false};
  if (!noFchmodat2.load(std::memory_order_relaxed)) {
    if (::syscall(kSysFchmodat2, fd, "", mode, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
      return 0;
    if (errno != ENOSYS && errno != EINVAL)
      return -1;
    noFchmodat2 = true;
  }
#endif
  return ::chmod(("/proc/self/fd/" + std::to_string(fd)).c_str(), mode);
}

// What is wrong now and what has been done (or would be) so far, for the final detail and action.
struct Progress {
  std::vector<std::string> found;    // what is true now and not as the policy wants
  std::vector<std::string> changes;  // what was done (enforce) or would be done (report)
  bool leftAlone = false;  // a finding we never change (root's object that ssh would reject)
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& c : v)
      out += (out.empty() ? "" : "; ") + c;
    return out;
  }
  UserCheck result(Result r) const {
    UserCheck c{r, join(found), std::nullopt};
    c.action = join(changes);
    return c;
  }
  // Ends the check with why as the last thing found.
  UserCheck stop(Result r, const std::string& why) const {
    UserCheck c{r, found.empty() ? why : join(found) + "; " + why, std::nullopt};
    c.action = join(changes);
    return c;
  }
};

using Planner = RepairPlan (*)(const Observed&, const UserEntry&, mode_t);

// Plans and (enforce) applies the repair of the object open as fd, then checks the result
// through the same fd. nullopt: go on; else the final answer.
// seen: what a statx on fd already said (no second look); last: the final fstat, if any was made.
std::optional<UserCheck> settle(int fd, const char* what, Planner planFor, const UserEntry& u,
                                mode_t want, bool enforce, Progress& prog,
                                const Observed* seen = nullptr, struct stat* last = nullptr) {
  Observed o;
  if (seen) {
    o = *seen;
  } else if (!observe(fd, o, last)) {
    const int e = errno;  // before building the message, which may touch errno
    return prog.stop(Result::kError, errnoText(std::string(what) + ": fstat", e));
  }
  const RepairPlan p = planFor(o, u, want);
  if (p.refused != Refusal::kNone)
    return prog.stop(Result::kRefused, p.refusal);
  if (!p.leftAlone.empty()) {
    prog.found.push_back(p.finding());
    prog.changes.push_back(p.action(enforce));
    prog.leftAlone = true;
    return std::nullopt;
  }
  if (p.nothingToDo())
    return std::nullopt;
  if (!enforce) {
    // Report mode changes nothing: what is wrong now, and what enforce would do.
    prog.found.push_back(p.finding());
    prog.changes.push_back(p.action(false));
    return std::nullopt;
  }
  // The plan holds only for the inode fstat saw: the chmod goes through that same fd, and the
  // mode is a subset of the one observed, so even a racing chmod by the user is never widened.
  const char* failed = nullptr;
  if (chmodFd(fd, *p.mode) != 0)
    failed = "chmod";
  else if (!observe(fd, o, last))
    failed = "fstat";
  if (failed) {
    const int e = errno;
    return prog.stop(Result::kError, errnoText(std::string(what) + ": " + failed, e));
  }
  prog.changes.push_back(p.action(true));
  // The user may change their own file's mode meanwhile: say so rather than claim a repair.
  const RepairPlan left = planFor(o, u, want);
  if (!left.nothingToDo()) {
    UserCheck c = prog.stop(Result::kError,
                            std::string(what) + " changed during the repair: " + left.finding());
    c.raced = true;
    return c;
  }
  return std::nullopt;
}

// Opens name beneath dirfd: no symlink, no "..", no other mount. The final component is not
// followed either, so a symlink there comes back as itself (or as ELOOP) and the planner refuses
// it by type.
int openBeneath(int dirfd, const std::string& name) {
  if (useOpenat2())
    return openat2Path(dirfd, name, O_NOFOLLOW,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
  // name is one component (".ssh", "config"): O_NOFOLLOW keeps it beneath dirfd and returns a
  // symlink as itself; another mount is refused as RESOLVE_NO_XDEV does.
  const int fd = ::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 && !sameMount(dirfd, fd)) {
    ::close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

// Anything left alone keeps the user non-compliant whatever else was repaired.
Result outcome(const Progress& prog, bool enforce) {
  return enforce && !prog.leftAlone ? Result::kRepaired : Result::kNonCompliant;
}

// Maps a failed open of what to an answer: absent, refused, or an error.
UserCheck openFailure(const std::string& what, int e, const Progress& prog) {
  switch (e) {
    case ENOENT:
      return prog.stop(Result::kAbsent, what + " does not exist");
    case ELOOP:
      return prog.stop(Result::kRefused, what + " is a symlink or has one in its path");
    case EXDEV:
      return prog.stop(Result::kRefused, what + " is on another mount");
    case ENOTDIR:
      return prog.stop(Result::kRefused,
                       what + " is not a directory or is beneath a non-directory");
    default:
      return prog.stop(Result::kError, errnoText("open " + what, e));
  }
}

// The common case in two syscalls instead of four: HOME/.ssh opened in one openat2 (no symlink
// anywhere in the path, the last component not followed either), and one statx that observes it
// and says whether it is the root of a mount, which openBeneath's RESOLVE_NO_XDEV would refuse.
// -1 when that cannot be told this way (an error, a mount root, a kernel before 5.8): the caller
// then goes the long way, which also words every refusal and error as before.
int openSshDirFast(const std::string& home, Observed& seen) {
  if (!useOpenat2())
    return -1;
  Fd fd(openat2Path(AT_FDCWD, home + "/.ssh", O_NOFOLLOW,
                    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
  if (fd.get() < 0)
    return -1;
  struct statx x {};
  if (::statx(fd.get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &x) != 0 ||
      (x.stx_mask & STATX_BASIC_STATS) != STATX_BASIC_STATS ||
      !(x.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
      (x.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return -1;
  seen = observedFrom(x);
  return fd.release();
}

}  // namespace

void walkWithoutOpenat2ForTesting(bool on) {
  forceWalk = on;
}

UserCheck checkUser(const UserEntry& u, const std::string& root, mode_t configMode,
                    mode_t sshDirMode, bool enforce) {
  Progress prog;
  if (u.home.empty() || u.home[0] != '/')
    return {Result::kRefused, "home \"" + u.home + "\" is not an absolute path", std::nullopt};
  const std::string home = root + u.home;
  Observed sshSeen;
  Fd sshFd(openSshDirFast(home, sshSeen));
  if (sshFd.get() < 0) {
    // No symlink anywhere in the home's path: a user who controls a parent must not point us at
    // another tree. Homes may be mounts of their own (NFS, autofs), so crossing mounts is fine
    // here.
    Fd homeFd(useOpenat2() ? openat2Path(AT_FDCWD, home, O_DIRECTORY,
                                         RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
                           : walkNoSymlinks(home));
    if (homeFd.get() < 0) {
      const int e = errno;
      return openFailure("home \"" + home + "\"", e, prog);
    }
    sshFd.reset(openBeneath(homeFd.get(), ".ssh"));
    if (sshFd.get() < 0) {
      const int e = errno;
      return openFailure("~/.ssh", e, prog);
    }
    if (auto done = settle(sshFd.get(), "~/.ssh", planSshDir, u, sshDirMode, enforce, prog))
      return *done;
  } else if (auto done = settle(sshFd.get(), "~/.ssh", planSshDir, u, sshDirMode, enforce, prog,
                                &sshSeen)) {
    return *done;
  }

  Fd configFd(openBeneath(sshFd.get(), "config"));
  if (configFd.get() < 0) {
    const int e = errno;
    if (e == ENOENT && !prog.changes.empty())  // ~/.ssh alone was (or would be) repaired
      return prog.result(outcome(prog, enforce));
    return openFailure("~/.ssh/config", e, prog);
  }
  struct stat st {};
  if (auto done = settle(configFd.get(), "~/.ssh/config", planConfig, u, configMode, enforce, prog,
                         nullptr, &st))
    return *done;

  UserCheck done = prog.changes.empty() ? UserCheck{Result::kCompliant, "", std::nullopt}
                                        : prog.result(outcome(prog, enforce));
  if (st.st_ino != 0)  // the last fstat settle() made: after a repair, the one that confirmed it
    done.config = UserCheck::FileId{
        st.st_dev, st.st_ino, st.st_size,
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  return done;
}

}  // namespace keepalive::daemon
