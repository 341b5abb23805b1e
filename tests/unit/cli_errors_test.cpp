// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's words for D-Bus errors (cli/bus_errors.h): every row of the table gives a
// sentence with a next step and the documented exit code, and the D-Bus name only with
// --verbose. Also the pager's choice of command (cli/pager.h), the state colours, the shell
// completion generated from the table (cli/completion.h), and a suggestion for every option.
#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bus_errors.h"
#include "command_line.h"
#include "completion.h"
#include "pager.h"
#include "verbs.h"

using namespace keepalive::cli;
using Catch::Contains;

namespace {

BusErrorText explain(const std::string& name, const std::string& message,
                     const std::string& verb = "status", bool verbose = false,
                     const std::string& address = "") {
  return explainBusError(name, message,
                         BusErrorContext{verb, std::chrono::seconds(5), address, false, verbose});
}

}  // namespace

TEST_CASE("cli errors: each D-Bus error is a sentence and a next step, with its exit code") {
  auto notRunning = explain("org.freedesktop.DBus.Error.ServiceUnknown",
                            "The name org.keepalivepolicy1 was not provided by any .service files");
  CHECK(notRunning.exitCode == kExitNoDaemon);
  CHECK(notRunning.line ==
        "keepalivectl status: keepalive-policyd is not running: see systemctl status "
        "keepalive-policyd");
  CHECK(explain("org.freedesktop.DBus.Error.NameHasNoOwner", "x").line == notRunning.line);

  for (const char* name :
       {"org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
        "org.freedesktop.DBus.Error.TimedOut", "System.Error.ETIMEDOUT"}) {
    INFO(name);
    auto t = explain(name, "Connection timed out", "reload");
    CHECK(t.exitCode == kExitNoDaemon);
    CHECK(t.line ==
          "keepalivectl reload: keepalive-policyd did not answer within 5s: see journalctl -u "
          "keepalive-policyd");
  }

  for (const char* name : {"System.Error.ECONNREFUSED", "System.Error.ENOENT",
                           "org.freedesktop.DBus.Error.NoServer"}) {
    INFO(name);
    auto b = explain(name, "m");
    CHECK(b.exitCode == kExitNoDaemon);
    CHECK(b.line ==
          "keepalivectl status: cannot connect to the system bus (/run/dbus/system_bus_socket): "
          "is D-Bus running? see systemctl status dbus");
  }
  for (const char* name : {"org.freedesktop.DBus.Error.Disconnected", "System.Error.ECONNRESET"}) {
    INFO(name);
    auto lost = explain(name, "m", "reload");
    CHECK(lost.exitCode == kExitNoDaemon);
    CHECK(lost.line ==
          "keepalivectl reload: the connection to the system bus was lost during the call (was "
          "dbus restarted?): see keepalivectl status for what keepalive-policyd did");
  }
  auto addressed = explain("System.Error.ENOENT", "No such file or directory", "users", false,
                           "unix:path=/nonexistent");
  CHECK(addressed.line ==
        "keepalivectl users: cannot connect to the system bus at unix:path=/nonexistent "
        "(DBUS_SYSTEM_BUS_ADDRESS): check DBUS_SYSTEM_BUS_ADDRESS, or unset it");
  // Opening the bus failed: whatever the name, it is the bus.
  auto connecting = explainBusError(
      "System.Error.EACCES", "Permission denied",
      BusErrorContext{"check", std::chrono::seconds(5), "", /*connecting=*/true, false});
  CHECK(connecting.exitCode == kExitNoDaemon);
  CHECK_THAT(connecting.line, Contains("cannot connect to the system bus"));

  // Refused: reload is root's; the bus's raw text never shows.
  const std::string rejected =
      "Rejected send message, 1 matched rules; type=\"method_call\", sender=\":1.5\"";
  for (const char* name :
       {"org.freedesktop.DBus.Error.AccessDenied", "org.keepalivepolicy1.Error.AccessDenied"}) {
    auto r = explain(name, rejected, "reload");
    CHECK(r.exitCode == kExitPolicy);
    CHECK(r.line == "keepalivectl reload: reloading needs root: run it with sudo");
  }
  auto policy = explain("org.freedesktop.DBus.Error.AccessDenied", rejected, "check");
  CHECK(policy.exitCode == kExitPolicy);
  CHECK(policy.line ==
        "keepalivectl check: keepalivectl check was refused by the bus policy "
        "(/usr/share/dbus-1/system.d/org.keepalivepolicy1.conf): run it with sudo, or see that "
        "file");

  auto busy = explain("org.keepalivepolicy1.Error.LimitExceeded",
                      "ListUsers: uid 1000 has 8 Check and ListUsers calls waiting already; try "
                      "again when they are answered",
                      "users");
  CHECK(busy.exitCode == kExitPolicy);
  CHECK(busy.line ==
        "keepalivectl users: keepalive-policyd is busy with your earlier calls: uid 1000 has 8 "
        "Check and ListUsers calls waiting already; try again when they are answered");

  auto invalid = explain("org.keepalivepolicy1.Error.InvalidArgument",
                         "ListDisconnects: unknown cause 'x'", "disconnects");
  CHECK(invalid.exitCode == kExitPolicy);
  CHECK(invalid.line ==
        "keepalivectl disconnects: keepalive-policyd rejected the request: unknown cause 'x': "
        "see keepalivectl disconnects --help");

  auto failed = explain("org.keepalivepolicy1.Error.Failed", "Check: out of memory", "check");
  CHECK(failed.exitCode == kExitPolicy);
  CHECK(failed.line ==
        "keepalivectl check: keepalive-policyd failed: out of memory: see journalctl -u "
        "keepalive-policyd");
  // A name the table does not know: the daemon's failure, with its message.
  CHECK(explain("com.example.Weird", "it broke").line ==
        "keepalivectl status: keepalive-policyd failed: it broke: see journalctl -u "
        "keepalive-policyd");

  auto older = explain("org.freedesktop.DBus.Error.UnknownMethod", "Unknown method ListDisconnects",
                       "disconnects");
  CHECK(older.exitCode == kExitPolicy);
  CHECK(older.line ==
        "keepalivectl disconnects: the running keepalive-policyd is older than this "
        "keepalivectl: restart it after the upgrade (systemctl restart keepalive-policyd)");
}

