// SPDX-License-Identifier: GPL-2.0-or-later
// The session classifier (core/disconnects.h) on the lines the real sshd 9.2p1 logged here
// (tests/data/sshd-logs/debian12-9.2.txt, recorded by tests/data/sshd-logs/record.sh with
// journald's _PID) and on the lines of 9.8+ as OpenSSH's source prints them (sshd-session),
// with pre-auth noise, interleaved sessions, the cap, a restore, and causeVisibility.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/disconnects.h"
#include "test_files.h"

using keepalive::daemon::CauseVisibility;
using keepalive::daemon::causeVisibility;
using keepalive::daemon::DisconnectCause;
using keepalive::daemon::DisconnectEvent;
using keepalive::daemon::OpenSession;
using keepalive::daemon::SessionTracker;
using keepalive::daemon::SshdLogEntry;
using keepalive::policy::OpensshVersion;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kT0 = 1765000000 * kSec;
const std::string kBoot = "0123456789abcdef0123456789abcdef";

struct Line {
  std::uint64_t pid;
  std::string message;
  std::uint64_t offsetSec = 0;
};

// Feeds lines (pid, message) at kT0 + offset; returns the events.
std::vector<DisconnectEvent> feedAll(SessionTracker& t, const std::vector<Line>& lines,
                                     std::string_view identifier = "sshd",
                                     const std::string& boot = kBoot) {
  std::vector<DisconnectEvent> out;
  for (const auto& l : lines) {
    SshdLogEntry e;
    e.realtime_usec = kT0 + l.offsetSec * kSec;
    e.boot_id = boot;
    e.pid = l.pid;
    e.identifier = identifier;
    e.message = l.message;
    if (auto ev = t.feed(e))
      out.push_back(*ev);
  }
  return out;
}

const char* kKey = "ED25519 SHA256:0XwkHbxkYlNNvKF/5yV6hDZciFl5xOAptoCBU6Xi+Kg";

// The beginning of a session as sshd 9.2p1 logged it at VERBOSE with UsePAM yes (the monitor is
// `mon`, the session's child `child`).
std::vector<Line> start92(std::uint64_t mon, std::uint64_t child, const std::string& port,
                          const std::string& user = "kpuser",
                          const std::string& addr = "127.0.0.1") {
  return {
      {mon, "Connection from " + addr + " port " + port + " on 127.0.0.1 port 22 rdomain \"\""},
      {mon,
       std::string("Accepted key ") + kKey + " found at /home/" + user + "/.ssh/authorized_keys:1"},
      {mon,
       "Postponed publickey for " + user + " from " + addr + " port " + port + " ssh2 [preauth]"},
      {mon,
       "Accepted publickey for " + user + " from " + addr + " port " + port + " ssh2: " + kKey},
      {mon, "pam_unix(sshd:session): session opened for user " + user + "(uid=1001) by (uid=0)"},
      {mon, "User child is on pid " + std::to_string(child)},
      {child,
       "Starting session: command for " + user + " from " + addr + " port " + port + " id 0"},
  };
}

std::vector<Line> operator+(std::vector<Line> a, const std::vector<Line>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What a brute-force scanner leaves (9.2, INFO and VERBOSE), none of it a session.
std::vector<Line> bruteForce(std::uint64_t pid, const std::string& addr, int port) {
  const std::string p = std::to_string(port);
  return {
      {pid, "Connection from " + addr + " port " + p + " on 10.0.0.1 port 22 rdomain \"\""},
      {pid, "Invalid user admin from " + addr + " port " + p},
      {pid, "pam_unix(sshd:auth): check pass; user unknown"},
      {pid,
       "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
       "rhost=" +
           addr},
      {pid, "Failed password for invalid user admin from " + addr + " port " + p + " ssh2"},
      {pid, "Failed password for root from " + addr + " port " + p + " ssh2"},
      {pid, "Received disconnect from " + addr + " port " + p + ":11: Bye Bye [preauth]"},
      {pid, "Disconnected from invalid user admin " + addr + " port " + p + " [preauth]"},
      {pid, "Disconnected from authenticating user root " + addr + " port " + p + " [preauth]"},
      {pid, "Connection closed by " + addr + " port " + p + " [preauth]"},
      {pid, "Connection closed by authenticating user root " + addr + " port " + p + " [preauth]"},
      {pid, "Connection reset by " + addr + " port " + p + " [preauth]"},
      {pid, "Timeout before authentication for " + addr + " port " + p},
      {pid, "banner exchange: Connection from " + addr + " port " + p + ": invalid format"},
      {pid, "error: kex_exchange_identification: Connection closed by remote host"},
      {pid, "error: kex_exchange_identification: read: Connection reset by peer"},
      {pid, "Unable to negotiate with " + addr + " port " + p +
                ": no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]"},
      {pid, "error: maximum authentication attempts exceeded for root from " + addr + " port " + p +
                " ssh2 [preauth]"},
      {pid, "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=" +
                addr + "  user=root"},
      {pid, "pam_unix(sshd:session): session closed for user root"},  // not after an Accepted
  };
}

}  // namespace

