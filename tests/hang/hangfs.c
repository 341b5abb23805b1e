// SPDX-License-Identifier: GPL-2.0-or-later
// hangfs: a FUSE fake home for tests of keepalive-policyd's bounded user checks. It serves
//   /            (--home-mode, default 0755, owner --uid:--gid)
//   /.ssh/       (--ssh-mode, default 0700, owner --uid:--gid)
//   /.ssh/config (--config-mode, default 0644, owner --config-uid:--config-gid, default
//   --uid:--gid)
// and plays the failures of a remote home:
//   --gate PATH         while PATH (outside the mount) exists, every operation blocks, as on a
//                       dead NFS server with a hard mount; it resumes when PATH is removed.
//   --refuse            chmod and chown fail with --refuse-errno (default EACCES), as root_squash
//   --refuse-file PATH  ... but only while PATH exists, so a test can turn it on and off.
//   --stats FILE        after every change, FILE (replaced by rename, never half written) holds
//                       "blocked N\nrequests N\nchmod N\nchown N\nrefused N\n": operations waiting
//                       at the gate now, operations served, chmod and chown calls (refused ones
//                       included), and the refused ones.
//   --watch-pid PID     when PID exits, detach the mount and exit: a crashed test leaves no mount.
// Always in the foreground (-f is accepted). Mounted allow_other,default_permissions with every
// cache timeout 0, so each access of any user reaches this process and the kernel checks modes as
// on a disk. Contents are read-only (EROFS); chmod and chown change the served attributes.
#define _GNU_SOURCE
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct node {
  const char* path;
  ino_t ino;
  mode_t mode;  // type and permissions
  uid_t uid;
  gid_t gid;
  struct timespec mtime;
  struct timespec ctime;
};

enum { kRoot, kSsh, kConfig, kNodes };

static struct node nodes[kNodes] = {
    {"/", 1, S_IFDIR | 0755, 0, 0, {0, 0}, {0, 0}},
    {"/.ssh", 2, S_IFDIR | 0700, 0, 0, {0, 0}, {0, 0}},
    {"/.ssh/config", 3, S_IFREG | 0644, 0, 0, {0, 0}, {0, 0}},
};

static const char kConfigText[] = "Host *\n  ServerAliveInterval 30\n";

static struct {
  const char* mountpoint;
  const char* gate;
  const char* refuse_file;
  const char* stats;
  int refuse;
  int refuse_errno;
  pid_t watch_pid;
} opt = {.refuse_errno = EACCES};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct { unsigned blocked, requests, chmod, chown, refused; } stats;

// Call with lock held. Written beside FILE and renamed over it: a reader sees a whole file.
static void write_stats(void) {
  if (!opt.stats)
    return;
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", opt.stats) >= (int)sizeof tmp)
    return;
  FILE* f = fopen(tmp, "we");
  if (!f)
    return;
  fprintf(f, "blocked %u\nrequests %u\nchmod %u\nchown %u\nrefused %u\n", stats.blocked,
          stats.requests, stats.chmod, stats.chown, stats.refused);
  if (fclose(f) == 0)
    rename(tmp, opt.stats);
  else
    unlink(tmp);
}

static int exists(const char* path) {
  return path && access(path, F_OK) == 0;
}

// Every operation starts here. Polling is fine for a fixture: it plays a dead server.
static void enter(void) {
  if (exists(opt.gate)) {
    struct fuse_session* se = fuse_get_session(fuse_get_context()->fuse);
    pthread_mutex_lock(&lock);
    stats.blocked++;
    write_stats();
    pthread_mutex_unlock(&lock);
    const struct timespec tick = {0, 5 * 1000 * 1000};
    while (exists(opt.gate) && !fuse_session_exited(se))
      nanosleep(&tick, NULL);
    pthread_mutex_lock(&lock);
    stats.blocked--;
    write_stats();
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  stats.requests++;
  write_stats();
  pthread_mutex_unlock(&lock);
}

static struct node* find(const char* path) {
  for (int i = 0; i < kNodes; i++)
    if (strcmp(path, nodes[i].path) == 0)
      return &nodes[i];
  return NULL;
}

static void* hang_init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  (void)conn;
  // Nothing cached: each stat, lookup and permission check reaches us (and the gate).
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->use_ino = 1;
  return NULL;
}

static int hang_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  (void)fi;
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&lock);
  st->st_ino = n->ino;
  st->st_mode = n->mode;
  st->st_uid = n->uid;
  st->st_gid = n->gid;
  st->st_nlink = S_ISDIR(n->mode) ? (n == &nodes[kRoot] ? 3 : 2) : 1;
  st->st_size = S_ISDIR(n->mode) ? 0 : (off_t)(sizeof kConfigText - 1);
  st->st_blksize = 4096;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_atim = n->mtime;
  st->st_mtim = n->mtime;
  st->st_ctim = n->ctime;
  pthread_mutex_unlock(&lock);
  return 0;
}

static int hang_opendir(const char* path, struct fuse_file_info* fi) {
  (void)fi;
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  return S_ISDIR(n->mode) ? 0 : -ENOTDIR;
}

