// SPDX-License-Identifier: GPL-2.0-or-later
// One user's chmod loop against everyone else (bench/flood_bench.sh, docs/performance.md): the
// real keepalive-policyd on a throwaway root with USERS users, for PHASE seconds each: without a
// loop; while one user (as themselves) makes their config 0666 in a tight loop; and while
// another makes it 0666 again as soon as each repair lands. In each phase: the lines the daemon
// wrote, its CPU time, and the latency of other users' repairs (one of ten users' config made
// 0644 every 20 ms, in turn, the repair seen through inotify).
//
// usage: flood_bench DAEMON [USERS [PHASE_SECONDS]]    (as root)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmath>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr unsigned kFirstUid = 210000;

std::int64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "flood_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void writeFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fchmod(fd, mode) != 0 || ::close(fd) != 0)
    die("write " + path);
}

void mkdirOwned(const std::string& path, mode_t mode, uid_t uid) {
  if ((::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) || ::chown(path.c_str(), uid, uid) ||
      ::chmod(path.c_str(), mode))
    die("mkdir " + path);
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t countLines(const std::string& path) {
  const std::string s = readAll(path);
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

// utime + stime of pid, in clock ticks.
long cpuTicks(pid_t pid) {
  const std::string s = readAll("/proc/" + std::to_string(pid) + "/stat");
  const auto close = s.rfind(')');
  std::istringstream in(s.substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14)
      utime = std::stol(f);
    if (i == 15)
      stime = std::stol(f);
  }
  return utime + stime;
}

mode_t modeOf(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

struct Phase {
  std::vector<double> latencyUs;
  std::size_t lines = 0;
  double cpuPercent = 0;
  std::size_t missed = 0;
  double pct(double p) const {
    if (latencyUs.empty())
      return 0;
    auto v = latencyUs;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(
                                        std::lround(p * static_cast<double>(v.size() - 1))))];
  }
};

// Measures other users' repairs for seconds: every 20 ms one of them, in turn, gets chmod 0644,
// and the time until it is 0600 again is taken through inotify. Ten users in turn, each drifting
// every 200 ms: one user drifting every 20 ms would be a loop of its own (kQuickRepairsHot).
Phase measure(pid_t daemon, const std::string& log, const std::vector<std::string>& others,
              int seconds) {
  Phase ph;
  const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0)
    die("inotify");
  for (const auto& ssh : others)
    if (::inotify_add_watch(in, ssh.c_str(), IN_ATTRIB) < 0)
      die("inotify_add_watch " + ssh);
  const std::size_t lines0 = countLines(log);
  const long cpu0 = cpuTicks(daemon);
  const std::int64_t t0 = nowNs(), end = t0 + std::int64_t{seconds} * 1000000000;
  alignas(inotify_event) char buf[4096];
  for (std::size_t round = 0; nowNs() < end; ++round) {
    const std::string config = others[round % others.size()] + "/config";
    while (::read(in, buf, sizeof buf) > 0) {
    }
    if (::chmod(config.c_str(), 0644) != 0)
      die("chmod");
    const std::int64_t start = nowNs();
    bool done = false;
    while (!done && nowNs() - start < 2000000000) {
      pollfd p{in, POLLIN, 0};
      ::poll(&p, 1, 100);
      while (::read(in, buf, sizeof buf) > 0) {
      }
      done = modeOf(config) == 0600;
    }
    if (done)
      ph.latencyUs.push_back(static_cast<double>(nowNs() - start) / 1000.0);
    else
      ++ph.missed;
    timespec gap{0, 20000000};
    ::nanosleep(&gap, nullptr);
  }
  const double wall = static_cast<double>(nowNs() - t0) / 1e9;
  ph.cpuPercent =
      100.0 * static_cast<double>(cpuTicks(daemon) - cpu0) / ::sysconf(_SC_CLK_TCK) / wall;
  ph.lines = countLines(log) - lines0;
  ::close(in);
  return ph;
}

struct Loop {
  Phase phase;
  std::int64_t chmods = 0;
  std::size_t logged = 0, summedUp = 0;
  bool fixed = false;
};