TEST_CASE("disconnects: the real sshd 9.2p1's lines, each cause (debian12-9.2.txt)") {
  SessionTracker t;
  SECTION("logout: the client's disconnect message, then Disconnected from user") {
    auto ev = feedAll(t, start92(236, 259, "33010") +
                             std::vector<Line>{
                                 {259,
                                  "Received disconnect from 127.0.0.1 port 33010:11: "
                                  "disconnected by user",
                                  5},
                                 {259, "Disconnected from user kpuser 127.0.0.1 port 33010", 5},
                                 {236, "pam_unix(sshd:session): session closed for user kpuser", 5},
                             });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kLogout);
    CHECK(ev[0].user == "kpuser");
    CHECK(ev[0].address == "127.0.0.1");
    CHECK(ev[0].port == 33010);
    CHECK(ev[0].duration_seconds == 5);
    CHECK(ev[0].time_usec == kT0 + 5 * kSec);
    CHECK(ev[0].network.empty());
    CHECK(t.openCount() == 0);
  }
  SECTION("keepalive-timeout: a SIGSTOPped client under ClientAliveInterval 1, CountMax 1") {
    auto ev = feedAll(
        t, start92(270, 276, "35628") +
               std::vector<Line>{
                   {276, "Timeout, client not responding from user kpuser 127.0.0.1 port 35628", 4},
                   {270, "pam_unix(sshd:session): session closed for user kpuser", 4},
               });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kKeepaliveTimeout);
    CHECK(ev[0].duration_seconds == 4);
  }
  SECTION("closed: a SIGKILLed client (its kernel's FIN)") {
    auto ev =
        feedAll(t, start92(288, 295, "44958") +
                       std::vector<Line>{
                           {295, "Connection closed by 127.0.0.1 port 44958", 2},
                           {295, "Close session: user kpuser from 127.0.0.1 port 44958 id 0", 2},
                           {295, "Transferred: sent 3788, received 3460 bytes", 2},
                           {295, "Closing connection to 127.0.0.1 port 44958", 2},
                           {288, "pam_unix(sshd:session): session closed for user kpuser", 2},
                       });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kClosed);
  }
  SECTION("reset: an RST met while reading (VERBOSE before 9.8)") {
    auto ev = feedAll(t, start92(300, 307, "40000") +
                             std::vector<Line>{
                                 {307,
                                  "Read error from remote host 127.0.0.1 port 40000: "
                                  "Connection reset by peer"},
                                 {300, "pam_unix(sshd:session): session closed for user kpuser"},
                             });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kReset);
  }
  SECTION("reset: an RST met while writing (packet.c sshpkt_vfatal, INFO)") {
    auto ev = feedAll(t, start92(300, 307, "40001") +
                             std::vector<Line>{
                                 {307, "Connection reset by user kpuser 127.0.0.1 port 40001"},
                             });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kReset);
  }
  SECTION("broken-pipe and timed-out while writing: sshpkt_vfatal's default") {
    auto ev =
        feedAll(t, start92(300, 307, "40002") + start92(310, 317, "40003") +
                       std::vector<Line>{
                           {307,
                            "process_output: ssh_packet_write_poll: Connection from user kpuser "
                            "127.0.0.1 port 40002: Broken pipe"},
                           {317,
                            "process_output: ssh_packet_write_poll: Connection from user kpuser "
                            "127.0.0.1 port 40003: Connection timed out"},
                       });
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].cause == DisconnectCause::kBrokenPipe);
    CHECK(ev[0].port == 40002);
    CHECK(ev[1].cause == DisconnectCause::kTimedOut);
  }
  SECTION("timed-out while reading, and the packet layer's own timeout") {
    auto ev =
        feedAll(t, start92(300, 307, "40004") + start92(310, 317, "40005") +
                       std::vector<Line>{
                           {307,
                            "Read error from remote host 127.0.0.1 port 40004: "
                            "Connection timed out"},
                           {317, "Connection from user kpuser 127.0.0.1 port 40005 timed out"},
                       });
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].cause == DisconnectCause::kTimedOut);
    CHECK(ev[1].cause == DisconnectCause::kTimedOut);
  }
  SECTION("unknown: at INFO a read error is not logged; PAM's close ends the session") {
    auto ev =
        feedAll(t, std::vector<Line>{
                       {400, "Accepted publickey for kpuser from 127.0.0.1 port 41000 ssh2: " +
                                 std::string(kKey)},
                       {400,
                        "pam_unix(sshd:session): session opened for user "
                        "kpuser(uid=1001) by (uid=0)"},
                       {400, "pam_unix(sshd:session): session closed for user kpuser", 9},
                   });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kUnknown);
    CHECK(ev[0].duration_seconds == 9);
  }
  SECTION("unknown without PAM: Closing connection (VERBOSE) after nothing that says how") {
    auto ev = feedAll(
        t, start92(500, 501, "41001") + std::vector<Line>{
                                            {501, "Transferred: sent 3788, received 3460 bytes"},
                                            {501, "Closing connection to 127.0.0.1 port 41001"},
                                        });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kUnknown);
  }
  SECTION("root: no child after authentication, every line from the monitor's pid") {
    auto ev = feedAll(t, std::vector<Line>{
                             {600, "Accepted publickey for root from 127.0.0.1 port 41002 ssh2: " +
                                       std::string(kKey)},
                             {600,
                              "Received disconnect from 127.0.0.1 port 41002:11: "
                              "disconnected by user"},
                             {600, "Disconnected from user root 127.0.0.1 port 41002"},
                             {600, "pam_unix(sshd:session): session closed for user root"},
                         });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kLogout);
    CHECK(ev[0].user == "root");
  }
}

