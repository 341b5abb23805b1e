// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers shared by the integration tests: temporary roots and child processes with deadlines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "test_files.h"

namespace keepalive::test {

// A directory removed (recursively) when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "keepalive-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

struct RunResult {
  int exitCode = -1;  // -1 when killed or not started
  bool timedOut = false;
  std::string out;
  std::string err;
};

// Runs argv (no shell) with stdin from /dev/null, capturing stdout and stderr; kills it at the
// deadline.
RunResult run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(20),
              const std::vector<std::string>& extraEnv = {});

// State letter of /proc/PID/stat: 'T' when stopped, 'D' in an uninterruptible wait.
char procState(pid_t pid);
bool isRoot();
// Built binaries, set at build time.
std::string keepalivectlPath();

}  // namespace keepalive::test

namespace keepalive::test {

// A test root with a real sshd and ssh configuration: ROOT/etc/ssh/sshd_config includes
// ROOT/etc/ssh/sshd_config.d/*.conf first (as Debian's does) and has its own host key and pid file;
// ROOT/etc/ssh/ssh_config includes ROOT/etc/ssh/ssh_config.d/*.conf. sshd -t needs root and
// /run/sshd, which this creates when missing.
struct SshRoot {
  std::string root;
  std::string sshdConfig() const { return root + "/etc/ssh/sshd_config"; }
  std::string sshConfig() const { return root + "/etc/ssh/ssh_config"; }
  std::string sshdDropIn() const {
    return root + "/etc/ssh/sshd_config.d/00-keepalive-policy.conf";
  }
  std::string clientDropIn() const {
    return root + "/etc/ssh/ssh_config.d/00-keepalive-policy.conf";
  }
};
SshRoot makeSshRoot(const std::string& root, const std::string& extraSshdConfig = "");

// `sshd -T` (or `ssh -G`) output as keyword -> value (lower-case keywords, first value kept).
std::vector<std::pair<std::string, std::string>> parseDump(const std::string& out);
std::string dumpValue(const std::string& out, const std::string& keyword);

// Runs argv as the unprivileged user nobody (setpriv) when we are root; as ourselves otherwise.
std::vector<std::string> asNobody(const std::vector<std::string>& argv);

}  // namespace keepalive::test

namespace keepalive::test {

std::string policydPath();

// Starts argv (argv[0] an absolute path) in the background with stdin /dev/null and stdout and
// stderr appended to a new logPath, in this process's environment; its pid. Throws when it
// cannot be started. The caller ends and reaps it.
pid_t spawnLogged(const std::vector<std::string>& argv, const std::string& logPath);

// keepalive-policyd running in the background on a test root, its stderr in a file. Stopped with
// SIGTERM (then SIGKILL) when the object dies.
class DaemonProcess {
 public:
  // args are appended to: keepalive-policyd --root ROOT --foreground --unit none --host test-host
  // --bus none
  DaemonProcess(const std::string& root, std::vector<std::string> args = {},
                std::vector<std::string> env = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const;  // everything it wrote to stderr so far
  // Polls the log until it holds `text` at least `count` times; false at the deadline.
  bool waitForLog(const std::string& text, int count = 1,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  int countInLog(const std::string& text) const;
  // SIGTERM and wait; returns the exit code (-1 if killed).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void kill9();

 private:
  pid_t pid_ = -1;
  std::string logPath_;
  TempDir logDir_;
};

// Polls cond until true or the deadline. Never a fixed sleep: the wait ends as soon as it holds.
bool waitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A complete test root for the daemon: SshRoot plus /etc/keepalive-policy/{policy.yaml,policy.d},
// world-readable so that ssh -G can run as nobody.
SshRoot makeDaemonRoot(const std::string& root, const std::string& policy);

// Replaces path the way Ansible and editors do: write a temp file beside it, rename over it.
void replaceByRename(const std::string& path, const std::string& text);

}  // namespace keepalive::test
