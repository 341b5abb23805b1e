// SPDX-License-Identifier: GPL-2.0-or-later
// The pure part of the per-user client block: which settings, the block's text, and the merge into
// a user's bytes (golden-ish cases, idempotence, removal, refusals).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "keepalive/policy/render.h"
#include "user_block/user_block.h"

using namespace keepalive::daemon;
namespace policy = keepalive::policy;

namespace {

const BlockSettings kSettings = {{"ServerAliveInterval", "120"}, {"ServerAliveCountMax", "3"}};

// Spelled out rather than built with renderUserBlock: a change to the block's text must show up
// here, because every user's file changes with it.
const std::string kBlock =
    "# BEGIN keepalive-policy: the client keepalive values of the policy\n"
    "# (client.per_user_block). keepalive-policyd rewrites the lines between the markers;\n"
    "# your own settings above win, because ssh keeps the first value it reads.\n"
    "Host *\n"
    "  ServerAliveInterval 120\n"
    "  ServerAliveCountMax 3\n"
    "# END keepalive-policy\n";

std::string crlf(const std::string& s) {
  std::string out;
  for (char c : s)
    out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return out;
}

policy::Resolved resolved(const std::string& yaml) {
  policy::Diagnostics d;
  auto p = policy::loadPolicy({{"policy.yaml", yaml}}, d);
  REQUIRE_FALSE(d.hasErrors());
  // Resolved points into the Policy; the tests only read values copied out of it.
  static std::vector<policy::Policy> keep;
  keep.push_back(std::move(p));
  return policy::resolve(keep.back(), policy::HostIdentity::fromName("h"));
}

BlockMerge add(const std::string& text) {
  return mergeUserBlock(text, kSettings);
}
BlockMerge remove(const std::string& text) {
  return mergeUserBlock(text, {});
}

}  // namespace

TEST_CASE("settings: none unless per_user_block is on") {
  auto r = resolved("version: 1\nclient: {server_alive_interval: 2m, server_alive_count_max: 4}\n");
  CHECK(userBlockSettings(r).empty());
  r = resolved(
      "version: 1\nclient: {server_alive_interval: 2m, server_alive_count_max: 4, "
      "per_user_block: false}\n");
  CHECK(userBlockSettings(r).empty());
}