TEST_CASE("disconnects: 9.8+ and 10.x lines as the source prints them (sshd-session)") {
  // serverloop.c process_input logs at INFO from 9.8; sshd-session's postauth child logs with
  // its own pid (monitor_reinit: no log pipe), the monitor the Accepted and PAM lines.
  SessionTracker t;
  auto start = [](std::uint64_t mon, const std::string& port) {
    return std::vector<Line>{
        {mon, "Accepted publickey for alice from 2001:db8::7 port " + port +
                  " ssh2: " + std::string(kKey)},
        {mon, "pam_unix(sshd:session): session opened for user alice(uid=1000) by alice(uid=0)"},
    };
  };
  auto ev = feedAll(
      t,
      start(1000, "50001") + start(1010, "50002") + start(1020, "50003") + start(1030, "50004") +
          std::vector<Line>{
              {1001,
               "Read error from remote host 2001:db8::7 port 50001: Connection reset by "
               "peer",
               60},
              {1000, "pam_unix(sshd:session): session closed for user alice", 60},
              {1011, "Connection closed by 2001:db8::7 port 50002", 61},
              {1010, "pam_unix(sshd:session): session closed for user alice", 61},
              {1021, "Timeout, client not responding from user alice 2001:db8::7 port 50003", 62},
              {1031, "Received disconnect from 2001:db8::7 port 50004:11: disconnected by user",
               63},
              {1031, "Disconnected from user alice 2001:db8::7 port 50004", 63},
          },
      "sshd-session");
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].cause == DisconnectCause::kReset);
  CHECK(ev[0].address == "2001:db8::7");
  CHECK(ev[0].port == 50001);
  CHECK(ev[0].duration_seconds == 60);
  CHECK(ev[1].cause == DisconnectCause::kClosed);
  CHECK(ev[2].cause == DisconnectCause::kKeepaliveTimeout);
  CHECK(ev[3].cause == DisconnectCause::kLogout);
  CHECK(t.openCount() == 0);
}

