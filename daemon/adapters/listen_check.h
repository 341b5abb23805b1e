// SPDX-License-Identifier: GPL-2.0-or-later
// After a reload: does sshd listen again? Asked of the kernel, never of sshd: the listening TCP
// sockets of the host's network namespace (NETLINK_SOCK_DIAG, inet_diag, state LISTEN, IPv4 and
// IPv6) matched by inode to the fds of sshd's main process (/proc/PID/fd, "socket:[INODE]"),
// for every listen address of sshd -T (core/listening.h judges). A connection to sshd would be
// a failed pre-auth connection in its log ("Connection closed by 127.0.0.1 port N [preauth]")
// on every reload: noise for admins, and a strike against 127.0.0.1 for fail2ban or sshguard.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "child_runner.h"
#include "core/listening.h"
#include "core/ports.h"

namespace keepalive::daemon {

class SystemdManager;

// Every listening TCP socket of this network namespace (IPv4 and IPv6): one dump per family.
Status listeningSockets(std::vector<ListeningSocket>& out);
// The socket inodes among pid's fds, read through an fd of /proc/PID/fd (readlinkat on each
// entry: the link's text, never followed). Needs ptrace read access to pid (root with
// CAP_SYS_PTRACE for a root sshd).
Status socketInodes(pid_t pid, std::set<std::uint64_t>& out);

// What `keepalive-policyd --check-listening` prints (one line) and exits with.
struct ListenReport {
  enum class Result { kOk, kPartial, kFailed } result = Result::kFailed;
  std::string text;          // "PID 812: listens on 0.0.0.0:22, [::]:22", or why it failed
  std::string line() const;  // "ok: TEXT", "partial: TEXT", "failed: TEXT"
  int exitCode() const { return result == Result::kFailed ? 1 : 0; }
};

// Checks until every expected address has a socket of pid, or the deadline. sshd re-executes
// on SIGHUP: it closes its listeners, execs itself (same PID) and binds them again a moment
// after the reload job ended, so a check finding none is repeated, backing off from 2 ms to
// 50 ms. sshd binds all its addresses in one loop (sshd.c, server_listen) and logs the ones it
// cannot bind: once one listens, the others get kSettle more, then the check ends partial. This
// runs only in the check's own process (the daemon's child or the transient unit), whose waits
// never hold the daemon's loop.
ListenReport waitListening(const std::vector<std::string>& expected, pid_t pid,
                           std::chrono::milliseconds deadline);
constexpr std::chrono::milliseconds kListenSettle{250};
constexpr std::chrono::milliseconds kListenDeadline{5000};
// What the transient unit may take beyond its deadline: systemd setting up its unit.
constexpr std::chrono::milliseconds kListenStartMargin{5000};

// The check as a child process of the daemon (`keepalive-policyd --check-listening`): for
// --probe inline (test roots, a daemon that is not a systemd service and shares the host's
// network namespace). The loop only waits for its exit as an event.
class ListenProbe : public Probe {
 public:
  ListenProbe(ChildRunner& children, std::string self,
              std::chrono::milliseconds deadline = kListenDeadline)
      : children_(children), self_(std::move(self)), deadline_(deadline) {}
  void listening(const Dump& sshdDump, const UnitState& unit, Done<ListenCheck> done) override;

 private:
  ChildRunner& children_;
  std::string self_;  // the daemon's binary
  std::chrono::milliseconds deadline_;
};

// The check as a transient oneshot service ("keepalive-policyd-listen-PID-N.service", the
// daemon's binary with --check-listening): the shipped unit has PrivateNetwork=yes (sock_diag
// shows only the caller's namespace), no AF_NETLINK and no CAP_SYS_PTRACE (sshd's fds), so
// systemd runs the check in the host's network namespace under a sandbox of its own
// (SystemdManager::runOneshot). Its JobRemoved comes as an event; its line is read from a pipe.
class TransientListenProbe : public Probe {
 public:
  TransientListenProbe(SystemdManager& systemd, std::string self,
                       std::chrono::milliseconds deadline = kListenDeadline)
      : systemd_(systemd), self_(std::move(self)), deadline_(deadline) {}
  void listening(const Dump& sshdDump, const UnitState& unit, Done<ListenCheck> done) override;

 private:
  SystemdManager& systemd_;
  std::string self_;
  std::chrono::milliseconds deadline_;
};

}  // namespace keepalive::daemon
