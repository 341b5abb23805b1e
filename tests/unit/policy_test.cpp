// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "helpers.h"
#include "keepalive/policy/policy.h"

using namespace keepalive::policy;
using keepalive::test::load;
using keepalive::test::loadMany;

static const char* kFull = R"(version: 1
reconcile_interval: 30m
network:
  idle_timeout: 10m
server:
  client_alive_interval: 2m
  client_alive_count_max: 3
  tcp_keepalive: true
  ensure_include: false
client:
  server_alive_interval: 4m
  server_alive_count_max: 3
  tcp_keepalive: false
  per_user_block: false
users:
  action: enforce
  min_uid: 1000
  exclude: [backup, "svc-*"]
  config_mode: "0600"
  ssh_dir_mode: "0700"
hosts:
  - match: ["db-*", "*.dmz.example.com"]
    server: {client_alive_interval: 1m, client_alive_count_max: 2}
)";

TEST_CASE("the full example reads into the model with positions") {
  auto l = load(kFull);
  CHECK_VALID(l);
  const auto& p = l.policy;
  CHECK(p.version->value == 1);
  CHECK(p.reconcile_interval->value == 1800);
  CHECK(p.base.network.idle_timeout->value == 600);
  CHECK(p.base.network.idle_timeout->pos == SourcePos{"policy.yaml", 4, 17});
  CHECK(p.base.server.client_alive_interval->value == 120);
  CHECK(p.base.server.tcp_keepalive->value);
  CHECK_FALSE(p.base.client.tcp_keepalive->value);
  CHECK(p.base.users.action->value == UserAction::kEnforce);
  CHECK(p.base.users.exclude->value.size() == 2);
  CHECK(p.base.users.config_mode->value == 0600);
  CHECK(p.base.users.ssh_dir_mode->value == 0700);
  REQUIRE(p.hosts->value.size() == 1);
  CHECK(p.hosts->value[0].match[1].value == "*.dmz.example.com");
  CHECK(p.hosts->value[0].settings.server.client_alive_count_max->value == 2);
}

TEST_CASE("version is required in every file and must be 1") {
  CHECK(load("network: {idle_timeout: 10m}\n").error("missing 'version: 1'", 1, 1));
  CHECK(load("version: 2\n").error("unsupported policy version 2"));
  CHECK(load("version: \"1\"\n").error("quoted string where a number belongs"));
  CHECK(load("version: 1.0\n").error("not a whole number"));
  CHECK(load("- version: 1\n").error("a policy is a mapping"));
}

TEST_CASE("unknown keys get a suggestion") {
  CHECK(load("version: 1\nserver: {client_alive_intervall: 1m}\n")
            .error("did you mean 'client_alive_interval'?", 2, 10));
  CHECK(load("version: 1\nserver: {ClientAliveInterval: 1m}\n")
            .error("did you mean 'client_alive_interval'?"));
  CHECK(load("version: 1\nnetwork: {idle-timeout: 1m}\n").error("did you mean 'idle_timeout'?"));
  CHECK(load("version: 1\nserver: {server_alive_interval: 1m}\n")
            .error("does not belong in server; it belongs in client:"));
  CHECK(load("version: 1\nserver: {idle_timeout: 1m}\n").error("it belongs in network:"));
  CHECK(load("version: 1\nusers: {version: 1}\n").error("it belongs in the top level"));
  CHECK(load("version: 1\nzzzzzz: 1\n").error("the keys allowed here are: version"));
  CHECK(load("version: 1\nusers: {action: enforcing}\n").error("did you mean 'enforce'?"));
}

