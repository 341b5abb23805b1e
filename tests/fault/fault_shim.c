// SPDX-License-Identifier: GPL-2.0-or-later
/* An LD_PRELOAD library that injects faults into keepalive-policyd's write path, for
 * tests/fault. It only ever touches calls on files whose path contains
 * KEEPALIVE_FAULT_MATCH (default "00-keepalive-policy.conf": our drop-ins and their temporary
 * files); every other call goes straight to libc.
 *
 * Faults, each enabled by an environment variable set to 1:
 *   KEEPALIVE_FAULT_FSYNC_EIO              fsync/fdatasync fail with EIO
 *   KEEPALIVE_FAULT_FSYNC_DIR_EIO          fsync/fdatasync of a directory that holds a file
 *                                          named 00-keepalive-policy.conf fail with EIO (the
 *                                          fsync after the rename)
 *   KEEPALIVE_FAULT_WRITE_ENOSPC           write fails with ENOSPC; "short" instead writes the
 *                                          first half for real and fails the next call with
 *                                          ENOSPC, as a disk filling up mid-write does
 *   KEEPALIVE_FAULT_STOP_BEFORE_RENAME     rename/renameat/renameat2 raise SIGSTOP first
 *   KEEPALIVE_FAULT_STOP_AFTER_TEMP_WRITE  a successful write raises SIGSTOP after it
 * Timing, counted per fault over the matching calls only:
 *   KEEPALIVE_FAULT_AFTER=N   let the first N matching calls through (the first apply)
 *   KEEPALIVE_FAULT_TIMES=M   inject at most M times (default: every matching call after N)
 * Each injection is announced on stderr as "fault-shim: ..." so that a test can wait for it.
 *
 * And a budget, not counted by AFTER/TIMES:
 *   KEEPALIVE_FAULT_INOTIFY_WATCHES=N      inotify_add_watch on paths holding KEEPALIVE_FAULT_MATCH
 *                                          fails with ENOSPC while N such watches are live, as
 *                                          when fs.inotify.max_user_watches is used up; a
 *                                          watch given back with inotify_rm_watch frees its slot
 *
 * And a race, not counted by AFTER/TIMES:
 *   KEEPALIVE_FAULT_RACE_CHMOD=N           the first N successful chmod() calls (or fchmodat2 on
 *                                          an fd, through syscall()) on a file whose
 *                                          path (through /proc/self/fd links too) holds
 *                                          KEEPALIVE_FAULT_MATCH are followed by a chmod 0666 of
 *                                          the same file, as a user's own chmod racing a repair
 *
 * And one probe, not a fault: KEEPALIVE_FAULT_STOP_ON_LOG=TEXT raises SIGSTOP right after the
 * daemon wrote a log line holding TEXT to stderr, every time, so that a test can look at the
 * files at the moment the daemon reports an outcome, before it handles any later event; the
 * test resumes it with SIGCONT. spdlog logs with fwrite, whose writes libc makes internally,
 * so fwrite is watched as well as write.
 *
 * keepalive-policyd execs its helpers (sshd -t, ssh -G) with a fixed environment, so this
 * library never reaches them; it also drops LD_PRELOAD from its own environment to be sure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum Fault { kFsync, kFsyncDir, kWrite, kStopRename, kStopWrite, kFaults };

static const char* const kEnv[kFaults] = {
    "KEEPALIVE_FAULT_FSYNC_EIO", "KEEPALIVE_FAULT_FSYNC_DIR_EIO", "KEEPALIVE_FAULT_WRITE_ENOSPC",
    "KEEPALIVE_FAULT_STOP_BEFORE_RENAME", "KEEPALIVE_FAULT_STOP_AFTER_TEMP_WRITE"};
static const char kDropIn[] = "00-keepalive-policy.conf";

static int enabled[kFaults];
static long seen[kFaults];     /* matching calls so far */
static long injected[kFaults]; /* faults injected so far */
static long after_n;
static long times_m = -1; /* -1: unlimited */
static int short_write;   /* WRITE_ENOSPC=short */
static char match[PATH_MAX] = "00-keepalive-policy.conf";
static char stop_on_log[256]; /* "" when off */
/* The fd (and inode, as fds are reused) that got a short write: its next write fails. */
static int short_fd = -1;
static ino_t short_ino;

