// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include <string>

#include "helpers.h"
#include "keepalive/policy/yaml_tree.h"

using namespace keepalive::policy;
using keepalive::policy::Diagnostics;
using keepalive::test::load;

namespace {
std::unique_ptr<YamlNode> parse(const std::string& text, Diagnostics& d, YamlLimits lim = {}) {
  return parseYaml(text, "p.yaml", d, lim);
}
}  // namespace

TEST_CASE("the tree keeps positions and tells quoted from plain scalars") {
  Diagnostics d;
  auto root = parse("a: 1\nb: \"1\"\nc:\n  - x\n", d);
  REQUIRE(root);
  REQUIRE(root->kind == YamlNode::Kind::kMap);
  REQUIRE(root->map.size() == 3);
  CHECK(root->map[0].second.pos.line == 1);
  CHECK(root->map[0].second.pos.column == 4);
  CHECK_FALSE(root->map[0].second.quoted);
  CHECK(root->map[1].second.quoted);
  CHECK(root->map[2].second.kind == YamlNode::Kind::kSequence);
  CHECK(root->map[2].second.sequence[0].pos.line == 4);
}

TEST_CASE("anchors, aliases and tags are refused") {
  auto l = load("version: 1\nnetwork: &n {idle_timeout: 10m}\nserver: *n\n");
  CHECK(l.error("anchors", 2, 10));
  CHECK(l.error("aliases", 3, 9));
  auto t = load("version: 1\nnetwork:\n  idle_timeout: !!str 10m\n");
  CHECK(t.error("tags"));
  auto py = load("version: !!python/object:os.system 1\n");
  CHECK(py.error("tags"));
}

TEST_CASE("billion laughs and self-referencing aliases cannot expand") {
  std::string laughs =
      "version: 1\na: &a "
      "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [*" + prev + ",*" + prev + ",*" + prev + ",*" +
              prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n";
    prev = std::string(1, c);
  }
  auto l = load(laughs);
  CHECK(l.error("aliases"));
  auto self = load("version: 1\nx: &x [*x]\n");
  CHECK(self.error("aliases"));
}

TEST_CASE("several documents are refused") {
  auto l = load("version: 1\n---\nversion: 1\n");
  CHECK(l.error("second YAML document", 3));
}

TEST_CASE("duplicate keys are refused, naming the first") {
  auto l = load("version: 1\nserver:\n  client_alive_interval: 1m\n  client_alive_interval: 2m\n");
  CHECK(l.error("duplicate key 'client_alive_interval' (first at line 3, column 3)", 4, 3));
  auto top = load("version: 1\nversion: 1\n");
  CHECK(top.error("duplicate key 'version'", 2, 1));
}

TEST_CASE("complex keys are refused") {
  auto l = load("version: 1\n? [a, b]\n: 1\n");
  CHECK(l.error("a key must be a plain word"));
}

TEST_CASE("size, depth and node budgets stop hostile input") {
  Diagnostics d;
  YamlLimits lim;
  lim.max_bytes = 100;
  CHECK_FALSE(parse(std::string(200, ' '), d, lim));
  CHECK_THAT(d.items().back().message, Catch::Contains("over the limit"));

  Diagnostics deep;
  std::string nested = "version: 1\nx: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  CHECK_FALSE(parse(nested, deep));
  CHECK(deep.hasErrors());

  Diagnostics deep2;
  std::string nested2 = "x: " + std::string(40, '[') + std::string(40, ']') + "\n";
  CHECK_FALSE(parse(nested2, deep2));
  CHECK_THAT(deep2.items().back().message, Catch::Contains("nests deeper"));

  Diagnostics many;
  lim = {};
  lim.max_nodes = 50;
  std::string wide = "x: [";
  for (int i = 0; i < 100; ++i)
    wide += "1,";
  wide += "1]\n";
  CHECK_FALSE(parse(wide, many, lim));
  CHECK_THAT(many.items().back().message, Catch::Contains("more than 50 YAML nodes"));
}

TEST_CASE("NUL bytes, empty files and syntax errors are reported with a position") {
  Diagnostics d;
  CHECK_FALSE(parse(std::string("version: 1\0", 11), d));
  CHECK_THAT(d.items().back().message, Catch::Contains("NUL"));

  auto empty = load("");
  CHECK(empty.error("empty", 1, 1));
  auto comments = load("# nothing but a comment\n");
  CHECK(comments.error("empty"));

  auto syntax = load("version: 1\nserver: {client_alive_interval: 1m\n");
  CHECK(syntax.error("YAML syntax"));
  CHECK(syntax.diags.items().front().pos.line >= 2);

  auto tabs = load("version: 1\nserver:\n\tclient_alive_interval: 1m\n");
  CHECK(tabs.diags.hasErrors());
}

TEST_CASE("a UTF-8 byte order mark is accepted") {
  auto l = load("\xEF\xBB\xBFversion: 1\n");
  CHECK_VALID(l);
}

TEST_CASE("messages escape control bytes from the policy") {
  auto l = load("version: 1\n\"\\e[31mevil\": 1\n");
  REQUIRE(l.diags.hasErrors());
  for (const auto& d : l.diags.items())
    CHECK(d.message.find('\x1b') == std::string::npos);
  CHECK(l.error("\\x1b[31mevil"));
  auto dup = load("version: 1\n\"\\e]0;x\\a\": 1\n\"\\e]0;x\\a\": 2\n");
  REQUIRE(dup.error("duplicate key"));
  for (const auto& d : dup.diags.items())
    CHECK(d.message.find('\x1b') == std::string::npos);
}

TEST_CASE("thousands of problems are capped, counted, and stay cheap to record") {
  std::string text = "version: 1\nnetwork: {" + std::string(12000, ',') + "}\n";
  auto l = load(text);
  CHECK(l.diags.hasErrors());
  CHECK(l.diags.items().size() == Diagnostics::kMaxItems + 1);
  CHECK(l.diags.errorCount() > static_cast<int>(Diagnostics::kMaxItems));
  CHECK(l.warning("too many problems; only the first 100 are listed"));
}

TEST_CASE("a warnings-only policy stays valid past the cap") {
  std::string text = "version: 1\nhosts:\n";
  for (int i = 0; i < 150; ++i)
    text += "  - match: [h" + std::to_string(i) + "]\n";
  auto l = load(text);
  CHECK_VALID(l);
  CHECK(l.diags.warningCount() == 151);
}

TEST_CASE("no policy byte reaches a message raw") {
  // One literal in two pieces, outside the array: inside it, clang-tidy takes the pieces for
  // two elements missing a comma.
  const char* hostsWithBidi =
      "version: 1\nhosts:\n  - match: [\"db\\u2028-*\", \"\\u009b2J\"]\n    server: "
      "{client_alive_count_max: 1}\n";
  const char* inputs[] = {
      "version: 1\nusers: {exclude: \"\\e[31m\\nred\"}\n",
      "version: 1\nnetwork: {idle_timeout: \"5\\e\"}\n",
      "version: 1\nx: \"\\\x1b[2J\"\n",
      "%TAG !e! tag:x,2000:\x1b[2J\n---\nversion: !e!x 1\n",
      hostsWithBidi,
  };
  for (const char* in : inputs) {
    INFO(in);
    auto l = load(in);
    REQUIRE_FALSE(l.diags.items().empty());
    for (const auto& d : l.diags.items())
      for (unsigned char c : d.str())
        CHECK((c >= 0x20 && c < 0x7f));
  }
}