// One user's loop for seconds while another user's repairs are measured; then waits for the
// looper's summary line (its 10 s window ends after the loop) and counts what the log says.
Loop runLoop(pid_t daemon, const std::string& log, const std::string& root, unsigned index,
             bool chase, const std::vector<std::string>& others, int seconds) {
  Loop out;
  const std::string name = "kfb" + std::to_string(index);
  const std::string config = root + "/home/" + name + "/.ssh/config";
  const uid_t uid = kFirstUid + index;
  const std::size_t logStart = readAll(log).size();
  int pipefd[2];
  if (::pipe(pipefd) != 0)
    die("pipe");
  const pid_t looper = ::fork();
  if (looper == 0) {
    ::close(pipefd[0]);
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)
      ::_exit(1);
    const std::int64_t end = nowNs() + std::int64_t{seconds} * 1000000000;
    std::int64_t n = 0;
    while (nowNs() < end) {
      (void)!::chmod(config.c_str(), 0666);
      ++n;
      while (chase && modeOf(config) != 0600 && nowNs() < end) {
      }
    }
    (void)!::write(pipefd[1], &n, sizeof n);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  out.phase = measure(daemon, log, others, seconds);
  (void)!::read(pipefd[0], &out.chmods, sizeof out.chmods);
  ::close(pipefd[0]);
  ::waitpid(looper, nullptr, 0);
  const std::string summary = " more repairs of " + name + " suppressed";
  const std::int64_t by = nowNs() + 15000000000;
  std::string text;
  while ((text = readAll(log).substr(logStart)).find(summary) == std::string::npos &&
         nowNs() < by) {
    timespec t{0, 50000000};
    ::nanosleep(&t, nullptr);
  }
  for (std::size_t pos = 0;
       (pos = text.find("of " + name + ": ~/.ssh/config", pos)) != std::string::npos; ++pos)
    ++out.logged;
  if (const auto at = text.find(summary); at != std::string::npos) {
    std::size_t start = at;
    while (start > 0 && text[start - 1] >= '0' && text[start - 1] <= '9')
      --start;
    out.summedUp = std::stoul(text.substr(start, at - start));
  }
  // The last chmod is repaired too (at the latest by the 100 ms retry).
  const std::int64_t fixedBy = nowNs() + 2000000000;
  while (!(out.fixed = modeOf(config) == 0600) && nowNs() < fixedBy) {
    timespec t{0, 1000000};
    ::nanosleep(&t, nullptr);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || ::geteuid() != 0) {
    std::fprintf(stderr, "usage (as root): flood_bench DAEMON [USERS [PHASE_SECONDS]]\n");
    return 2;
  }
  const std::string daemonPath = argv[1];
  const unsigned users = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 100;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  if (users < 20 || seconds < 1)
    return 2;

  char tmpl[] = "/var/tmp/keepalive-flood.XXXXXX";
  if (!::mkdtemp(tmpl))
    die("mkdtemp");
  const std::string root = tmpl;
  ::chmod(root.c_str(), 0755);
  for (const char* d : {"/etc", "/etc/ssh", "/etc/ssh/sshd_config.d", "/etc/ssh/ssh_config.d",
                        "/etc/keepalive-policy", "/etc/keepalive-policy/policy.d", "/var",
                        "/var/lib", "/var/lib/keepalive-policy", "/home"})
    mkdirOwned(root + d, 0755, 0);
  writeFile(root + "/etc/keepalive-policy/policy.yaml",
            "version: 1\nserver: {client_alive_interval: 2m}\nusers: {action: enforce, min_uid: " +
                std::to_string(kFirstUid) + "}\n",
            0644);
  writeFile(
      root + "/etc/ssh/sshd_config",
      "Include " + root + "/etc/ssh/sshd_config.d/*.conf\nHostKey /etc/ssh/ssh_host_ed25519_key\n",
      0644);
  writeFile(root + "/etc/ssh/ssh_config", "Include " + root + "/etc/ssh/ssh_config.d/*.conf\n",
            0644);
  std::string passwd = "root:x:0:0:root:/root:/bin/bash\n";
  for (unsigned i = 0; i < users; ++i) {
    const unsigned uid = kFirstUid + i;
    const std::string name = "kfb" + std::to_string(i), home = root + "/home/" + name;
    passwd += name + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) + "::/home/" + name +
              ":/bin/sh\n";
    mkdirOwned(home, 0755, uid);
    mkdirOwned(home + "/.ssh", 0700, uid);
    writeFile(home + "/.ssh/config", "Host *\n  ServerAliveInterval 60\n", 0600);
    if (::chown((home + "/.ssh/config").c_str(), uid, uid) != 0)
      die("chown");
  }
  writeFile(root + "/etc/passwd", passwd, 0644);

  // sshd -t needs its privilege separation directory, which a host whose sshd never ran lacks.
  if (::access("/run/sshd", F_OK) != 0)
    ::mkdir("/run/sshd", 0755);
  const std::string log = root + "/daemon.log";
  const pid_t daemon = ::fork();
  if (daemon == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(daemonPath.c_str(), daemonPath.c_str(), "--root", root.c_str(), "--foreground",
            "--unit", "none", "--bus", "none", "--metrics-dir", "none", "--host", "bench",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::int64_t ready = nowNs() + 30000000000;
  while (readAll(log).find("users: " + std::to_string(users) + " covered") == std::string::npos) {
    if (nowNs() > ready)
      die("the daemon did not come up; see " + log);
    timespec t{0, 10000000};
    ::nanosleep(&t, nullptr);
  }

  std::vector<std::string> others;  // kfb10 .. kfb19
  for (unsigned i = 10; i < 20 && i < users; ++i)
    others.push_back(root + "/home/kfb" + std::to_string(i) + "/.ssh");
  const Phase quiet = measure(daemon, log, others, seconds);
  // kfb0 chmods as fast as it can (its repairs race its chmods: its watch goes down for 100 ms
  // at a time); kfb2 makes its config 0666 again as soon as it sees it repaired, so that every
  // round is a real repair and an announcement to limit.
  const Loop tight = runLoop(daemon, log, root, 0, false, others, seconds);
  const Loop chase = runLoop(daemon, log, root, 2, true, others, seconds);

  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);

  std::printf("flood_bench: %u users, %d s per phase, daemon %s\n", users, seconds,
              daemonPath.c_str());
  std::printf(
      "| | without a loop | one user's tight chmod loop | one user re-breaking each repair "
      "|\n|---|---|---|---|\n");
  std::printf("| the looping user's chmods | 0 | %lld | %lld |\n",
              static_cast<long long>(tight.chmods), static_cast<long long>(chase.chmods));
  std::printf(
      "| their repairs (logged one by one + summed up) | | %zu (%zu + %zu) | %zu (%zu + "
      "%zu) |\n",
      tight.logged + tight.summedUp, tight.logged, tight.summedUp, chase.logged + chase.summedUp,
      chase.logged, chase.summedUp);
  std::printf("| daemon log lines written | %zu | %zu | %zu |\n", quiet.lines, tight.phase.lines,
              chase.phase.lines);
  std::printf("| daemon CPU | %.1f %% | %.1f %% | %.1f %% |\n", quiet.cpuPercent,
              tight.phase.cpuPercent, chase.phase.cpuPercent);
  std::printf("| other user's repairs measured (missed) | %zu (%zu) | %zu (%zu) | %zu (%zu) |\n",
              quiet.latencyUs.size(), quiet.missed, tight.phase.latencyUs.size(),
              tight.phase.missed, chase.phase.latencyUs.size(), chase.phase.missed);
  std::printf("| other user's repair latency p50 | %.0f us | %.0f us | %.0f us |\n", quiet.pct(0.5),
              tight.phase.pct(0.5), chase.phase.pct(0.5));
  std::printf("| other user's repair latency p99 | %.0f us | %.0f us | %.0f us |\n",
              quiet.pct(0.99), tight.phase.pct(0.99), chase.phase.pct(0.99));
  std::printf("| the looping user's config 0600 at the end | | %s | %s |\n",
              tight.fixed ? "yes" : "no", chase.fixed ? "yes" : "no");
  const bool ok =
      tight.fixed && chase.fixed && quiet.missed + tight.phase.missed + chase.phase.missed == 0;
  std::string rm = "rm -rf '" + root + "'";
  (void)!std::system(rm.c_str());
  return ok ? 0 : 1;
}