static ssize_t (*real_write)(int, const void*, size_t);
static size_t (*real_fwrite)(const void*, size_t, size_t, FILE*);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_renameat2)(int, const char*, int, const char*, unsigned);

static int (*real_inotify_add_watch)(int, const char*, uint32_t);
static int (*real_inotify_rm_watch)(int, int);
static long race_chmods; /* KEEPALIVE_FAULT_RACE_CHMOD left */
static int (*real_chmod)(const char*, mode_t);
static long (*real_syscall)(long, ...);
static long watch_budget = -1; /* -1: no budget */
static int budget_wds[4096];   /* the live watches counted against it */
static long budget_used;

static void resolve(void) {
  if (real_write)
    return;
  real_write = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  real_fwrite = (size_t(*)(const void*, size_t, size_t, FILE*))dlsym(RTLD_NEXT, "fwrite");
  real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  real_rename = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  real_renameat = (int (*)(int, const char*, int, const char*))dlsym(RTLD_NEXT, "renameat");
  real_renameat2 =
      (int (*)(int, const char*, int, const char*, unsigned))dlsym(RTLD_NEXT, "renameat2");
  real_inotify_add_watch =
      (int (*)(int, const char*, uint32_t))dlsym(RTLD_NEXT, "inotify_add_watch");
  real_inotify_rm_watch = (int (*)(int, int))dlsym(RTLD_NEXT, "inotify_rm_watch");
  real_chmod = (int (*)(const char*, mode_t))dlsym(RTLD_NEXT, "chmod");
  real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
}

__attribute__((constructor)) static void init(void) {
  resolve();
  int any = 0;
  for (int i = 0; i < kFaults; ++i) {
    const char* v = getenv(kEnv[i]);
    enabled[i] = v && *v && strcmp(v, "0") != 0;
    any |= enabled[i];
  }
  const char* w = getenv("KEEPALIVE_FAULT_WRITE_ENOSPC");
  short_write = w && strcmp(w, "short") == 0;
  if (getenv("KEEPALIVE_FAULT_AFTER"))
    after_n = strtol(getenv("KEEPALIVE_FAULT_AFTER"), NULL, 10);
  if (getenv("KEEPALIVE_FAULT_TIMES"))
    times_m = strtol(getenv("KEEPALIVE_FAULT_TIMES"), NULL, 10);
  if (getenv("KEEPALIVE_FAULT_MATCH") && *getenv("KEEPALIVE_FAULT_MATCH"))
    snprintf(match, sizeof match, "%s", getenv("KEEPALIVE_FAULT_MATCH"));
  if (getenv("KEEPALIVE_FAULT_STOP_ON_LOG")) {
    snprintf(stop_on_log, sizeof stop_on_log, "%s", getenv("KEEPALIVE_FAULT_STOP_ON_LOG"));
    any |= stop_on_log[0] != '\0';
  }
  if (getenv("KEEPALIVE_FAULT_RACE_CHMOD")) {
    race_chmods = strtol(getenv("KEEPALIVE_FAULT_RACE_CHMOD"), NULL, 10);
    any = 1;
  }
  if (getenv("KEEPALIVE_FAULT_INOTIFY_WATCHES")) {
    watch_budget = strtol(getenv("KEEPALIVE_FAULT_INOTIFY_WATCHES"), NULL, 10);
    if (watch_budget > (long)(sizeof budget_wds / sizeof budget_wds[0]))
      watch_budget = sizeof budget_wds / sizeof budget_wds[0];
    any = 1;
  }
  unsetenv("LD_PRELOAD");
  if (any) {
    char line[256];
    int n = snprintf(line, sizeof line, "fault-shim: loaded in pid %d (after %ld, times %ld)\n",
                     (int)getpid(), after_n, times_m);
    if (n > 0)
      (void)!real_write(2, line, (size_t)n);
  }
}

static void say(const char* what, const char* path) {
  char line[PATH_MAX + 128];
  int n = snprintf(line, sizeof line, "fault-shim: %s \"%s\"\n", what, path);
  if (n > 0)
    (void)!real_write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int fdPath(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, size - 1);
  if (n < 0)
    return -1;
  out[n] = '\0';
  return 0;
}

