// SPDX-License-Identifier: GPL-2.0-or-later
// Whether sshd listens where sshd -T says it does: its listen addresses against the kernel's
// listening TCP sockets (sock_diag) and the socket inodes among the fds of sshd's main process.
// Pure: the adapter (adapters/listen_check.h) gathers the sockets and the inodes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keepalive::daemon {

enum class IpFamily { kV4, kV6 };

// An address and port: as sshd -T prints a listen address, or as the kernel reports a socket.
struct Endpoint {
  IpFamily family = IpFamily::kV4;
  std::array<std::uint8_t, 16> addr{};  // IPv4: the first 4 bytes
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};
// "0.0.0.0:22", "[::]:22", "[fe80::1%eth0]:22", with sshd -T's " rdomain NAME" suffix, as
// sshd -T prints them (numeric: sshd resolves names when it reads the file); nullopt otherwise.
std::optional<Endpoint> parseListenAddress(const std::string& text);
// "0.0.0.0:22", "[::1]:2222".
std::string toString(const Endpoint& e);

// One listening TCP socket of the host's network namespace, as sock_diag reports it.
struct ListeningSocket {
  Endpoint local;
  std::uint64_t inode = 0;
};

struct ListenVerdict {
  std::vector<std::string> listening;  // expected addresses with a socket of the process
  std::vector<std::string> missing;    // expected addresses without one
  // Missing ones whose address and port another process's socket holds: "[::]:22 (inode 4711)".
  std::vector<std::string> elsewhere;
  std::vector<std::string> unparsed;  // listen addresses of sshd -T this cannot read
  bool complete() const { return missing.empty() && unparsed.empty() && !listening.empty(); }
  // "listens on 0.0.0.0:22, [::]:22" / "no listening socket on [::]:22 (listens on 0.0.0.0:22)"
  std::string describe() const;
};

// Each expected address (sshd -T's listenaddress values) is matched to a listening socket of
// the same family, address and port whose inode is one of the process's. sshd binds its IPv6
// sockets IPV6_V6ONLY (sshd.c, listen_on_addrs), so [::]:22 never stands for 0.0.0.0:22, nor
// the other way round: each must have its own socket.
ListenVerdict judgeListening(const std::vector<std::string>& expected,
                             const std::vector<ListeningSocket>& sockets,
                             const std::set<std::uint64_t>& processInodes);

// The inode of a /proc/PID/fd link's text "socket:[4711]"; nullopt for any other file.
std::optional<std::uint64_t> socketInode(const std::string& linkText);

}  // namespace keepalive::daemon