TEST_CASE("disconnects: older sshd (7.4) lines") {
  SessionTracker t;
  SECTION("the keepalive timeout names no address: found by the child's pid") {
    auto ev = feedAll(t, std::vector<Line>{
                             {70, "Accepted password for bob from 10.1.2.3 port 2222 ssh2"},
                             {70, "User child is on pid 71"},
                             {71, "Timeout, client not responding.", 30},
                         });
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == DisconnectCause::kKeepaliveTimeout);
    CHECK(ev[0].user == "bob");
  }
  SECTION("Disconnected from ADDR port P (no user), write errors with the tag") {
    auto ev = feedAll(t, std::vector<Line>{
                             {80, "Accepted password for bob from 10.1.2.3 port 2223 ssh2"},
                             {80, "Accepted password for bob from 10.1.2.3 port 2224 ssh2"},
                             {81, "Disconnected from 10.1.2.3 port 2223"},
                             {82,
                              "packet_write_poll: Connection from 10.1.2.3 port 2224: Broken "
                              "pipe"},
                         });
    // A second Accepted from the same pid is a new process: the first ended unseen.
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].cause == DisconnectCause::kUnknown);
    CHECK(ev[0].port == 2223);
    CHECK(ev[1].cause == DisconnectCause::kBrokenPipe);
  }
}

TEST_CASE("disconnects: pre-auth noise never starts or ends a session") {
  SessionTracker t(100);
  std::vector<Line> lines;
  for (int i = 0; i < 2000; ++i) {
    auto b = bruteForce(10000 + i, "203.0.113." + std::to_string(i % 250), 40000 + i);
    lines.insert(lines.end(), b.begin(), b.end());
  }
  // "Accepted key ... found at" (VERBOSE) and "Postponed" are not a session either.
  lines.push_back(
      {9, std::string("Accepted key ") + kKey + " found at /root/.ssh/authorized_keys:1"});
  lines.push_back({9,
                   "Accepted certificate ID \"x for y from 1.2.3.4 port 5 ssh2\" (serial 1) signed "
                   "by ED25519 CA SHA256:abc via /etc/ssh/ca.pub"});
  auto ev = feedAll(t, lines);
  CHECK(ev.empty());
  CHECK(t.openCount() == 0);
  CHECK(t.evictions() == 0);

  // A session in the middle of the burst, whose address a scanner also uses.
  auto mixed = feedAll(
      t, std::vector<Line>{
             {20, "Accepted password for carol from 198.51.100.9 port 6000 ssh2"},
             {21, "Connection closed by 198.51.100.9 port 6001 [preauth]"},
             {21, "Disconnected from invalid user admin 198.51.100.9 port 6001 [preauth]"},
             {22, "Read error from remote host 198.51.100.9 port 6002: Connection reset by peer"},
             {23, "Disconnected from user carol 198.51.100.9 port 6000"},
         });
  REQUIRE(mixed.size() == 1);
  CHECK(mixed[0].user == "carol");
  CHECK(mixed[0].cause == DisconnectCause::kLogout);
}

TEST_CASE("disconnects: interleaved sessions are paired by address and pid") {
  SessionTracker t;
  auto ev = feedAll(
      t, start92(100, 101, "1001", "u1", "10.0.0.1") + start92(200, 201, "1001", "u2", "10.0.0.2") +
             start92(300, 301, "1002", "u3", "10.0.0.1") +
             std::vector<Line>{
                 {301, "Timeout, client not responding from user u3 10.0.0.1 port 1002", 7},
                 {101, "Read error from remote host 10.0.0.1 port 1001: Connection timed out", 8},
                 {300, "pam_unix(sshd:session): session closed for user u3", 8},
                 {100, "pam_unix(sshd:session): session closed for user u1", 9},
                 {201, "Received disconnect from 10.0.0.2 port 1001:11: disconnected by user", 9},
                 {200, "pam_unix(sshd:session): session closed for user u2", 10},
             });
  REQUIRE(ev.size() == 3);
  CHECK((ev[0].user == "u3" && ev[0].cause == DisconnectCause::kKeepaliveTimeout));
  CHECK((ev[1].user == "u1" && ev[1].cause == DisconnectCause::kTimedOut));
  // The client's disconnect message, then PAM's close (no "Disconnected from" seen): logout.
  CHECK((ev[2].user == "u2" && ev[2].cause == DisconnectCause::kLogout));
  CHECK(ev[2].duration_seconds == 10);
}

