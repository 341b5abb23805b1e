// SPDX-License-Identifier: GPL-2.0-or-later
// The measuring half of bench/users_bench.sh: it generates the homes, starts the process under
// test with its output time-stamped, and measures that process from the outside only (its log
// lines, /proc and the files), so that it works the same on keepalive-policyd and on the
// inotifywait + chmod shell loop used as the baseline. See docs/performance.md.
//
// Users are kpb0 .. kpb{N-1}, uid and gid 200000 + i (no names in the host's NSS), homes
// ROOT/home/kpbI with .ssh (0700) and .ssh/config (0600), all owned by the user.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr unsigned kFirstUid = 200000;
constexpr mode_t kConfigMode = 0600, kDriftMode = 0644;
constexpr int kGeneratorVersion = 1;

std::int64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "users_observer: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void sleepNs(std::int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::string userName(std::size_t i) {
  return "kpb" + std::to_string(i);
}
std::string configPath(const std::string& root, std::size_t i) {
  return root + "/home/" + userName(i) + "/.ssh/config";
}
unsigned uidOf(std::size_t i) {
  return kFirstUid + static_cast<unsigned>(i);
}

bool compliant(const std::string& path, std::size_t i) {
  struct stat st {};
  return ::fstatat(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         (st.st_mode & 07777) == kConfigMode && st.st_uid == uidOf(i);
}

void writeAll(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die("write");
    off += static_cast<std::size_t>(n);
  }
}

void replaceFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    die("open " + tmp);
  writeAll(fd, text);
  ::fchmod(fd, 0644);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    die("rename " + path);
}

// generate ROOT N: N homes, ROOT/etc/passwd listing them (after root), and
// ROOT/bench-ssh-dirs.list (the baseline's --fromfile). Done once: a marker records what exists.
int cmdGenerate(const std::string& root, std::size_t n) {
  const std::string marker = root + "/.bench-generated";
  const std::string want =
      "version " + std::to_string(kGeneratorVersion) + " users " + std::to_string(n) + "\n";
  {
    std::ifstream in(marker);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str() == want) {
      std::printf("generated=reused\n");
      return 0;
    }
  }
  const auto t0 = nowNs();
  ::mkdir(root.c_str(), 0755);
  ::mkdir((root + "/home").c_str(), 0755);
  ::mkdir((root + "/etc").c_str(), 0755);
  int homes = ::open((root + "/home").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (homes < 0)
    die("open " + root + "/home");
  const std::string text = "Host *\n  ServerAliveInterval 60\n";
  std::string passwd = "root:x:0:0:root:/root:/bin/bash\n", list;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string name = userName(i);
    const unsigned uid = uidOf(i);
    if (::mkdirat(homes, name.c_str(), 0755) != 0 && errno != EEXIST)
      die("mkdir " + name);
    int h = ::openat(homes, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (h < 0)
      die("open " + name);
    if (::mkdirat(h, ".ssh", 0700) != 0 && errno != EEXIST)
      die("mkdir .ssh of " + name);
    int s = ::openat(h, ".ssh", O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0)
      die("open .ssh of " + name);
    int c = ::openat(s, "config", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (c < 0)
      die("open config of " + name);
    writeAll(c, text);
    if (::fchown(c, uid, uid) != 0 || ::fchmod(c, kConfigMode) != 0 || ::fchown(s, uid, uid) != 0 ||
        ::fchmod(s, 0700) != 0 || ::fchown(h, uid, uid) != 0 || ::fchmod(h, 0755) != 0)
      die("chown/chmod in " + name);
    ::close(c);
    ::close(s);
    ::close(h);
    passwd += name + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) + "::/home/" + name +
              ":/bin/sh\n";
    list += root + "/home/" + name + "/.ssh/\n";
  }
  ::close(homes);
  ::sync();
  replaceFile(root + "/etc/passwd", passwd);
  replaceFile(root + "/bench-ssh-dirs.list", list);
  replaceFile(marker, want);
  std::printf("generated=%zu seconds=%.1f\n", n, static_cast<double>(nowNs() - t0) / 1e9);
  return 0;
}

