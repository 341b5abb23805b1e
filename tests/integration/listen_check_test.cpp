// SPDX-License-Identifier: GPL-2.0-or-later
// The listen check (daemon/adapters/listen_check.h) against a real sshd -D on 127.0.0.1 and ::1:
// its sockets are found by its PID through sock_diag and /proc/PID/fd, before and after a SIGHUP
// re-exec, by the functions and by `keepalive-policyd --check-listening`; a missing address, an
// address another process holds and a PID that is not sshd are told apart; and sshd's log shows
// no connection at all (the banner probe it replaces left "Connection closed by 127.0.0.1 port N
// [preauth]" on every reload).
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

#include "adapters/listen_check.h"
#include "test_support.h"

extern char** environ;

using namespace keepalive::test;
using namespace keepalive::daemon;

namespace {

// A listening socket of this process on 127.0.0.1:<kernel's choice>.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 1) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

int freePort() {
  Listener l;
  return l.port();
}

// sshd -D on 127.0.0.1:PORT and [::1]:PORT in a temporary directory.
class RealSshd {
 public:
  RealSshd() : dir_("keepalive-listen-sshd") {
    port_ = freePort();
    run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "host_key"});
    writeFile(dir_ / "sshd_config",
              "HostKey " + (dir_ / "host_key") + "\nPidFile " + (dir_ / "sshd.pid") +
                  "\nListenAddress 127.0.0.1:" + std::to_string(port_) + "\nListenAddress [::1]:" +
                  std::to_string(port_) + "\nUsePAM no\nLogLevel DEBUG1\n");
    if (::access("/run/sshd", F_OK) != 0)
      ::mkdir("/run/sshd", 0755);
    log_ = dir_ / "sshd.log";
    // sshd re-executes itself on SIGHUP, which needs an absolute path.
    pid_ = spawnLogged({"/usr/sbin/sshd", "-D", "-e", "-f", dir_ / "sshd_config"}, log_);
    if (!waitFor([&] { return listeningTimes() >= 2; }))
      throw std::runtime_error("sshd does not listen: " + readFile(log_));
  }
  ~RealSshd() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  RealSshd(const RealSshd&) = delete;
  RealSshd& operator=(const RealSshd&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return readFile(log_); }
  // How many "Server listening on" lines sshd logged: two per start (one per address).
  int listeningTimes() const {
    const std::string l = log();
    int n = 0;
    for (auto at = l.find("Server listening on"); at != std::string::npos;
         at = l.find("Server listening on", at + 1))
      ++n;
    return n;
  }
  std::vector<std::string> listen() const {
    return {"127.0.0.1:" + std::to_string(port_), "[::1]:" + std::to_string(port_)};
  }

 private:
  TempDir dir_;
  std::string log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

RunResult checkListening(const std::vector<std::string>& listen, pid_t pid, int timeoutMs) {
  return run({policydPath(), "--check-listening", joined(listen), "--pid", std::to_string(pid),
              "--check-timeout", std::to_string(timeoutMs)});
}

// sshd's log lines of a connection: what the banner probe left behind on every reload.
bool connectedTo(const std::string& log) {
  for (const char* s :
       {"Connection from", "Connection closed by", "kex_exchange_identification", "[preauth]"})
    if (log.find(s) != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_CASE("listen check: a real sshd's sockets are found by its PID, IPv4 and IPv6") {
  RealSshd sshd;
  std::vector<ListeningSocket> sockets;
  REQUIRE(listeningSockets(sockets));
  std::set<std::uint64_t> inodes;
  REQUIRE(socketInodes(sshd.pid(), inodes));
  const ListenVerdict v = judgeListening(sshd.listen(), sockets, inodes);
  CHECK(v.complete());
  CHECK(v.listening == sshd.listen());
  // Not our process's: this test holds none of them.
  std::set<std::uint64_t> ours;
  REQUIRE(socketInodes(::getpid(), ours));
  CHECK(judgeListening(sshd.listen(), sockets, ours).listening.empty());
  CHECK_FALSE(socketInodes(0x3fffff, ours));  // no such process

  const auto r = checkListening(sshd.listen(), sshd.pid(), 2000);
  CHECK(r.exitCode == 0);
  CHECK(r.out == "ok: PID " + std::to_string(sshd.pid()) + ": listens on 127.0.0.1:" +
                     std::to_string(sshd.port()) + ", [::1]:" + std::to_string(sshd.port()) + "\n");
  CHECK_FALSE(connectedTo(sshd.log()));
}

TEST_CASE("listen check: after SIGHUP sshd re-executes and is found listening again") {
  RealSshd sshd;
  std::vector<ListeningSocket> before;
  REQUIRE(listeningSockets(before));
  ::kill(sshd.pid(), SIGHUP);
  // At once, as the daemon does after the reload job: the check waits out the re-exec.
  const auto r = checkListening(sshd.listen(), sshd.pid(), 5000);
  CHECK(r.exitCode == 0);
  CHECK(r.out.rfind("ok: PID " + std::to_string(sshd.pid()) + ": listens on ", 0) == 0);
  CHECK(sshd.listeningTimes() == 4);  // it did re-bind: two more "Server listening on"
  // New sockets (sshd closed its listeners and bound new ones), the same PID.
  std::vector<ListeningSocket> after;
  REQUIRE(listeningSockets(after));
  std::set<std::uint64_t> inodes;
  REQUIRE(socketInodes(sshd.pid(), inodes));
  for (const auto& s : before)
    CHECK(inodes.count(s.inode) == 0);
  CHECK(judgeListening(sshd.listen(), after, inodes).complete());
  INFO(sshd.log());
  CHECK_FALSE(connectedTo(sshd.log()));
}

TEST_CASE("listen check: a missing address is partial; none, or another's socket, fails") {
  RealSshd sshd;
  const int unused = freePort();
  auto expect = sshd.listen();
  expect.push_back("127.0.0.1:" + std::to_string(unused));
  // sshd listens on two of three: partial once the others had kListenSettle to appear.
  auto r = checkListening(expect, sshd.pid(), 5000);
  CHECK(r.exitCode == 0);
  CHECK(r.out == "partial: PID " + std::to_string(sshd.pid()) +
                     ": no listening socket on 127.0.0.1:" + std::to_string(unused) +
                     " (listens on 127.0.0.1:" + std::to_string(sshd.port()) +
                     ", [::1]:" + std::to_string(sshd.port()) + ")\n");
  // A port only another process listens on: not sshd listening, and said so.
  Listener other;
  const std::string at = "127.0.0.1:" + std::to_string(other.port());
  r = checkListening({at}, sshd.pid(), 300);
  CHECK(r.exitCode == 1);
  CHECK(r.out.rfind("failed: PID " + std::to_string(sshd.pid()) + ": no listening socket on " + at +
                        " (held by another process: " + at + " (inode ",
                    0) == 0);
  // A process that is gone.
  r = checkListening(sshd.listen(), 0x3fffff, 300);
  CHECK(r.exitCode == 1);
  CHECK(r.out == "failed: PID 4194303: process 4194303 is gone\n");
  // Usage.
  CHECK(run({policydPath(), "--check-listening", "127.0.0.1:22"}).exitCode == 2);
  CHECK(run({policydPath(), "--check-listening", "127.0.0.1:22", "--pid", "x"}).exitCode == 2);
  CHECK_FALSE(connectedTo(sshd.log()));
}