TEST_CASE("disconnects: a line of another boot ends nothing; the earlier boot's sessions go") {
  SessionTracker t;
  feedAll(t, {{100, "Accepted password for u from 10.0.0.1 port 1 ssh2"}});
  feedAll(t, {{200, "Accepted password for v from 10.0.0.2 port 2 ssh2"}});
  // Sessions restored from the store after a restart, then lines of the same boot: kept.
  const auto saved = t.openSessions();
  SessionTracker restarted;
  restarted.restore(saved);
  auto same = feedAll(restarted, {{200, "Disconnected from user v 10.0.0.2 port 2"}});
  REQUIRE(same.size() == 1);
  CHECK(same[0].user == "v");
  // After a reboot: the pid and the address name other processes; the old sessions ended unseen
  // and are dropped (counted with the evictions), not counted as disconnects.
  auto ev = feedAll(t,
                    {{100, "pam_unix(sshd:session): session closed for user u"},
                     {100, "Disconnected from user u 10.0.0.1 port 1"}},
                    "sshd", "ffffffffffffffffffffffffffffffff");
  CHECK(ev.empty());
  CHECK(t.openCount() == 0);
  CHECK(t.evictions() == 2);
}

TEST_CASE("disconnects: the open table is capped, the oldest evicted and counted") {
  SessionTracker t(3);
  CHECK(t.maxOpen() == 3);
  for (int i = 0; i < 5; ++i)
    feedAll(t, {{static_cast<std::uint64_t>(100 + i),
                 "Accepted password for u" + std::to_string(i) + " from 10.0.0.1 port " +
                     std::to_string(1000 + i) + " ssh2",
                 static_cast<std::uint64_t>(i)}});
  CHECK(t.openCount() == 3);
  CHECK(t.evictions() == 2);
  auto open = t.openSessions();
  REQUIRE(open.size() == 3);
  CHECK(open[0].user == "u2");
  CHECK(open[2].user == "u4");
  // The evicted session's end is no longer paired; a kept one's is.
  CHECK(feedAll(t, {{100, "pam_unix(sshd:session): session closed for user u0"}}).empty());
  auto ev = feedAll(t, {{102, "pam_unix(sshd:session): session closed for user u2"}});
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].user == "u2");
}

TEST_CASE("disconnects: restore() across a restart keeps the sessions and their told cause") {
  SessionTracker before;
  feedAll(before, start92(100, 101, "1001") + start92(200, 201, "1002") +
                      std::vector<Line>{{201,
                                         "Received disconnect from 127.0.0.1 port 1002:11: "
                                         "disconnected by user"}});
  auto saved = before.openSessions();
  REQUIRE(saved.size() == 2);
  CHECK(saved[0].pid == 100);
  CHECK(saved[0].boot_id == kBoot);
  CHECK(saved[0].start_usec == kT0);
  CHECK_FALSE(saved[0].cause);
  REQUIRE(saved[1].cause);
  CHECK(*saved[1].cause == DisconnectCause::kLogout);

  SessionTracker after;
  after.restore(saved);
  CHECK(after.openSessions() == saved);
  auto ev = feedAll(after, {{100, "pam_unix(sshd:session): session closed for user kpuser", 30},
                            {200, "pam_unix(sshd:session): session closed for user kpuser", 31}});
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].cause == DisconnectCause::kUnknown);
  CHECK(ev[0].duration_seconds == 30);
  CHECK(ev[1].cause == DisconnectCause::kLogout);
  // A restore past the cap keeps the newest.
  SessionTracker small(1);
  small.restore(saved);
  CHECK(small.openCount() == 1);
  CHECK(small.openSessions()[0].pid == 200);
  CHECK(small.evictions() == 1);
}

