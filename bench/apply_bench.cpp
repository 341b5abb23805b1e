// SPDX-License-Identifier: GPL-2.0-or-later
// Policy rename -> sshd serving the new configuration, measured against the real systemd and sshd
// (run it inside tests/system's throwaway systemd: bench/run_apply_bench.sh does).
//
// daemon:   keepalive-policyd runs; each iteration renames a new policy into place and waits for
//           the daemon's "applied in ..." line, which it logs after the reload job ended and sshd
//           listened again (the listen check: its sockets, never a connection). The parts come
//           from that line.
// baseline: what a careful admin's script does for the same change, with the daemon stopped:
//           write a drop-in by rename, sshd -t, systemctl reload ssh, wait for the banner.
// Both run in alternating blocks in one process, on the same machine, in the same minute.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmath>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  std::size_t i =
      static_cast<std::size_t>(std::lround(p / 100.0 * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

void writeRename(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".bench-tmp";
  std::ofstream(tmp) << text;
  std::rename(tmp.c_str(), path.c_str());
}

int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct Daemon {
  pid_t pid = -1;
  int fd = -1;
  std::string buf;

  void start(const std::string& binary) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
      std::exit(1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    char* argv[] = {const_cast<char*>(binary.c_str()), const_cast<char*>("--foreground"), nullptr};
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv, environ) != 0)
      std::exit(1);
    close(p[1]);
    fd = p[0];
    buf.clear();
  }
  // Waits for a line containing text; returns it ("" on timeout).
  std::string waitLine(const std::string& text, int timeoutMs = 20000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (line.find(text) != std::string::npos)
          return line;
      }
      int left = static_cast<int>(ms(deadline - Clock::now()));
      if (left <= 0)
        return {};
      pollfd pf{fd, POLLIN, 0};
      if (poll(&pf, 1, left) <= 0)
        return {};
      char b[4096];
      ssize_t n = read(fd, b, sizeof b);
      if (n <= 0)
        return {};
      buf.append(b, static_cast<std::size_t>(n));
    }
  }
  void stop() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    close(fd);
  }
};

// "applied in 23.4 ms (parse 0.3, write 0.8, sshd -t 9.1, ...)" -> parts
std::map<std::string, double> parts(const std::string& line) {
  std::map<std::string, double> out;
  auto open = line.find('(', line.find("applied in"));
  auto close = line.find(')', open);
  if (open == std::string::npos || close == std::string::npos)
    return out;
  std::string inner = line.substr(open + 1, close - open - 1);
  std::size_t start = 0;
  while (start < inner.size()) {
    auto comma = inner.find(", ", start);
    std::string item =
        inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto sp = item.rfind(' ');
    out[item.substr(0, sp)] = std::atof(item.c_str() + sp + 1);
    if (comma == std::string::npos)
      break;
    start = comma + 2;
  }
  return out;
}

bool banner() {
  return sh("timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22; head -c 8 <&3 | grep -q SSH-2.0-' "
            "2>/dev/null") == 0;
}

}  // namespace

// The policy with client_alive_interval value and n networks (issue 16), each with a /24 of
// client addresses and a destination pattern: the apply proves each with sshd -T -C and ssh -G.
std::string policyText(int value, int n) {
  std::string out = "version: 1\nserver: {client_alive_interval: " + std::to_string(value) + "}\n";
  if (n > 0)
    out += "networks:\n";
  for (int i = 0; i < n; ++i)
    out += "  - name: net" + std::to_string(i) + "\n    addresses: [\"10." +
           std::to_string(i / 256) + "." + std::to_string(i % 256) +
           ".0/24\"]\n    destinations: [\"*.net" + std::to_string(i) +
           ".example.com\"]\n    idle_timeout: " + std::to_string(300 + i) + "\n";
  return out;
}

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  const std::string policyd = argc > 2 ? argv[2] : "/usr/local/sbin/keepalive-policyd";
  const int networks = argc > 3 ? std::atoi(argv[3]) : 0;
  const int block = 10;
  const std::string policy = "/etc/keepalive-policy/policy.yaml";
  sh("mkdir -p /etc/keepalive-policy/policy.d");
  writeRename(policy, policyText(60, networks));

  std::vector<double> e2e, serving, base;
  std::map<std::string, std::vector<double>> partv;
  int value = 60, failures = 0;
  Daemon d;
  for (int done = 0; done < iterations;) {
    d.start(policyd);
    if (d.waitLine("state ").empty()) {
      std::fprintf(stderr, "daemon did not start\n");
      return 1;
    }
    for (int i = 0; i < block && done < iterations; ++i, ++done) {
      value = value == 60 ? 61 : 60;
      const auto t0 = Clock::now();
      writeRename(policy, policyText(value, networks));
      std::string line = d.waitLine("(policy changed): applied in");
      const auto t1 = Clock::now();
      if (line.empty()) {
        ++failures;
        continue;
      }
      e2e.push_back(ms(t1 - t0));
      auto p = parts(line);
      for (auto& [k, v] : p)
        partv[k].push_back(v);
      // sshd served the new configuration once the probe answered; verify comes after.
      serving.push_back(ms(t1 - t0) - p["verify"]);
    }
    d.stop();
    // The same change the way a careful admin's script makes it.
    for (int i = 0; i < block; ++i) {
      value = value == 60 ? 61 : 60;
      const auto t0 = Clock::now();
      writeRename("/etc/ssh/sshd_config.d/10-bench-baseline.conf",
                  "LoginGraceTime " + std::to_string(value) + "\n");
      bool ok = sh("sshd -t && systemctl reload ssh.service") == 0;
      while (ok && !banner() && ms(Clock::now() - t0) < 5000) {
      }
      const auto t1 = Clock::now();
      if (ok)
        base.push_back(ms(t1 - t0));
      else
        ++failures;
    }
  }
  std::remove("/etc/ssh/sshd_config.d/10-bench-baseline.conf");

  const bool served = sh("sshd -T | grep -qx 'clientaliveinterval " +
                         std::to_string(value == 60 ? 60 : 61) + "'") == 0 ||
                      sh("sshd -T | grep -q '^clientaliveinterval 6[01]$'") == 0;
  std::printf("networks in the policy: %d\n", networks);
  std::printf("iterations: %zu daemon, %zu baseline, %d failures, sshd -T shows the policy: %s\n",
              e2e.size(), base.size(), failures, served ? "yes" : "NO");
  std::printf("%-34s %8s %8s\n", "rename -> sshd serving (ms)", "p50", "p99");
  std::printf("%-34s %8.1f %8.1f\n", "keepalive-policyd, until serving", pct(serving, 50),
              pct(serving, 99));
  std::printf("%-34s %8.1f %8.1f\n", "keepalive-policyd, until verified", pct(e2e, 50),
              pct(e2e, 99));
  for (const char* k : {"parse", "write", "sshd -t", "ssh -G", "reload", "probe", "verify"})
    if (partv.count(k))
      std::printf("  %-32s %8.1f %8.1f\n", k, pct(partv[k], 50), pct(partv[k], 99));
  std::printf("%-34s %8.1f %8.1f\n", "baseline: write, sshd -t, reload", pct(base, 50),
              pct(base, 99));
  if (!base.empty() && !e2e.empty())
    std::printf("ratio daemon (until serving) / baseline at p50: %.2f\n",
                pct(serving, 50) / pct(base, 50));
  return failures == 0 && served ? 0 : 1;
}
