// SPDX-License-Identifier: GPL-2.0-or-later
// The package's files against each other: keepalive-policyd(8)'s SYSTEMD section against the
// shipped unit (every setting the page names has the unit's value, and the page names every
// setting of the unit), and one version everywhere (CMake's project(VERSION), which the binaries
// and the D-Bus Version property are built with, against debian/changelog, the rpm spec, the man
// pages and the SELinux module).
#include <catch2/catch.hpp>

#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string readSource(const std::string& rel) {
  std::ifstream f(std::string(KEEPALIVE_SOURCE_DIR) + "/" + rel);
  if (!f)
    throw std::runtime_error("cannot read " + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
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

// The text a reader sees of one .SH section of a man page (fonts dropped, escapes resolved,
// paragraphs joined by newlines).
std::string manSection(const std::string& man, const std::string& name) {
  std::istringstream in(man);
  std::string line, text;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind(".SH", 0) == 0) {
      inside = trim(line.substr(3)) == name;
      continue;
    }
    if (!inside || line.rfind(".\\\"", 0) == 0)
      continue;
    if (line.empty() || line[0] != '.') {
      text += line + " ";
      continue;
    }
    const std::size_t sp = line.find(' ');
    const std::string macro = line.substr(0, sp);
    const std::vector<std::string> args =
        sp == std::string::npos ? std::vector<std::string>{} : roffArgs(line.substr(sp + 1));
    if (macro == ".B" || macro == ".I") {
      for (std::size_t i = 0; i < args.size(); ++i)
        text += (i ? " " : "") + args[i];
      text += " ";
    } else if (macro.size() == 3 && std::string("BIR").find(macro[1]) != std::string::npos &&
               std::string("BIR").find(macro[2]) != std::string::npos) {
      // .BR, .RB, .IR and the like alternate fonts between arguments with nothing between.
      for (const auto& a : args)
        text += a;
      text += " ";
    } else {
      text += "\n";  // .PP, .TP, .RS, ...: a break
    }
  }
  text = replaceAll(text, "\\-", "-");
  text = replaceAll(text, "\\&", "");
  text = replaceAll(text, "\\(lq", "\"");
  text = replaceAll(text, "\\(rq", "\"");
  for (const char* font : {"\\fI", "\\fB", "\\fR", "\\fP"})
    text = replaceAll(text, font, "");
  return text;
}

// The unit's settings in file order, as key and value (comments and section headers dropped).
std::vector<std::pair<std::string, std::string>> unitSettings(const std::string& unit) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(unit);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[')
      continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    out.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
  return out;
}

// What may follow a value in running text.
bool endsValue(const std::string& text, std::size_t at) {
  return at >= text.size() || std::string(" \n,;:)").find(text[at]) != std::string::npos ||
         (text[at] == '.' &&
          (at + 1 >= text.size() || text[at + 1] == ' ' || text[at + 1] == '\n'));
}

}  // namespace

TEST_CASE(
    "keepalive-policyd(8) gives every setting of the shipped unit, each with the unit's value",
    "[package]") {
  const std::string text = manSection(readSource("docs/man/keepalive-policyd.8"), "SYSTEMD");
  REQUIRE_FALSE(text.empty());
  const auto settings = unitSettings(readSource("units/keepalive-policyd.service"));
  REQUIRE(settings.size() > 40);
  std::multimap<std::string, std::string> unit(settings.begin(), settings.end());

  // Every Key= the page names (unit settings are CamelCase; sd_notify's READY=1 and the like are
  // upper case and not matched): in the unit, and with one of its values when the page gives one.
  const std::regex named("(^|[^A-Za-z0-9_])([A-Z][a-z][A-Za-z]*)=");
  int n = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), named);
       it != std::sregex_iterator(); ++it) {
    const std::string key = (*it)[2];
    const std::size_t valueAt = std::size_t(it->position(2) + it->length(2)) + 1;
    ++n;
    INFO("the page names " << key << "=" << text.substr(valueAt, 60));
    const auto [b, e] = unit.equal_range(key);
    REQUIRE(b != e);                          // a setting the unit does not have
    bool matches = endsValue(text, valueAt);  // the name alone ("ReadWritePaths=")
    for (auto u = b; u != e && !matches; ++u)
      matches = text.compare(valueAt, u->second.size(), u->second) == 0 &&
                endsValue(text, valueAt + u->second.size());
    CHECK(matches);
  }
  REQUIRE(n > 0);

  // And the page names every setting of the unit with its value (not the description and the
  // links to the documentation: they are what the page is).
  for (const auto& [key, value] : settings) {
    if (key == "Description" || key == "Documentation")
      continue;
    const std::string want = key + "=" + value;
    bool found = false;
    for (std::size_t at = text.find(want); at != std::string::npos && !found;
         at = text.find(want, at + 1))
      found = (at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]))) &&
              endsValue(text, at + want.size());
    INFO("keepalive-policyd(8), SYSTEMD, does not say " << want);
    CHECK(found);
  }
}

TEST_CASE(
    "one version: project(VERSION) is debian/changelog's, the rpm spec's, the man pages' and "
    "the SELinux module's",
    "[package]") {
  const std::string version = KEEPALIVE_VERSION;  // CMake's project(VERSION): the binaries' too
  REQUIRE(std::regex_match(version, std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")));

  // debian/changelog's top entry: "keepalive-policy (VERSION) ...", an epoch and a Debian revision
  // (a non-native package) around the upstream version allowed.
  std::smatch m;
  const std::string changelog = readSource("debian/changelog");
  REQUIRE(std::regex_search(changelog, m, std::regex("^keepalive-policy \\(([^)]+)\\)")));
  const std::string debian =
      std::regex_replace(std::string(m[1]), std::regex("^[0-9]+:|-[^-]+$"), "");
  CHECK(debian == version);

  const std::string spec = readSource("rpm/keepalive-policy.spec");
  REQUIRE(std::regex_search(spec, m, std::regex("\\nVersion:[ \\t]*([^\\s]+)")));
  CHECK(std::string(m[1]) == version);
  // The top %changelog entry is this version's ("... - VERSION-RELEASE").
  REQUIRE(std::regex_search(spec, m, std::regex("%changelog\\n\\*[^\\n]* - ([^-\\n]+)-[^\\n]+")));
  CHECK(std::string(m[1]) == version);

  for (const char* page : {"docs/man/keepalivectl.1", "docs/man/keepalive-policy.yaml.5",
                           "docs/man/keepalive-policyd.8"}) {
    INFO(page);
    const std::string man = readSource(page);
    REQUIRE(
        std::regex_search(man, m, std::regex("\\n?\\.TH [^\\n]*\"keepalive-policy ([^\"]+)\"")));
    CHECK(std::string(m[1]) == version);
  }
  const std::string te = readSource("selinux/keepalive_policy.te");
  REQUIRE(std::regex_search(te, m, std::regex("policy_module\\(keepalive_policy, *([^)\\s]+)\\)")));
  CHECK(std::string(m[1]) == version);
}