TEST_CASE("values of the wrong type are errors that say what to write") {
  CHECK(load("version: 1\nserver: {client_alive_count_max: yes}\n")
            .error("YAML boolean where a number"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: \"3\"}\n").error("without quotes"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: -1}\n").error("negative"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: 010}\n").error("octal"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: 0x3}\n").error("hexadecimal"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: 1001}\n").error("too large"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: [3]}\n")
            .error("needs a whole number, not a list"));
  CHECK(load("version: 1\nserver: {client_alive_count_max: }\n").error("has no value"));
  CHECK(load("version: 1\nserver: {client_alive_interval: on}\n")
            .error("YAML boolean where a duration"));
  CHECK(load("version: 1\nserver: {client_alive_interval: 1:30}\n").error("sexagesimal"));
  CHECK(load("version: 1\nserver: {tcp_keepalive: yes}\n").error("YAML 1.1 boolean"));
  CHECK(load("version: 1\nserver: {tcp_keepalive: \"true\"}\n").error("without quotes"));
  CHECK(load("version: 1\nserver: {tcp_keepalive: 1}\n").error("not a boolean"));
  CHECK(load("version: 1\nserver: 5\n").error("server must be a mapping"));
  CHECK(load("version: 1\nusers: {exclude: backup}\n").error("must be a list"));
  CHECK(load("version: 1\nusers: {exclude: [no]}\n").error("quote it"));
  CHECK(load("version: 1\nusers: {exclude: [0755]}\n").error("quote it"));
  CHECK(load("version: 1\nusers: {exclude: [\"\"]}\n").error("empty string"));
}

TEST_CASE("booleans accept YAML 1.2 spellings only") {
  CHECK_VALID(load("version: 1\nserver: {tcp_keepalive: True}\nclient: {tcp_keepalive: FALSE}\n"));
  for (const char* w : {"y", "Y", "yes", "no", "on", "Off", "N"}) {
    INFO(w);
    CHECK(load(std::string("version: 1\nserver: {tcp_keepalive: ") + w + "}\n").error("YAML 1.1"));
  }
}

TEST_CASE("modes are quoted octal and never let group or others write") {
  CHECK(load("version: 1\nusers: {config_mode: 0600}\n").error("quote the mode"));
  CHECK(load("version: 1\nusers: {config_mode: 600}\n").error("quote the mode"));
  CHECK_VALID(load("version: 1\nusers: {config_mode: \"600\", ssh_dir_mode: \"700\"}\n"));
  CHECK(load("version: 1\nusers: {config_mode: \"0660\"}\n").error("lets group or others write"));
  CHECK(load("version: 1\nusers: {config_mode: \"0602\"}\n").error("lets group or others write"));
  CHECK(load("version: 1\nusers: {config_mode: \"0200\"}\n").error("does not let the owner read"));
  CHECK(load("version: 1\nusers: {config_mode: \"4600\"}\n").error("setuid"));
  CHECK(load("version: 1\nusers: {config_mode: \"0800\"}\n").error("not an octal mode"));
  CHECK(load("version: 1\nusers: {ssh_dir_mode: \"0500\"}\n").error("read, write and search"));
  CHECK(load("version: 1\nusers: {ssh_dir_mode: \"0770\"}\n").error("lets group or others write"));
  CHECK_VALID(load("version: 1\nusers: {config_mode: \"0400\", ssh_dir_mode: \"0711\"}\n"));
}

TEST_CASE("strings may not carry line breaks, control characters, '#' or spaces") {
  CHECK(load("version: 1\nusers: {exclude: [\"a\\nb\"]}\n").error("line break"));
  CHECK(load("version: 1\nusers: {exclude: [\"a\\0b\"]}\n").error("control character"));
  CHECK(load("version: 1\nusers: {exclude: [\"a\\tb\"]}\n").error("control character"));
  CHECK(load("version: 1\nusers: {exclude: [\"bob # old\"]}\n").error("'#'"));
  CHECK(load("version: 1\nusers: {exclude: [\"bob alice\"]}\n").error("space"));
  CHECK(load("version: 1\nhosts:\n  - match: [\"db-*\\r\"]\n    server: {tcp_keepalive: true}\n")
            .error("line break"));
}

