// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/io/policy_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "keepalive/policy/render.h"

namespace keepalive::io {

using policy::Diagnostics;
using policy::PolicyFile;
using policy::SourcePos;

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::string quoted(const std::string& path) {
  return "\"" + path + "\"";
}

const char* typeName(mode_t m) {
  if (S_ISDIR(m))
    return "a directory";
  if (S_ISLNK(m))
    return "a symbolic link";
  if (S_ISFIFO(m))
    return "a FIFO";
  if (S_ISSOCK(m))
    return "a socket";
  if (S_ISCHR(m) || S_ISBLK(m))
    return "a device node";
  return "not a regular file";
}

bool sameContent(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

// The owner and mode rules the daemon applies to what it reads as root: only root may be able to
// change a policy, or whoever can becomes root through sshd's configuration.
bool trustedOwnerAndMode(const struct stat& st, const std::string& path, bool isDir,
                         Diagnostics& diags) {
  const SourcePos where{path, 0, 0};
  if (st.st_uid != 0) {
    diags.error(where, "owned by uid " + std::to_string(st.st_uid) +
                           ", not root: keepalive-policyd trusts only root's " +
                           (isDir ? "directories" : "files") + "; chown root:root " + quoted(path) +
                           " (or remove it)");
    return false;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    diags.error(where, std::string("mode ") + mode + " lets " +
                           ((st.st_mode & S_IWOTH) ? "every user" : "its group") + " write " +
                           (isDir ? "into it" : "it") +
                           ": keepalive-policyd trusts only what root alone can change; chmod "
                           "go-w " +
                           quoted(path));
    return false;
  }
  return true;
}

// Reads fd from offset 0 to its end, or a little past maxBytes. -1 with errno on failure.
off_t readAll(int fd, std::string& text) {
  text.clear();
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      return off;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
    if (off > kMaxPolicyBytes)
      return off;  // it grew while read: the size check sees it
  }
}

// The kernel stamps mtime and ctime from a coarse clock (a few ms): a write in the same tick as
// the previous one leaves both unchanged. Only a file changed longer ago than that is proven
// unchanged by equal stats.
bool changedRecently(const struct stat& st) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const auto ns = [](const timespec& t) {
    return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec;
  };
  const long long newest = std::max(ns(st.st_mtim), ns(st.st_ctim));
  return ns(now) - newest < 1000000000LL;  // also a time in the future (a server's clock)
}

// Reads fd whole; a file that changes while read (size, mtime or ctime differ before and after,
// or, when changed within the last second, a second read differs) is read again from the start,
// a bounded number of times.
bool readWhole(int fd, const struct stat& first, const std::string& path, std::string& text,
               Diagnostics& diags) {
  const SourcePos where{path, 0, 0};
  struct stat before = first;
  const auto statFailed = [&] {
    diags.error(where, std::string("cannot stat: ") + std::strerror(errno));
    return false;
  };
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    if (attempt > 0 && ::fstat(fd, &before) != 0)
      return statFailed();
    if (before.st_size > kMaxPolicyBytes) {
      diags.error(where, "the file is " + std::to_string(before.st_size) +
                             " bytes, over the limit of " + std::to_string(kMaxPolicyBytes) +
                             "; a policy needs a few hundred bytes");
      return false;
    }
    const off_t got = readAll(fd, text);
    if (got < 0) {
      diags.error(where, std::string("cannot read: ") + std::strerror(errno));
      return false;
    }
    struct stat after {};
    if (::fstat(fd, &after) != 0)
      return statFailed();
    if (!sameContent(before, after) || got != before.st_size)
      continue;
    if (!changedRecently(after))
      return true;
    std::string again;
    if (readAll(fd, again) < 0) {
      diags.error(where, std::string("cannot read: ") + std::strerror(errno));
      return false;
    }
    struct stat last {};
    if (::fstat(fd, &last) != 0)
      return statFailed();
    if (again == text && sameContent(after, last))
      return true;
  }
  diags.error(where, "changed while being read, " + std::to_string(kReadAttempts) +
                         " times in a row; write the policy to a temporary file and rename it "
                         "into place (mv, Ansible's template) so that it changes at once");
  return false;
}

// Opens dir/name (dfd: dir, opened by the caller) without following a symlink and without
// opening anything that is not a regular file (a device's open can have effects). Returns -1
// with an error in diags, or -2 when absent and that is allowed.
int openPolicyAt(int dfd, const std::string& name, const std::string& path, bool absentOk,
                 struct stat& st, Diagnostics& diags) {
  const SourcePos where{path, 0, 0};
  struct stat pre {};
  if (::fstatat(dfd, name.c_str(), &pre, AT_SYMLINK_NOFOLLOW) != 0) {
    const int e = errno;
    if (e == ENOENT && absentOk)
      return -2;
    diags.error(where, std::string("cannot stat: ") + std::strerror(e));
    return -1;
  }
  if (S_ISLNK(pre.st_mode)) {
    diags.error(where, "a symbolic link: keepalive-policyd does not follow links in " +
                           std::string(policy::kPolicyDir) +
                           " (whoever can change the link's target would set root's sshd "
                           "configuration); put the file itself here");
    return -1;
  }
  if (!S_ISREG(pre.st_mode)) {
    diags.error(where, std::string(typeName(pre.st_mode)) +
                           ", not a regular file; a policy is a plain "
                           "YAML file");
    return -1;
  }
  // O_NONBLOCK and O_NOFOLLOW: whatever replaced the file since the check above (a FIFO, a link)
  // neither hangs us nor is followed, and the fstat below decides on what was opened.
  const int fd =
      ::openat(dfd, name.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT && absentOk)
      return -2;
    diags.error(where, std::string("cannot open: ") +
                           (e == ELOOP ? "it became a symbolic link" : std::strerror(e)));
    return -1;
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    diags.error(where, "not a regular file (it was replaced while being opened); try again");
    ::close(fd);
    return -1;
  }
  return fd;
}

