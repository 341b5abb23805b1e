// SPDX-License-Identifier: GPL-2.0-or-later
#include "hang_mount.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#ifndef KEEPALIVE_HANGFS_PATH
#error "KEEPALIVE_HANGFS_PATH must name the hangfs binary"
#endif

extern char** environ;

namespace keepalive::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kGate[] = "gate";
constexpr char kRefuse[] = "refuse";
constexpr char kStats[] = "stats";
constexpr char kStderr[] = "hangfs.err";

struct MountEntry {
  int id = -1;
  dev_t dev = 0;
  std::string mountpoint;
  std::string fstype;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<MountEntry> readMountinfo() {
  std::vector<MountEntry> entries;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    MountEntry e;
    std::string parent, devText, root, mountpoint, word;
    if (!(fields >> e.id >> parent >> devText >> root >> mountpoint))
      continue;
    while (fields >> word && word != "-") {
    }
    fields >> e.fstype;
    unsigned major = 0, minor = 0;
    if (std::sscanf(devText.c_str(), "%u:%u", &major, &minor) == 2)
      e.dev = makedev(major, minor);
    e.mountpoint = unescape(mountpoint);
    entries.push_back(std::move(e));
  }
  return entries;
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Polls fds until one is ready or the deadline passes; retries EINTR. Returns poll's count.
int pollUntil(std::vector<pollfd>& fds, Clock::time_point deadline) {
  for (;;) {
    for (auto& p : fds)
      p.revents = 0;
    int n = ::poll(fds.data(), fds.size(), remainingMs(deadline));
    if (n >= 0 || errno != EINTR)
      return n;
  }
}

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

void touch(const fs::path& p) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw std::runtime_error(errnoText("hang mount: create \"" + p.string() + "\""));
  ::close(fd);
}

void removeFile(const fs::path& p) {
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    throw std::runtime_error(errnoText("hang mount: remove \"" + p.string() + "\""));
}

// Spawns argv with stdin from /dev/null, stdout and stderr to `output` (or /dev/null), default
// signal handling and no fds of ours. posix_spawn: safe in a threaded test process.
pid_t spawn(const std::vector<std::string>& args, const std::string& output) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output.empty() ? "/dev/null" : output.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD})
    sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  int err = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    errno = err;
    throw std::runtime_error(errnoText("hang mount: spawn \"" + args[0] + "\""));
  }
  return pid;
}

std::string octal(mode_t mode) {
  std::ostringstream out;
  out << std::oct << mode;
  return out.str();
}

HangStats parseStats(const std::string& path) {
  HangStats s;
  std::ifstream in(path);
  std::string key;
  unsigned value = 0;
  while (in >> key >> value) {
    if (key == "blocked")
      s.blocked = value;
    else if (key == "requests")
      s.requests = value;
    else if (key == "chmod")
      s.chmod = value;
    else if (key == "chown")
      s.chown = value;
    else if (key == "refused")
      s.refused = value;
  }
  return s;
}

}  // namespace

HangMount::HangMount(fs::path mountpoint, uid_t uid, gid_t gid, HangOptions options) {
  fs::create_directories(mountpoint);
  mountpoint_ = fs::canonical(mountpoint);  // now, while nothing there can hang

  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/keepalive-hangfs.XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error(errnoText("hang mount: mkdtemp \"" + tmpl + "\""));
  stateDir_ = tmpl;

  try {
    if (options.refuse)
      touch(stateDir_ / kRefuse);
    std::vector<std::string> args = {
        KEEPALIVE_HANGFS_PATH,
        mountpoint_.string(),
        "-f",
        "--uid=" + std::to_string(uid),
        "--gid=" + std::to_string(gid),
        "--config-uid=" + std::to_string(options.configUid.value_or(uid)),
        "--config-gid=" + std::to_string(options.configGid.value_or(gid)),
        "--home-mode=" + octal(options.homeMode),
        "--ssh-mode=" + octal(options.sshMode),
        "--config-mode=" + octal(options.configMode),
        "--gate=" + (stateDir_ / kGate).string(),
        "--refuse-file=" + (stateDir_ / kRefuse).string(),
        "--refuse-errno=" + std::to_string(options.refuseErrno),
        "--stats=" + (stateDir_ / kStats).string(),
        "--watch-pid=" + std::to_string(::getpid()),
    };

    std::set<int> before;
    for (const auto& e : readMountinfo())
      before.insert(e.id);
    // Opened before the child starts, so no change of the mount table goes unseen: poll()
    // reports POLLPRI for every change since the last poll.
    int mountinfo = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (mountinfo < 0)
      throw std::runtime_error(errnoText("hang mount: open /proc/self/mountinfo"));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closeMountinfo{mountinfo};

    pid_ = spawn(args, (stateDir_ / kStderr).string());
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0)
      throw std::runtime_error(errnoText("hang mount: pidfd_open"));

    auto deadline = Clock::now() + options.startTimeout;
    for (;;) {
      for (const auto& e : readMountinfo()) {
        if (!before.count(e.id) && e.mountpoint == mountpoint_.string() && e.fstype == kFsType) {
          mountId_ = e.id;
          device_ = e.dev;
        }
      }
      if (mountId_ >= 0)
        break;
      std::vector<pollfd> fds = {{mountinfo, POLLPRI, 0}, {pidfd_, POLLIN, 0}};
      if (pollUntil(fds, deadline) <= 0)
        throw std::runtime_error("hang mount: \"" + mountpoint_.string() +
                                 "\" not mounted in time" + hangfsErrors());
      if (fds[1].revents & POLLIN) {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        throw std::runtime_error("hang mount: hangfs exited (status " + std::to_string(status) +
                                 ") before mounting \"" + mountpoint_.string() + "\"" +
                                 hangfsErrors());
      }
    }
  } catch (...) {
    cleanup();
    throw;
  }
}