TEST_CASE("cli errors: the D-Bus name shows only with --verbose, on one line, escaped") {
  const std::string name = "org.freedesktop.DBus.Error.ServiceUnknown";
  auto quiet = explain(name, "The name org.keepalivepolicy1 was not provided");
  CHECK(quiet.line.find("org.freedesktop") == std::string::npos);
  auto loud =
      explain(name, "The name org.keepalivepolicy1\nwas \x1b[2Jnot provided", "status", true);
  CHECK(loud.exitCode == kExitNoDaemon);
  CHECK_THAT(loud.line, Contains(": keepalive-policyd is not running: see systemctl status "
                                 "keepalive-policyd (org.freedesktop.DBus.Error.ServiceUnknown: "
                                 "The name org.keepalivepolicy1 was "));
  CHECK(loud.line.find('\n') == std::string::npos);
  CHECK(loud.line.find('\x1b') == std::string::npos);
}

TEST_CASE("cli pager: SYSTEMD_PAGER, else PAGER, else less; cat or empty means none") {
  CHECK(std::string(pagerCommand(nullptr, nullptr)).empty());  // less, then more
  CHECK(std::string(pagerCommand(nullptr, "most")) == "most");
  CHECK(std::string(pagerCommand("less -S", "most")) == "less -S");
  CHECK(pagerCommand("cat", "most") == nullptr);
  CHECK(pagerCommand("", "most") == nullptr);
  CHECK(pagerCommand(nullptr, "cat") == nullptr);
  CHECK(pagerCommand(nullptr, "") == nullptr);
}

