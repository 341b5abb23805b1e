// SPDX-License-Identifier: GPL-2.0-or-later
#include "listen_check.h"

#include "systemd_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

namespace keepalive::daemon {
namespace {

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : sep) + s;
  return out;
}

// One inet_diag dump of family's listening TCP sockets into out.
Status dumpFamily(int fd, int family, std::uint32_t seq, std::vector<ListeningSocket>& out) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = static_cast<std::uint8_t>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << TCP_LISTEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return Status::failure(std::string("sock_diag: send: ") + std::strerror(errno));
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return Status::failure(std::string("sock_diag: receive: ") + std::strerror(errno));
    }
    if (n == 0)
      return Status::failure("sock_diag: the kernel closed the dump");
    auto left = static_cast<unsigned int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq)
        continue;
      if (h->nlmsg_type == NLMSG_DONE)
        return Status::success();
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return Status::failure(std::string("sock_diag: ") + std::strerror(-e->error));
      }
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (m->idiag_state != TCP_LISTEN)
        continue;
      ListeningSocket s;
      s.local.family = m->idiag_family == AF_INET6 ? IpFamily::kV6 : IpFamily::kV4;
      std::memcpy(s.local.addr.data(), m->id.idiag_src, s.local.family == IpFamily::kV6 ? 16 : 4);
      s.local.port = ntohs(m->id.idiag_sport);
      s.inode = m->idiag_inode;
      out.push_back(s);
    }
  }
}

}  // namespace

Status listeningSockets(std::vector<ListeningSocket>& out) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return Status::failure(std::string("cannot open a sock_diag netlink socket: ") +
                           std::strerror(errno));
  out.clear();
  Status s = dumpFamily(fd, AF_INET, 1, out);
  if (s)
    s = dumpFamily(fd, AF_INET6, 2, out);
  ::close(fd);
  return s;
}

Status socketInodes(pid_t pid, std::set<std::uint64_t>& out) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  const int dfd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return Status::failure(errno == ENOENT
                               ? "process " + std::to_string(pid) + " is gone"
                               : "cannot open \"" + path + "\": " + std::strerror(errno));
  DIR* dir = ::fdopendir(dfd);
  if (!dir) {
    const int e = errno;
    ::close(dfd);
    return Status::failure("cannot read \"" + path + "\": " + std::strerror(e));
  }
  out.clear();
  while (const dirent* d = ::readdir(dir)) {
    if (d->d_name[0] == '.')
      continue;
    char link[64];
    // The link's own text ("socket:[4711]"); an fd closed meanwhile is simply not there.
    const ssize_t n = ::readlinkat(::dirfd(dir), d->d_name, link, sizeof link);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link)
      continue;
    if (auto inode = socketInode(std::string(link, static_cast<std::size_t>(n))))
      out.insert(*inode);
  }
  ::closedir(dir);
  return Status::success();
}

std::string ListenReport::line() const {
  const char* tag = result == Result::kOk        ? "ok"
                    : result == Result::kPartial ? "partial"
                                                 : "failed";
  return std::string(tag) + ": " + text;
}

