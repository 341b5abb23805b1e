// SPDX-License-Identifier: GPL-2.0-or-later
#include "user_block/runner.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "sys/process.h"
#include "user_block/helper_protocol.h"
#include "user_block/scope.h"

namespace keepalive::daemon {

const char* const kInstalledUserBlockHelper = KEEPALIVE_USER_BLOCK_HELPER;

const char* toString(UserBlockResult::Kind k) {
  using K = UserBlockResult::Kind;
  switch (k) {
    case K::kUnchanged:
      return "unchanged";
    case K::kUpdated:
      return "updated";
    case K::kRemoved:
      return "removed";
    case K::kAbsent:
      return "absent";
    case K::kRefused:
      return "refused";
    case K::kError:
      return "error";
  }
  return "error";
}

namespace {

constexpr std::string_view kHelperPrefix = "keepalive-user-block: ";
// systemd starts a scope in milliseconds; a manager that takes longer gets the run without one.
constexpr long kScopeTimeout = 2000;

UserBlockResult result(UserBlockResult::Kind k, std::string detail = {}) {
  return UserBlockResult{k, std::move(detail), {}};
}

// The helper's first non-empty stderr line, without the program name it starts with.
std::string firstLine(const std::string& s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto nl = s.find('\n', pos);
    auto line =
        sanitizeLine(std::string_view(s).substr(pos, nl == std::string::npos ? nl : nl - pos));
    if (!line.empty())
      return line.starts_with(kHelperPrefix) ? line.substr(kHelperPrefix.size()) : line;
    if (nl == std::string::npos)
      break;
    pos = nl + 1;
  }
  return {};
}

UserBlockResult interpret(const ProcessResult& pr, const BlockSettings& s,
                          std::chrono::milliseconds timeout);

}  // namespace

UserBlockResult runUserBlock(const UserEntry& u, const std::string& configPath,
                             const BlockSettings& s, const std::string& helperPath,
                             const std::string& sshPath, std::chrono::milliseconds timeout) {
  using K = UserBlockResult::Kind;
  // The helper evaluates the user's config, Match exec included: as root that would run the
  // user's commands as root.
  if (u.uid == 0)
    return result(K::kRefused, "not for uid 0: the block is written as the user");
  if (configPath.empty() || configPath.front() != '/')
    return result(K::kError, "config path \"" + sanitizeLine(configPath) + "\" is not absolute");
  if (auto bad = checkBlockSettings(s); !bad.empty())
    return result(K::kError, "invalid setting: " + bad);

  std::vector<std::string> argv = {helperPath, "--config", configPath, "--ssh", sshPath};
  if (s.empty())
    argv.emplace_back("--remove");
  for (const auto& [key, value] : s) {
    argv.emplace_back("--set");
    argv.push_back(key + "=" + value);
  }
  // What a login would set and nothing of ours: the helper hands these on to ssh (and so to
  // Match exec commands).
  const std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + u.home,
                                        "USER=" + u.name, "LOGNAME=" + u.name};
  // The user's code gets this run and nothing after it: an intermediate process (root, a
  // subreaper) ends every process of it, escaped ones included, in its own scope when systemd
  // is there (the scope's pids limit then replaces RLIMIT_NPROC).
  Containment c;
  c.cpuSeconds = static_cast<unsigned>(std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(timeout + std::chrono::seconds(1) -
                                                          std::chrono::milliseconds(1))
             .count()));
  std::unique_ptr<TransientScope> scope;
  std::string scopeWhy;
  if (systemdBooted()) {
    c.enter = [&](pid_t pid) {
      scope = TransientScope::start(pid, u.uid, ScopeLimits{c.tasks, ScopeLimits{}.memory},
                                    std::min(timeout, std::chrono::milliseconds(kScopeTimeout)),
                                    scopeWhy);
      // Without the pids controller, TasksMax= is a wish: RLIMIT_NPROC then bounds the run.
      return scope && scope->boundsTasks();
    };
    c.leave = [&] { scope.reset(); };
  }
  const auto pr = runProcess(argv, timeout, credentialsFor(u.name, u.uid, u.gid), &env, &c);
  auto res = interpret(pr, s, timeout);
  if (!scopeWhy.empty())
    res.note = "no scope of its own (" + sanitizeLine(scopeWhy) + "); ended by its subreaper";
  return res;
}

namespace {

UserBlockResult interpret(const ProcessResult& pr, const BlockSettings& s,
                          std::chrono::milliseconds timeout) {
  using K = UserBlockResult::Kind;

  // The helper runs as the user, who may ptrace it: its output is a claim, parsed strictly.
  if (!pr.spawn_error.empty())
    return result(K::kError, sanitizeLine(pr.spawn_error));
  if (pr.timed_out)
    return result(K::kError, "timed out after " + std::to_string(timeout.count()) +
                                 " ms; the helper and everything it started were killed");
  const std::string why = firstLine(pr.err);
  switch (pr.exit_code) {
    case helper::kExitOk:
      break;
    case helper::kExitRefused:
      return result(K::kRefused, why.empty() ? "refused, no reason given" : why);
    case -1:
      return result(K::kError, "the helper was killed by a signal");
    default:
      return result(K::kError, why.empty()
                                   ? "the helper exited with status " + std::to_string(pr.exit_code)
                                   : why);
  }
  const std::string word = pr.out;
  if (word == std::string(helper::kUnchanged) + "\n")
    return result(K::kUnchanged);
  if (word == std::string(helper::kAbsent) + "\n")
    return result(K::kAbsent);
  if (!s.empty() && word == std::string(helper::kUpdated) + "\n")
    return result(K::kUpdated);
  if (s.empty() && word == std::string(helper::kRemoved) + "\n")
    return result(K::kRemoved);
  return result(K::kError, "unexpected helper output \"" + sanitizeLine(word, 40) + "\"");
}

}  // namespace

}  // namespace keepalive::daemon