// Opens a policy directory with the same rules as the files in it. Returns -1 with an error in
// diags, or -2 when absent.
int openTrustedDir(int parentFd, const std::string& name, const std::string& path,
                   Diagnostics& diags) {
  const SourcePos where{path, 0, 0};
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  const int fd =
      parentFd >= 0 ? ::openat(parentFd, name.c_str(), flags) : ::open(path.c_str(), flags);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT)
      return -2;
    struct stat l {};
    const int lr = parentFd >= 0 ? ::fstatat(parentFd, name.c_str(), &l, AT_SYMLINK_NOFOLLOW)
                                 : ::lstat(path.c_str(), &l);
    if (lr == 0 && S_ISLNK(l.st_mode))
      diags.error(where,
                  "a symbolic link: keepalive-policyd does not follow links to its policy "
                  "directories; make it a real directory owned by root");
    else if (lr == 0 && !S_ISDIR(l.st_mode))
      diags.error(where, std::string(typeName(l.st_mode)) + ", not a directory; make it a " +
                             "directory owned by root, mode 0755");
    else
      diags.error(where, std::string("cannot open: ") + std::strerror(e));
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    diags.error(where, std::string("cannot stat: ") + std::strerror(errno));
    ::close(fd);
    return -1;
  }
  if (!trustedOwnerAndMode(st, path, true, diags)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool readTrustedAt(int dfd, const std::string& name, const std::string& path, bool absentOk,
                   PolicyFile& out, Diagnostics& diags, bool& absent) {
  absent = false;
  struct stat st {};
  const int raw = openPolicyAt(dfd, name, path, absentOk, st, diags);
  if (raw == -2)
    absent = true;
  if (raw < 0)
    return false;
  Fd f(raw);
  if (!trustedOwnerAndMode(st, path, false, diags))
    return false;
  std::string text;
  if (!readWhole(f.fd, st, path, text, diags))
    return false;
  out.path = path;
  out.text = std::move(text);
  return true;
}

}  // namespace

std::string underRoot(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/")
    return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/')
    r.pop_back();
  return r + path;
}

bool readPolicyFile(const std::string& path, PolicyFile& out, Diagnostics& diags) {
  SourcePos where{path, 0, 0};
  Fd f;
  // O_NONBLOCK: a FIFO planted in place of the policy must not hang us.
  f.fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (f.fd < 0) {
    int e = errno;
    diags.error(where, std::string("cannot open: ") + std::strerror(e) +
                           (e == ENOENT ? "; check the path" : ""));
    return false;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    diags.error(where, std::string("cannot stat: ") + std::strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    diags.error(where, std::string(typeName(st.st_mode)) +
                           ", not a regular file; a policy is a plain YAML file");
    return false;
  }
  std::string text;
  if (!readWhole(f.fd, st, path, text, diags))
    return false;
  out.path = path;
  out.text = std::move(text);
  return true;
}

std::vector<PolicyFile> readSystemPolicy(const std::string& root, Diagnostics& diags) {
  std::vector<PolicyFile> files;
  const std::string dir = underRoot(root, policy::kPolicyDir);
  const std::string main = dir + "/policy.yaml";
  const std::string fragDir = dir + "/policy.d";
  const auto noPolicy = [&] {
    diags.error({main, 0, 0},
                "no policy: neither this file nor policy.d/*.yaml exists; write one starting with "
                "'version: 1' (keepalivectl advise suggests values)");
  };
  const int rawDir = openTrustedDir(-1, "", dir, diags);
  if (rawDir == -2)
    noPolicy();
  if (rawDir < 0)
    return files;
  Fd dirFd(rawDir);

  bool mainAbsent = false;
  {
    PolicyFile f;
    if (readTrustedAt(dirFd.fd, "policy.yaml", main, true, f, diags, mainAbsent))
      files.push_back(std::move(f));
  }

  std::vector<std::string> names;
  const int rawFrag = openTrustedDir(dirFd.fd, "policy.d", fragDir, diags);
  if (rawFrag >= 0) {
    Fd fragFd(rawFrag);
    // fdopendir takes the fd it is given: hand it a duplicate, keep ours for openat.
    const int listFd = ::fcntl(fragFd.fd, F_DUPFD_CLOEXEC, 3);
    DIR* d = listFd >= 0 ? ::fdopendir(listFd) : nullptr;
    if (!d) {
      diags.error({fragDir, 0, 0}, std::string("cannot list: ") + std::strerror(errno));
      if (listFd >= 0)
        ::close(listFd);
    } else {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.empty() || n[0] == '.')
          continue;
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".yaml") == 0)
          names.push_back(n);
        else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".yml") == 0)
          diags.warning({fragDir + "/" + n, 0, 0},
                        "ignored: only *.yaml files are read from policy.d; rename it to .yaml");
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());  // byte order, like run-parts and systemd
    for (const auto& n : names) {
      PolicyFile f;
      bool absent = false;
      // Absent: removed since listed. That delete is an inotify event too: the next read sees it.
      if (readTrustedAt(fragFd.fd, n, fragDir + "/" + n, true, f, diags, absent))
        files.push_back(std::move(f));
    }
  }
  if (mainAbsent && names.empty() && !diags.hasErrors())
    noPolicy();
  return files;
}

}  // namespace keepalive::io