// fix ROOT N: puts every config back to its owner and 0600 (between runs, and after a side that
// did not recover from the storm), so that each run starts from a compliant tree.
int cmdFix(const std::string& root, std::size_t n) {
  std::size_t fixed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string p = configPath(root, i);
    if (compliant(p, i))
      continue;
    if (::lchown(p.c_str(), uidOf(i), uidOf(i)) != 0 || ::chmod(p.c_str(), kConfigMode) != 0)
      die("fix " + p);
    ++fixed;
  }
  std::printf("fixed=%zu\n", fixed);
  return 0;
}

// spawn LOG [--watchdog-usec U] -- CMD...: starts CMD in its own process group with stdin from
// /dev/null and stdout+stderr into a pipe; writes "# pid P" and "# t0 NS" (the monotonic clock
// just before fork) to LOG, then each line CMD writes as "NS line", NS the monotonic time at
// which this process read it. Exits when CMD's output ends, after "# exit STATUS".
int cmdSpawn(const std::string& logPath, long watchdogUsec, char** argv) {
  int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0)
    die("open " + logPath);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    die("pipe");
  const std::int64_t t0 = nowNs();
  pid_t pid = ::fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    if (watchdogUsec > 0) {
      // As systemd sets them for a unit with WatchdogSec=: sd_event pings at half the period.
      ::setenv("WATCHDOG_USEC", std::to_string(watchdogUsec).c_str(), 1);
      ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    }
    ::execvp(argv[0], argv);
    std::fprintf(stderr, "users_observer: exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(p[1]);
  writeAll(log, "# pid " + std::to_string(pid) + "\n# t0 " + std::to_string(t0) + "\n");
  std::string pending;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    const std::string stamp = std::to_string(nowNs()) + " ";
    pending.append(buf, static_cast<std::size_t>(n));
    std::string out;
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      out += stamp + pending.substr(0, nl + 1);
      pending.erase(0, nl + 1);
    }
    writeAll(log, out);
  }
  if (!pending.empty())
    writeAll(log, std::to_string(nowNs()) + " " + pending + "\n");
  int status = 0;
  ::waitpid(pid, &status, 0);
  writeAll(log, "# exit " + std::to_string(status) + "\n");
  return 0;
}

struct Line {
  std::int64_t ns;
  std::string text;
};

std::vector<Line> readLog(const std::string& path) {
  std::vector<Line> lines;
  std::ifstream in(path);
  std::string l;
  while (std::getline(in, l)) {
    if (l.empty() || l[0] == '#')
      continue;
    auto sp = l.find(' ');
    if (sp == std::string::npos)
      continue;
    lines.push_back({std::strtoll(l.c_str(), nullptr, 10), l.substr(sp + 1)});
  }
  return lines;
}

// header LOG KEY: the value of "# KEY V" in LOG, waiting up to 10 s for it.
int cmdHeader(const std::string& path, const std::string& key) {
  const std::int64_t deadline = nowNs() + 10'000'000'000;
  do {
    std::ifstream in(path);
    std::string l;
    while (std::getline(in, l))
      if (l.rfind("# " + key + " ", 0) == 0) {
        std::printf("%s\n", l.substr(key.size() + 3).c_str());
        return 0;
      }
    sleepNs(2'000'000);
  } while (nowNs() < deadline);
  return 1;
}