TEST_CASE("settings: the client drop-in's keywords and values in its order") {
  auto r = resolved(
      "version: 1\nclient: {server_alive_interval: 2m, server_alive_count_max: 4, "
      "tcp_keepalive: false, per_user_block: true}\n");
  const auto s = userBlockSettings(r);
  CHECK(s == BlockSettings{{"ServerAliveInterval", "120"},
                           {"ServerAliveCountMax", "4"},
                           {"TCPKeepAlive", "no"}});
  // Every directive line of the drop-in, and nothing else.
  BlockSettings fromDropIn;
  const std::string dropIn = policy::renderClient(r, "sha256:x");
  for (std::size_t pos = 0; pos < dropIn.size();) {
    const auto nl = dropIn.find('\n', pos);
    const std::string line = dropIn.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#')
      continue;
    const auto sp = line.find(' ');
    fromDropIn.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  CHECK(s == fromDropIn);
}

TEST_CASE("settings: an interval derived from network.idle_timeout is in the block too") {
  auto r = resolved("version: 1\nnetwork: {idle_timeout: 10m}\nclient: {per_user_block: true}\n");
  CHECK(userBlockSettings(r) == BlockSettings{{"ServerAliveInterval", "300"}});
}

TEST_CASE("settings: per_user_block with no client value gives no block") {
  auto r = resolved("version: 1\nclient: {per_user_block: true}\n");
  CHECK(userBlockSettings(r).empty());
}

TEST_CASE("merge: an empty file gets the block alone") {
  auto m = add("");
  CHECK_FALSE(m.refused());
  CHECK(m.changed);
  CHECK(m.text == kBlock);
  CHECK(renderUserBlock(kSettings) == kBlock);
}

TEST_CASE("merge: the block goes after the user's text which stays byte for byte") {
  const std::string user =
      "# my config\nHost *\n  ServerAliveInterval 30\n\tUser me  \n\nHost db\n  Port 2222\n";
  auto m = add(user);
  CHECK(m.changed);
  CHECK(m.text == user + kBlock);
}

TEST_CASE("merge: a last line without a newline gets one before the block") {
  auto m = add("Host a\n  User x");
  CHECK(m.text == "Host a\n  User x\n" + kBlock);
  SECTION("and removing the block keeps that newline: it ends the user's line now") {
    auto r = remove(m.text);
    CHECK(r.changed);
    CHECK(r.text == "Host a\n  User x\n");
  }
}

TEST_CASE("merge: a CRLF file gets a CRLF block and its markers are found again") {
  const std::string user = crlf("Host a\n  User x\n");
  auto m = add(user);
  CHECK(m.text == user + crlf(kBlock));
  auto again = add(m.text);
  CHECK_FALSE(again.changed);
  CHECK(again.text == m.text);
  CHECK(remove(m.text).text == user);
  SECTION("without a final newline, the one added is CRLF too") {
    CHECK(add(crlf("Host a\n") + "  User x").text == user + crlf(kBlock));
  }
}

TEST_CASE(
    "merge: a block in the middle moves to the end and the text around it is joined as it was") {
  const std::string before = "Host a\n  User x\n";
  const std::string after = "Host b\n  Port 2\n";
  auto m = add(before + kBlock + after);
  CHECK(m.changed);
  CHECK(m.text == before + after + kBlock);
  SECTION("after text without a final newline gets one") {
    CHECK(add(before + kBlock + "Host b").text == before + "Host b\n" + kBlock);
  }
}

TEST_CASE("merge: the block's values are replaced and edits inside the markers are overwritten") {
  const std::string user = "Host a\n  User x\n";
  const std::string old =
      "# BEGIN keepalive-policy\nHost *\n  ServerAliveInterval 60\n  ForwardAgent yes\n"
      "# END keepalive-policy\n";
  auto m = add(user + old);
  CHECK(m.changed);
  CHECK(m.text == user + kBlock);
}

TEST_CASE("merge: merging twice changes nothing the second time") {
  const std::vector<std::string> inputs = {"",
                                           "Host a",
                                           "Host a\n",
                                           "\n\n",
                                           crlf("Host a\n  User x"),
                                           "Host a\n" + kBlock + "Host b",
                                           kBlock + "\n",
                                           "x\n" + kBlock + "   "};
  for (const auto& in : inputs) {
    INFO("input: " << in);
    auto once = add(in);
    REQUIRE_FALSE(once.refused());
    auto twice = add(once.text);
    CHECK_FALSE(twice.changed);
    CHECK(twice.text == once.text);
    auto removed = remove(once.text);
    CHECK_FALSE(remove(removed.text).changed);
  }
}

TEST_CASE("merge: removal takes out the block and only the block") {
  const std::string user = "Host *\n  ServerAliveInterval 30\n\nHost b\n  Port 2\n";
  auto m = remove(add(user).text);
  CHECK(m.changed);
  CHECK(m.text == user);
  SECTION("from the middle too") {
    CHECK(remove("Host a\n" + kBlock + "Host b\n").text == "Host a\nHost b\n");
  }
  SECTION("a file without the block is left as it is") {
    auto none = remove(user);
    CHECK_FALSE(none.changed);
    CHECK(none.text == user);
  }
}

TEST_CASE("merge: markers are found with blanks around them but not inside other words") {
  const std::string indented =
      "Host a\n  # BEGIN keepalive-policy  \nHost *\n  ServerAliveInterval 9\n\t# END "
      "keepalive-policy\n";
  CHECK(add(indented).text == "Host a\n" + kBlock);
  // Someone else's marker: kept as the user's text.
  const std::string other = "# BEGIN keepalive-policy-extra\nHost x\n# END keepalive-policyd\n";
  CHECK(add(other).text == other + kBlock);
}

TEST_CASE("merge: broken markers are refused with their line and the bytes untouched") {
  struct Case {
    std::string text;
    std::size_t line;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"Host a\n# BEGIN keepalive-policy\nHost *\n", 2, "without an END marker"},
      {"Host a\n\n# END keepalive-policy\n", 3, "without a BEGIN marker"},
      {"# BEGIN keepalive-policy\n# BEGIN keepalive-policy\n# END keepalive-policy\n", 2,
       "before the END of the block begun at line 1"},
      {kBlock + "Host a\n" + kBlock, 9,
       "a second keepalive-policy block (the first begins at line 1)"},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.text);
    for (const auto& settings : {kSettings, BlockSettings{}}) {
      auto m = mergeUserBlock(c.text, settings);
      CHECK(m.refused());
      CHECK_FALSE(m.changed);
      CHECK(m.line == c.line);
      CHECK_THAT(m.refusal, Catch::Contains(c.says));
      CHECK(m.text == c.text);
    }
  }
}

