#include "test_support.h"

#include <fcntl.h>
#include <poll.h>
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
  RunResult r;
  int outPipe[2], errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0 || ::pipe2(errPipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envStore;
  for (char** e = environ; *e; ++e)
    envStore.emplace_back(*e);
  for (const auto& e : extraEnv)
    envStore.push_back(e);
  std::vector<char*> env;
  for (auto& e : envStore)
    env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(outPipe[1]);
  ::close(errPipe[1]);
  if (rc != 0) {
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    r.err = "spawn " + argv[0] + ": " + strerror(rc);
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[8192];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  return r;
}

void writeFile(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
      throw std::runtime_error("cannot write " + path);
    f << text;
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void makeDirs(const std::string& path, int mode) {
  std::filesystem::create_directories(path);
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

bool isRoot() {
  return ::geteuid() == 0;
}

std::string dataDir() {
  return KEEPALIVE_TEST_DATA;
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
  if (kg.exit_code != 0)
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
