// SPDX-License-Identifier: GPL-2.0-or-later
// `keepalivectl status` end to end, as an admin or a monitoring script runs it: exec, connect to
// the system bus, one GetAll, print, exit. Each run's wall time from posix_spawn to waitpid,
// stdout to /dev/null; p50, p99 and the maximum.
//
//   status_bench RUNS KEEPALIVECTL [ARG...]     (bench/status_bench.sh sets up bus and daemon)
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmath>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0;
  const auto i = static_cast<std::size_t>(std::lround(p / 100.0 * double(sorted.size() - 1)));
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: status_bench RUNS KEEPALIVECTL [ARG...]\n");
    return 2;
  }
  const int runs = std::atoi(argv[1]);
  std::vector<char*> args(argv + 2, argv + argc);
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(runs));
  // A few runs first, so that the page cache holds the binary and its libraries.
  for (int i = -10; i < runs; ++i) {
    const auto t0 = Clock::now();
    pid_t pid;
    if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
      std::perror("posix_spawn");
      return 1;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const auto t1 = Clock::now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "status_bench: run %d failed (status %d)\n", i, status);
      return 1;
    }
    if (i >= 0)
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  posix_spawn_file_actions_destroy(&fa);
  std::sort(ms.begin(), ms.end());
  std::printf("keepalivectl %s: %d runs, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              argv[3] ? argv[3] : "", runs, pct(ms, 50), pct(ms, 99), ms.empty() ? 0.0 : ms.back());
  return 0;
}