TEST_CASE("merge: settings that are not a keyword and a plain value are refused") {
  for (const BlockSettings& bad : std::vector<BlockSettings>{
           {{"ServerAliveInterval", "60\nProxyCommand sh"}},
           {{"Server Alive", "60"}},
           {{"ServerAliveInterval", ""}},
           {{"", "60"}},
           {{"ServerAliveInterval", "60 # x"}},
       }) {
    auto m = mergeUserBlock("Host a\n", bad);
    CHECK(m.refused());
    CHECK(m.line == 0);
    CHECK(m.text == "Host a\n");
    CHECK_FALSE(checkBlockSettings(bad).empty());
  }
  CHECK(checkBlockSettings(kSettings).empty());
}

TEST_CASE("sanitizeLine: one line of printable ASCII cut to length") {
  CHECK(sanitizeLine("first\nsecond") == "first");
  CHECK(sanitizeLine("a\tb\x1b[31m\xc3\xa9\r\n") == "a\\x09b\\x1b[31m\\xc3\\xa9");
  CHECK(sanitizeLine(std::string(10, 'x'), 4) == "xxxx...");
  CHECK(sanitizeLine("") == "");
}

TEST_CASE("userBlockSettings: the networks' Host blocks come before Host *, as in the drop-in") {
  policy::Diagnostics d;
  const auto p = policy::loadPolicy({{"policy.yaml", R"(version: 1
client: {server_alive_interval: 20m, per_user_block: true}
networks:
  - name: branch
    addresses: ["10.20.0.0/16"]
    destinations: ["*.branch.example.com", "!skip.branch.example.com"]
    server_alive_interval: 2m
  - name: sshd-only
    addresses: ["10.30.0.0/16"]
    client_alive_interval: 60
)"}},
                                    d);
  REQUIRE_FALSE(d.hasErrors());
  const auto s = userBlockSettings(policy::resolve(p, policy::HostIdentity::fromName("h")));
  CHECK(checkBlockSettings(s).empty());
  CHECK(renderUserBlock(s) ==
        "# BEGIN keepalive-policy: the client keepalive values of the policy\n"
        "# (client.per_user_block). keepalive-policyd rewrites the lines between the markers;\n"
        "# your own settings above win, because ssh keeps the first value it reads.\n"
        "Host *.branch.example.com !skip.branch.example.com\n"
        "  ServerAliveInterval 120\n"
        "Host *\n"
        "  ServerAliveInterval 1200\n"
        "# END keepalive-policy\n");
  // Only host patterns pass as a Host value: nothing that ends the line or adds a keyword.
  for (const char* bad :
       {"a\nProxyCommand sh", "a,b", "", " a", "a  b", "a#b", "a!b", "!", "a \"b\"", "a\tb"})
    CHECK_FALSE(checkBlockSettings({{"Host", bad}, {"ServerAliveInterval", "1"}}).empty());
}