static int hang_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t off,
                        struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  if (!S_ISDIR(n->mode))
    return -ENOTDIR;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, n == &nodes[kRoot] ? ".ssh" : "config", NULL, 0, 0);
  return 0;
}

static int hang_releasedir(const char* path, struct fuse_file_info* fi) {
  (void)path;
  (void)fi;
  enter();
  return 0;
}

static int hang_open(const char* path, struct fuse_file_info* fi) {
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
    return -EROFS;
  return 0;
}

static int hang_read(const char* path, char* buf, size_t size, off_t off,
                     struct fuse_file_info* fi) {
  (void)path;
  (void)fi;
  enter();
  size_t len = sizeof kConfigText - 1;
  if (off < 0 || (size_t)off >= len)
    return 0;
  if (size > len - (size_t)off)
    size = len - (size_t)off;
  memcpy(buf, kConfigText + off, size);
  return (int)size;
}

static int hang_flush(const char* path, struct fuse_file_info* fi) {
  (void)path;
  (void)fi;
  enter();
  return 0;
}

static int hang_release(const char* path, struct fuse_file_info* fi) {
  (void)path;
  (void)fi;
  enter();
  return 0;
}

// Counts the call, then says whether it is refused. Call with lock held.
static int refused(unsigned* counter) {
  (*counter)++;
  int no = opt.refuse || exists(opt.refuse_file);
  if (no)
    stats.refused++;
  write_stats();
  return no;
}

static int hang_chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  (void)fi;
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  int err = 0;
  pthread_mutex_lock(&lock);
  if (refused(&stats.chmod)) {
    err = -opt.refuse_errno;
  } else {
    n->mode = (n->mode & S_IFMT) | (mode & 07777);
    clock_gettime(CLOCK_REALTIME, &n->ctime);
  }
  pthread_mutex_unlock(&lock);
  return err;
}

static int hang_chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  (void)fi;
  enter();
  struct node* n = find(path);
  if (!n)
    return -ENOENT;
  int err = 0;
  pthread_mutex_lock(&lock);
  if (refused(&stats.chown)) {
    err = -opt.refuse_errno;
  } else {
    if (uid != (uid_t)-1)
      n->uid = uid;
    if (gid != (gid_t)-1)
      n->gid = gid;
    clock_gettime(CLOCK_REALTIME, &n->ctime);
  }
  pthread_mutex_unlock(&lock);
  return err;
}

static int hang_utimens(const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  (void)tv;
  (void)fi;
  enter();
  return find(path) ? 0 : -ENOENT;
}

static int hang_statfs(const char* path, struct statvfs* st) {
  (void)path;
  enter();
  memset(st, 0, sizeof *st);
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_namemax = 255;
  return 0;
}

static int read_only_path(const char* path) {
  enter();
  return find(path) ? -EROFS : -ENOENT;
}
static int hang_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  (void)size;
  (void)fi;
  return read_only_path(path);
}
static int hang_mkdir(const char* path, mode_t mode) {
  (void)mode;
  enter();
  return find(path) ? -EEXIST : -EROFS;
}
static int hang_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  (void)mode;
  (void)fi;
  (void)path;
  enter();
  return -EROFS;
}
static int hang_unlink(const char* path) {
  return read_only_path(path);
}
static int hang_rmdir(const char* path) {
  return read_only_path(path);
}
static int hang_rename(const char* from, const char* to, unsigned int flags) {
  (void)to;
  (void)flags;
  return read_only_path(from);
}

static const struct fuse_operations ops = {
    .init = hang_init,
    .getattr = hang_getattr,
    .opendir = hang_opendir,
    .readdir = hang_readdir,
    .releasedir = hang_releasedir,
    .open = hang_open,
    .read = hang_read,
    .flush = hang_flush,
    .release = hang_release,
    .chmod = hang_chmod,
    .chown = hang_chown,
    .utimens = hang_utimens,
    .statfs = hang_statfs,
    .truncate = hang_truncate,
    .mkdir = hang_mkdir,
    .create = hang_create,
    .unlink = hang_unlink,
    .rmdir = hang_rmdir,
    .rename = hang_rename,
};

// --watch-pid: the test process is gone (crashed, killed), so nobody will unmount us.
static void* watch_parent(void* arg) {
  (void)arg;
  int fd = (int)syscall(SYS_pidfd_open, opt.watch_pid, 0);
  if (fd >= 0) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
  } else if (errno != ESRCH) {
    return NULL;  // no pidfd here: nothing to watch with
  }
  umount2(opt.mountpoint, MNT_DETACH);
  _exit(3);
}

static unsigned long number(const char* name, const char* text, int base) {
  char* end;
  errno = 0;
  unsigned long v = strtoul(text, &end, base);
  if (errno || !*text || *end) {
    fprintf(stderr, "hangfs: %s: not a number: \"%s\"\n", name, text);
    exit(2);
  }
  return v;
}

