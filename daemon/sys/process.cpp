// SPDX-License-Identifier: GPL-2.0-or-later
#include "process.h"

#include "descendants.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keepalive::daemon {
namespace {
constexpr std::size_t kMaxOutput = 4 << 20;
// After the deadline, how long the intermediate may take to kill and reap what is left before
// its process group is killed outright.
constexpr std::chrono::milliseconds kReapGrace{2000};
// In the child, after the standard streams: the exec-error pipe, and the intermediate's go pipe.
constexpr int kExecFd = 3;
constexpr int kGoFd = 4;
// The go byte: the intermediate is in its own cgroup (which bounds the tasks), or it is not.
constexpr char kGoCgroup = 'c';
constexpr char kGoPlain = 'p';

// Everything below runs in a child of a multithreaded process: async-signal-safe calls only.

[[noreturn]] void childFail() {
  int e = errno;
  (void)!::write(kExecFd, &e, sizeof e);
  ::_exit(127);
}

// Moves fds to fixed numbers and closes every other one: nothing the daemon holds (sockets,
// inotify, the bus) reaches a child, whether or not whoever opened it said O_CLOEXEC.
bool keepOnly(int execFd, int goFd) {
  // Out of the way first, so that moving one cannot clobber the other.
  int e = ::fcntl(execFd, F_DUPFD_CLOEXEC, 10);
  int g = goFd >= 0 ? ::fcntl(goFd, F_DUPFD_CLOEXEC, 10) : -1;
  if (e < 0 || (goFd >= 0 && g < 0) || ::dup3(e, kExecFd, O_CLOEXEC) < 0 ||
      (g >= 0 && ::dup3(g, kGoFd, O_CLOEXEC) < 0))
    return false;
  const unsigned first = goFd >= 0 ? kGoFd + 1 : kExecFd + 1;
  if (::close_range(first, ~0u, 0) != 0) {
    // Before Linux 5.9, or a seccomp filter that refuses it.
    rlimit nofile{};
    const rlim_t top = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                           ? std::min<rlim_t>(nofile.rlim_cur, 1 << 20)
                           : 65536;
    for (rlim_t fd = first; fd < top; ++fd)
      ::close(static_cast<int>(fd));
  }
  return true;
}

void defaultSignals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    (void)::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool limit(int resource, rlim_t value) {
  const rlimit r{value, value};
  // prlimit, not setrlimit: the unit's SystemCallFilter=~@resources refuses setrlimit (glibc
  // makes it prlimit64 anyway; this says so).
  return ::prlimit(0, static_cast<__rlimit_resource>(resource), &r, nullptr) == 0;
}

// The child's own mount namespace, with `dir` an empty directory on a tmpfs over `parent`.
// Private first, recursively: the tmpfs must not propagate back to the host's namespace.
bool privateView(const char* parent, const char* dir) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("tmpfs", parent, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") !=
          0 ||
      ::mkdir(dir, 0755) != 0)
    return false;
  return ::chmod(dir, 0755) == 0;  // whatever the umask took away
}

[[noreturn]] void becomeAndExec(char** args, char** env, bool search,
                                const std::optional<Credentials>& as) {
  if (as) {
    // Become the user fully, groups first: ssh's Match exec must never run as root.
    if (::setgroups(as->groups.size(), as->groups.data()) != 0 ||
        ::setresgid(as->gid, as->gid, as->gid) != 0 || ::setresuid(as->uid, as->uid, as->uid) != 0)
      childFail();
  }
  if (search)
    ::execvpe(args[0], args, env);
  else
    ::execve(args[0], args, env);
  childFail();
}

