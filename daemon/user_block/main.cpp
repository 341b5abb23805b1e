// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-user-block: puts the per-user client block into one ~/.ssh/config, or takes it out.
// keepalive-policyd starts it as the user (uid, gid and groups), so that root neither reads the
// user's file nor evaluates it: a user's config can run commands (Match exec), which ssh -G does.
// The contract (arguments, output, exit codes) is in helper_protocol.h.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "user_block/helper_protocol.h"

#include "sys/descendants.h"
#include "sys/unique_fd.h"
#include "user_block/user_block.h"

namespace {

using keepalive::daemon::BlockSettings;
namespace h = keepalive::daemon::helper;
using keepalive::daemon::Fd;

constexpr off_t kMaxConfig = 1 << 20;
constexpr std::size_t kMaxSshStderr = 64 << 10;
// A documentation address (RFC 5737): a literal address needs no DNS, and -G never connects.
constexpr const char* kProbeHost = "192.0.2.1";
// Temp files are ".config.keepalive-policy-XXXXXXXX" beside the config.
constexpr const char* kTempInfix = ".keepalive-policy-";

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "keepalive-user-block: %s\n",
               keepalive::daemon::sanitizeLine(message, 600).c_str());
  return code;
}

int succeed(const char* word) {
  std::printf("%s\n", word);
  return std::fflush(stdout) == 0 ? h::kExitOk : h::kExitError;
}

struct Args {
  std::string config;
  std::string ssh = "/usr/bin/ssh";
  BlockSettings set;
  bool remove = false;
};

std::optional<Args> parseArgs(int argc, char** argv, std::string& err) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool hasValue = i + 1 < argc;
    if (arg == "--config" && hasValue) {
      a.config = argv[++i];
    } else if (arg == "--ssh" && hasValue) {
      a.ssh = argv[++i];
    } else if (arg == "--set" && hasValue) {
      const std::string kv = argv[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos)
        return err = "--set wants KEYWORD=VALUE, not " + quoted(kv), std::nullopt;
      a.set.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (arg == "--remove") {
      a.remove = true;
    } else {
      return err = "unknown or incomplete argument " + quoted(arg), std::nullopt;
    }
  }
  if (a.config.empty() || a.config.front() != '/')
    return err = "--config wants an absolute path", std::nullopt;
  if (a.remove == !a.set.empty())
    return err = "give either --set KEYWORD=VALUE... or --remove", std::nullopt;
  if (auto bad = keepalive::daemon::checkBlockSettings(a.set); !bad.empty())
    return err = bad, std::nullopt;
  return a;
}

// The temp file beside the config; unlinked on every way out but the rename.
class Temp {
 public:
  Temp(int dirFd, std::string name) : dirFd_(dirFd), name_(std::move(name)) {}
  ~Temp() {
    if (!name_.empty())
      ::unlinkat(dirFd_, name_.c_str(), 0);
  }
  Temp(const Temp&) = delete;
  Temp& operator=(const Temp&) = delete;
  const std::string& name() const { return name_; }
  void renamed() { name_.clear(); }

 private:
  int dirFd_;
  std::string name_;
};

// A helper killed at its deadline leaves its temp file behind; the next run removes it. Only our
// own regular files with our name pattern: a run for the same user at the same time loses its
// temp and fails, which is why the daemon runs one at a time per user.
void removeStaleTemps(int dirFd, const std::string& prefix) {
  DIR* d = ::fdopendir(::dup(dirFd));
  if (!d)
    return;
  while (const dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0)
      continue;
    struct stat st {};
    if (::fstatat(dirFd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        st.st_uid == ::geteuid())
      ::unlinkat(dirFd, e->d_name, 0);
  }
  ::closedir(d);
}

bool writeAll(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads at most max + 1 bytes: one more than allowed says the file grew past the limit.
bool readAll(int fd, std::string& out, std::size_t max) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max)
      return true;
  }
}

bool sameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mode == b.st_mode && a.st_nlink == b.st_nlink && a.st_uid == b.st_uid &&
         a.st_gid == b.st_gid && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
         a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

struct SshResult {
  std::string spawnError;  // ssh did not run
  int status = 0;          // waitpid status
  std::string err;
};