/* dirfd + name as an absolute path, for the *at calls. */
static void atPath(int dirfd, const char* name, char* out, size_t size) {
  char dir[PATH_MAX];
  int n;
  if (name[0] == '/' || dirfd == AT_FDCWD || fdPath(dirfd, dir, sizeof dir) != 0)
    n = snprintf(out, size, "%s", name);
  else
    n = snprintf(out, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size) /* too long to be ours: match the name alone */
    snprintf(out, size, "%.*s", (int)(size - 1), name);
}

/* Counts a matching call; true when this one gets the fault. */
static int due(enum Fault f) {
  if (!enabled[f])
    return 0;
  if (seen[f]++ < after_n)
    return 0;
  if (times_m >= 0 && injected[f] >= times_m)
    return 0;
  ++injected[f];
  return 1;
}

static int fdMatches(int fd, char* path, size_t size) {
  return fdPath(fd, path, size) == 0 && strstr(path, match) != NULL;
}

static void stopHere(const char* what, const char* path) {
  say(what, path);
  raise(SIGSTOP);
}

static int logHolds(const void* buf, size_t count) {
  return stop_on_log[0] && memmem(buf, count, stop_on_log, strlen(stop_on_log)) != NULL;
}

static void stopAfterLog(void) {
  int e = errno;
  stopHere("SIGSTOP after logging", stop_on_log);
  errno = e;
}

size_t fwrite(const void* buf, size_t size, size_t n, FILE* stream) {
  resolve();
  if (stream != stderr || size == 0 || !logHolds(buf, size * n))
    return real_fwrite(buf, size, n, stream);
  size_t r = real_fwrite(buf, size, n, stream);
  fflush(stream); /* the line is out before the stop */
  stopAfterLog();
  return r;
}

ssize_t write(int fd, const void* buf, size_t count) {
  resolve();
  if (fd == 2 && logHolds(buf, count)) {
    ssize_t r = real_write(fd, buf, count);
    stopAfterLog();
    return r;
  }
  if (!enabled[kWrite] && !enabled[kStopWrite])
    return real_write(fd, buf, count);
  char path[PATH_MAX];
  if (fd <= 2 || !fdMatches(fd, path, sizeof path))
    return real_write(fd, buf, count);
  if (due(kWrite)) {
    struct stat sb;
    int haveIno = fstat(fd, &sb) == 0;
    if (short_write && count > 1 && !(fd == short_fd && haveIno && sb.st_ino == short_ino)) {
      short_fd = fd;
      short_ino = haveIno ? sb.st_ino : 0;
      say("short write (half, then ENOSPC) to", path);
      return real_write(fd, buf, count / 2);
    }
    say("write -> ENOSPC on", path);
    errno = ENOSPC;
    return -1;
  }
  ssize_t r = real_write(fd, buf, count);
  if (r > 0 && due(kStopWrite)) {
    int e = errno;
    stopHere("SIGSTOP after a write to", path);
    errno = e;
  }
  return r;
}

static int failSync(int fd) {
  if (!enabled[kFsync] && !enabled[kFsyncDir])
    return 0;
  char path[PATH_MAX];
  struct stat sb, entry;
  if (fstat(fd, &sb) != 0)
    return 0;
  if (S_ISDIR(sb.st_mode)) {
    if (!enabled[kFsyncDir] || fstatat(fd, kDropIn, &entry, AT_SYMLINK_NOFOLLOW) != 0 ||
        fdPath(fd, path, sizeof path) != 0 || !due(kFsyncDir))
      return 0;
  } else if (!enabled[kFsync] || !fdMatches(fd, path, sizeof path) || !due(kFsync)) {
    return 0;
  }
  say("fsync -> EIO on", path);
  errno = EIO;
  return 1;
}