// wait-line LOG TEXT TIMEOUT_S [AFTER_NS]: the stamp of the first line containing TEXT stamped
// after AFTER_NS. Polls the file every 5 ms: the stamp, not this poll, gives the time. Exit 1 on
// timeout, 2 when the process ended without such a line.
int cmdWaitLine(const std::string& path, const std::string& text, double timeoutS,
                std::int64_t after) {
  const std::int64_t deadline = nowNs() + static_cast<std::int64_t>(timeoutS * 1e9);
  for (;;) {
    std::ifstream in(path);
    std::string l;
    bool ended = false;
    while (std::getline(in, l)) {
      if (l.rfind("# exit", 0) == 0)
        ended = true;
      if (l.empty() || l[0] == '#')
        continue;
      const std::int64_t ns = std::strtoll(l.c_str(), nullptr, 10);
      if (ns > after && l.find(text, l.find(' ')) != std::string::npos) {
        std::printf("%lld\n", static_cast<long long>(ns));
        return 0;
      }
    }
    if (ended)
      return 2;
    if (nowNs() >= deadline)
      return 1;
    sleepNs(5'000'000);
  }
}

// stamps LOG TEXT AFTER_NS BEFORE_NS: every stamp of a line containing TEXT in (AFTER, BEFORE].
int cmdStamps(const std::string& path, const std::string& text, std::int64_t after,
              std::int64_t before) {
  for (const auto& l : readLog(path))
    if (l.ns > after && l.ns <= before && l.text.find(text) != std::string::npos)
      std::printf("%lld\n", static_cast<long long>(l.ns));
  return 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long statusKb(const std::string& status, const std::string& key) {
  auto p = status.find("\n" + key + ":");
  return p == std::string::npos ? 0 : std::strtol(status.c_str() + p + key.size() + 2, nullptr, 10);
}

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.')
        out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

// The processes of process group PGID (the spawned command and its children).
std::vector<std::string> groupOf(pid_t pgid) {
  std::vector<std::string> out;
  for (const auto& pid : listDir("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::string stat = slurp("/proc/" + pid + "/stat");
    auto rp = stat.rfind(')');
    if (rp == std::string::npos)
      continue;
    std::istringstream f(stat.substr(rp + 2));
    std::string state, ppid, pgrp;
    f >> state >> ppid >> pgrp;
    if (pgrp == std::to_string(pgid))
      out.push_back(pid);
  }
  return out;
}

// proc PGID: memory, threads and inotify watches of the group: the leader's figures and, for a
// pipeline such as the baseline, the sum over the group.
int cmdProc(pid_t pgid) {
  long rss = 0, anon = 0, hwm = 0, threads = 0, watches = 0, procs = 0;
  long leadRss = 0, leadAnon = 0, leadHwm = 0;
  for (const auto& pid : groupOf(pgid)) {
    const std::string status = slurp("/proc/" + pid + "/status");
    ++procs;
    rss += statusKb(status, "VmRSS");
    anon += statusKb(status, "RssAnon");
    hwm += statusKb(status, "VmHWM");
    threads += statusKb(status, "Threads");
    if (pid == std::to_string(pgid)) {
      leadRss = statusKb(status, "VmRSS");
      leadAnon = statusKb(status, "RssAnon");
      leadHwm = statusKb(status, "VmHWM");
    }
    for (const auto& fd : listDir("/proc/" + pid + "/fd")) {
      char target[64] = {};
      const std::string link = "/proc/" + pid + "/fd/" + fd;
      if (::readlink(link.c_str(), target, sizeof target - 1) <= 0 ||
          std::strcmp(target, "anon_inode:inotify") != 0)
        continue;
      std::istringstream info(slurp("/proc/" + pid + "/fdinfo/" + fd));
      for (std::string l; std::getline(info, l);)
        watches += l.rfind("inotify wd:", 0) == 0;
    }
  }
  std::printf(
      "procs=%ld threads=%ld watches=%ld rss_kb=%ld anon_kb=%ld hwm_kb=%ld lead_rss_kb=%ld "
      "lead_anon_kb=%ld lead_hwm_kb=%ld\n",
      procs, threads, watches, rss, anon, hwm, leadRss, leadAnon, leadHwm);
  return procs > 0 ? 0 : 1;
}

// Context switches of every thread of the group: each wake-up of a sleeping thread ends in one
// (voluntary when it sleeps again, non-voluntary when preempted). And their CPU time, in ticks.
struct Activity {
  long switches = 0, ticks = 0;
  std::map<std::string, long> byThread;  // "pid/tid comm" -> switches
};
Activity activityOf(pid_t pgid) {
  Activity a;
  for (const auto& pid : groupOf(pgid))
    for (const auto& tid : listDir("/proc/" + pid + "/task")) {
      const std::string task = "/proc/" + pid + "/task/" + tid;
      const std::string s = slurp(task + "/status");
      const long sw =
          statusKb(s, "voluntary_ctxt_switches") + statusKb(s, "nonvoluntary_ctxt_switches");
      a.switches += sw;
      std::string comm = slurp(task + "/comm");
      if (!comm.empty() && comm.back() == '\n')
        comm.pop_back();
      a.byThread[pid + "/" + tid + ":" + comm] = sw;
      const std::string stat = slurp(task + "/stat");
      auto rp = stat.rfind(')');
      if (rp == std::string::npos)
        continue;
      std::istringstream f(stat.substr(rp + 2));
      std::string field;
      long utime = 0, stime = 0;
      for (int k = 3; k <= 15 && f >> field; ++k) {  // fields 14 and 15: utime, stime
        if (k == 14)
          utime = std::strtol(field.c_str(), nullptr, 10);
        if (k == 15)
          stime = std::strtol(field.c_str(), nullptr, 10);
      }
      a.ticks += utime + stime;
    }
  return a;
}

// idle PGID SECONDS: wake-ups and CPU time of the group over a window in which nothing touches
// its files. Sampled every second, so that wake-ups come with when (second:count) and which
// threads (pid/tid:name=count): a periodic timer and the tail of earlier work look different.
int cmdIdle(pid_t pgid, double seconds) {
  const Activity first = activityOf(pgid);
  Activity prev = first;
  std::string when;
  const std::int64_t start = nowNs();
  for (int k = 1; k <= static_cast<int>(std::ceil(seconds)); ++k) {
    sleepNs(start + static_cast<std::int64_t>(std::min<double>(k, seconds) * 1e9) - nowNs());
    Activity cur = activityOf(pgid);
    if (cur.switches != prev.switches)
      when += (when.empty() ? "" : ",") + std::to_string(k - 1) + ":" +
              std::to_string(cur.switches - prev.switches);
    prev = std::move(cur);
  }
  std::string threads;
  for (const auto& [t, n] : prev.byThread) {
    auto it = first.byThread.find(t);
    const long d = n - (it == first.byThread.end() ? 0 : it->second);
    if (d != 0)
      threads += (threads.empty() ? "" : ",") + t + "=" + std::to_string(d);
  }
  std::printf("wakeups=%ld cpu_ms=%ld seconds=%g when=%s threads=%s\n",
              prev.switches - first.switches,
              (prev.ticks - first.ticks) * 1000 / ::sysconf(_SC_CLK_TCK), seconds,
              when.empty() ? "-" : when.c_str(), threads.empty() ? "-" : threads.c_str());
  return 0;
}

void appendSamples(const std::string& path, const std::vector<std::int64_t>& ns) {
  std::string out;
  for (auto v : ns)
    out += std::to_string(v) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    die("open " + path);
  writeAll(fd, out);
  ::close(fd);
}

// latency ROOT N SAMPLES SEED OUT [PACE_MS]: chmod 0644 of a random user's config, then the time
// until this process sees it 0600 again. Samples (ns) are appended to OUT.
//
// How "fixed" is seen: an inotify watch (IN_ATTRIB) of this process on the config file itself,
// added before the chmod and removed after, and an fstatat at each event. Chosen over a tight
// fstatat poll because the machine has two cores: a spinning observer takes one of them for the
// whole measurement and competes with the process measured (and its children, other work on
// the machine) for the other, inflating exactly the tail the bench is after, and it adds its
// own stat traffic on the same inode. The watch costs the process measured nothing: it is a mark
// on the file in this process's own inotify instance, not on the directories the process
// watches, and the fix (fchmod) wakes this process directly. It adds the wake-up of a sleeping
// process (a few microseconds) to every sample, on both sides alike.
int cmdLatency(const std::string& root, std::size_t n, std::size_t samples, unsigned seed,
               const std::string& out, double paceMs) {
  int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0)
    die("inotify_init1");
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> got;
  std::size_t missed = 0, dirty = 0;
  alignas(inotify_event) char buf[4096];
  const auto drain = [&] {
    while (::read(in, buf, sizeof buf) > 0) {
    }
  };
  for (std::size_t s = 0; s < samples; ++s) {
    const std::size_t i = rng() % n;
    const std::string p = configPath(root, i);
    if (!compliant(p, i)) {
      ++dirty;  // left over from something else: not a sample of this one
      continue;
    }
    int wd = ::inotify_add_watch(in, p.c_str(), IN_ATTRIB | IN_DONT_FOLLOW);
    if (wd < 0)
      die("inotify_add_watch " + p);
    const std::int64_t t0 = nowNs();
    if (::chmod(p.c_str(), kDriftMode) != 0)
      die("chmod " + p);
    const std::int64_t deadline = t0 + 2'000'000'000;
    std::int64_t t1 = 0;
    for (;;) {
      pollfd pfd{in, POLLIN, 0};
      const std::int64_t left = deadline - nowNs();
      if (left <= 0)
        break;
      int r = ::poll(&pfd, 1, static_cast<int>(left / 1'000'000 + 1));
      if (r < 0 && errno != EINTR)
        die("poll");
      drain();
      if (compliant(p, i)) {
        t1 = nowNs();
        break;
      }
    }
    ::inotify_rm_watch(in, wd);
    drain();
    if (t1) {
      got.push_back(t1 - t0);
    } else {
      ++missed;
      ::chmod(p.c_str(), kConfigMode);
    }
    // Pace: each sample on an idle process, at a random phase.
    sleepNs(
        static_cast<std::int64_t>(paceMs * 1e6 * (1.0 + static_cast<double>(rng() % 1000) / 1000)));
  }
  appendSamples(out, got);
  std::printf("samples=%zu missed=%zu dirty=%zu\n", got.size(), missed, dirty);
  ::close(in);
  return 0;
}

// percentiles FILE: nearest-rank p50, p99, p99.9 and the maximum, in microseconds.
int cmdPercentiles(const std::string& path) {
  std::vector<std::int64_t> v;
  std::ifstream in(path);
  for (std::int64_t x; in >> x;)
    v.push_back(x);
  if (v.empty()) {
    std::printf("n=0\n");
    return 0;
  }
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    std::size_t k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<std::size_t>(k, 1, v.size()) - 1]) / 1000.0;
  };
  std::printf("n=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", v.size(), at(0.5),
              at(0.99), at(0.999), static_cast<double>(v.back()) / 1000.0);
  return 0;
}