// ssh -G as ourselves (the user): parses the file the way a login's ssh would, Includes and
// Match exec included, and prints the result without connecting. -T keeps ssh 9.x from
// complaining that stdin is not a terminal; CanonicalizeHostname=no (the command line wins over
// the file) keeps it from resolving names the file would derive from the probe address.
SshResult runSshG(const std::string& ssh, const std::string& config) {
  SshResult r;
  // stderr goes to a memory file, not a pipe: a command a Match exec left running in the
  // background would hold a pipe open, and we would wait for it.
  Fd errFd(::memfd_create("ssh-stderr", MFD_CLOEXEC));
  Fd devNull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  int execPipe[2];
  if (errFd.get() < 0 || devNull.get() < 0 || ::pipe2(execPipe, O_CLOEXEC) != 0)
    return r.spawnError = std::strerror(errno), r;
  std::vector<std::string> argvS = {ssh,  "-G",   "-T",      "-o", "CanonicalizeHostname=no",
                                    "-F", config, kProbeHost};
  std::vector<std::string> envS = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
  for (const char* name : {"HOME", "USER", "LOGNAME"})
    if (const char* v = std::getenv(name))
      envS.push_back(std::string(name) + "=" + v);
  std::vector<char*> argvP, envP;
  for (auto& a : argvS)
    argvP.push_back(a.data());
  argvP.push_back(nullptr);
  for (auto& e : envS)
    envP.push_back(e.data());
  envP.push_back(nullptr);

  // Whatever ssh's Match exec commands leave behind, daemons (setsid) and double forks included,
  // comes to us as ssh's subreaper, and is killed below when ssh returns: the user's commands
  // run for the check, not after it. No setpgid: ssh and its children stay in our process
  // group, and the daemon's intermediate (our parent) ends everything of the run anyway.
  if (!keepalive::daemon::descendants::becomeSubreaper()) {
    ::close(execPipe[0]);
    ::close(execPipe[1]);
    return r.spawnError = std::string("PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno), r;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(execPipe[0]);
    ::close(execPipe[1]);
    return r.spawnError = std::strerror(errno), r;
  }
  if (pid == 0) {
    if (::dup2(devNull.get(), 0) >= 0 && ::dup2(devNull.get(), 1) >= 0 &&
        ::dup2(errFd.get(), 2) >= 0) {
      if (ssh.find('/') == std::string::npos)
        ::execvpe(argvP[0], argvP.data(), envP.data());
      else
        ::execve(argvP[0], argvP.data(), envP.data());
    }
    const int e = errno;
    (void)!::write(execPipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(execPipe[1]);
  int childErrno = 0;
  ssize_t got;
  while ((got = ::read(execPipe[0], &childErrno, sizeof childErrno)) < 0 && errno == EINTR) {
  }
  ::close(execPipe[0]);
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  keepalive::daemon::descendants::killAndReapAll();
  if (got == sizeof childErrno)
    return r.spawnError = std::strerror(childErrno), r;
  char buf[4096];
  for (off_t off = 0; r.err.size() < kMaxSshStderr;) {
    const ssize_t n = ::pread(errFd.get(), buf, sizeof buf, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    r.err.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return r;
}

std::string firstNonEmptyLine(const std::string& s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto nl = s.find('\n', pos);
    if (nl == std::string::npos)
      nl = s.size();
    if (s.find_first_not_of(" \t\r", pos) < nl)
      return s.substr(pos, nl - pos);
    pos = nl + 1;
  }
  return {};
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

int run(const Args& a) {
  const auto slash = a.config.rfind('/');
  const std::string dir = slash == 0 ? "/" : a.config.substr(0, slash);
  const std::string name = a.config.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return fail(h::kExitUsage, "--config " + quoted(a.config) + " does not name a file");

  Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirFd.get() < 0) {
    if (errno == ENOENT)
      return succeed(h::kAbsent);
    if (errno == ELOOP || errno == ENOTDIR)
      return fail(h::kExitRefused, quoted(dir) + " is a symbolic link or not a directory");
    return fail(h::kExitError, "cannot open " + quoted(dir) + ": " + std::strerror(errno));
  }
  const std::string tempPrefix = "." + name + kTempInfix;
  removeStaleTemps(dirFd.get(), tempPrefix);

  // O_NONBLOCK: a FIFO planted as the config must not block the open.
  Fd fd(::openat(dirFd.get(), name.c_str(),
                 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT)
      return succeed(h::kAbsent);
    if (errno == ELOOP)
      return fail(h::kExitRefused, quoted(a.config) + " is a symbolic link");
    if (errno == EACCES)
      return fail(h::kExitRefused,
                  quoted(a.config) + " is not readable by uid " + std::to_string(::geteuid()));
    if (errno == ENXIO)
      return fail(h::kExitRefused, quoted(a.config) + " is not a regular file");
    return fail(h::kExitError, "cannot open " + quoted(a.config) + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail(h::kExitError, "cannot stat " + quoted(a.config) + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(h::kExitRefused, quoted(a.config) + " is not a regular file");
  if (st.st_nlink != 1)
    return fail(h::kExitRefused, quoted(a.config) + " has " + std::to_string(st.st_nlink) +
                                     " hard links; writing it would cut them");
  if (st.st_uid != ::geteuid())
    return fail(h::kExitRefused, quoted(a.config) + " is owned by uid " +
                                     std::to_string(st.st_uid) + ", not by uid " +
                                     std::to_string(::geteuid()));
  if (st.st_size > kMaxConfig)
    return fail(h::kExitRefused, quoted(a.config) + " is larger than 1 MiB");
  std::string before;
  if (!readAll(fd.get(), before, kMaxConfig))
    return fail(h::kExitError, "cannot read " + quoted(a.config) + ": " + std::strerror(errno));
  if (before.size() > static_cast<std::size_t>(kMaxConfig))
    return fail(h::kExitRefused, quoted(a.config) + " is larger than 1 MiB");

  const auto m = keepalive::daemon::mergeUserBlock(before, a.set);
  if (m.refused())
    return fail(h::kExitRefused,
                quoted(a.config) + (m.line ? ":" + std::to_string(m.line) : "") + ": " + m.refusal);
  if (!m.changed)
    return succeed(h::kUnchanged);

  unsigned char rnd[4];
  if (::getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
    return fail(h::kExitError, std::string("getrandom: ") + std::strerror(errno));
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
  const std::string tempName = tempPrefix + suffix;
  Fd tfd(::openat(dirFd.get(), tempName.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (tfd.get() < 0)
    return fail(h::kExitError,
                "cannot create a temp file in " + quoted(dir) + ": " + std::strerror(errno));
  Temp temp(dirFd.get(), tempName);
  // The group first (a supplementary group of ours may own the file; when fchown fails the
  // primary group is no worse), then the mode: fchown clears set-id bits, we keep none anyway.
  if (st.st_gid != ::getegid())
    (void)::fchown(tfd.get(), static_cast<uid_t>(-1), st.st_gid);
  if (!writeAll(tfd.get(), m.text) || ::fchmod(tfd.get(), st.st_mode & 0777) != 0 ||
      ::fsync(tfd.get()) != 0)
    return fail(h::kExitError,
                "cannot write " + quoted(dir + "/" + tempName) + ": " + std::strerror(errno));

  const std::string tempPath = (dir == "/" ? "" : dir) + "/" + tempName;
  const auto ssh = runSshG(a.ssh, tempPath);
  if (!ssh.spawnError.empty())
    return fail(h::kExitError, "cannot run " + quoted(a.ssh) + ": " + ssh.spawnError);
  if (!WIFEXITED(ssh.status))
    return fail(h::kExitError,
                "ssh -G was killed by signal " +
                    std::to_string(WIFSIGNALED(ssh.status) ? WTERMSIG(ssh.status) : 0));
  if (WEXITSTATUS(ssh.status) != 0) {
    // ssh names the file it was given: name the user's file instead of our temp.
    std::string line = firstNonEmptyLine(ssh.err);
    replaceAll(line, tempPath, a.config);
    if (line.empty())
      line = "exit status " + std::to_string(WEXITSTATUS(ssh.status)) + ", no message";
    // No path of ours before it: ssh's line names the file (or the Included one at fault).
    return fail(h::kExitRefused, "left unchanged, ssh -G rejects it with the block: " + line);
  }

  struct stat now {};
  if (::fstatat(dirFd.get(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || !sameFile(st, now))
    return fail(h::kExitRefused, quoted(a.config) + " changed while the block was being written;" +
                                     " left as it is now");
  if (::renameat(dirFd.get(), tempName.c_str(), dirFd.get(), name.c_str()) != 0)
    return fail(h::kExitError, "cannot rename " + quoted(tempPath) + " to " + quoted(a.config) +
                                   ": " + std::strerror(errno));
  temp.renamed();
  // The rename is durable only once the directory is.
  if (::fsync(dirFd.get()) != 0)
    return fail(h::kExitError, "cannot fsync " + quoted(dir) + ": " + std::strerror(errno));
  return succeed(a.remove ? h::kRemoved : h::kUpdated);
}

}  // namespace

int main(int argc, char** argv) {
  // Run as root, ssh -G would run the user's Match exec commands as root.
  if (::geteuid() == 0 || ::getuid() == 0)
    return fail(h::kExitError, "refusing to run as root: it evaluates a user's ssh config");
  // Whoever started us, nothing of theirs reaches ssh (the daemon's runner closed them already).
  (void)::close_range(3, ~0u, 0);
  // Nothing may depend on the directory the daemon happened to be in.
  if (::chdir("/") != 0)
    return fail(h::kExitError, std::string("cannot chdir to /: ") + std::strerror(errno));
  ::umask(077);
  std::string err;
  const auto args = parseArgs(argc, argv, err);
  if (!args)
    return fail(h::kExitUsage, err +
                                   " (usage: keepalive-user-block --config PATH [--ssh PATH] "
                                   "(--set KEYWORD=VALUE... | --remove))");
  return run(*args);
}
