// SPDX-License-Identifier: GPL-2.0-or-later
#include "banner_probe.h"

#include "systemd_manager.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace keepalive::daemon {
namespace {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // as sshd -T lists it
  std::string host;  // as probed: wildcards replaced by loopback
};

bool parseEndpoint(const std::string& listen, Endpoint& ep) {
  // "0.0.0.0:22", "[::]:22", "127.0.0.1:2222", "[::1]:22"
  std::string host, port;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 2 > listen.size())
      return false;
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      return false;
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host == "0.0.0.0")
    host = "127.0.0.1";
  if (host == "::")
    host = "::1";
  int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535)
    return false;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    ep.len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    ep.len = sizeof *v6;
  } else {
    return false;
  }
  ep.text = listen;
  ep.host = host;
  return true;
}

// One attempt: 0 banner seen, ECONNREFUSED to retry, another errno to give up on this address.
int tryOnce(const Endpoint& ep, std::chrono::steady_clock::time_point deadline, std::string& got) {
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno;
  auto left = [&] {
    return static_cast<int>(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  deadline - std::chrono::steady_clock::now())
                                                  .count()));
  };
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    return e;
  }
  pollfd p{fd, POLLOUT, 0};
  if (rc != 0) {
    if (::poll(&p, 1, left()) <= 0) {
      ::close(fd);
      return ETIMEDOUT;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
      ::close(fd);
      return soerr;
    }
  }
  got.clear();
  p.events = POLLIN;
  while (got.size() < 255 && got.find('\n') == std::string::npos) {
    if (::poll(&p, 1, left()) <= 0) {
      ::close(fd);
      return ETIMEDOUT;
    }
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      ::close(fd);
      return n == 0 ? ECONNRESET : errno;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return 0;
}

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : std::string(1, sep)) + s;
  return out;
}

}  // namespace

std::string probedAddress(const std::string& listen) {
  Endpoint ep;
  return parseEndpoint(listen, ep) ? ep.host : std::string();
}

Status probeListenAddresses(const std::vector<std::string>& listen,
                            std::chrono::milliseconds deadlineIn, std::string* answered) {
  std::vector<Endpoint> eps;
  for (const auto& l : listen) {
    Endpoint ep;
    if (parseEndpoint(l, ep))
      eps.push_back(ep);
  }
  if (eps.empty())
    return Status::failure("sshd -T shows no listen address to probe");
  const auto deadline = std::chrono::steady_clock::now() + deadlineIn;
  std::string last = "no answer";
  auto backoff = std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    bool retry = false;
    for (const auto& ep : eps) {
      std::string got;
      int e = tryOnce(ep, deadline, got);
      if (e == 0 && got.rfind("SSH-2.0-", 0) == 0) {
        if (answered)
          *answered = ep.text;
        return Status::success();
      }
      if (e == 0)
        last = ep.text + " answered without an SSH-2.0- banner";
      else
        last = ep.text + ": " + std::strerror(e);
      if (e == ECONNREFUSED || e == ECONNRESET)
        retry = true;
    }
    if (!retry)
      break;
    // sshd is rebinding after its re-exec: back off briefly before asking again.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
  }
  return Status::failure(last);
}

namespace {

// The addresses to probe, and the literal addresses they are probed at.
bool probeTargets(const Dump& d, std::vector<std::string>& listen,
                  std::vector<std::string>& allowed) {
  for (const auto& l : d.all("listenaddress")) {
    const std::string a = probedAddress(l);
    if (a.empty())
      continue;
    listen.push_back(l);
    if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
      allowed.push_back(a);
  }
  return !listen.empty();
}

std::vector<std::string> probeArgv(const std::string& self, const std::vector<std::string>& listen,
                                   std::chrono::milliseconds deadline) {
  return {self, "--probe-banner", join(listen, ','), "--probe-timeout",
          std::to_string(deadline.count())};
}

// The probe prints one line: "ok: ADDR answered ..." or "failed: REASON".
Status verdict(bool exitedZero, const std::string& output, const std::string& ended) {
  const std::string line = output.substr(0, output.find('\n'));
  if (exitedZero && line.rfind("ok", 0) == 0)
    return Status::success();
  if (line.rfind("failed: ", 0) == 0)
    return Status::failure(line.substr(8));
  return Status::failure(ended + (line.empty() ? std::string() : ": " + line));
}

}  // namespace

void BannerProbe::banner(const Dump& d, Done<Status> done) {
  std::vector<std::string> listen, allowed;
  if (!probeTargets(d, listen, allowed))
    return done(Status::failure("sshd -T shows no listen address to probe"));
  // A child process of its own: its connects and retries never hold the daemon's loop.
  children_.run(
      probeArgv(self_, listen, deadline_), deadline_ + kProbeStartMargin, std::nullopt,
      [done = std::move(done)](ProcessResult r) {
        if (!r.spawn_error.empty())
          return done(Status::failure("cannot run the probe: " + r.spawn_error));
        done(verdict(r.exit_code == 0, r.out,
                     r.timed_out ? std::string("the probe timed out")
                                 : "the probe exited with " + std::to_string(r.exit_code)));
      });
}

void TransientBannerProbe::banner(const Dump& d, Done<Status> done) {
  std::vector<std::string> listen, allowed;
  if (!probeTargets(d, listen, allowed))
    return done(Status::failure("sshd -T shows no listen address to probe"));
  OneshotSpec spec;
  spec.prefix = "keepalive-policyd-probe";
  spec.description = "keepalive-policyd: banner probe of sshd after a reload";
  spec.argv = probeArgv(self_, listen, deadline_);
  spec.allowed_addresses = allowed;
  // Starting the unit (a dynamic user, a mount namespace) takes tens of milliseconds; the
  // probe's own deadline bounds the rest.
  spec.timeout = deadline_ + kProbeStartMargin;
  systemd_.runOneshot(spec, [done = std::move(done)](OneshotResult r) {
    if (!r.ran)
      return done(Status::failure("cannot run the probe as unit " + r.unit + ": " + r.detail));
    done(verdict(r.result == "done", r.output, r.unit + " ended with result '" + r.result + "'"));
  });
}

}  // namespace keepalive::daemon
