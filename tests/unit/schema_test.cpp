// SPDX-License-Identifier: GPL-2.0-or-later
// The declaration of the settings (policy/src/schema.cpp) is consistent with itself, with what the
// daemon compares sshd -T and ssh -G against, and with the reference table in docs/policy.md.
// UPDATE_DOCS=1 (scripts/update-policy-reference.sh) rewrites that table from the declarations.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <type_traits>

#include "helpers.h"
#include "keepalive/policy/render.h"
#include "keepalive/policy/schema.h"
#include "test_files.h"

using namespace keepalive::policy;
using keepalive::test::dataDir;
using keepalive::test::readFile;
using keepalive::test::writeFile;

namespace {

constexpr const char* kBegin =
    "<!-- BEGIN settings table: generated from policy/src/schema.cpp by "
    "scripts/update-policy-reference.sh; do not edit -->\n";
constexpr const char* kEnd = "<!-- END settings table -->\n";

template <class T>
bool kindHolds(Kind k) {
  switch (k) {
    case Kind::kWholeNumber:
    case Kind::kDuration:
    case Kind::kMode:
      return std::is_same_v<T, std::int64_t>;
    case Kind::kBoolean:
      return std::is_same_v<T, bool>;
    case Kind::kUserAction:
      return std::is_same_v<T, UserAction>;
    case Kind::kNameList:
      return std::is_same_v<T, NameList>;
    case Kind::kEnum:
      return kIsEnum<T>;
  }
  return false;
}

}  // namespace

TEST_CASE("schema: every declaration is well formed", "[schema]") {
  std::set<std::string_view> keys;
  std::set<std::pair<Side, std::string_view>> directives;
  for (const auto& s : settings()) {
    INFO(s.key);
    CHECK(keys.insert(s.key).second);
    CHECK_FALSE(s.doc.empty());
    std::visit(
        [&]<class T>(const Slot<T>& slot) {
          CHECK(kindHolds<T>(s.kind));
          // A top-level setting lives in Policy, a section's in Settings, never both.
          CHECK((slot.top != nullptr) == s.topLevel());
          CHECK((slot.in != nullptr) == !s.topLevel());
          CHECK((slot.resolved != nullptr) == slot.fallback.has_value());
          if (s.kind == Kind::kMode)
            CHECK(slot.fallback.has_value());  // it is the example the parser's messages give
        },
        s.slot);
    if (s.kind == Kind::kWholeNumber || s.kind == Kind::kDuration) {
      CHECK(s.range.min <= s.range.max);
      CHECK(s.range.max > 0);
      CHECK(s.range.tooShort.empty() == (s.range.min == 0));
    }
    if (s.kind == Kind::kNameList)
      CHECK_FALSE(s.item.empty());
    if (s.directive) {
      CHECK((s.kind == Kind::kWholeNumber || s.kind == Kind::kDuration ||
             s.kind == Kind::kBoolean || s.kind == Kind::kEnum));
      CHECK(directives.insert({s.directive->side, s.directive->keyword}).second);
      CHECK_FALSE(s.directive->opensshDefault.empty());
    }
  }
}

TEST_CASE("schema: keys are offered in the order the diagnostics list them", "[schema]") {
  using Keys = std::vector<std::string_view>;
  CHECK(keysAt("") == Keys{"version", "reconcile_interval", "baseline", "network", "server",
                           "client", "users", "networks", "hosts"});
  CHECK(keysAt("network") == Keys{"idle_timeout", "outage_tolerance"});
  CHECK(keysAt("server") == Keys{"client_alive_interval", "client_alive_count_max", "tcp_keepalive",
                                 "ensure_include", "openssh_timing", "idle_logout",
                                 "unused_connection_timeout", "log_level"});
  CHECK(keysAt("client") ==
        Keys{"server_alive_interval", "server_alive_count_max", "tcp_keepalive", "per_user_block"});
  CHECK(keysAt("users") == Keys{"action", "min_uid", "exclude", "config_mode", "ssh_dir_mode"});
  CHECK(keysAt("hosts[]") == Keys{"match", "network", "server", "client", "users", "networks"});
  CHECK(keysAt("networks[]") == Keys{"name", "addresses", "destinations", "idle_timeout",
                                     "outage_tolerance", "client_alive_interval",
                                     "client_alive_count_max", "server_alive_interval",
                                     "server_alive_count_max", "idle_logout"});
}

TEST_CASE("schema: renderedDirectives is what the drop-ins set, as sshd -T and ssh -G print it",
          "[schema]") {
  auto l = keepalive::test::load(
      "version: 1\nnetwork: {idle_timeout: 10m}\nserver: {client_alive_count_max: 2, "
      "tcp_keepalive: false}\nclient: {tcp_keepalive: true}\n");
  REQUIRE_FALSE(l.diags.hasErrors());
  const Resolved r = resolve(l.policy, HostIdentity::fromName("web-1"));
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(renderedDirectives(r, Side::kSshd) == Pairs{{"ClientAliveInterval", "200"},
                                                    {"ClientAliveCountMax", "2"},
                                                    {"TCPKeepAlive", "no"}});
  CHECK(renderedDirectives(r, Side::kSsh) ==
        Pairs{{"ServerAliveInterval", "300"}, {"TCPKeepAlive", "yes"}});
  // Every directive line of the drop-in, and nothing else.
  for (Side side : {Side::kSshd, Side::kSsh}) {
    const std::string text = side == Side::kSshd ? renderSshd(r, "d") : renderClient(r, "d");
    std::string lines;
    for (const auto& [k, v] : renderedDirectives(r, side))
      lines += k + " " + v + "\n";
    std::string actual;
    std::size_t start = 0;
    while (start < text.size()) {
      const auto end = text.find('\n', start);
      const std::string line = text.substr(start, end - start + 1);
      if (line[0] != '#')
        actual += line;
      start = end + 1;
    }
    CHECK(actual == lines);
  }
  auto empty = keepalive::test::load("version: 1\n");
  CHECK(
      renderedDirectives(resolve(empty.policy, HostIdentity::fromName("x")), Side::kSshd).empty());
}

TEST_CASE("schema: docs/policy.md's settings table is the declarations'", "[schema]") {
  const std::string path = dataDir() + "/../../docs/policy.md";
  const std::string doc = readFile(path);
  const auto begin = doc.find(kBegin);
  const auto end = doc.find(kEnd);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  REQUIRE(begin < end);
  const auto from = begin + std::string(kBegin).size();
  const std::string table = referenceTable();
  if (std::getenv("UPDATE_DOCS")) {
    writeFile(path, doc.substr(0, from) + table + doc.substr(end));
    return;
  }
  INFO("regenerate with scripts/update-policy-reference.sh");
  CHECK(doc.substr(from, end - from) == table);
}