TEST_CASE("cli colour: a state word is coloured, its padding is not") {
  CHECK(stateText("ok", 6, false) == "ok    ");
  CHECK(stateText("ok", 6, true) == "\x1b[0;32mok\x1b[0m    ");
  CHECK(stateText("repaired", 8, true) == "\x1b[0;32mrepaired\x1b[0m");
  CHECK(stateText("non-compliant", 13, true) == "\x1b[0;33mnon-compliant\x1b[0m");
  CHECK(stateText("refused:symlink", 15, true) == "\x1b[0;1;31mrefused:symlink\x1b[0m");
  CHECK(stateText("error:EIO", 9, true) == "\x1b[0;1;31merror:EIO\x1b[0m");
}

TEST_CASE(
    "cli table: a column cut to the terminal's width ends in an ellipsis, never mid-character") {
  CHECK(ellipsize("short", 10) == "short");
  CHECK(ellipsize("exactly10!", 10) == "exactly10!");
  CHECK(ellipsize("~/.ssh/config is group-writable (0664)", 12) == "~/.ssh/conf\u2026");
  // "déjà vu" is 7 columns in 9 bytes: cut after 3 characters, the é kept whole.
  CHECK(ellipsize("d\u00e9j\u00e0 vu", 7) == "d\u00e9j\u00e0 vu");
  CHECK(ellipsize("d\u00e9j\u00e0 vu", 4) == "d\u00e9j\u2026");
  CHECK(ellipsize("abc", 1) == "\u2026");
  CHECK(ellipsize("abc", 0).empty());
}

TEST_CASE("cli table: every option of every verb is suggested when mistyped") {
  std::vector<const VerbSpec*> specs{&globalOptions()};
  for (const auto& v : verbTable())
    specs.push_back(&v);
  for (const VerbSpec* v : specs) {
    for (const auto& o : v->options) {
      const std::string name = o.name;
      if ((o.flags & kHidden) || name.size() < 4)
        continue;
      // A transposition of the second and third letters: one edit.
      std::string typo = name;
      std::swap(typo[1], typo[2]);
      if (typo == name)
        continue;
      INFO(v->name << " --" << typo);
      const Parsed p = parseVerb(*v, std::vector<std::string>{"--" + typo});
      CHECK(p.error == "unknown option '--" + typo + "'; did you mean '--" + name + "'?");
    }
  }
}

namespace {

// The options a bash script offers: the words after "_keepalivectl_reply words '...'" that
// start with a dash, and the patterns "--name|-x)" of the options whose values it completes.
std::set<std::string> bashOptions(const std::string& text) {
  std::set<std::string> out;
  const std::regex words(R"(_keepalivectl_reply words '([^']*)')");
  for (std::sregex_iterator it(text.begin(), text.end(), words), end; it != end; ++it) {
    std::istringstream in((*it)[1].str());
    for (std::string w; in >> w;)
      if (w[0] == '-')
        out.insert(w);
  }
  const std::regex pattern(R"(\n +(--[a-z-]+)(\|(-[a-zA-Z]))?\) )");
  for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
    out.insert((*it)[1].str());
    if ((*it)[3].matched)
      out.insert((*it)[3].str());
  }
  return out;
}

// The options a zsh script's _arguments specs name: '--name[...' or '--name=[...', and
// {-x,--name} or {-x+,--name=}.
std::set<std::string> zshOptions(const std::string& text) {
  std::set<std::string> out;
  const std::regex single(R"('\*?(--[a-z][a-z-]*)=?\[)");
  for (std::sregex_iterator it(text.begin(), text.end(), single), end; it != end; ++it)
    out.insert((*it)[1].str());
  const std::regex pair(R"(\{(-[a-zA-Z])\+?,(--[a-z][a-z-]*)=?\})");
  for (std::sregex_iterator it(text.begin(), text.end(), pair), end; it != end; ++it) {
    out.insert((*it)[1].str());
    out.insert((*it)[2].str());
  }
  return out;
}

}  // namespace