int fsync(int fd) {
  resolve();
  return failSync(fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd) {
  resolve();
  return failSync(fd) ? -1 : real_fdatasync(fd);
}

static void maybeStopBeforeRename(int olddirfd, const char* oldpath, int newdirfd,
                                  const char* newpath) {
  if (!enabled[kStopRename])
    return;
  char from[PATH_MAX], to[PATH_MAX];
  atPath(olddirfd, oldpath, from, sizeof from);
  atPath(newdirfd, newpath, to, sizeof to);
  if ((strstr(from, match) || strstr(to, match)) && due(kStopRename)) {
    int e = errno;
    stopHere("SIGSTOP before renaming into", to);
    errno = e;
  }
}

int rename(const char* oldpath, const char* newpath) {
  resolve();
  maybeStopBeforeRename(AT_FDCWD, oldpath, AT_FDCWD, newpath);
  return real_rename(oldpath, newpath);
}

int renameat(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) {
  resolve();
  maybeStopBeforeRename(olddirfd, oldpath, newdirfd, newpath);
  return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
              unsigned flags) {
  resolve();
  maybeStopBeforeRename(olddirfd, oldpath, newdirfd, newpath);
  if (!real_renameat2) {
    errno = ENOSYS;
    return -1;
  }
  return real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* The budget is process-wide, as the kernel's is per user: the daemon adds watches from its loop
 * and from its workers, so the count is kept under a lock. */
#include <pthread.h>
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;

int inotify_add_watch(int fd, const char* path, uint32_t mask) {
  resolve();
  if (watch_budget < 0 || !strstr(path, match))
    return real_inotify_add_watch(fd, path, mask);
  pthread_mutex_lock(&budget_lock);
  int wd = -1;
  if (budget_used >= watch_budget) {
    errno = ENOSPC;
  } else {
    wd = real_inotify_add_watch(fd, path, mask);
    int known = 0;
    for (long i = 0; wd >= 0 && i < budget_used; ++i)
      known |= budget_wds[i] == wd; /* the same inode again: the same watch */
    if (wd >= 0 && !known)
      budget_wds[budget_used++] = wd;
  }
  pthread_mutex_unlock(&budget_lock);
  if (wd < 0 && errno == ENOSPC)
    say("inotify_add_watch ENOSPC", path);
  return wd;
}

int inotify_rm_watch(int fd, int wd) {
  resolve();
  pthread_mutex_lock(&budget_lock);
  for (long i = 0; i < budget_used; ++i)
    if (budget_wds[i] == wd) {
      budget_wds[i] = budget_wds[--budget_used];
      break;
    }
  pthread_mutex_unlock(&budget_lock);
  return real_inotify_rm_watch(fd, wd);
}

/* The daemon chmods through /proc/self/fd/N: the link names the file. */
int chmod(const char* path, mode_t mode) {
  resolve();
  int r = real_chmod(path, mode);
  if (r != 0 || race_chmods <= 0)
    return r;
  char target[PATH_MAX];
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0)
    snprintf(target, sizeof target, "%s", path);
  else
    target[n] = '\0';
  if (strstr(target, match) && mode != 0666) {
    --race_chmods;
    int saved = errno;
    if (real_chmod(path, 0666) == 0)
      say("raced with a chmod 0666", target);
    errno = saved;
  }
  return r;
}

/* The daemon chmods with fchmodat2(fd, "", mode, AT_EMPTY_PATH) through syscall() where the
 * kernel has it (6.6): the same race, on the same file. Every other syscall() goes through
 * untouched (six arguments, as glibc's own syscall() takes them). */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
/* Reads six arguments whatever the caller passed, as glibc's own syscall() does from registers
 * and the stack: defined for the ABI, but the sixth is past a shorter call's frame, which
 * AddressSanitizer would report. */
__attribute__((no_sanitize("address"))) long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; ++i)
    a[i] = va_arg(ap, long);
  va_end(ap);
  if (!real_syscall)
    real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  long r = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (number != SYS_fchmodat2 || r != 0 || race_chmods <= 0)
    return r;
  const char* name = (const char*)a[1];
  char target[PATH_MAX];
  if (!name || *name || fdPath((int)a[0], target, sizeof target) != 0)
    return r;
  if (strstr(target, match) && (mode_t)a[2] != 0666) {
    --race_chmods;
    int saved = errno;
    if (real_syscall(SYS_fchmodat2, a[0], (long)"", (long)0666, a[3]) == 0)
      say("raced with a chmod 0666", target);
    errno = saved;
  }
  return r;
}