TEST_CASE("disconnects: user names with odd characters, IPv6 and link-local addresses") {
  SessionTracker t;
  // sshd vis-encodes the name (log.c strnvis); a name may hold " for " and " from ".
  auto ev = feedAll(
      t, {{1, "Accepted password for ann for me from here from fe80::1%eth0 port 22 ssh2"},
          {2,
           "Accepted keyboard-interactive/pam for d\\303\\251j\\303\\240 from ::1 port 65535 "
           "ssh2"},
          {3, "Accepted publickey for x.y-z_ from 192.0.2.1 port 1 ssh2: RSA SHA256:abc"},
          {11, "Disconnected from user ann for me from here fe80::1%eth0 port 22"},
          {12, "Connection reset by user d\\303\\251j\\303\\240 ::1 port 65535"},
          {13, "Timeout, client not responding from user x.y-z_ 192.0.2.1 port 1"}});
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].user == "ann for me from here");
  CHECK(ev[0].address == "fe80::1%eth0");
  CHECK(ev[0].cause == DisconnectCause::kLogout);
  CHECK(ev[1].user == "d\\303\\251j\\303\\240");
  CHECK(ev[1].address == "::1");
  CHECK(ev[1].port == 65535);
  CHECK(ev[1].cause == DisconnectCause::kReset);
  CHECK(ev[2].user == "x.y-z_");
  CHECK(ev[2].cause == DisconnectCause::kKeepaliveTimeout);
  // Malformed: a port out of range, no ssh2, nothing after "for".
  SessionTracker u;
  CHECK(feedAll(u, {{1, "Accepted password for a from 1.2.3.4 port 70000 ssh2"},
                    {2, "Accepted password for a from 1.2.3.4 port 7"},
                    {3, "Accepted password for  from 1.2.3.4 port 7 ssh2"},
                    {4, "Accepted password for"},
                    {5, "Accepted"}})
            .empty());
  CHECK(u.openCount() == 0);
}

TEST_CASE("disconnects: cause names round-trip") {
  for (auto c : keepalive::daemon::kAllDisconnectCauses)
    CHECK(keepalive::daemon::disconnectCauseFromString(toString(c)) == c);
  CHECK_FALSE(keepalive::daemon::disconnectCauseFromString("Reset"));
}

TEST_CASE("disconnects: causeVisibility per version and LogLevel") {
  using C = DisconnectCause;
  using V = CauseVisibility;
  const OpensshVersion v74{7, 4}, v92{9, 2}, v97{9, 7}, v98{9, 8}, v105{10, 5};
  struct Row {
    C cause;
    OpensshVersion version;
    const char* level;
    V expected;
  };
  const Row rows[] = {
      // 9.2 at INFO: read-side errors are VERBOSE (serverloop.c process_input).
      {C::kKeepaliveTimeout, v92, "INFO", V::kVisible},
      {C::kReset, v92, "INFO", V::kPartly},
      {C::kTimedOut, v92, "INFO", V::kPartly},
      {C::kBrokenPipe, v92, "INFO", V::kVisible},
      {C::kClosed, v92, "INFO", V::kHidden},
      {C::kLogout, v92, "INFO", V::kVisible},
      {C::kUnknown, v92, "INFO", V::kPartly},
      {C::kReset, v92, "VERBOSE", V::kVisible},
      {C::kClosed, v92, "VERBOSE", V::kVisible},
      {C::kClosed, v97, "INFO", V::kHidden},
      {C::kUnknown, v92, "VERBOSE", V::kVisible},
      {C::kReset, v92, "DEBUG3", V::kVisible},
      // 9.8: promoted to INFO (5603befe1).
      {C::kReset, v98, "INFO", V::kVisible},
      {C::kTimedOut, v98, "INFO", V::kVisible},
      {C::kClosed, v98, "INFO", V::kVisible},
      {C::kClosed, v105, "info", V::kVisible},
      // Below INFO every cause's line is gone.
      {C::kKeepaliveTimeout, v105, "ERROR", V::kHidden},
      {C::kLogout, v105, "QUIET", V::kHidden},
      {C::kReset, v105, "FATAL", V::kHidden},
      // Before 7.7 the timeout line names no session.
      {C::kKeepaliveTimeout, v74, "INFO", V::kPartly},
      {C::kKeepaliveTimeout, v74, "VERBOSE", V::kVisible},
  };
  for (const auto& r : rows) {
    INFO(toString(r.cause) << " " << r.version.str() << " " << r.level);
    CHECK(causeVisibility(r.cause, r.version, r.level) == r.expected);
  }
  // Unknown version: the worst case (7.4's facts); unknown level: sshd's default, INFO.
  CHECK(causeVisibility(C::kClosed, std::nullopt, "INFO") == V::kHidden);
  CHECK(causeVisibility(C::kKeepaliveTimeout, std::nullopt, "INFO") == V::kPartly);
  CHECK(causeVisibility(C::kReset, std::nullopt, "VERBOSE") == V::kVisible);
  CHECK(causeVisibility(C::kReset, v98, "") == V::kVisible);
  CHECK(causeVisibility(C::kClosed, v92, "") == V::kHidden);
}

