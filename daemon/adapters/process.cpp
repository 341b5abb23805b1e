#include "process.h"

#include "watchdog.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace keepalive::daemon {
namespace {
constexpr std::size_t kMaxOutput = 4 << 20;
}

ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::optional<Credentials>& as,
                         const std::vector<std::string>* environment) {
  ProcessResult r;
  int outp[2], errp[2], execp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0)
    return r.spawn_error = std::strerror(errno), r;
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(outp[0]);
    ::close(outp[1]);
    return r.spawn_error = std::strerror(errno), r;
  }
  if (::pipe2(execp, O_CLOEXEC) != 0) {
    for (int f : {outp[0], outp[1], errp[0], errp[1]})
      ::close(f);
    return r.spawn_error = std::strerror(errno), r;
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

  pid_t pid = ::fork();
  if (pid < 0) {
    for (int f : {outp[0], outp[1], errp[0], errp[1], execp[0], execp[1]})
      ::close(f);
    return r.spawn_error = std::strerror(errno), r;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(outp[1], 1) < 0 || ::dup2(errp[1], 2) < 0)
      goto fail;
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    if (as) {
      // Become the user fully, groups first: ssh's Match exec must never run as root.
      if (::setgroups(as->groups.size(), as->groups.data()) != 0 ||
          ::setresgid(as->gid, as->gid, as->gid) != 0 ||
          ::setresuid(as->uid, as->uid, as->uid) != 0)
        goto fail;
    }
    if (search)
      ::execvpe(args[0], args.data(), env.data());
    else
      ::execve(args[0], args.data(), env.data());
  fail:
    int e = errno;
    (void)!::write(execp[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(outp[1]);
  ::close(errp[1]);
  ::close(execp[1]);
  int childErrno = 0;
  if (::read(execp[0], &childErrno, sizeof childErrno) == sizeof childErrno)
    r.spawn_error = "cannot run " + argv[0] + ": " + std::strerror(childErrno);
  ::close(execp[0]);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    watchdogPing();
    int n = ::poll(fds, 2, static_cast<int>(std::min<long>(left.count(), 1000)));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue;
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
  for (auto& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
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