namespace {

// The text from `from` to the next `to` after it, "" when either is missing.
std::string between(const std::string& text, const std::string& from, const std::string& to) {
  const std::size_t a = text.find(from);
  if (a == std::string::npos)
    return {};
  const std::size_t b = text.find(to, a + from.size());
  return b == std::string::npos ? std::string() : text.substr(a, b - a);
}

std::set<std::string> tableOptions(const VerbSpec& v) {
  std::set<std::string> out{"-h", "--help"};
  for (const auto& o : v.options) {
    if (o.flags & kHidden)
      continue;
    out.insert(std::string("--") + o.name);
    if (o.shortName)
      out.insert(std::string("-") + o.shortName);
  }
  return out;
}

}  // namespace

TEST_CASE("cli completion: the bash and zsh scripts name exactly the table's verbs and options") {
  const std::string bash = completionScript("bash"), zsh = completionScript("zsh");
  REQUIRE(!bash.empty());
  REQUIRE(!zsh.empty());
  CHECK(completionScript("fish").empty());

  // Before the verb: the global options, and the verbs.
  std::string verbs;
  for (const auto& v : verbTable())
    verbs += (verbs.empty() ? "" : " ") + std::string(v.name);
  const std::string bashGlobal = between(bash, "        '')\n", "fi ;;\n");
  CHECK(bashOptions(bashGlobal) == tableOptions(globalOptions()));
  CHECK_THAT(bashGlobal, Contains("_keepalivectl_reply words '" + verbs + "'\n"));
  CHECK(zshOptions(between(zsh, "_arguments -C", "'1:verb:->verb'")) ==
        tableOptions(globalOptions()));
  // _describe's list: one "verb:summary" line per verb, and nothing else.
  const std::string zshVerbs = between(zsh, "    verbs=(\n", "    )\n");
  std::size_t lines = 0;
  for (char c : zshVerbs)
    lines += c == '\n';
  CHECK(lines == verbTable().size() + 1);  // and the "verbs=(" line
  for (const auto& v : verbTable())
    CHECK_THAT(zshVerbs, Contains("\n        '" + std::string(v.name) + ":"));

  // After each verb: exactly its options.
  for (const auto& v : verbTable()) {
    INFO(v.name);
    const std::string b = between(bash, "\n        " + std::string(v.name) + ")\n", "fi ;;\n");
    const std::string z =
        between(zsh, "\n                " + std::string(v.name) + ")\n", "&& ret=0 ;;\n");
    REQUIRE(!b.empty());
    REQUIRE(!z.empty());
    CHECK(bashOptions(b) == tableOptions(v));
    CHECK(zshOptions(z) == tableOptions(v));
  }
}

TEST_CASE("cli completion: operands and values complete to what the table names") {
  CHECK(completionFor("validate", nullptr).kind == CompletionKind::kPolicyFiles);
  CHECK(completionFor("render", nullptr).kind == CompletionKind::kPolicyFiles);
  CHECK(completionFor("validate", "root").kind == CompletionKind::kDirectories);
  CHECK(completionFor("users", nullptr).kind == CompletionKind::kUsers);
  CHECK(completionFor("disconnects", "user").kind == CompletionKind::kUsers);
  CHECK(completionFor("disconnects", "network").kind == CompletionKind::kNone);
  CHECK(completionFor("probe", nullptr).kind == CompletionKind::kHosts);
  auto causes = completionFor("disconnects", "cause");
  CHECK(causes.kind == CompletionKind::kWords);
  CHECK(causes.words == std::vector<std::string>{"keepalive-timeout", "reset", "timed-out",
                                                 "broken-pipe", "closed", "logout", "unknown"});
  auto baseline = completionFor("advise", "baseline");
  CHECK(baseline.words == std::vector<std::string>{"stig", "cis", "lynis"});
  auto verbs = completionFor("help", nullptr);
  CHECK(verbs.words.size() == verbTable().size());
  auto properties = completionFor("show", "property");
  CHECK(std::find(properties.words.begin(), properties.words.end(), "State") !=
        properties.words.end());
}
