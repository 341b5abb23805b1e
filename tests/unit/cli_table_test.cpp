// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's table of verbs and options (cli/verb_table.cpp) and the parser that reads it:
// the suggestions, getopt_long's rules kept, and the docs that must list exactly what the table
// declares (keepalivectl(1)'s SYNOPSIS, the README's table of verbs).
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "command_line.h"
#include "verbs.h"

using namespace keepalive::cli;

namespace {

const VerbSpec& verb(const std::string& name) {
  for (const auto& v : verbTable())
    if (v.name == name)
      return v;
  throw std::runtime_error("no verb " + name + " in the table");
}

Parsed parse(const std::string& name, const std::vector<std::string>& argv) {
  return parseVerb(verb(name), argv);
}

std::string readSource(const std::string& rel) {
  std::ifstream f(std::string(KEEPALIVE_SOURCE_DIR) + "/" + rel);
  if (!f)
    throw std::runtime_error("cannot read " + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string lowered(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z')
      c = char(c - 'A' + 'a');
  return s;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// A roff macro line's arguments: separated by blanks, double quotes keep blanks inside one.
std::vector<std::string> roffArgs(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if ((c == ' ' || c == '\t') && !quoted) {
      if (any)
        out.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any)
    out.push_back(cur);
  return out;
}

// Each .SY ... .YS block of the man page's SYNOPSIS as the text a reader sees, such as
// "keepalivectl validate [--strict] [-q|--quiet] [--root dir] [file...]".
std::vector<std::string> manSynopses(const std::string& man) {
  std::vector<std::string> out;
  std::istringstream in(man);
  std::string line, block;
  bool inSynopsis = false, inBlock = false;
  while (std::getline(in, line)) {
    if (line.rfind(".SH", 0) == 0) {
      inSynopsis = line == ".SH SYNOPSIS";
      continue;
    }
    if (!inSynopsis)
      continue;
    const std::size_t sp = line.find(' ');
    const std::string macro = line.substr(0, sp);
    const std::vector<std::string> args =
        sp == std::string::npos ? std::vector<std::string>{} : roffArgs(line.substr(sp + 1));
    if (macro == ".SY") {
      inBlock = true;
      block = args.empty() ? "" : args.front();
      continue;
    }
    if (macro == ".YS") {
      if (inBlock) {
        block = replaceAll(block, "\\-", "-");
        block = replaceAll(block, "\\&", "");
        for (const char* font : {"\\fI", "\\fB", "\\fR", "\\fP"})
          block = replaceAll(block, font, "");
        out.push_back(block);
      }
      inBlock = false;
      continue;
    }
    if (!inBlock)
      continue;
    std::string text;
    if (macro == ".B" || macro == ".I") {
      for (const auto& a : args)
        text += (text.empty() ? "" : " ") + a;
    } else if (macro.size() == 3 && macro[0] == '.' &&
               std::string("BIR").find(macro[1]) != std::string::npos) {
      // .RB, .BI, .IR and the like alternate fonts between arguments with nothing between.
      for (const auto& a : args)
        text += a;
    } else {
      FAIL("a line keepalivectl(1)'s SYNOPSIS test does not read: " << line);
    }
    block += " " + text;
  }
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items)
    if (!s.empty())
      out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

TEST_CASE("cli table: a mistyped verb or option is suggested by edit distance") {
  std::vector<std::string> verbs;
  for (const auto& v : verbTable())
    verbs.push_back(v.name);
  CHECK(suggest("stauts", verbs) == "status");  // a transposition is one edit
  CHECK(suggest("Status", verbs) == "status");
  CHECK(suggest("stat", verbs) == "status");
  CHECK(suggest("rendr", verbs) == "render");
  CHECK(suggest("shwo", verbs) == "show");
  CHECK(suggest("frobnicate", verbs).empty());
  CHECK(suggest("x", verbs).empty());
  CHECK(suggest("", verbs).empty());
  CHECK(suggest(std::string(1 << 20, 's'), verbs).empty());

  auto jsn = parse("status", {"--jsn"});
  CHECK(jsn.error == "unknown option '--jsn'; did you mean '--json'?");
  // One dash too few is a long option too.
  CHECK(parse("status", {"-json"}).error == "unknown option '-json'; did you mean '--json'?");
  CHECK(parse("validate", {"--stirct"}).error ==
        "unknown option '--stirct'; did you mean '--strict'?");
  CHECK(parse("users", {"--noncomplaint"}).error ==
        "unknown option '--noncomplaint'; did you mean '--noncompliant'?");
  CHECK(parse("validate", {"--bogus"}).error == "unknown option '--bogus'");
  CHECK(parse("validate", {"-qx"}).error == "unknown option '-x'");
  // A refused option is never suggested: --root means nothing to an online verb.
  CHECK(parse("status", {"--rot"}).error == "unknown option '--rot'");
}

TEST_CASE("cli table: options parse as getopt_long did") {
  auto v = parse("validate", {"a.yaml", "--strict", "-q", "--root=/r", "--", "--b.yaml"});
  REQUIRE(v.error.empty());
  CHECK(v.args.has("strict"));
  CHECK(v.args.has("quiet"));
  CHECK(v.args.value("root") == "/r");
  CHECK(v.args.operands() == std::vector<std::string>{"a.yaml", "--b.yaml"});

  // A unique prefix is the option; an empty value is a value.
  auto r = parse("render", {"--ho", "web-1", "--ex", "--root=", "-"});
  REQUIRE(r.error.empty());
  CHECK(r.args.value("host") == "web-1");
  CHECK(r.args.has("explain"));
  CHECK(r.args.has("root"));
  CHECK(r.args.value("root").empty());
  CHECK_FALSE(r.args.has("sshd"));
  CHECK(r.args.operands() == std::vector<std::string>{"-"});

  auto s = parse("show", {"-pState,Generation", "--property", "UsersCovered", "-p", "X"});
  REQUIRE(s.error.empty());
  CHECK(s.args.values("property") ==
        std::vector<std::string>{"State,Generation", "UsersCovered", "X"});

  CHECK(parse("validate", {"-qh", "--bogus"}).help);
  // Before the verb, --help is declared (it lists the verbs) and abbreviates as well.
  for (const char* help : {"--he", "--help", "-h"}) {
    auto g = parseVerb(globalOptions(), std::vector<std::string>{help});
    CHECK(g.error.empty());
    CHECK(g.args.has("help"));
  }
  CHECK(parseVerb(globalOptions(), std::vector<std::string>{"--vers"}).args.has("version"));
  // --v is --version or --verbose: ambiguous, as getopt_long says.
  CHECK(parseVerb(globalOptions(), std::vector<std::string>{"--v"}).error ==
        "option '--v' is ambiguous; possibilities: '--version' '--verbose'");
  CHECK(parse("status", {"--he"}).help);
  CHECK(parse("validate", {"--root"}).error == "option '--root' needs a value");
  CHECK(parse("show", {"-p"}).error == "option '-p' needs a value");
  CHECK(parse("status", {"--json=yes"}).error == "option '--json' takes no value");
  CHECK(parse("status", {"extra"}).error == "unexpected argument 'extra'");
  CHECK(parse("users", {"alice", "bob"}).error == "unexpected argument 'bob'");
  CHECK(parse("render", {"--sshd", "--client"}).error == "--sshd and --client exclude each other");
  CHECK(parse("advise", {}).error == "--idle-timeout DURATION is required");
  CHECK_THAT(parse("status", {"--root", "/x"}).error,
             Catch::StartsWith("--root serves the offline verbs"));
  CHECK_THAT(parse("users", {"--root=/x"}).error,
             Catch::StartsWith("--root serves the offline verbs"));

  // A verb asking for an option its row does not declare is a bug, not "not given".
  CHECK_THROWS_AS(parse("status", {}).args.has("jsno"), std::logic_error);
}

TEST_CASE("cli table: each verb and option is declared once, and --help fits 80 columns") {
  std::set<std::string> names;
  for (const auto& v : verbTable()) {
    INFO(v.name);
    CHECK(names.insert(v.name).second);
    CHECK(v.run != nullptr);
    std::set<std::string> longs;
    std::set<char> shorts;
    for (const auto& o : v.options) {
      INFO(o.name);
      CHECK(longs.insert(o.name).second);
      CHECK(std::string(o.name) != "help");  // implicit in every verb
      CHECK(std::string(o.help).size() > 0);
      if (o.shortName) {
        CHECK(shorts.insert(o.shortName).second);
        CHECK(o.shortName != 'h');
      }
    }
    const std::string help = verbHelp("keepalivectl", v);
    CHECK_THAT(help, Catch::StartsWith("Usage: keepalivectl " + std::string(v.name)));
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);)
      CHECK(line.size() <= 80);
  }
  std::istringstream lines(globalHelp());
  for (std::string line; std::getline(lines, line);)
    CHECK(line.size() <= 80);
}

TEST_CASE("cli table: keepalivectl(1)'s SYNOPSIS lists exactly the verbs and options") {
  // The man page writes value names in italics and lower case: DIR is "dir".
  std::vector<std::string> expected = {
      lowered(joined({"keepalivectl", joined(globalSynopsisItems())}))};
  for (const auto& v : verbTable())
    expected.push_back(lowered(joined({"keepalivectl", v.name, synopsis(v)})));
  const std::vector<std::string> man = manSynopses(readSource("docs/man/keepalivectl.1"));
  CHECK(man == expected);
}

TEST_CASE("cli table: the README's table lists exactly the verbs and options") {
  const std::string readme = readSource("README.md");
  const std::size_t from = readme.find("\n## keepalivectl\n");
  REQUIRE(from != std::string::npos);
  const std::size_t to = readme.find("\n## ", from + 1);
  std::istringstream in(readme.substr(from, to - from));
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0)
      continue;
    const std::size_t end = line.find("` |");
    REQUIRE(end != std::string::npos);
    rows.push_back(replaceAll(line.substr(3, end - 3), "\\|", "|"));
  }
  std::vector<std::string> expected;
  for (const auto& v : verbTable())
    expected.push_back(joined({v.name, synopsis(v)}));
  CHECK(rows == expected);
}