HangMount::~HangMount() {
  cleanup();
}

void HangMount::hang() {
  touch(stateDir_ / kGate);
}
void HangMount::release() {
  removeFile(stateDir_ / kGate);
}

void HangMount::refuse(bool on) {
  if (on)
    touch(stateDir_ / kRefuse);
  else
    removeFile(stateDir_ / kRefuse);
}

void HangMount::abort() {
  if (pid_ <= 0)
    return;
  // Closing the last /dev/fuse fd (the process dying) aborts the connection in the kernel.
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

HangStats HangMount::stats() const {
  return parseStats((stateDir_ / kStats).string());
}

bool HangMount::waitFor(const std::function<bool(const HangStats&)>& pred,
                        std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0)
    throw std::runtime_error(errnoText("hang mount: inotify_init1"));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closeIn{in};
  // hangfs renames each new stats file into place. Watch first, then look: no change is missed.
  if (::inotify_add_watch(in, stateDir_.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
    throw std::runtime_error(errnoText("hang mount: inotify_add_watch"));
  for (;;) {
    if (pred(stats()))
      return true;
    std::vector<pollfd> fds = {{in, POLLIN, 0}};
    if (pollUntil(fds, deadline) <= 0)
      return pred(stats());
    char buf[4096];
    while (::read(in, buf, sizeof buf) > 0) {
    }
  }
}

bool HangMount::isMounted(const fs::path& path) {
  for (const auto& e : readMountinfo())
    if (e.mountpoint == path.string())
      return true;
  return false;
}

std::string HangMount::hangfsErrors() const {
  std::ifstream in(stateDir_ / kStderr);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text.empty() ? std::string() : ": hangfs: " + text;
}

void HangMount::cleanup() noexcept {
  if (stateDir_.empty())
    return;
  // 1. Open the gate: requests stuck in hangfs are answered.
  ::unlink((stateDir_ / kGate).c_str());

  // 2. Detach: gone from the mount table at once, whatever still holds it.
  bool mounted = false;
  for (const auto& e : readMountinfo())
    mounted = mounted || (mountId_ >= 0 && e.id == mountId_);
  if (mounted && ::umount2(mountpoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
    try {  // not root: fusermount3 does it for the user who mounted
      pid_t p = spawn({"fusermount3", "-u", "-z", mountpoint_.string()}, "");
      ::waitpid(p, nullptr, 0);
    } catch (...) {
    }
  }

  // 3. End hangfs: politely, then for sure. If it does not go, abort the connection first: that
  // ends requests still in flight (a caller killed meanwhile would wait uninterruptibly).
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    bool exited = false;
    if (pidfd_ >= 0) {
      std::vector<pollfd> fds = {{pidfd_, POLLIN, 0}};
      exited = pollUntil(fds, Clock::now() + std::chrono::seconds(3)) > 0;
    }
    if (!exited) {
      auto abortFile = "/sys/fs/fuse/connections/" + std::to_string(minor(device_)) + "/abort";
      if (FILE* f = std::fopen(abortFile.c_str(), "we")) {
        std::fputs("1", f);
        std::fclose(f);
      }
      ::kill(pid_, SIGKILL);
    }
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (pidfd_ >= 0)
    ::close(pidfd_);
  pidfd_ = -1;

  std::error_code ec;
  fs::remove_all(stateDir_, ec);
  stateDir_.clear();
}

}  // namespace keepalive::test
