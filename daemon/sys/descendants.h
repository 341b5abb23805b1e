// SPDX-License-Identifier: GPL-2.0-or-later
// Ending every process a run started, also those that called setsid or double-forked: the
// caller is a child subreaper (PR_SET_CHILD_SUBREAPER), so every orphan among its descendants
// becomes its child, and killing children until none is left kills them all. Shared by the
// daemon's intermediate process (root, between a fork and an exec: async-signal-safe only, no
// allocation) and the per-user helper (the user: it only ever signals its own children, never
// kill(-1), which would hit every process of the user).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace keepalive::daemon::descendants {

namespace detail {

// "/proc/self/task/" + tid + "/children", without snprintf.
inline void childrenPath(char (&buf)[64]) {
  const char* head = "/proc/self/task/";
  char* p = buf;
  while (*head)
    *p++ = *head++;
  char digits[16];
  int n = 0;
  for (auto tid = static_cast<unsigned long>(::syscall(SYS_gettid)); tid || !n; tid /= 10)
    digits[n++] = static_cast<char>('0' + tid % 10);
  while (n)
    *p++ = digits[--n];
  for (const char* tail = "/children"; *tail;)
    *p++ = *tail++;
  *p = '\0';
}

// Calls f(pid) for each number in the stream of fd (space separated), across read boundaries.
template <typename F>
bool forEachNumber(int fd, F&& f) {
  char buf[4096];
  long cur = -1;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] >= '0' && buf[i] <= '9') {
        cur = (cur < 0 ? 0 : cur * 10) + (buf[i] - '0');
      } else if (cur >= 0) {
        f(static_cast<pid_t>(cur));
        cur = -1;
      }
    }
  }
  if (cur >= 0)
    f(static_cast<pid_t>(cur));
  return true;
}

// Our children by the 4th field of each /proc/PID/stat (after the last ')': the name may
// hold anything): for kernels without CONFIG_PROC_CHILDREN.
template <typename F>
void forEachChildByScan(F&& f) {
  const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return;
  const pid_t self = ::getpid();
  alignas(8) char ents[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, ents, sizeof ents);
    if (n <= 0)
      break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(ents + off);
      off += d->d_reclen;
      if (d->d_name[0] < '1' || d->d_name[0] > '9')
        continue;
      char path[64] = "/proc/";
      int len = 6;
      for (const char* s = d->d_name; *s && len < 50; ++s)
        path[len++] = *s;
      for (const char* s = "/stat"; *s;)
        path[len++] = *s++;
      path[len] = '\0';
      const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      char stat[1024];
      const ssize_t got = ::read(fd, stat, sizeof stat - 1);
      ::close(fd);
      if (got <= 0)
        continue;
      stat[got] = '\0';
      const char* rp = nullptr;
      for (const char* s = stat; *s; ++s)
        if (*s == ')')
          rp = s;
      // ") S PPID ..."
      if (!rp || !rp[1] || !rp[2] || !rp[3])
        continue;
      long ppid = 0;
      for (const char* s = rp + 4; *s >= '0' && *s <= '9'; ++s)
        ppid = ppid * 10 + (*s - '0');
      if (ppid != self)
        continue;
      long pid = 0;
      for (const char* s = d->d_name; *s >= '0' && *s <= '9'; ++s)
        pid = pid * 10 + (*s - '0');
      f(static_cast<pid_t>(pid));
    }
  }
  ::close(dir);
}

}  // namespace detail

// Calls f(pid) for each child of the calling thread (zombies included). The caller must be
// single-threaded: each thread has its own children.
template <typename F>
void forEachChild(F&& f) {
  char path[64];
  detail::childrenPath(path);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    detail::forEachChildByScan(f);
    return;
  }
  if (!detail::forEachNumber(fd, f))
    detail::forEachChildByScan(f);
  ::close(fd);
}

// Makes the caller the reaper of its orphaned descendants. Call before the first fork.
inline bool becomeSubreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

// SIGKILL to every child, reap, and again, until waitpid says there are no children at all:
// a killed child's own children come to us (we are their subreaper) before it can be reaped,
// and a child forked between the listing and the kill is listed the next round. A pid we have
// not reaped cannot be reused, so each kill hits the process listed. Returns how many were
// killed (a process may be counted more than once when it outlives a round).
inline unsigned killAndReapAll() {
  unsigned killed = 0;
  for (;;) {
    forEachChild([&](pid_t p) {
      if (::kill(p, SIGKILL) == 0)
        ++killed;
    });
    pid_t r;
    while ((r = ::waitpid(-1, nullptr, __WALL)) < 0 && errno == EINTR) {
    }
    if (r < 0)
      return killed;  // ECHILD: nothing is left
    while (::waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {
    }
  }
}

}  // namespace keepalive::daemon::descendants
