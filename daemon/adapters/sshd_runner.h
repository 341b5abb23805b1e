// The real sshd and ssh: validation (-t), effective values (-T, -G), and reading their
// configuration with Includes expanded. ssh -G runs as nobody: ssh_config's Match exec runs
// commands, and we never evaluate a configuration as root that could run one.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "child_runner.h"
#include "core/ports.h"

namespace keepalive::daemon {

struct SshdRunnerOptions {
  std::string root;  // "" for the real system
  std::string sshd = "/usr/sbin/sshd";
  std::string ssh = "/usr/bin/ssh";
  std::string user = "root";  // for sshd -T -C: a covered user, when known
  std::chrono::milliseconds timeout{10000};
};

class SshdRunner : public Sshd {
 public:
  SshdRunner(SshdRunnerOptions o, ChildRunner& children);

  void test(Done<CheckResult> done) override;
  void serverDump(Done<Dump> done) override;
  void clientDump(Done<Dump> done) override;
  ConfigScan scanServer() override;
  ConfigScan scanClient() override;
  void insertInclude(Done<Status> done) override;
  std::string mainConfigPath() const override;
  std::string clientConfigPath() const;
  void setUser(const std::string& user) { o_.user = user; }

 private:
  // Runs sshd (-t or -T); when it fails only because its privilege separation directory is
  // missing (sshd's unit is stopped and took its RuntimeDirectory along), runs it once more in
  // a private mount namespace where that directory exists. Nothing is created on the host.
  void runSshd(std::vector<std::string> argv, Done<ProcessResult> done);

  SshdRunnerOptions o_;
  ChildRunner& children_;
};

// Reads a config and, recursively, what it includes, in the order the program does.
// Relative Include paths are taken from baseDir (/etc/ssh); `hostBlocks` is true for ssh_config,
// where "Host" opens a block as "Match" does.
ConfigScan scanConfigFile(const std::string& path, const std::string& baseDir, bool hostBlocks);

}  // namespace keepalive::daemon
