// SPDX-License-Identifier: GPL-2.0-or-later
// Where sshd -t says its configuration is wrong. Every message below was captured from the real
// sshd 9.2p1 (Debian 12) on a test root (ROOT = /r) and its text checked in servconf.c or sshd.c
// at V_9_2_P1; stderr ends each line with "\r\n" as sshd writes it.
#include <catch2/catch.hpp>

#include "core/config_text.h"

using namespace keepalive::daemon;

namespace {
const std::string kDropIn = "/r/etc/ssh/sshd_config.d/10-bad.conf";
}  // namespace

TEST_CASE("locateConfigError: a bad keyword names its file and line, not the terminating line") {
  // servconf.c:742 (error) then servconf.c:2815 (fatal).
  const auto l =
      locateConfigError(kDropIn + ": line 2: Bad configuration option: ClientAliveIntervl\r\n" +
                        kDropIn + ": terminating, 1 bad configuration options\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 2);
  CHECK(l.message == kDropIn + ": line 2: Bad configuration option: ClientAliveIntervl");
}

TEST_CASE("locateConfigError: bad values") {
  // servconf.c:1680 (an integer), servconf.c:1435 (a time).
  auto l = locateConfigError(kDropIn + " line 2: ClientAliveCountMax integer value invalid.\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 2);
  CHECK(l.message == kDropIn + " line 2: ClientAliveCountMax integer value invalid.");
  l = locateConfigError(kDropIn + " line 1: invalid time value.\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 1);
  // servconf.c:1368 and servconf.c:2572, each before the terminating line.
  l = locateConfigError(kDropIn + " line 1: no argument after keyword \"ClientAliveInterval\"\r\n" +
                        kDropIn + ": terminating, 1 bad configuration options\r\n");
  CHECK(l.line == 1);
  CHECK(l.message == kDropIn + " line 1: no argument after keyword \"ClientAliveInterval\"");
  l = locateConfigError(kDropIn +
                        " line 1: keyword ClientAliveInterval extra arguments at end of line\r\n" +
                        kDropIn + ": terminating, 1 bad configuration options\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 1);
}

TEST_CASE("locateConfigError: a deprecated option before the error is only a warning") {
  // servconf.c:2560 (INFO), then the error.
  const auto l =
      locateConfigError(kDropIn + " line 1: Deprecated option UsePrivilegeSeparation\r\n" +
                        kDropIn + ": line 3: Bad configuration option: Bogus\r\n" + kDropIn +
                        ": terminating, 1 bad configuration options\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 3);
}

TEST_CASE("locateConfigError: a wrong Match block says why with its line") {
  // servconf.c:1259 (error, no line) then servconf.c:2244 (fatal); servconf.c:1229.
  auto l = locateConfigError("Unsupported Match attribute Usr\r\n" + kDropIn +
                             " line 1: Bad Match condition\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 1);
  CHECK(l.message == kDropIn + " line 1: Bad Match condition: Unsupported Match attribute Usr");
  l = locateConfigError("Invalid LocalPort 'abc' on Match line\r\n" + kDropIn +
                        " line 1: Bad Match condition\r\n");
  CHECK(l.line == 1);
  CHECK(l.message ==
        kDropIn + " line 1: Bad Match condition: Invalid LocalPort 'abc' on Match line");
  // servconf.c:1391: a directive that Match cannot hold.
  l = locateConfigError(kDropIn +
                        " line 2: Directive 'Port' is not allowed within a Match block\r\n");
  CHECK(l.file == kDropIn);
  CHECK(l.line == 2);
}

TEST_CASE("locateConfigError: recursive Include names no place") {
  // servconf.c:2799.
  const auto l = locateConfigError("Too many recursive configuration includes\r\n");
  CHECK(l.file.empty());
  CHECK(l.line == 0);
  CHECK(l.message == "Too many recursive configuration includes");
}

TEST_CASE("locateConfigError: a file sshd cannot open is named, without a line") {
  // servconf.c:2609, perror(): no "\r".
  auto l =
      locateConfigError("/r/etc/ssh/sshd_config.d/20-dangling.conf: No such file or directory\n");
  CHECK(l.file == "/r/etc/ssh/sshd_config.d/20-dangling.conf");
  CHECK(l.line == 0);
  CHECK(l.message == "/r/etc/ssh/sshd_config.d/20-dangling.conf: No such file or directory");
  l = locateConfigError("/r/etc/ssh/sshd_config.d/10-x.conf: Permission denied\n");
  CHECK(l.file == "/r/etc/ssh/sshd_config.d/10-x.conf");
}

TEST_CASE("locateConfigError: missing host keys say which key and why") {
  // sshd.c:1840 (the reason), sshd.c:1890 and sshd.c:1918.
  auto l = locateConfigError(
      "Unable to load host key: /r/etc/ssh/nokey\r\nsshd: no hostkeys available -- exiting.\r\n");
  CHECK(l.file.empty());
  CHECK(l.line == 0);
  CHECK(l.message ==
        "sshd: no hostkeys available -- exiting. (Unable to load host key: /r/etc/ssh/nokey)");
  l = locateConfigError(
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
      "@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\r\n"
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
      "Permissions 0644 for '/r/etc/ssh/key' are too open.\r\n"
      "It is required that your private key files are NOT accessible by others.\r\n"
      "This private key will be ignored.\r\n"
      "Unable to load host key \"/r/etc/ssh/key\": bad permissions\r\n"
      "Unable to load host key: /r/etc/ssh/key\r\n"
      "sshd: no hostkeys available -- exiting.\r\n");
  CHECK(l.file.empty());
  CHECK(l.message ==
        "sshd: no hostkeys available -- exiting. (Unable to load host key "
        "\"/r/etc/ssh/key\": bad permissions)");
}

TEST_CASE("locateConfigError: nothing to locate") {
  CHECK(locateConfigError("").message.empty());
  const auto l = locateConfigError("Missing privilege separation directory: /run/sshd\r\n");
  CHECK(l.file.empty());
  CHECK(l.message == "Missing privilege separation directory: /run/sshd");
  // " line " without a number and a colon is no place.
  CHECK(locateConfigError("/x at end of line 7\n").line == 0);
  CHECK(locateConfigError(" line 3: no path\n").file.empty());
}

TEST_CASE("missingPrivsepDir: only sshd's own fatal, as its last line") {
  // sshd.c:1970.
  CHECK(missingPrivsepDir("Missing privilege separation directory: /run/sshd\r\n") == "/run/sshd");
  CHECK(missingPrivsepDir("Unable to load host key: /k\r\n"
                          "Missing privilege separation directory: /var/empty/sshd\r\n") ==
        "/var/empty/sshd");
  CHECK(
      missingPrivsepDir("Missing privilege separation directory: /run/sshd\r\nother\r\n").empty());
  CHECK(missingPrivsepDir("Missing privilege separation directory: /sshd\r\n").empty());
  CHECK(missingPrivsepDir("Missing privilege separation directory: run/sshd\r\n").empty());
  CHECK(missingPrivsepDir("Missing privilege separation directory: /run/../etc\r\n").empty());
  CHECK(missingPrivsepDir("Missing privilege separation directory: /run/sshd/\r\n").empty());
  CHECK(missingPrivsepDir("").empty());
}

TEST_CASE("locateConfigError: ssh -G's bad keyword, as readconf.c says it") {
  // readconf.c:800 then readconf.c:2293 (9.2p1), captured from ssh -G -F.
  const auto l = locateConfigError(
      "/r/etc/ssh/ssh_config.d/10-x.conf: line 1: Bad configuration option: serveraliveintervl\r\n"
      "/r/etc/ssh/ssh_config.d/10-x.conf: terminating, 1 bad configuration options\r\n");
  CHECK(l.file == "/r/etc/ssh/ssh_config.d/10-x.conf");
  CHECK(l.line == 1);
}

TEST_CASE("parseDumpText: sshd 10.4's mixed-case keywords read as the lower-case ones") {
  // sshd -T prints "ClientAliveInterval 298" from 10.4 (bebc855fd), "clientaliveinterval 298"
  // before; ssh -G stays in lower case. Values keep their case.
  const auto a =
      keepalive::daemon::parseDumpText("ClientAliveInterval 298\nchannelTimeout session=30m\n");
  const auto b =
      keepalive::daemon::parseDumpText("clientaliveinterval 298\nchanneltimeout session=30m\n");
  CHECK(a == b);
  REQUIRE(a.size() == 2);
  CHECK(a[0] == std::pair<std::string, std::string>{"clientaliveinterval", "298"});
  CHECK(a[1].second == "session=30m");
}