// The intermediate: root, its own process group (the child's setpgid), a subreaper. Waits for
// the go byte (the daemon has put it into its cgroup, or found none), forks the user's side,
// and ends every process below it when that side ends or the daemon says so (SIGTERM at the
// deadline; the parent thread's death). Exits as the user's side did.
[[noreturn]] void intermediate(char** args, char** env, bool search,
                               const std::optional<Credentials>& as, const Containment& c,
                               std::optional<unsigned> nproc, pid_t parent) {
  sigset_t wake;
  sigemptyset(&wake);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
    sigaddset(&wake, sig);
  ::sigprocmask(SIG_BLOCK, &wake, nullptr);
  if (!descendants::becomeSubreaper() || ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0)
    childFail();
  if (::getppid() != parent)
    ::_exit(127);  // the daemon is gone already
  char go = 0;
  ssize_t got;
  while ((got = ::read(kGoFd, &go, 1)) < 0 && errno == EINTR) {
  }
  ::close(kGoFd);
  if (got != 1)
    ::_exit(127);  // the daemon gave up on the run before it started

  const pid_t user = ::fork();
  if (user < 0)
    childFail();
  if (user == 0) {
    defaultSignals();
    (void)::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);  // not inherited; said for the reader
    // Limits before the credentials: lowering needs no privilege, but RLIMIT_NPROC is checked
    // against the user's count at setresuid and at every fork after it.
    if (!limit(RLIMIT_CPU, c.cpuSeconds) || !limit(RLIMIT_AS, c.addressSpace) ||
        !limit(RLIMIT_CORE, 0) || (go == kGoPlain && nproc && !limit(RLIMIT_NPROC, *nproc)))
      childFail();
    becomeAndExec(args, env, search, as);
  }
  // Only the user's side writes exec errors now; closing ours lets the daemon see its exec.
  ::close(kExecFd);
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::close(devnull);
  }
  int status = 0;
  bool ended = false;
  for (;;) {
    siginfo_t si;
    const int sig = ::sigwaitinfo(&wake, &si);
    if (sig < 0)
      continue;
    if (sig != SIGCHLD)
      break;
    // Orphans of the run come here too: reap them as they die, and note the user's side.
    int st;
    pid_t p;
    while ((p = ::waitpid(-1, &st, WNOHANG | __WALL)) > 0)
      if (p == user)
        status = st, ended = true;
    if (ended)
      break;
  }
  descendants::killAndReapAll();
  if (ended && WIFEXITED(status))
    ::_exit(WEXITSTATUS(status));
  ::kill(::getpid(), SIGKILL);
  ::_exit(127);
}

}  // namespace

std::optional<unsigned> countProcessesOf(uid_t uid) {
  {
    // hidepid=1/2 (ProtectProc=): other users' processes are not listed, the count would be low.
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mi, line)) {
      std::istringstream f(line);
      std::string id, parent, devno, root, mountPoint;
      f >> id >> parent >> devno >> root >> mountPoint;
      if (mountPoint != "/proc")
        continue;
      const auto at = line.find("hidepid=");
      if (at != std::string::npos && line.compare(at, 9, "hidepid=0") != 0 &&
          line.compare(at, 11, "hidepid=off") != 0)
        return std::nullopt;
    }
  }
  DIR* d = ::opendir("/proc");
  if (!d)
    return std::nullopt;
  unsigned n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    std::ifstream st(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    unsigned threads = 1;
    bool mine = false;
    while (std::getline(st, line)) {
      if (line.starts_with("Uid:")) {
        std::istringstream f(line.substr(4));
        uid_t real = 0;
        mine = (f >> real) && real == uid;
      } else if (line.starts_with("Threads:")) {
        threads = static_cast<unsigned>(std::stoul(line.substr(8)));
      }
    }
    // The kernel counts tasks, threads included.
    if (mine)
      n += threads;
  }
  ::closedir(d);
  return n;
}

Spawned spawnProcess(const std::vector<std::string>& argv, const std::optional<Credentials>& as,
                     const std::vector<std::string>* environment, const Containment* contain,
                     const std::string* privateDir, bool dieWithParent) {
  Spawned sp;
  // Its parent, computed here: the child may not allocate.
  std::string privateParent;
  if (privateDir) {
    const auto slash = privateDir->rfind('/');
    if (privateDir->empty() || (*privateDir)[0] != '/' || slash == 0 ||
        slash + 1 == privateDir->size())
      return sp.error = "no private \"" + *privateDir + "\" for the child: not a path below /", sp;
    privateParent = privateDir->substr(0, slash);
  }
  int outp[2], errp[2], execp[2], gop[2] = {-1, -1};
  if (::pipe2(outp, O_CLOEXEC) != 0)
    return sp.error = std::strerror(errno), sp;
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(outp[0]);
    ::close(outp[1]);
    return sp.error = std::strerror(errno), sp;
  }
  if (::pipe2(execp, O_CLOEXEC) != 0 || (contain && ::pipe2(gop, O_CLOEXEC) != 0)) {
    for (int f : {outp[0], outp[1], errp[0], errp[1], execp[0], execp[1]})
      if (f >= 0)
        ::close(f);
    return sp.error = std::strerror(errno), sp;
  }
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  static const std::vector<std::string> kClean = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  std::vector<char*> env;
  for (const auto& e : environment ? *environment : kClean)
    env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  const bool search = argv[0].find('/') == std::string::npos;
  // Counted here: the child may not allocate. The run may start up to `tasks` more.
  std::optional<unsigned> nproc;
  if (contain && as)
    if (auto n = countProcessesOf(as->uid))
      nproc = *n + contain->tasks;
  const pid_t self = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    for (int f : {outp[0], outp[1], errp[0], errp[1], execp[0], execp[1], gop[0], gop[1]})
      if (f >= 0)
        ::close(f);
    return sp.error = std::strerror(errno), sp;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    if (dieWithParent && (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || ::getppid() != self))
      ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(outp[1], 1) < 0 || ::dup2(errp[1], 2) < 0 ||
        !keepOnly(execp[1], contain ? gop[0] : -1)) {
      int e = errno;
      (void)!::write(execp[1], &e, sizeof e);
      ::_exit(127);
    }
    if (privateDir && !privateView(privateParent.c_str(), privateDir->c_str()))
      childFail();
    if (contain)
      intermediate(args.data(), env.data(), search, as, *contain, nproc, self);
    defaultSignals();
    becomeAndExec(args.data(), env.data(), search, as);
  }
  ::close(outp[1]);
  ::close(errp[1]);
  ::close(execp[1]);
  if (contain)
    ::close(gop[0]);
  sp.pid = pid;
  sp.out = outp[0];
  sp.err = errp[0];
  sp.exec = execp[0];
  sp.go = gop[1];
  return sp;
}