TEST_CASE("host overrides need match and settings") {
  CHECK(load("version: 1\nhosts: {match: x}\n").error("hosts must be a list"));
  CHECK(load("version: 1\nhosts:\n  - server: {tcp_keepalive: true}\n")
            .error("has no 'match'", 3, 5));
  CHECK(load("version: 1\nhosts:\n  - match: []\n    server: {tcp_keepalive: true}\n")
            .error("never applies"));
  CHECK(load("version: 1\nhosts:\n  - match: [a]\n").warning("sets nothing"));
  CHECK(load("version: 1\nhosts:\n  - match: [a]\n    version: 1\n")
            .error("belongs in the top level"));
  CHECK(load("version: 1\nhosts:\n  - match: a\n    server: {tcp_keepalive: true}\n")
            .error("must be a list"));
  CHECK(load("version: 1\nhosts:\n  - [a]\n").error("must be a mapping"));
}

TEST_CASE("files merge in order: later values win, sections merge key by key") {
  auto l =
      loadMany({{"policy.yaml",
                 "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"},
                {"policy.d/10-x.yaml", "version: 1\nserver: {client_alive_count_max: 5}\n"}});
  CHECK_VALID(l);
  CHECK(l.policy.base.server.client_alive_interval->value == 120);
  CHECK(l.policy.base.server.client_alive_count_max->value == 5);
  CHECK(l.policy.base.server.client_alive_count_max->pos.file == "policy.d/10-x.yaml");
  CHECK(l.policy.files.size() == 2);
}

TEST_CASE("a later list replaces an earlier one, with a warning") {
  auto l = loadMany({{"a.yaml",
                      "version: 1\nusers: {exclude: [a]}\nhosts:\n  - match: [x]\n    server: "
                      "{tcp_keepalive: true}\n"},
                     {"b.yaml",
                      "version: 1\nusers: {exclude: [b]}\nhosts:\n  - match: [yy]\n    server: "
                      "{tcp_keepalive: false}\n"}});
  CHECK_VALID(l);
  CHECK(l.warning("users.exclude replaces the list set at a.yaml:2:18"));
  CHECK(l.warning("hosts replaces the list set at a.yaml:4:3"));
  REQUIRE(l.policy.hosts->value.size() == 1);
  CHECK(l.policy.hosts->value[0].match[0].value == "yy");
}

TEST_CASE("an error in one file is reported against that file") {
  auto l = loadMany({{"a.yaml", "version: 1\n"}, {"b.yaml", "version: 1\nserver: {bogus: 1}\n"}});
  CHECK(l.diags.hasErrors());
  CHECK(l.diags.items().front().pos.file == "b.yaml");
}

TEST_CASE("a fragment validates alone") {
  CHECK_VALID(load("version: 1\nclient: {server_alive_interval: 1m}\n", "policy.d/50-client.yaml"));
}

TEST_CASE("host matching uses the short and the fully qualified name, case-insensitively") {
  auto l = load(
      "version: 1\nhosts:\n  - match: [\"DB-*\"]\n    server: {client_alive_interval: 1m}\n"
      "  - match: [\"*.dmz.example.com\"]\n    server: {client_alive_interval: 30s}\n");
  CHECK_VALID(l);
  const auto& o = l.policy.hosts->value;
  CHECK(hostMatches(o[0], HostIdentity::fromName("db-1")));
  CHECK(hostMatches(o[0], HostIdentity::fromName("db-1.example.com")));
  CHECK(hostMatches(o[0], HostIdentity::fromName("Db-2", "db-2.corp.example.com")));
  CHECK_FALSE(hostMatches(o[0], HostIdentity::fromName("web-1")));
  CHECK(hostMatches(o[1], HostIdentity::fromName("gw", "GW.DMZ.example.com.")));
  CHECK_FALSE(hostMatches(o[1], HostIdentity::fromName("gw.example.com")));
}