namespace {

struct Section {
  std::string name;  // "logout", "freeze", ... (the word after "## ")
  bool pam = true;   // "(UsePAM no)" in the title: false
  std::vector<Line> lines;
};

// tests/data/sshd-logs/*.txt: "## NAME ..." starts a section, "PID IDENTIFIER MESSAGE" lines.
std::vector<Section> readSections(const std::string& file) {
  std::vector<Section> out;
  std::istringstream in(
      keepalive::test::readFile(keepalive::test::dataDir() + "/sshd-logs/" + file));
  std::string line;
  std::uint64_t n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      Section s;
      const auto end = line.find_first_of(" :", 3);
      s.name = line.substr(3, end - 3);
      s.pam = line.find("(UsePAM no)") == std::string::npos;
      out.push_back(s);
      continue;
    }
    if (line.empty() || line[0] == '#' || out.empty())
      continue;
    const auto sp1 = line.find(' ');
    const auto sp2 = line.find(' ', sp1 + 1);
    REQUIRE(sp2 != std::string::npos);
    out.back().lines.push_back({std::stoull(line.substr(0, sp1)), line.substr(sp2 + 1), ++n});
  }
  return out;
}

// The lines sshd logs at VERBOSE only, before 9.8 (docs/daemon.md): what LogLevel INFO leaves out.
bool verboseBefore98(const std::string& m) {
  for (const char* p : {"Connection from ", "Accepted key ", "Postponed ", "User child is on pid",
                        "Starting session: ", "Close session: ", "Transferred: ",
                        "Closing connection to ", "Read error from remote host "})
    if (m.rfind(p, 0) == 0)
      return true;
  return m.rfind("Connection closed by ", 0) == 0 && m.find("[preauth]") == std::string::npos;
}

std::map<std::string, DisconnectCause> expectedCauses() {
  return {{"logout", DisconnectCause::kLogout},
          {"freeze", DisconnectCause::kKeepaliveTimeout},
          {"kill", DisconnectCause::kClosed},
          {"reset", DisconnectCause::kReset},
          {"reset-w", DisconnectCause::kReset},
          {"timeout", DisconnectCause::kTimedOut},
          {"timeout-w", DisconnectCause::kTimedOut},
          {"broken-pipe", DisconnectCause::kBrokenPipe},
          {"packet-timeout", DisconnectCause::kTimedOut},
          {"root", DisconnectCause::kLogout},
          {"unused", DisconnectCause::kUnknown}};
}

}  // namespace

TEST_CASE("disconnects: every recorded 9.2p1 session (debian12-9.2.txt), at VERBOSE and at INFO") {
  const auto sections = readSections("debian12-9.2.txt");
  REQUIRE(sections.size() == 14);
  const auto expected = expectedCauses();
  for (const auto& s : sections) {
    INFO(s.name << (s.pam ? " (UsePAM yes)" : " (UsePAM no)"));
    REQUIRE(expected.count(s.name) == 1);
    SessionTracker verbose;
    auto ev = feedAll(verbose, s.lines);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == expected.at(s.name));
    CHECK(ev[0].user == (s.name == "root" ? "root" : "kpuser"));
    CHECK(ev[0].address == "127.0.0.1");
    CHECK(verbose.openCount() == 0);

    // At INFO the read side's lines are gone: such a session ends as unknown with PAM's close,
    // and stays open without PAM (nothing says it ended).
    std::vector<Line> info;
    for (const auto& l : s.lines)
      if (!verboseBefore98(l.message))
        info.push_back(l);
    SessionTracker atInfo;
    auto evInfo = feedAll(atInfo, info);
    const bool readSide =
        s.name == "kill" || s.name == "reset" || s.name == "reset-w" || s.name == "timeout";
    if (!readSide) {
      REQUIRE(evInfo.size() == 1);
      CHECK(evInfo[0].cause == expected.at(s.name));
    } else if (s.pam) {
      REQUIRE(evInfo.size() == 1);
      CHECK(evInfo[0].cause == DisconnectCause::kUnknown);
    } else {
      CHECK(evInfo.empty());
      CHECK(atInfo.openCount() == 1);
    }
  }
}

