// SPDX-License-Identifier: GPL-2.0-or-later
#include "listening.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

namespace keepalive::daemon {

std::optional<Endpoint> parseListenAddress(const std::string& textIn) {
  // sshd -T: "listenaddress ADDR:PORT" or "listenaddress [ADDR6]:PORT", then " rdomain NAME".
  std::string text = textIn.substr(0, textIn.find(' '));
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos)
      return std::nullopt;  // an IPv6 address sshd -T always brackets
  }
  // A link-local address's zone ("fe80::1%eth0"): the socket's address is the bare one.
  host = host.substr(0, host.find('%'));
  unsigned p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return std::nullopt;
  Endpoint e;
  e.port = static_cast<std::uint16_t>(p);
  if (::inet_pton(AF_INET, host.c_str(), e.addr.data()) == 1) {
    e.family = IpFamily::kV4;
  } else if (::inet_pton(AF_INET6, host.c_str(), e.addr.data()) == 1) {
    e.family = IpFamily::kV6;
  } else {
    return std::nullopt;
  }
  return e;
}

std::string toString(const Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  const bool v6 = e.family == IpFamily::kV6;
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, e.addr.data(), buf, sizeof buf);
  return (v6 ? "[" + std::string(buf) + "]" : std::string(buf)) + ":" + std::to_string(e.port);
}

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string ListenVerdict::describe() const {
  std::string out;
  if (!missing.empty())
    out = "no listening socket on " + joined(missing);
  if (!elsewhere.empty())
    out += " (held by another process: " + joined(elsewhere) + ")";
  if (!unparsed.empty())
    out += std::string(out.empty() ? "" : "; ") + "cannot read listen address " + joined(unparsed);
  if (listening.empty())
    return out.empty() ? std::string("sshd -T shows no listen address") : out;
  if (out.empty())
    return "listens on " + joined(listening);
  return out + " (listens on " + joined(listening) + ")";
}

ListenVerdict judgeListening(const std::vector<std::string>& expected,
                             const std::vector<ListeningSocket>& sockets,
                             const std::set<std::uint64_t>& processInodes) {
  ListenVerdict v;
  for (const auto& text : expected) {
    const auto e = parseListenAddress(text);
    if (!e) {
      v.unparsed.push_back(text);
      continue;
    }
    const std::string name = toString(*e);
    bool ours = false;
    std::string other;
    for (const auto& s : sockets) {
      if (!(s.local == *e))
        continue;
      if (processInodes.count(s.inode) != 0) {
        ours = true;
        break;
      }
      other = name + " (inode " + std::to_string(s.inode) + ")";
    }
    if (ours) {
      v.listening.push_back(name);
    } else {
      v.missing.push_back(name);
      if (!other.empty())
        v.elsewhere.push_back(other);
    }
  }
  return v;
}

std::optional<std::uint64_t> socketInode(const std::string& linkText) {
  const std::string prefix = "socket:[";
  if (linkText.size() < prefix.size() + 2 || linkText.compare(0, prefix.size(), prefix) != 0 ||
      linkText.back() != ']')
    return std::nullopt;
  std::uint64_t n = 0;
  const char* first = linkText.data() + prefix.size();
  const char* last = linkText.data() + linkText.size() - 1;
  const auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || end != last)
    return std::nullopt;
  return n;
}

}  // namespace keepalive::daemon