TEST_CASE("overrides apply in order and the later one wins") {
  auto l = load(
      "version: 1\nserver: {client_alive_interval: 2m}\nhosts:\n"
      "  - match: [\"db-*\"]\n    server: {client_alive_interval: 1m, client_alive_count_max: 2}\n"
      "  - match: [\"db-9\"]\n    server: {client_alive_interval: 30s}\n");
  CHECK_VALID(l);
  auto r = resolve(l.policy, HostIdentity::fromName("db-9"));
  CHECK(r.applied.size() == 2);
  CHECK(r.settings.server.client_alive_interval->value == 30);
  CHECK(r.settings.server.client_alive_count_max->value == 2);
  auto web = resolve(l.policy, HostIdentity::fromName("web-1"));
  CHECK(web.applied.empty());
  CHECK(web.settings.server.client_alive_interval->value == 120);
}

TEST_CASE("resolve fills the daemon's defaults") {
  auto l = load("version: 1\n");
  CHECK_VALID(l);
  auto r = resolve(l.policy, HostIdentity::fromName("h"));
  CHECK(r.users_action.value == UserAction::kReport);
  CHECK(r.users_min_uid.value == 1000);
  CHECK(r.users_config_mode.value == 0600);
  CHECK(r.users_ssh_dir_mode.value == 0700);
  CHECK(r.reconcile_interval.value == 3600);
  CHECK_FALSE(r.ensure_include.value);
  CHECK_FALSE(r.per_user_block.value);
  CHECK_FALSE(r.settings.server.client_alive_interval.has_value());
}

TEST_CASE("the digest follows the policy's meaning, not its spelling") {
  auto a = load("version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n");
  auto b = load(
      "# a comment\nversion: 1\nserver:\n  client_alive_count_max: 3   # note\n  "
      "client_alive_interval: 120\n");
  auto c = load("version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 4}\n");
  CHECK_VALID(a);
  CHECK_VALID(b);
  CHECK(policyDigest(a.policy) == policyDigest(b.policy));
  CHECK(policyDigest(a.policy) != policyDigest(c.policy));
  CHECK(policyDigest(a.policy).rfind("sha256:", 0) == 0);
  CHECK(policyDigest(a.policy).size() == 7 + 64);
}

TEST_CASE("list items cannot forge another policy's digest") {
  auto a = load(
      "version: 1\nhosts:\n  - match: [a]\n    users: {exclude: [\"]\", \"hosts[1].match=[\", "
      "\"b\"]}\n");
  auto b = load("version: 1\nhosts:\n  - match: [a]\n    users: {exclude: []}\n  - match: [b]\n");
  CHECK(policyDigest(a.policy) != policyDigest(b.policy));
}

TEST_CASE("plain scalars that PyYAML reads as numbers must be quoted, others need not") {
  for (const char* ok : {"2fa", "10.0.0.1", "db-1", "svc-*", "x1"}) {
    INFO(ok);
    CHECK_VALID(load(std::string("version: 1\nusers: {exclude: [") + ok + "]}\n"));
  }
  for (const char* bad : {"0x1F", "1_000", "1:30", "017", "1.5", ".inf", "yes", "~", "-3", "08",
                          "0o17", "1e3", "1e+3"}) {
    INFO(bad);
    CHECK(load(std::string("version: 1\nusers: {exclude: [") + bad + "]}\n").diags.hasErrors());
  }
}

TEST_CASE("quoted numbers are refused for durations as for numbers, units may be quoted") {
  CHECK(load("version: 1\nnetwork: {idle_timeout: \"600\"}\n").error("quoted number"));
  CHECK_VALID(load("version: 1\nnetwork: {idle_timeout: \"10m\"}\n"));
}