static void usage(FILE* out) {
  fprintf(out,
          "usage: hangfs MOUNTPOINT --uid UID --gid GID [--config-uid UID] [--config-gid GID]\n"
          "       [--home-mode OCTAL] [--ssh-mode OCTAL] [--config-mode OCTAL] [--gate PATH]\n"
          "       [--refuse] [--refuse-file PATH] [--refuse-errno N] [--stats FILE]\n"
          "       [--watch-pid PID] [-f]\n");
}

int main(int argc, char** argv) {
  enum {
    kUid = 256,
    kGid,
    kCfgUid,
    kCfgGid,
    kHomeMode,
    kSshMode,
    kCfgMode,
    kGate,
    kRefuse,
    kRefuseFile,
    kRefuseErrno,
    kStats,
    kWatch
  };
  static const struct option longopts[] = {
      {"uid", required_argument, NULL, kUid},
      {"gid", required_argument, NULL, kGid},
      {"config-uid", required_argument, NULL, kCfgUid},
      {"config-gid", required_argument, NULL, kCfgGid},
      {"home-mode", required_argument, NULL, kHomeMode},
      {"ssh-mode", required_argument, NULL, kSshMode},
      {"config-mode", required_argument, NULL, kCfgMode},
      {"gate", required_argument, NULL, kGate},
      {"refuse", no_argument, NULL, kRefuse},
      {"refuse-file", required_argument, NULL, kRefuseFile},
      {"refuse-errno", required_argument, NULL, kRefuseErrno},
      {"stats", required_argument, NULL, kStats},
      {"watch-pid", required_argument, NULL, kWatch},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int have_uid = 0, have_gid = 0, cfg_uid = -1, cfg_gid = -1;
  int c;
  while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
    switch (c) {
      case 'f':
        break;  // always in the foreground
      case 'h':
        usage(stdout);
        return 0;
      case kUid:
        nodes[kRoot].uid = nodes[kSsh].uid = (uid_t)number("--uid", optarg, 10);
        have_uid = 1;
        break;
      case kGid:
        nodes[kRoot].gid = nodes[kSsh].gid = (gid_t)number("--gid", optarg, 10);
        have_gid = 1;
        break;
      case kCfgUid:
        cfg_uid = (int)number("--config-uid", optarg, 10);
        break;
      case kCfgGid:
        cfg_gid = (int)number("--config-gid", optarg, 10);
        break;
      case kHomeMode:
        nodes[kRoot].mode = S_IFDIR | (number("--home-mode", optarg, 8) & 07777);
        break;
      case kSshMode:
        nodes[kSsh].mode = S_IFDIR | (number("--ssh-mode", optarg, 8) & 07777);
        break;
      case kCfgMode:
        nodes[kConfig].mode = S_IFREG | (number("--config-mode", optarg, 8) & 07777);
        break;
      case kGate:
        opt.gate = optarg;
        break;
      case kRefuse:
        opt.refuse = 1;
        break;
      case kRefuseFile:
        opt.refuse_file = optarg;
        break;
      case kRefuseErrno:
        opt.refuse_errno = (int)number("--refuse-errno", optarg, 10);
        break;
      case kStats:
        opt.stats = optarg;
        break;
      case kWatch:
        opt.watch_pid = (pid_t)number("--watch-pid", optarg, 10);
        break;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (optind != argc - 1 || !have_uid || !have_gid) {
    usage(stderr);
    return 2;
  }
  opt.mountpoint = argv[optind];
  nodes[kConfig].uid = cfg_uid >= 0 ? (uid_t)cfg_uid : nodes[kRoot].uid;
  nodes[kConfig].gid = cfg_gid >= 0 ? (gid_t)cfg_gid : nodes[kRoot].gid;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (int i = 0; i < kNodes; i++)
    nodes[i].mtime = nodes[i].ctime = now;

  pthread_mutex_lock(&lock);
  write_stats();  // exists before the mount is live
  pthread_mutex_unlock(&lock);

  // allow_other: without it only the mounting uid (root) gets in, and the daemon may look with
  // the user's credentials.
  // default_permissions: the kernel checks modes against what we serve, as on a disk.
  char* fargv[] = {argv[0], "-o", "allow_other,default_permissions,fsname=hangfs,subtype=hangfs",
                   NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse* fuse = fuse_new(&args, &ops, sizeof ops, NULL);
  // fuse_new copies the arguments into memory of its own: given back on every way out, or
  // LeakSanitizer (scripts/sanitize.sh) reports it.
  if (!fuse) {
    fuse_opt_free_args(&args);
    return 1;
  }
  if (fuse_mount(fuse, opt.mountpoint) != 0) {
    fuse_destroy(fuse);
    fuse_opt_free_args(&args);
    return 1;
  }
  struct fuse_session* se = fuse_get_session(fuse);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    fuse_opt_free_args(&args);
    return 1;
  }
  if (opt.watch_pid > 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, watch_parent, NULL) == 0)
      pthread_detach(t);
  }
  // Threads: requests block at the gate side by side, and all resume when it goes.
  int res = fuse_loop_mt(fuse, 0);
  fuse_remove_signal_handlers(se);
  fuse_unmount(fuse);
  fuse_destroy(fuse);
  fuse_opt_free_args(&args);
  return res == 0 ? 0 : 1;
}
