// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/io/openssh_version.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace keepalive::io {

namespace {

constexpr int kDeadlineMs = 5000;
constexpr std::size_t kMaxOutput = 4096;

std::int64_t nowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// stdout and stderr of argv together (sshd -V and ssh -V print on stderr); nullopt when it could
// not run or did not finish in time.
std::optional<std::string> run(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return std::nullopt;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return std::nullopt;
  }
  std::string out;
  const std::int64_t deadline = nowMs() + kDeadlineMs;
  bool done = false;
  while (!done) {
    const std::int64_t left = deadline - nowMs();
    if (left <= 0)
      break;
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    char buf[512];
    const ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      done = true;
    else if (out.size() < kMaxOutput)
      out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  if (!done)
    ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // exec failures of posix_spawnp show as exit 127 with no output.
  if (!done || (WIFEXITED(status) && WEXITSTATUS(status) == 127 && out.empty()))
    return std::nullopt;
  return out;
}

}  // namespace

const std::vector<VersionCommand>& opensshVersionCommands() {
  static const std::vector<VersionCommand> kCommands = {
      {{"/usr/sbin/sshd", "-V"}, "sshd -V"},
      {{"sshd", "-V"}, "sshd -V"},
      {{"ssh", "-V"}, "ssh -V"},
  };
  return kCommands;
}

std::optional<policy::OpensshVersion> parseOpensshVersionOutput(std::string_view output) {
  const std::string_view first = output.substr(0, output.find('\n'));
  // "OpenSSH_9.2, ..." or "OpenSSH_for_Windows_9.5p1, ...": the version follows the product name.
  const auto at = first.find("OpenSSH");
  if (at == std::string_view::npos)
    return std::nullopt;
  return policy::OpensshVersion::parse(first.substr(at));
}

policy::ModelContext detectOpensshVersion() {
  policy::ModelContext ctx;
  for (const auto& c : opensshVersionCommands()) {
    if (c.argv[0].front() == '/' && ::access(c.argv[0].c_str(), X_OK) != 0)
      continue;
    const auto out = run(c.argv);
    if (!out)
      continue;
    if (auto v = parseOpensshVersionOutput(*out)) {
      ctx.openssh = v;
      ctx.source = c.source;
      return ctx;
    }
  }
  return ctx;
}

}  // namespace keepalive::io