TEST_CASE("messages fit on one line and say what to write") {
  auto h = load("version: 1\nhosts: {match: x}\n");
  REQUIRE(h.diags.hasErrors());
  for (const auto& d : h.diags.items())
    CHECK(d.message.find('\n') == std::string::npos);
  CHECK(load("version:\n").error("write 'version: 1'"));
  CHECK(load("version: 1\nusers: {exclude: [a, ~]}\n").error("is empty; remove the '-'"));
  auto off = load("version: 1\nnetwork: {idle_timeout: off}\n");
  CHECK(off.error("YAML boolean where a duration belongs"));
  CHECK_FALSE(off.error("0 disables"));
}

TEST_CASE("an override whose settings all failed does not also claim to set nothing") {
  auto l = load("version: 1\nhosts:\n  - match: [a]\n    server: {bogus: 1}\n");
  CHECK(l.diags.hasErrors());
  CHECK_FALSE(l.warning("sets nothing"));
}

TEST_CASE("user and host name patterns are ASCII") {
  CHECK(load("version: 1\nusers: {exclude: [\"b\\u00f6b\"]}\n").error("non-ASCII"));
  CHECK(
      load("version: 1\nhosts:\n  - match: [\"db\\u202e-*\"]\n    server: {tcp_keepalive: true}\n")
          .error("non-ASCII"));
  CHECK(load("version: 1\nusers: {exclude: [\"\\xff\\xfe\"]}\n").diags.hasErrors());
}

TEST_CASE("names and globs are at most 256 bytes, with the position of the value") {
  const std::string ok(256, 'a'), tooLong(257, 'a');
  CHECK_VALID(load("version: 1\nusers: {exclude: [" + ok + "]}\n"));
  auto l = load("version: 1\nusers:\n  exclude: [backup, " + tooLong + "]\n");
  CHECK(l.error("users.exclude item value", 3, 21));
  CHECK(l.error("is 257 bytes long, over the limit of 256"));
  CHECK(l.diags.errorCount() == 1);
  auto h = load("version: 1\nhosts:\n  - match: [\"" + std::string(300, 'd') +
                "\"]\n    server: {client_alive_count_max: 2}\n");
  CHECK(h.error("hosts[0].match item value", 3, 13));
  CHECK(h.error("is 300 bytes long, over the limit of 256"));
  // A megabyte-long value is cut in the message: the diagnostic stays one short line.
  auto big = load("version: 1\nusers: {exclude: [" + std::string(100000, 'x') + "]}\n");
  REQUIRE(big.diags.errorCount() == 1);
  CHECK(big.diags.items()[0].message.size() < 300);
}

TEST_CASE("lists hold at most 10000 entries") {
  auto list = [](std::size_t n, const std::string& item, const std::string& indent = "  ") {
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
      s += indent + "- " + item + std::to_string(i) + "\n";
    return s;
  };
  CHECK_VALID(load("version: 1\nusers:\n exclude:\n" + list(10000, "u")));
  auto l = load("version: 1\nusers:\n exclude:\n" + list(10001, "u"));
  CHECK(l.error("users.exclude has 10001 entries, over the limit of 10000", 4, 3));
  CHECK(l.diags.errorCount() == 1);

  auto m = load("version: 1\nhosts:\n - server: {client_alive_count_max: 2}\n   match:\n" +
                list(10001, "h", "    "));
  INFO(m.dump().substr(0, 500));
  CHECK(m.error("hosts[0].match has 10001 entries, over the limit of 10000", 5, 5));

  std::string hosts = "version: 1\nhosts:\n";
  for (int i = 0; i < 10001; ++i)
    hosts += "  - {match: [h" + std::to_string(i) + "], server: {client_alive_count_max: 2}}\n";
  auto o = load(hosts);
  CHECK(o.error("hosts has 10001 overrides, over the limit of 10000", 3, 3));
  CHECK(o.diags.errorCount() == 1);
}

