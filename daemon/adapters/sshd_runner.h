// SPDX-License-Identifier: GPL-2.0-or-later
// The real sshd and ssh: validation (-t), effective values (-T, -G), and reading their
// configuration with Includes expanded. ssh -G runs as nobody: ssh_config's Match exec runs
// commands, and we never evaluate a configuration as root that could run one.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
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

// How a retry of sshd with a private privilege separation directory ended, when something other
// than the daemon's own child ran it (under systemd: a transient unit, SystemdManager::
// runPrivsepCheck, because the daemon's sandbox cannot build a private /run itself).
struct PrivsepRetryResult {
  bool ran = false;  // sshd ran to its end; else detail says why it did not run
  bool ok = false;   // sshd exited 0
  bool timed_out = false;
  bool truncated = false;  // out or err was longer than the runner keeps
  std::string out;         // sshd's stdout
  std::string err;         // sshd's stderr
  std::string detail;      // why it did not run, or how it ended (the unit's result)
};
// argv (sshd -t or -T), the directory sshd missed, the deadline, and where the answer goes.
using PrivsepRetry =
    std::function<void(const std::vector<std::string>& argv, const std::string& dir,
                       std::chrono::milliseconds timeout, Done<PrivsepRetryResult> done)>;

class SshdRunner : public Sshd {
 public:
  SshdRunner(SshdRunnerOptions o, ChildRunner& children);

  void test(Done<CheckResult> done) override;
  void serverDump(const ConnectionSpec& conn, Done<Dump> done) override;
  void clientDump(const std::string& host, Done<Dump> done) override;
  void version(Done<VersionText> done) override;
  ConfigScan scanServer() override;
  ConfigScan scanClient() override;
  void insertInclude(Done<Status> done) override;
  std::string mainConfigPath() const override;
  std::string clientConfigPath() const;
  void setUser(const std::string& user) { o_.user = user; }
  // When set, the retry with a private privilege separation directory runs through it instead
  // of as our child in a mount namespace of its own (which needs CAP_SYS_ADMIN).
  void setPrivsepRetry(PrivsepRetry retry) { privsepRetry_ = std::move(retry); }

 private:
  // Runs sshd (-t or -T); when it fails only because its privilege separation directory is
  // missing (sshd's unit is stopped and took its RuntimeDirectory along), runs it once more
  // where that directory exists: through privsepRetry_ when set, else in a private mount
  // namespace of our child's own. Nothing is created on the host.
  void runSshd(std::vector<std::string> argv, Done<ProcessResult> done);

  // "addr=A,user=U,host=H,laddr=L,lport=P" with the defaults filled in (ports.h).
  std::string connectionSpec(const ConnectionSpec& c) const;

  SshdRunnerOptions o_;
  ChildRunner& children_;
  PrivsepRetry privsepRetry_;
};

// Reads a config and, recursively, what it includes, in the order the program does.
// Relative Include paths are taken from baseDir (/etc/ssh); `hostBlocks` is true for ssh_config,
// where "Host" opens a block as "Match" does.
// The first line of sshd -V's or ssh -V's output when it names a version (the rule of
// io::parseOpensshVersionOutput, which keepalivectl uses too).
std::optional<std::string> opensshLine(const std::string& text);

ConfigScan scanConfigFile(const std::string& path, const std::string& baseDir, bool hostBlocks);

}  // namespace keepalive::daemon