std::string execError(const std::string& program, int childErrno) {
  return "cannot run " + program + ": " + std::strerror(childErrno);
}

ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::optional<Credentials>& as,
                         const std::vector<std::string>* environment, const Containment* contain) {
  ProcessResult r;
  Spawned sp = spawnProcess(argv, as, environment, contain);
  if (sp.pid < 0)
    return r.spawn_error = sp.error, r;
  const pid_t pid = sp.pid;
  int outp0 = sp.out, errp0 = sp.err;
  int execp[2] = {sp.exec, -1};
  int gop[2] = {-1, sp.go};
  // A pidfd says when the child has ended: the wait for its end has the deadline too, where a
  // blocking waitpid after the pipes' EOF had none.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (contain) {
    const bool bounded = contain->enter && contain->enter(pid);
    const char go = bounded ? kGoCgroup : kGoPlain;
    (void)!::write(gop[1], &go, 1);
    ::close(gop[1]);
  }
  int childErrno = 0;
  if (::read(execp[0], &childErrno, sizeof childErrno) == sizeof childErrno)
    r.spawn_error = execError(argv[0], childErrno);
  ::close(execp[0]);

  auto hardDeadline = deadline;
  pollfd fds[3] = {{outp0, POLLIN, 0}, {errp0, POLLIN, 0}, {pidfd, POLLIN, 0}};
  int open = 2;
  bool exited = pidfd < 0;  // without a pidfd, the pipes' EOF stands for the end, as before
  while (open > 0 || !exited) {
    const auto now = std::chrono::steady_clock::now();
    if (!r.timed_out && now >= deadline) {
      r.timed_out = true;
      if (contain) {
        // The intermediate kills the run, escaped processes included; we wait for that.
        ::kill(pid, SIGTERM);
        hardDeadline = now + kReapGrace;
      }
    }
    if (r.timed_out && now >= hardDeadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        (r.timed_out ? hardDeadline : deadline) - now);
    int n = ::poll(fds, 3, static_cast<int>(std::clamp<long>(left.count(), 1, 1000)));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue;
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      exited = true;
      fds[2].fd = -1;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[8192];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        std::string& dst = i == 0 ? r.out : r.err;
        if (dst.size() < kMaxOutput)
          dst.append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (int i = 0; i < 2; ++i)
    if (fds[i].fd >= 0)
      ::close(fds[i].fd);
  if (pidfd >= 0)
    ::close(pidfd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (contain && contain->enter && contain->leave)
    contain->leave();
  if (!r.timed_out && WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  return r;
}

std::optional<Credentials> nobodyCredentials() {
  struct passwd pw {};
  struct passwd* res = nullptr;
  char buf[4096];
  if (::getpwnam_r("nobody", &pw, buf, sizeof buf, &res) == 0 && res)
    return Credentials{pw.pw_uid, pw.pw_gid};
  return std::nullopt;
}

Credentials credentialsFor(const std::string& name, uid_t uid, gid_t gid) {
  Credentials c{uid, gid};
  c.groups = {gid};
  struct passwd pw {};
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res ||
      pw.pw_uid != uid)
    return c;
  int n = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  while (::getgrouplist(name.c_str(), gid, groups.data(), &n) < 0) {
    // n now holds the count needed; a group added meanwhile can grow it again.
    if (n <= static_cast<int>(groups.size()))
      n = static_cast<int>(groups.size()) * 2;
    groups.resize(static_cast<std::size_t>(n));
  }
  groups.resize(static_cast<std::size_t>(n));
  c.groups = std::move(groups);
  return c;
}

}  // namespace keepalive::daemon
