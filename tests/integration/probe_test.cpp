// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl probe against a real sshd on 127.0.0.1, run as the unprivileged user nobody as an
// ordinary user would run it: every rung survives (no NAT in between), a refused login and a
// closed port are said in plain words with exit status 1, and an sshd with ClientAliveInterval 1
// is seen sending keepalives; SIGTERM ends every ssh before probe dies of it. The NAT itself is in
// tests/e2e/probe_e2e_test.sh.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

extern char** environ;

using namespace keepalive::test;

namespace {

// A port nothing listens on right now (the kernel's choice, then closed).
int freePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free port");
  ::close(s);
  return ntohs(a.sin_port);
}

// A real sshd on 127.0.0.1:PORT in a temporary directory, and a key for nobody that logs in as
// root there. Stopped when the object dies.
class Sshd {
 public:
  explicit Sshd(const std::string& extraConfig) : dir_("keepalive-probe-sshd") {
    ::chmod(dir_.path().c_str(), 0755);  // nobody reads its key here
    port_ = freePort();
    run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "host_key"});
    run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "probe", "-f", dir_ / "user_key"});
    run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", dir_ / "other_key"});
    ::rename((dir_ / "user_key.pub").c_str(), (dir_ / "authorized_keys").c_str());
    const auto nobody = asNobody({"true"});
    if (nobody.size() > 1)  // we are root: the keys become nobody's, as a user's own keys are
      for (const char* k : {"user_key", "other_key"})
        run({"chown", "nobody", dir_ / k});
    writeFile(dir_ / "sshd_config",
              extraConfig + "HostKey " + (dir_ / "host_key") + "\nPidFile " + (dir_ / "sshd.pid") +
                  "\nListenAddress 127.0.0.1:" + std::to_string(port_) + "\nAuthorizedKeysFile " +
                  (dir_ / "authorized_keys") +
                  "\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
                  "PasswordAuthentication no\nKbdInteractiveAuthentication no\n");
    if (::access("/run/sshd", F_OK) != 0)
      ::mkdir("/run/sshd", 0755);
    const std::string log = dir_ / "sshd.log";
    pid_ = spawnLogged({"/usr/sbin/sshd", "-D", "-e", "-f", dir_ / "sshd_config"}, log);
    const std::string listening = "Server listening on 127.0.0.1 port " + std::to_string(port_);
    if (!waitFor([&] { return readFile(log).find(listening) != std::string::npos; }))
      throw std::runtime_error("sshd does not listen: " + readFile(log));
  }
  ~Sshd() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  int port() const { return port_; }
  // ssh's options for probe: this sshd, this key, no known_hosts, no ssh_config.
  std::vector<std::string> sshOptions(const std::string& key = "user_key") const {
    return {"-F", "/dev/null",
            "-p", std::to_string(port_),
            "-i", dir_ / key,
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null"};
  }

 private:
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

RunResult probe(std::vector<std::string> args, const std::vector<std::string>& sshOptions,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> argv = {keepalivectlPath(), "probe"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("root@127.0.0.1");
  argv.push_back("--");
  argv.insert(argv.end(), sshOptions.begin(), sshOptions.end());
  return run(asNobody(argv), timeout);
}

}  // namespace

TEST_CASE("probe: through no NAT every rung survives; JSON and text agree") {
  if (!isRoot()) {
    WARN("a real sshd needs root; skipped unprivileged");
    return;
  }
  Sshd sshd("ClientAliveInterval 0\n");
  auto r = probe({"--ladder", "1s,2s", "--max", "2s", "--json"}, sshd.sshOptions());
  INFO(r.out << r.err);
  REQUIRE(r.exitCode == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["survived_seconds"] == 2);
  CHECK(j["dropped_seconds"].is_null());
  CHECK(j["recommended_idle_timeout_seconds"] == 2);
  CHECK(j["server_keepalive_seconds"].is_null());
  CHECK(j["measurement_holds_up_to_seconds"].is_null());
  CHECK(j["error"].is_null());
  REQUIRE(j["ladder"].size() == 2);
  for (const auto& rung : j["ladder"]) {
    CHECK(rung["result"] == "survived");
    CHECK(rung["server_keepalives"] == 0);
  }
  // ssh's debug output stays out of the user's way.
  CHECK(r.err.find("debug1") == std::string::npos);

  r = probe({"--ladder", "1s", "--max", "1s"}, sshd.sshOptions());
  INFO(r.out << r.err);
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("1s  survived  the line came after "));
  CHECK_THAT(r.out, Catch::Contains("No session dropped"));
  // 1s is below what network.idle_timeout takes: no snippet then.
  CHECK_THAT(r.out, Catch::Contains("below 3s"));
}