ListenReport waitListening(const std::vector<std::string>& expected, pid_t pid,
                           std::chrono::milliseconds deadlineIn) {
  using Steady = std::chrono::steady_clock;
  const auto deadline = Steady::now() + deadlineIn;
  std::optional<Steady::time_point> settleBy;  // set once one address listens
  auto backoff = std::chrono::milliseconds(2);
  const std::string who = "PID " + std::to_string(pid) + ": ";
  ListenReport r;
  for (;;) {
    std::vector<ListeningSocket> sockets;
    std::set<std::uint64_t> inodes;
    Status s = listeningSockets(sockets);
    if (s)
      s = socketInodes(pid, inodes);
    if (!s) {
      r.result = ListenReport::Result::kFailed;
      r.text = who + s.error;
      return r;
    }
    const ListenVerdict v = judgeListening(expected, sockets, inodes);
    r.text = who + v.describe();
    if (v.complete()) {
      r.result = ListenReport::Result::kOk;
      return r;
    }
    const auto now = Steady::now();
    if (!v.listening.empty() && !settleBy)
      settleBy = now + kListenSettle;
    if (now >= deadline || (settleBy && now >= *settleBy)) {
      r.result =
          v.listening.empty() ? ListenReport::Result::kFailed : ListenReport::Result::kPartial;
      return r;
    }
    // sshd is re-executing: ask the kernel again shortly (a dump takes microseconds).
    std::this_thread::sleep_for(
        std::min(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - now + std::chrono::milliseconds(1))));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

namespace {

ListenCheck failed(std::string why) {
  ListenCheck c;
  c.status = Status::failure(std::move(why));
  return c;
}

// A socket-activated sshd with no main process (Debian's ssh.socket, Accept=yes: sshd -i per
// connection): systemd holds the listening socket, so the socket unit's state is the answer.
// nullopt when there is a main PID to check.
std::optional<ListenCheck> withoutMainPid(const UnitState& u) {
  if (u.main_pid != 0)
    return std::nullopt;
  ListenCheck c;
  if (u.socket.empty()) {
    c.status =
        Status::failure("no main PID of " + (u.unit.empty() ? std::string("sshd's unit") : u.unit) +
                        " to match its sockets to");
  } else if (u.socket_listening) {
    c.detail = u.socket + " listens (sshd starts per connection)";
  } else {
    c.status = Status::failure(u.socket + " is not listening");
  }
  return c;
}

std::vector<std::string> checkArgv(const std::string& self, const std::vector<std::string>& listen,
                                   std::uint32_t pid, std::chrono::milliseconds deadline) {
  return {self,
          "--check-listening",
          joined(listen, ","),
          "--pid",
          std::to_string(pid),
          "--check-timeout",
          std::to_string(deadline.count())};
}

// The check's one line: "ok: TEXT", "partial: TEXT" or "failed: REASON".
ListenCheck verdict(const UnitState& u, bool exitedZero, const std::string& output,
                    const std::string& ended) {
  const std::string line = output.substr(0, output.find('\n'));
  const std::string unit = (u.unit.empty() ? std::string("sshd") : u.unit) + " main ";
  ListenCheck c;
  if (exitedZero && line.rfind("ok: ", 0) == 0) {
    c.detail = unit + line.substr(4);
  } else if (exitedZero && line.rfind("partial: ", 0) == 0) {
    c.detail = unit + line.substr(9);
    c.partial = true;
  } else if (line.rfind("failed: ", 0) == 0) {
    c.status = Status::failure(unit + line.substr(8));
  } else {
    c.status = Status::failure(ended + (line.empty() ? std::string() : ": " + line));
  }
  return c;
}

}  // namespace

void ListenProbe::listening(const Dump& d, const UnitState& u, Done<ListenCheck> done) {
  if (auto c = withoutMainPid(u))
    return done(std::move(*c));
  const auto listen = d.all("listenaddress");
  if (listen.empty())
    return done(failed("sshd -T shows no listen address"));
  // A child process of its own: its retries never hold the daemon's loop.
  children_.run(
      checkArgv(self_, listen, u.main_pid, deadline_), deadline_ + kListenStartMargin, std::nullopt,
      [u, done = std::move(done)](ProcessResult r) {
        if (!r.spawn_error.empty())
          return done(failed("cannot run the listen check: " + r.spawn_error));
        done(verdict(u, r.exit_code == 0, r.out,
                     r.timed_out ? std::string("the listen check timed out")
                                 : "the listen check exited with " + std::to_string(r.exit_code)));
      });
}

void TransientListenProbe::listening(const Dump& d, const UnitState& u, Done<ListenCheck> done) {
  if (auto c = withoutMainPid(u))
    return done(std::move(*c));
  const auto listen = d.all("listenaddress");
  if (listen.empty())
    return done(failed("sshd -T shows no listen address"));
  OneshotSpec spec;
  spec.prefix = "keepalive-policyd-listen";
  spec.description = "keepalive-policyd: sshd's listening sockets after a reload";
  spec.argv = checkArgv(self_, listen, u.main_pid, deadline_);
  // Starting the unit takes tens of milliseconds; the check's own deadline bounds the rest.
  spec.timeout = deadline_ + kListenStartMargin;
  systemd_.runOneshot(spec, [u, done = std::move(done)](OneshotResult r) {
    if (!r.ran)
      return done(failed("cannot run the listen check as unit " + r.unit + ": " + r.detail));
    done(
        verdict(u, r.result == "done", r.output, r.unit + " ended with result '" + r.result + "'"));
  });
}

}  // namespace keepalive::daemon
