// SPDX-License-Identifier: GPL-2.0-or-later
// Every byte from outside that reaches the daemon's log goes through the one escaper: a user's
// name or home (passwd fields), a file name, sshd's messages (which quote lines of config files)
// and megabyte strings can neither forge a log line nor carry a terminal escape or invalid UTF-8.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "test_support.h"
#include "users_root.h"

using namespace keepalive::test;

namespace {

const char* kForged = "keepalive-policyd: critical: FORGED";

// What a reader of the log (a terminal, journalctl, a JSON exporter) must be able to trust:
// every line is one of the daemon's, and no byte is a control character or invalid UTF-8.
void checkLog(const std::string& log) {
  INFO(log.substr(0, 4000));
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t end = log.find('\n', start);
    if (end == std::string::npos)
      end = log.size();
    const std::string line = log.substr(start, end - start);
    CHECK(line.rfind("keepalive-policyd: ", 0) == 0);
    CHECK(line.rfind(kForged, 0) != 0);  // quoted inside a line is fine; a line of its own is not
    CHECK(line.size() < 20000);
    start = end + 1;
  }
  for (std::size_t i = 0; i < log.size();) {
    const auto c = static_cast<unsigned char>(log[i]);
    if (c == '\n' || (c >= 0x20 && c < 0x7f)) {
      ++i;
      continue;
    }
    // Valid multi-byte UTF-8 may pass; nothing else.
    const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    REQUIRE(n != 0);
    REQUIRE(i + n <= log.size());
    for (std::size_t k = 1; k < n; ++k)
      REQUIRE((static_cast<unsigned char>(log[i + k]) & 0xC0) == 0x80);
    i += n;
  }
}

}  // namespace

TEST_CASE("escape: passwd fields: a user's name and home with escapes and bad UTF-8") {
  if (!isRoot())
    return;
  UsersRoot r(kUsersPolicy, /*withAlice=*/false);
  // A name and a home no admin would make, but passwd (LDAP, a sloppy script) can hold.
  const std::string name = "ev\x1b[2Jil\xff\xc3";
  const std::string home = "/home/ev\x1b]0;owned\x07il";
  r.passwd(name + ":x:41000:41000::" + home + ":/bin/sh\n");
  makeDirs(r.dir / home, 0755);
  REQUIRE(::chown((r.dir / home).c_str(), 41000, 41000) == 0);
  // ~/.ssh is a symlink: the refusal quotes the user's name and home.
  REQUIRE(::symlink("/etc", (r.dir / (home + "/.ssh")).c_str()) == 0);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("refusing to touch"));
  REQUIRE(d.waitForLog("users: 1 covered"));
  CHECK(d.log().find("ev\\x1b[2Jil\\xff\\xc3") != std::string::npos);
  CHECK(d.log().find("/home/ev\\x1b]0;owned\\x07il") != std::string::npos);
  checkLog(d.log());
}

TEST_CASE("escape: a file name with a newline and a forged log line in it") {
  if (!isRoot())
    return;
  UsersRoot r(kUsersPolicy, /*withAlice=*/false);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  // Another drop-in that shadows ours, named to end our line and start a forged one.
  const std::string shadow =
      r.dir / (std::string("etc/ssh/sshd_config.d/00-a\n") + kForged + " \x1b[31m\xfe.conf");
  writeFile(shadow, "ClientAliveInterval 0\n");
  REQUIRE(d.waitForLog("sets ClientAliveInterval 0 before our drop-in is read"));
  CHECK(d.log().find("00-a\\x0akeepalive-policyd: critical: FORGED \\x1b[31m\\xfe.conf") !=
        std::string::npos);
  checkLog(d.log());
}

TEST_CASE("escape: sshd's messages quote a config line with escapes and a megabyte of text") {
  if (!isRoot())
    return;
  UsersRoot r(kUsersPolicy, /*withAlice=*/false);
  DaemonProcess d(r.dir.path());
  REQUIRE(d.waitForLog("state ok:"));
  // Another admin's broken drop-in: sshd -t quotes the bad keyword back.
  writeFile(r.dir / "etc/ssh/sshd_config.d/50-broken.conf",
            "Bogus\x1b[31m\xff" + std::string(1 << 20, 'A') + " yes\n");
  replaceByRename(r.dir / "etc/keepalive-policy/policy.yaml",
                  "version: 1\nserver: {client_alive_interval: 3m}\nusers: {action: enforce, "
                  "min_uid: 41000}\n");
  REQUIRE(d.waitForLog("50-broken.conf"));
  REQUIRE(d.waitForLog("state sshd-config-broken:"));
  checkLog(d.log());
}