TEST_CASE("server.log_level: verbose or info, rendered as LogLevel; the other levels refused") {
  auto v = load("version: 1\nserver: {log_level: verbose}\n");
  CHECK_VALID(v);
  REQUIRE(v.policy.base.server.log_level);
  CHECK(v.policy.base.server.log_level->value == SshdLogLevel::kVerbose);
  CHECK(v.policy.base.server.log_level->pos == SourcePos{"policy.yaml", 2, 21});
  auto i = load("version: 1\nserver: {log_level: \"info\"}\n");
  CHECK_VALID(i);
  CHECK(i.policy.base.server.log_level->value == SshdLogLevel::kInfo);

  // sshd_config's spelling is a typo here, with the word to write.
  CHECK(load("version: 1\nserver: {log_level: VERBOSE}\n").error("did you mean 'verbose'?"));
  CHECK(load("version: 1\nserver: {log_level: loud}\n").error("is not one of verbose or info"));
  // DEBUG: the man page's own reason, and the baselines' rule ids.
  for (const char* w : {"debug", "DEBUG", "debug1", "debug2", "Debug3"}) {
    const auto d = load(std::string("version: 1\nserver: {log_level: ") + w + "}\n");
    INFO(d.dump());
    CHECK(
        d.error("is refused: sshd_config(5): \"Logging with a DEBUG level violates the privacy "
                "of users"));
    CHECK(d.error("sshd_set_loglevel_verbose"));
  }
  // QUIET, FATAL, ERROR: no "Accepted" line, so no session is seen.
  for (const char* w : {"quiet", "fatal", "ERROR"}) {
    const auto d = load(std::string("version: 1\nserver: {log_level: ") + w + "}\n");
    INFO(d.dump());
    CHECK(d.error("is refused: sshd then logs no \"Accepted ... for USER\" line", 2, 21));
  }
  CHECK(load("version: 1\nserver: {log_level: 3}\n").diags.hasErrors());
}

TEST_CASE("server.log_level: a host may set it, a network may not") {
  auto h = load(
      "version: 1\nserver: {log_level: info}\nhosts:\n  - match: [legacy-*]\n"
      "    server: {log_level: verbose}\n");
  CHECK_VALID(h);
  Resolved r = resolve(h.policy, HostIdentity::fromName("legacy-1"));
  REQUIRE(r.settings.server.log_level);
  CHECK(r.settings.server.log_level->value == SshdLogLevel::kVerbose);
  // Global only: LogLevel inside a Match block is accepted by sshd from 7.6 (SSHCFG_ALL), but the
  // accounting reads one level for the whole server.
  CHECK(load("version: 1\nnetworks:\n  - name: lan\n    addresses: [10.0.0.0/8]\n"
             "    log_level: verbose\n")
            .error("key 'log_level' does not belong in networks[0]; it belongs in server:", 5, 5));
}

TEST_CASE("server.log_level against the baselines") {
  const std::string stig =
      "version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m}\nserver: {log_level: ";
  auto info = load(stig + "info}\n");
  INFO(info.dump());
  CHECK(info.error("baseline stig: LogLevel INFO", 4, 21));
  CHECK(
      info.error("the STIG requires LogLevel VERBOSE (sshd_set_loglevel_verbose; RHEL-09-255030"));
  CHECK_VALID(load(stig + "verbose}\n"));
  // Unset leaves LogLevel to sshd_config, where a STIG remediation writes it: no error.
  CHECK_VALID(load("version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m}\n"));
  const std::string lynis =
      "version: 1\nbaseline: lynis\nnetwork: {idle_timeout: 5m}\nserver: {tcp_keepalive: false, "
      "log_level: ";
  CHECK(load(lynis + "info}\n").error("Lynis SSH-7408 rates LogLevel good at VERBOSE"));
  CHECK_VALID(load(lynis + "verbose}\n"));
  // CIS 5.1.14-5.1.16 accepts INFO or VERBOSE.
  const std::string cis =
      "version: 1\nbaseline: cis\nnetwork: {idle_timeout: 5m}\nserver: {log_level: ";
  CHECK_VALID(load(cis + "info}\n"));
  CHECK_VALID(load(cis + "verbose}\n"));
}
