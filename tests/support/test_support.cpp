// SPDX-License-Identifier: GPL-2.0-or-later
#include "test_support.h"

#include "sys/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace keepalive::test {

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + ".XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp: " + std::string(strerror(errno)));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::vector<std::string>& extraEnv) {
  // The daemon's own runner, with this process's environment plus extraEnv.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    env.emplace_back(*e);
  env.insert(env.end(), extraEnv.begin(), extraEnv.end());
  auto p = daemon::runProcess(argv, timeout, std::nullopt, &env);
  RunResult r;
  r.exitCode = p.exit_code;
  r.timedOut = p.timed_out;
  r.out = std::move(p.out);
  r.err = p.spawn_error.empty() ? std::move(p.err) : p.spawn_error;
  return r;
}

char procState(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  return close != std::string::npos && close + 2 < s.size() ? s[close + 2] : '?';
}

bool isRoot() {
  return ::geteuid() == 0;
}

std::string keepalivectlPath() {
  return KEEPALIVECTL_PATH;
}

}  // namespace keepalive::test

namespace keepalive::test {

SshRoot makeSshRoot(const std::string& root, const std::string& extraSshdConfig) {
  SshRoot r{root};
  makeDirs(root + "/etc/ssh/sshd_config.d");
  makeDirs(root + "/etc/ssh/ssh_config.d");
  makeDirs(root + "/run");
  const std::string key = root + "/etc/ssh/ssh_host_ed25519_key";
  auto kg = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key});
  if (kg.exitCode != 0)
    throw std::runtime_error("ssh-keygen failed: " + kg.err);
  writeFile(r.sshdConfig(), "# test root sshd_config\nInclude " + root +
                                "/etc/ssh/sshd_config.d/*.conf\n" + extraSshdConfig + "HostKey " +
                                key + "\nPidFile " + root +
                                "/run/sshd.pid\nListenAddress 127.0.0.1:2222\n");
  writeFile(r.sshConfig(), "Include " + root + "/etc/ssh/ssh_config.d/*.conf\n");
  if (isRoot() && ::access("/run/sshd", F_OK) != 0)
    ::mkdir("/run/sshd", 0755);
  return r;
}

std::vector<std::pair<std::string, std::string>> parseDump(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> kv;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp == std::string::npos)
      continue;
    kv.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return kv;
}

std::string dumpValue(const std::string& out, const std::string& keyword) {
  for (const auto& [k, v] : parseDump(out))
    if (k == keyword)
      return v;
  return {};
}

std::vector<std::string> asNobody(const std::vector<std::string>& argv) {
  if (!isRoot())
    return argv;
  std::vector<std::string> out = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace keepalive::test

#include <thread>

namespace keepalive::test {

std::string policydPath() {
  return KEEPALIVE_POLICYD_PATH;
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return cond();
    std::this_thread::sleep_for(pause);  // between checks of a condition, not instead of one
    pause = std::min(pause * 2, std::chrono::milliseconds(25));
  }
  return true;
}

DaemonProcess::DaemonProcess(const std::string& root, std::vector<std::string> args,
                             std::vector<std::string> env)
    : logDir_("keepalive-daemon-log") {
  logPath_ = logDir_ / "stderr.log";
  // No bus unless a test asks for one (--bus system, with DBUS_SYSTEM_BUS_ADDRESS): a test
  // daemon must not reach the host's system bus.
  std::vector<std::string> argv = {policydPath(), "--root", root,        "--foreground", "--unit",
                                   "none",        "--host", "test-host", "--bus",        "none"};
  argv.insert(argv.end(), args.begin(), args.end());
  int logFd = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (logFd < 0)
    throw std::runtime_error("cannot create daemon log");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, logFd, 1);
  posix_spawn_file_actions_adddup2(&fa, logFd, 2);
  std::vector<char*> a;
  for (auto& s : argv)
    a.push_back(s.data());
  a.push_back(nullptr);
  std::vector<std::string> envStore;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && std::strncmp(*e, "JOURNAL_STREAM=", 15) != 0)
      envStore.emplace_back(*e);
  for (auto& e : env)
    envStore.push_back(e);
  std::vector<char*> ev;
  for (auto& e : envStore)
    ev.push_back(e.data());
  ev.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, a[0], &fa, nullptr, a.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(logFd);
  if (rc != 0)
    throw std::runtime_error("cannot start keepalive-policyd: " + std::string(strerror(rc)));
}

pid_t spawnLogged(const std::vector<std::string>& argv, const std::string& logPath) {
  const int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot create " + logPath + ": " + strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  std::vector<std::string> args = argv;
  std::vector<char*> a;
  for (auto& s : args)
    a.push_back(s.data());
  a.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fd);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": " + strerror(rc));
  return pid;
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0)
    stop();
}

std::string DaemonProcess::log() const {
  try {
    return readFile(logPath_);
  } catch (...) {
    return {};
  }
}

int DaemonProcess::countInLog(const std::string& text) const {
  const std::string l = log();
  int n = 0;
  for (std::size_t p = l.find(text); p != std::string::npos; p = l.find(text, p + text.size()))
    ++n;
  return n;
}

bool DaemonProcess::waitForLog(const std::string& text, int count,
                               std::chrono::milliseconds timeout) const {
  return waitFor([&] { return countInLog(text) >= count; }, timeout);
}

int DaemonProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  bool done = waitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!done) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void DaemonProcess::kill9() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

SshRoot makeDaemonRoot(const std::string& root, const std::string& policy) {
  ::chmod(root.c_str(), 0755);
  SshRoot s = makeSshRoot(root);
  makeDirs(root + "/etc/keepalive-policy/policy.d");
  writeFile(root + "/etc/keepalive-policy/policy.yaml", policy);
  return s;
}

void replaceByRename(const std::string& path, const std::string& text) {
  const std::string dir = path.substr(0, path.rfind('/'));
  const std::string tmp =
      dir + "/.tmp-" + std::to_string(::getpid()) + "-" + path.substr(path.rfind('/') + 1);
  writeFile(tmp, text);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("rename failed: " + std::string(strerror(errno)));
}

}  // namespace keepalive::test
