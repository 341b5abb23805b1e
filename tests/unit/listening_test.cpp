// SPDX-License-Identifier: GPL-2.0-or-later
// The listen check's pure part (daemon/core/listening.h): sshd -T's listen addresses against the
// kernel's listening sockets and the inodes of sshd's main process. The sockets of a real sshd are
// found in tests/integration/listen_check_test.cpp, and after a reload under systemd in
// tests/system/package_test.sh.
#include <catch2/catch.hpp>

#include "core/listening.h"

using namespace keepalive::daemon;

namespace {

ListeningSocket sock(const std::string& text, std::uint64_t inode) {
  auto e = parseListenAddress(text);
  REQUIRE(e);
  return {*e, inode};
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("listening: sshd -T's listen addresses parse, suffix and zone included") {
  auto v4 = parseListenAddress("0.0.0.0:22");
  REQUIRE(v4);
  CHECK(v4->family == IpFamily::kV4);
  CHECK(v4->port == 22);
  CHECK(toString(*v4) == "0.0.0.0:22");
  auto v6 = parseListenAddress("[::]:2222");
  REQUIRE(v6);
  CHECK(v6->family == IpFamily::kV6);
  CHECK(toString(*v6) == "[::]:2222");
  // sshd -T: "listenaddress [::1]:22 rdomain blue" for a ListenAddress with an rdomain.
  CHECK(toString(*parseListenAddress("[::1]:22 rdomain blue")) == "[::1]:22");
  CHECK(toString(*parseListenAddress("[fe80::1%eth0]:22")) == "[fe80::1]:22");
  CHECK(toString(*parseListenAddress("192.0.2.7:65535")) == "192.0.2.7:65535");
  for (const char* bad : {"", "22", "0.0.0.0", "0.0.0.0:", "0.0.0.0:0", "0.0.0.0:65536", "[::]22",
                          "[::]:x", "host.example:22", "[0.0.0.0]:22x", "::1:22"})
    CHECK_FALSE(parseListenAddress(bad));
}

TEST_CASE("listening: every address with a socket of the process is complete") {
  const auto v = judgeListening({"0.0.0.0:22", "[::]:22"},
                                {sock("0.0.0.0:22", 100), sock("[::]:22", 101)}, {7, 100, 101});
  CHECK(v.complete());
  CHECK(v.listening == Strings{"0.0.0.0:22", "[::]:22"});
  CHECK(v.missing.empty());
  CHECK(v.describe() == "listens on 0.0.0.0:22, [::]:22");
}

TEST_CASE("listening: 0.0.0.0 and :: each need their own socket (sshd binds IPv6 V6ONLY)") {
  // Only [::]:22 listens: 0.0.0.0:22 is missing, and the other way round.
  auto v = judgeListening({"0.0.0.0:22", "[::]:22"}, {sock("[::]:22", 101)}, {101});
  CHECK_FALSE(v.complete());
  CHECK(v.missing == Strings{"0.0.0.0:22"});
  CHECK(v.describe() == "no listening socket on 0.0.0.0:22 (listens on [::]:22)");
  v = judgeListening({"0.0.0.0:22", "[::]:22"}, {sock("0.0.0.0:22", 100)}, {100});
  CHECK(v.missing == Strings{"[::]:22"});
  // An IPv4-mapped IPv6 socket is not the IPv4 address.
  v = judgeListening({"127.0.0.1:22"}, {sock("[::ffff:127.0.0.1]:22", 5)}, {5});
  CHECK(v.missing == Strings{"127.0.0.1:22"});
}

TEST_CASE("listening: IPv4 and IPv6 literals, ports and addresses must all match") {
  const std::vector<ListeningSocket> sockets{sock("127.0.0.1:2222", 1), sock("[::1]:2222", 2),
                                             sock("192.0.2.7:22", 3)};
  auto v = judgeListening({"127.0.0.1:2222", "[::1]:2222"}, sockets, {1, 2, 3});
  CHECK(v.complete());
  v = judgeListening({"127.0.0.1:22"}, sockets, {1, 2, 3});  // other port
  CHECK(v.missing == Strings{"127.0.0.1:22"});
  CHECK(v.describe() == "no listening socket on 127.0.0.1:22");
  v = judgeListening({"192.0.2.8:22"}, sockets, {1, 2, 3});  // other address
  CHECK(v.missing == Strings{"192.0.2.8:22"});
  // A wildcard socket does not stand for a specific address, nor the other way round.
  v = judgeListening({"0.0.0.0:22"}, sockets, {1, 2, 3});
  CHECK(v.missing == Strings{"0.0.0.0:22"});
}

TEST_CASE("listening: another process's socket on port 22 is not sshd listening") {
  // sshd's re-exec closed its socket and something else took the port meanwhile.
  const auto v = judgeListening({"0.0.0.0:22", "[::]:22"},
                                {sock("0.0.0.0:22", 900), sock("[::]:22", 101)}, {101, 102});
  CHECK_FALSE(v.complete());
  CHECK(v.listening == Strings{"[::]:22"});
  CHECK(v.missing == Strings{"0.0.0.0:22"});
  CHECK(v.elsewhere == Strings{"0.0.0.0:22 (inode 900)"});
  CHECK(v.describe() ==
        "no listening socket on 0.0.0.0:22 (held by another process: 0.0.0.0:22 (inode 900)) "
        "(listens on [::]:22)");
}

TEST_CASE("listening: none of them, or nothing to check, is never complete") {
  auto v = judgeListening({"0.0.0.0:22", "[::]:22"}, {}, {});
  CHECK_FALSE(v.complete());
  CHECK(v.listening.empty());
  CHECK(v.describe() == "no listening socket on 0.0.0.0:22, [::]:22");
  v = judgeListening({}, {sock("0.0.0.0:22", 1)}, {1});
  CHECK_FALSE(v.complete());
  CHECK(v.describe() == "sshd -T shows no listen address");
  v = judgeListening({"0.0.0.0:22", "bogus"}, {sock("0.0.0.0:22", 1)}, {1});
  CHECK_FALSE(v.complete());
  CHECK(v.unparsed == Strings{"bogus"});
  CHECK(v.describe() == "cannot read listen address bogus (listens on 0.0.0.0:22)");
}

TEST_CASE("listening: /proc/PID/fd link texts name socket inodes") {
  CHECK(socketInode("socket:[4711]") == std::optional<std::uint64_t>(4711));
  CHECK(socketInode("socket:[18446744073709551615]") ==
        std::optional<std::uint64_t>(18446744073709551615ull));
  for (const char* other : {"/dev/null", "pipe:[12]", "socket:[]", "socket:[12", "socket:[1x]",
                            "anon_inode:[eventpoll]", "socket:[-1]", ""})
    CHECK_FALSE(socketInode(other));
}