TEST_CASE("probe: a refused login and a closed port are said in plain words, exit 1") {
  if (!isRoot()) {
    WARN("a real sshd needs root; skipped unprivileged");
    return;
  }
  Sshd sshd("ClientAliveInterval 0\n");
  auto r = probe({"--ladder", "1s,2s,3s"}, sshd.sshOptions("other_key"));
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.out, Catch::Contains("Nothing measured: authentication failed: root@127.0.0.1: "
                                    "Permission denied (publickey"));
  r = probe({"--ladder", "1s,2s,3s", "--json"}, sshd.sshOptions("other_key"));
  CHECK(r.exitCode == 1);
  auto j = nlohmann::json::parse(r.out);
  CHECK_THAT(j["error"].get<std::string>(), Catch::StartsWith("authentication failed: "));
  CHECK(j["recommended_idle_timeout_seconds"].is_null());

  auto opts = sshd.sshOptions();
  const int closed = freePort();
  opts[3] = std::to_string(closed);
  r = probe({"--ladder", "1s,2s,3s", "--json"}, opts);
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  j = nlohmann::json::parse(r.out);
  CHECK(j["error"] == "host unreachable: ssh: connect to host 127.0.0.1 port " +
                          std::to_string(closed) + ": Connection refused");
  for (const auto& rung : j["ladder"])
    CHECK(rung["result"] != "survived");

  // Usage errors are 2.
  CHECK(run({keepalivectlPath(), "probe", "--max", "3h", "h"}).exitCode == 2);
  CHECK(run({keepalivectlPath(), "probe", "--ladder", "5s", "--max", "2s", "h"}).exitCode == 2);
  CHECK(run({keepalivectlPath(), "probe"}).exitCode == 2);
}

TEST_CASE("probe: an sshd with ClientAliveInterval 1 is seen sending keepalives") {
  if (!isRoot()) {
    WARN("a real sshd needs root; skipped unprivileged");
    return;
  }
  Sshd sshd("ClientAliveInterval 1\n");
  auto r = probe({"--ladder", "5s", "--max", "5s", "--json"}, sshd.sshOptions());
  INFO(r.out << r.err);
  REQUIRE(r.exitCode == 0);
  const auto j = nlohmann::json::parse(r.out);
  // sshd 9.2 probes a silent client every second interval (docs/e2e.md): every ~2 s here.
  REQUIRE(j["server_keepalive_seconds"].is_number());
  CHECK(j["server_keepalive_seconds"].get<int>() >= 1);
  CHECK(j["server_keepalive_seconds"].get<int>() <= 2);
  CHECK(j["measurement_holds_up_to_seconds"].get<int>() <= 3);
  CHECK(j["recommended_idle_timeout_seconds"] == j["measurement_holds_up_to_seconds"]);
  CHECK(j["ladder"][0]["server_keepalives"].get<int>() >= 2);
  r = probe({"--ladder", "5s", "--max", "5s"}, sshd.sshOptions());
  CHECK_THAT(r.out, Catch::Contains("The server sends keepalives every ~"));
  CHECK_THAT(r.out, Catch::Contains("the measurement holds only up to "));
}

namespace {

// The pids of the processes whose parent is `parent` and whose name is `comm`.
std::vector<pid_t> childrenNamed(pid_t parent, const std::string& comm) {
  std::vector<pid_t> out;
  const std::string list =
      readFile("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  std::istringstream in(list);
  for (pid_t p; in >> p;) {
    std::string name;
    try {
      name = readFile("/proc/" + std::to_string(p) + "/comm");
    } catch (...) {
      continue;
    }
    if (name == comm + "\n")
      out.push_back(p);
  }
  return out;
}

bool gone(pid_t pid) {
  std::string stat;
  try {
    stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  } catch (...) {
    return true;
  }
  // A zombie has ended; init reaps it.
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.compare(close + 2, 1, "Z") == 0;
}

}  // namespace

namespace {

// Starts probe as nobody with two long rungs, waits for its two ssh children, sends sig and
// checks that probe died of it and that no ssh of it is left. After SIGTERM probe ends its
// sessions itself; after SIGKILL the kernel does (PR_SET_PDEATHSIG, sys::spawnProcess's
// dieWithParent).
void killProbe(int sig) {
  Sshd sshd("ClientAliveInterval 0\n");
  std::vector<std::string> argv =
      asNobody({keepalivectlPath(), "probe", "--ladder", "20s,30s", "root@127.0.0.1", "--"});
  for (const auto& o : sshd.sshOptions())
    argv.push_back(o);
  std::vector<char*> a;
  for (auto& s : argv)
    a.push_back(s.data());
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  TempDir out("keepalive-probe-out");
  const std::string errPath = out / "stderr";
  posix_spawn_file_actions_addopen(&fa, 2, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  REQUIRE(::posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  // setpriv execs keepalivectl in the same process: its two ssh children appear.
  std::vector<pid_t> ssh;
  CHECK(waitFor([&] {
    ssh = childrenNamed(pid, "ssh");
    return ssh.size() == 2;
  }));
  ::kill(pid, sig);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == sig);
  if (sig == SIGTERM)
    CHECK(readFile(errPath) == "keepalivectl probe: interrupted; every ssh session ended\n");
  for (pid_t p : ssh) {
    INFO("ssh " << p);
    CHECK(waitFor([&] { return gone(p); }, std::chrono::seconds(3)));
  }
}

}  // namespace

TEST_CASE("probe: SIGTERM ends every ssh it started, then kills probe itself") {
  if (!isRoot()) {
    WARN("a real sshd needs root; skipped unprivileged");
    return;
  }
  killProbe(SIGTERM);
}

TEST_CASE("probe: killed outright (SIGKILL), its ssh sessions die with it") {
  if (!isRoot()) {
    WARN("a real sshd needs root; skipped unprivileged");
    return;
  }
  killProbe(SIGKILL);
}