TEST_CASE(
    "disconnects: every 9.8..10.5 session as the source prints it (openssh-9.8-10.5-source.txt)") {
  const auto sections = readSections("openssh-9.8-10.5-source.txt");
  REQUIRE(sections.size() == 11);
  const auto expected = expectedCauses();
  // All in one tracker, in order: the sections' pids and ports are distinct.
  SessionTracker t;
  for (const auto& s : sections) {
    INFO(s.name);
    REQUIRE(expected.count(s.name) == 1);
    auto ev = feedAll(t, s.lines, "sshd-session");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].cause == expected.at(s.name));
    CHECK(!ev[0].user.empty());
  }
  CHECK(t.openCount() == 0);
}

namespace {

// One entry with its sender: root, or a user by name ("" = a uid whose name is not known).
std::optional<DisconnectEvent> feedAs(SessionTracker& t, std::uint64_t pid,
                                      const std::string& sender, const std::string& message,
                                      std::uint64_t offsetSec = 0) {
  SshdLogEntry e;
  e.realtime_usec = kT0 + offsetSec * kSec;
  e.boot_id = kBoot;
  e.pid = pid;
  e.identifier = "sshd";
  e.message = message;
  e.from_root = sender == "root";
  if (!e.from_root && !sender.empty())
    e.sender_user = sender;
  return t.feed(e);
}

}  // namespace

TEST_CASE("disconnects: a line another user wrote (logger -t sshd) is not sshd's") {
  SessionTracker t;
  const std::string accepted =
      std::string("Accepted publickey for victim from 10.0.0.9 port 4242 ssh2: ") + kKey;
  SECTION("a forged Accepted opens nothing, so its forged end counts nothing") {
    CHECK_FALSE(feedAs(t, 900, "mallory", accepted));
    CHECK(t.openCount() == 0);
    CHECK_FALSE(feedAs(t, 900, "mallory",
                       "Timeout, client not responding from user victim 10.0.0.9 port 4242"));
  }
  SECTION("another user's end line does not change a real session's cause") {
    REQUIRE_FALSE(feedAs(t, 100, "root", accepted));
    CHECK_FALSE(feedAs(t, 900, "mallory",
                       "Timeout, client not responding from user victim 10.0.0.9 port 4242", 3));
    CHECK_FALSE(feedAs(t, 900, "mallory",
                       "Received disconnect from 10.0.0.9 port 4242:11: disconnected by user", 3));
    CHECK(t.openCount() == 1);
    // The session's own child (running as victim) tells how it really ended.
    const auto ev =
        feedAs(t, 101, "victim",
               "Read error from remote host 10.0.0.9 port 4242: Connection reset by peer", 5);
    REQUIRE(ev);
    CHECK(ev->cause == DisconnectCause::kReset);
    CHECK(ev->duration_seconds == 5);
  }
  SECTION("root's lines and a sender whose name is not known are taken at their word") {
    REQUIRE_FALSE(feedAs(t, 100, "root", accepted));
    const auto ev =
        feedAs(t, 101, "", "Timeout, client not responding from user victim 10.0.0.9 port 4242", 4);
    REQUIRE(ev);
    CHECK(ev->cause == DisconnectCause::kKeepaliveTimeout);
  }
  SECTION("a forged line cannot claim the session's pid for itself") {
    REQUIRE_FALSE(feedAs(t, 100, "root", accepted));
    // Mallory's line names victim's address: refused, so pid 900 never becomes the child's ...
    CHECK_FALSE(feedAs(t, 900, "mallory", "Connection closed by 10.0.0.9 port 4242"));
    // ... and pid 900's address-less line ends nothing.
    CHECK_FALSE(feedAs(t, 900, "mallory", "Timeout, client not responding."));
    CHECK(t.openCount() == 1);
  }
}