// storm ROOT N CHMODS TIMEOUT_S SEED: CHMODS chmods to 0644 as fast as one thread can, over the
// users in a random order (round robin when CHMODS > N, so that consecutive events differ and
// the kernel cannot merge them), then the time until every config touched is 0600 again,
// re-checking only those still drifted, every 2 ms.
int cmdStorm(const std::string& root, std::size_t n, std::size_t chmods, double timeoutS,
             unsigned seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i)
    order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  std::vector<std::string> paths(n);
  for (std::size_t i = 0; i < n; ++i)
    paths[i] = configPath(root, i);
  const std::int64_t start = nowNs();
  for (std::size_t k = 0; k < chmods; ++k)
    if (::chmod(paths[order[k % n]].c_str(), kDriftMode) != 0)
      die("chmod " + paths[order[k % n]]);
  const std::int64_t end = nowNs();
  std::vector<std::size_t> drifted(order.begin(), order.begin() + std::min(n, chmods));
  const std::int64_t deadline = end + static_cast<std::int64_t>(timeoutS * 1e9);
  std::int64_t lastFix = end;
  std::size_t passes = 0;
  while (!drifted.empty() && nowNs() < deadline) {
    ++passes;
    std::erase_if(drifted, [&](std::size_t i) { return compliant(paths[i], i); });
    const std::int64_t t = nowNs();
    if (drifted.empty()) {
      lastFix = t;
      break;
    }
    sleepNs(2'000'000);
  }
  std::printf(
      "storm_start_ns=%lld storm_end_ns=%lld storm_ms=%.1f users=%zu recovered=%d "
      "recovery_ms=%.1f left=%zu passes=%zu\n",
      static_cast<long long>(start), static_cast<long long>(end),
      static_cast<double>(end - start) / 1e6, std::min(n, chmods), drifted.empty() ? 1 : 0,
      drifted.empty() ? static_cast<double>(lastFix - end) / 1e6 : -1.0, drifted.size(), passes);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: users_observer generate ROOT N | fix ROOT N | now\n"
               "       | spawn LOG [--watchdog-usec U] -- CMD... | header LOG KEY\n"
               "       | wait-line LOG TEXT TIMEOUT_S [AFTER_NS] | stamps LOG TEXT AFTER BEFORE\n"
               "       | proc PGID | idle PGID SECONDS\n"
               "       | latency ROOT N SAMPLES SEED OUT [PACE_MS] | percentiles FILE\n"
               "       | storm ROOT N CHMODS TIMEOUT_S SEED\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  const std::string cmd = argv[1];
  const auto num = [&](int k) { return std::strtoull(argv[k], nullptr, 10); };
  if (cmd == "generate" && argc == 4)
    return cmdGenerate(argv[2], num(3));
  if (cmd == "fix" && argc == 4)
    return cmdFix(argv[2], num(3));
  if (cmd == "now") {
    std::printf("%lld\n", static_cast<long long>(nowNs()));
    return 0;
  }
  if (cmd == "spawn" && argc >= 5) {
    long watchdog = 0;
    int k = 3;
    if (std::string(argv[k]) == "--watchdog-usec" && argc > k + 1) {
      watchdog = std::strtol(argv[k + 1], nullptr, 10);
      k += 2;
    }
    if (k >= argc || std::string(argv[k]) != "--" || k + 1 >= argc)
      return usage();
    return cmdSpawn(argv[2], watchdog, argv + k + 1);
  }
  if (cmd == "header" && argc == 4)
    return cmdHeader(argv[2], argv[3]);
  if (cmd == "wait-line" && (argc == 5 || argc == 6))
    return cmdWaitLine(argv[2], argv[3], std::strtod(argv[4], nullptr),
                       argc == 6 ? std::strtoll(argv[5], nullptr, 10) : 0);
  if (cmd == "stamps" && argc == 6)
    return cmdStamps(argv[2], argv[3], std::strtoll(argv[4], nullptr, 10),
                     std::strtoll(argv[5], nullptr, 10));
  if (cmd == "proc" && argc == 3)
    return cmdProc(static_cast<pid_t>(num(2)));
  if (cmd == "idle" && argc == 4)
    return cmdIdle(static_cast<pid_t>(num(2)), std::strtod(argv[3], nullptr));
  if (cmd == "latency" && (argc == 7 || argc == 8))
    return cmdLatency(argv[2], num(3), num(4), static_cast<unsigned>(num(5)), argv[6],
                      argc == 8 ? std::strtod(argv[7], nullptr) : 5.0);
  if (cmd == "percentiles" && argc == 3)
    return cmdPercentiles(argv[2]);
  if (cmd == "storm" && argc == 7)
    return cmdStorm(argv[2], num(3), num(4), std::strtod(argv[5], nullptr),
                    static_cast<unsigned>(num(6)));
  return usage();
}
