// SPDX-License-Identifier: GPL-2.0-or-later
// Per-network policy (networks:): parsing and its errors, merging, resolution, the drop-ins'
// blocks and the proof samples. The real sshd and ssh check the rendered blocks in
// tests/integration/networks_test.cpp.
#include <catch2/catch.hpp>

#include "helpers.h"
#include "keepalive/policy/networks.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/render.h"

using namespace keepalive::policy;
using keepalive::test::load;
using keepalive::test::loadMany;

namespace {

// Explicit values throughout, so that the rendered text does not depend on how the model derives.
const char* kTwo = R"(version: 1
server: {client_alive_interval: 20m, client_alive_count_max: 3}
client: {server_alive_interval: 20m, server_alive_count_max: 3}
networks:
  - name: branch-nat
    addresses: ["10.20.0.0/16", "2001:DB8:20::/48"]
    destinations: ["*.branch.example.com", "!skip.branch.example.com"]
    idle_timeout: 5m
    client_alive_interval: 100
    server_alive_interval: 150
  - name: dc
    addresses: ["2001:db8:99::/48", "192.0.2.7"]
    destinations: ["*.dc.example.com"]
    idle_timeout: 30m
    client_alive_interval: 600
    client_alive_count_max: 2
    server_alive_interval: 900
)";

Resolved resolved(const std::string& text, const std::string& host = "h") {
  auto l = load(text);
  INFO(l.dump());
  REQUIRE_FALSE(l.diags.hasErrors());
  return resolve(l.policy, HostIdentity::fromName(host));
}

}  // namespace

TEST_CASE("networks: entries read into the model with positions") {
  auto l = load(kTwo);
  CHECK_VALID(l);
  REQUIRE(l.policy.networks);
  const auto& n = l.policy.networks->value;
  REQUIRE(n.size() == 2);
  CHECK(n[0].name.value == "branch-nat");
  CHECK(n[0].pos.line == 5);
  CHECK(n[0].addresses.size() == 2);
  CHECK(n[0].destinations[1].value == "!skip.branch.example.com");
  CHECK(n[0].settings.network.idle_timeout->value == 300);
  CHECK(n[0].settings.network.idle_timeout->pos.line == 8);
  CHECK(n[0].settings.server.client_alive_interval->value == 100);
  CHECK(n[1].settings.server.client_alive_count_max->value == 2);
  CHECK(n[1].settings.client.server_alive_interval->value == 900);
}

TEST_CASE("networks: mistakes are errors at their position, saying what to write") {
  struct Case {
    std::string entry;  // lines under "  - name: n\n"
    std::string says;
    int line;
  };
  for (const auto& c : std::vector<Case>{
           {"    addresses: [\"10.20.1.0/16\"]\n", "host bits set after the /16 prefix", 4},
           {"    addresses: [\"10.20.1.0/16\"]\n", "write 10.20.0.0/16 for the network", 4},
           {"    addresses: [\"2001:db8:20::1/48\"]\n", "write 2001:db8:20::/48", 4},
           {"    addresses: [\"10.0.0.0/33\"]\n", "prefix length /33, over 32", 4},
           {"    addresses: [\"10.0.0.0/\"]\n", "no valid prefix length", 4},
           {"    addresses: [\"branch.example.com\"]\n", "not an IPv4 or IPv6 address", 4},
           {"    addresses: [\"10.0.0.0/8,10.1.0.0/16\"]\n", "holds a comma", 4},
           {"    addresses: [\"fe80::1%eth0\"]\n", "not an IPv4 or IPv6 address", 4},
           {"    addresses: \"10.0.0.0/8\"\n", "must be a list", 4},
           {"    addresses: []\n", "is empty", 4},
           {"    destinations: [\"a.example.com b.example.com\"]\n", "holds a space", 4},
           {"    destinations: [\"a.example.com,b.example.com\"]\n", "holds a comma", 4},
           {"    destinations: [\"a\\nServerAliveInterval 1\"]\n", "line break", 4},
           {"    destinations: [\"a\\\"b\"]\n", "holds '\"'", 4},
           {"    destinations: [\"a#b\"]\n", "holds '#'", 4},
           {"    destinations: [\"h[ab]\"]\n", "holds '['", 4},
           {"    destinations: [\"a!b\"]\n", "only a leading '!'", 4},
           {"    destinations: [\"!\"]\n", "no pattern after it", 4},
           {"    destinations: [\"!skip.example.com\"]\n", "only excluding ('!') patterns", 4},
           {"    destinations: [\"a\"]\n    idle_timout: 5m\n", "did you mean 'idle_timeout'", 5},
           {"    destinations: [\"a\"]\n    tcp_keepalive: false\n", "belongs in server", 5},
           {"    destinations: [\"a\"]\n    idle_timeout: 1\n", "idle_timeout 1s is too short", 5},
           {"    idle_timeout: 5m\n", "neither addresses nor destinations", 3},
       }) {
    auto l = load("version: 1\nnetworks:\n  - name: nw\n" + c.entry);
    INFO(c.entry << l.dump());
    CHECK(l.error(c.says, c.line));
  }
  auto named = [](const std::string& name) {
    return load("version: 1\nnetworks:\n  - name: " + name + "\n    destinations: [a]\n");
  };
  CHECK(named("\"a b\"").error("holds a space", 3));
  CHECK(named("\"x;y\"").error("holds ';'", 3));
  CHECK(named("\"\"").error("empty string", 3));
  CHECK_VALID(named("branch_nat.v2-a"));
  auto noName = load("version: 1\nnetworks:\n  - destinations: [a]\n");
  CHECK(noName.error("has no name", 3));
  auto dup = load(
      "version: 1\nnetworks:\n  - name: a\n    destinations: [x]\n  - name: a\n    "
      "destinations: [y]\n");
  CHECK(dup.error("already the name of the network at policy.yaml:3:5", 5));
  auto notList = load("version: 1\nnetworks: {name: a}\n");
  CHECK(notList.error("networks must be a list of networks", 2));
  auto inHost = load(
      "version: 1\nhosts:\n  - match: [h]\n    networks:\n      - name: a\n"
      "        addresses: [\"10.1.0.0/8\"]\n");
  CHECK(inHost.error("hosts[0].networks[0].addresses item", 6));
  auto misspelt = load("version: 1\nnetwork:\n  idle_timeout: 5m\nnetwroks: []\n");
  CHECK(misspelt.error("did you mean 'networks'"));
}

TEST_CASE("networks: no policy text reaches a drop-in unless it is a validated pattern") {
  // Every way to end a Host or Match line early, or to add a directive, is refused while reading.
  for (const char* bad : {"\"a\\nProxyCommand sh\"", "\"a\\rb\"", "\"a b\"", "\"a,b\"", "\"a\\tb\"",
                          "\"'a'\"", "\"a=b\"", "\"a/b\"", "\"a\\\\b\"", "\"%h\"", "\"${HOME}\""}) {
    for (const char* key : {"destinations", "addresses"}) {
      auto l = load(std::string("version: 1\nnetworks:\n  - name: nw\n    ") + key + ": [" + bad +
                    "]\n");
      INFO(key << ": " << bad);
      CHECK(l.diags.hasErrors());
    }
  }
}

TEST_CASE("networks: files replace the list; the digest covers networks") {
  const std::string a = "version: 1\nnetworks:\n  - name: a\n    destinations: [x]\n";
  const std::string b = "version: 1\nnetworks:\n  - name: b\n    destinations: [yy]\n";
  auto l = loadMany({{"policy.yaml", a}, {"policy.d/10.yaml", b}});
  CHECK_VALID(l);
  CHECK(l.warning("networks replaces the list set at policy.yaml:3:3", 3));
  REQUIRE(l.policy.networks->value.size() == 1);
  CHECK(l.policy.networks->value[0].name.value == "b");

  auto base = load(kTwo);
  std::string changed = kTwo;
  changed.replace(changed.find("idle_timeout: 30m"), 17, "idle_timeout: 31m");
  CHECK(policyDigest(base.policy) != policyDigest(load(changed).policy));
  std::string moved = kTwo;
  moved.replace(moved.find("\"192.0.2.7\""), 11, "\"192.0.2.8\"");
  CHECK(policyDigest(base.policy) != policyDigest(load(moved).policy));
  // Spelling is not meaning.
  std::string spelled = kTwo;
  spelled.replace(spelled.find("idle_timeout: 30m"), 17, "idle_timeout: 1800");
  CHECK(policyDigest(base.policy) == policyDigest(load(spelled).policy));
}

TEST_CASE("networks: a host override's networks merge by name, key by key") {
  const std::string text = std::string(kTwo) + R"(hosts:
  - match: ["edge-*"]
    networks:
      - name: dc
        client_alive_interval: 300
      - name: lab
        addresses: ["172.16.0.0/12"]
        client_alive_interval: 60
)";
  auto l = load(text);
  CHECK_VALID(l);
  const Resolved edge = resolve(l.policy, HostIdentity::fromName("edge-1"));
  REQUIRE(edge.networks.size() == 3);
  CHECK(edge.networks[1].name == "dc");
  CHECK((edge.networks[1].addresses == std::vector<std::string>{"2001:db8:99::/48", "192.0.2.7"}));
  CHECK(edge.networks[1].settings.server.client_alive_interval->value == 300);
  CHECK(edge.networks[1].settings.server.client_alive_count_max->value == 2);  // the fleet's
  CHECK(edge.networks[2].name == "lab");
  const Resolved other = resolve(l.policy, HostIdentity::fromName("db-1"));
  REQUIRE(other.networks.size() == 2);
  CHECK(other.networks[1].settings.server.client_alive_interval->value == 600);

  auto orphan = load(
      "version: 1\nhosts:\n  - match: [h]\n    networks:\n      - name: new\n"
      "        idle_timeout: 5m\n");
  CHECK(orphan.error("network new on hosts matching h", 5));
}

TEST_CASE("networks: resolution derives from the entry's own idle_timeout, else inherits") {
  const Resolved r = resolved(R"(version: 1
network: {idle_timeout: 1h}
server: {client_alive_interval: 15m, client_alive_count_max: 2}
networks:
  - name: nat
    addresses: ["10.0.0.0/8"]
    destinations: ["*.nat.example.com"]
    idle_timeout: 6m
  - name: same
    addresses: ["172.16.0.0/12"]
)");
  REQUIRE(r.networks.size() == 2);
  const auto& nat = r.networks[0].settings;
  // Not the global explicit 15m: derived from the entry's 6m.
  CHECK(nat.server.client_alive_interval->derived);
  CHECK(nat.server.client_alive_interval->value < 180);
  CHECK(nat.server.client_alive_interval->pos.line == 8);
  CHECK(nat.client.server_alive_interval->value < 360);
  CHECK(nat.server.client_alive_count_max->value == 2);  // the host's explicit count
  const auto& same = r.networks[1].settings;
  CHECK(same.server.client_alive_interval->value == 900);
  CHECK_FALSE(same.server.client_alive_interval->derived);
  CHECK(same.network.idle_timeout->value == 3600);
  CHECK(renderedDirectives(r.networks[0], Side::kSshd).size() == 2);
  CHECK(renderedDirectives(r.networks[0], Side::kSsh).front().first == "ServerAliveInterval");
}

TEST_CASE("networks: the drop-ins, exactly") {
  auto l = load(kTwo);
  CHECK_VALID(l);
  const Resolved r = resolve(l.policy, HostIdentity::fromName("h"));
  const std::string head = "# policy-digest: sha256:x\n";
  auto afterHeader = [&head](const std::string& text) {
    return text.substr(text.find(head) + head.size());
  };
  CHECK(afterHeader(renderSshd(r, "sha256:x")) ==
        "ClientAliveInterval 1200\n"
        "ClientAliveCountMax 3\n"
        "\n"
        "# Per-network values. For each keyword sshd takes the first Match block that\n"
        "# matches the client address and sets it, over the values above; where networks\n"
        "# overlap, the one listed first wins. The Match state ends with this file.\n"
        "\n"
        "# network branch-nat\n"
        "Match Address 10.20.0.0/16,2001:db8:20::/48\n"
        "  ClientAliveInterval 100\n"
        "  ClientAliveCountMax 3\n"
        "\n"
        "# network dc\n"
        "Match Address 2001:db8:99::/48,192.0.2.7\n"
        "  ClientAliveInterval 600\n"
        "  ClientAliveCountMax 2\n");
  CHECK(afterHeader(renderClient(r, "sha256:x")) ==
        "# Per-network values first: ssh keeps the first value it obtains for each keyword,\n"
        "# so a network's Host block must come before the values for every other host.\n"
        "\n"
        "# network branch-nat\n"
        "Host *.branch.example.com !skip.branch.example.com\n"
        "  ServerAliveInterval 150\n"
        "  ServerAliveCountMax 3\n"
        "\n"
        "# network dc\n"
        "Host *.dc.example.com\n"
        "  ServerAliveInterval 900\n"
        "  ServerAliveCountMax 3\n"
        "\n"
        "Host *\n"
        "  ServerAliveInterval 1200\n"
        "  ServerAliveCountMax 3\n");
  // A network with addresses only has no Host block, one with destinations only no Match.
  const Resolved one = resolved(
      "version: 1\nserver: {client_alive_interval: 60}\nclient: {server_alive_interval: 60}\n"
      "networks:\n  - name: a\n    addresses: [\"10.0.0.0/8\"]\n    client_alive_interval: 30\n");
  CHECK_THAT(renderSshd(one, "d"), Catch::Contains("Match Address 10.0.0.0/8\n"));
  CHECK_THAT(renderClient(one, "d"), !Catch::Contains("Host"));
}

TEST_CASE("networks: explain has rows per network") {
  const Resolved r = resolved(kTwo);
  int rows = 0;
  for (const auto& e : explain(r)) {
    if (e.target == "sshd [dc]" && e.keyword == "ClientAliveCountMax") {
      CHECK(e.value == "2");
      CHECK(e.source == "policy.yaml:16:29");
      ++rows;
    }
    if (e.target == "ssh [branch-nat]" && e.keyword == "ServerAliveCountMax") {
      CHECK(e.value == "3");
      CHECK(e.source == "policy.yaml:3:62");  // inherited from client:
      ++rows;
    }
    if (e.target == "network [branch-nat]" && e.keyword == "idle_timeout") {
      CHECK(e.value == "5m");
      ++rows;
    }
    CHECK((e.keyword != "TCPKeepAlive" || e.target.find('[') == std::string::npos));
  }
  CHECK(rows == 3);
}

TEST_CASE("networks: samples for the proof lie in their network and in no earlier one") {
  const Resolved r = resolved(R"(version: 1
server: {client_alive_interval: 60}
client: {server_alive_interval: 60}
networks:
  - name: inner
    addresses: ["10.20.0.0/24", "10.20.1.0/24", "192.0.2.1"]
    destinations: ["*.branch.example.com", "kp-probe.x.example.com"]
  - name: outer
    addresses: ["10.20.0.0/23", "10.20.0.0/16", "2001:db8::/32"]
    destinations: ["!x.example.com", "kp-probe.*.example.com", "*.example.com"]
  - name: host
    addresses: ["fd00::5"]
    destinations: ["db-??.example.org"]
  - name: shadowed
    addresses: ["10.20.5.0/24"]
    destinations: ["*.branch.example.com"]
)");
  REQUIRE(r.networks.size() == 4);
  CHECK(sampleAddress(r, r.networks[0]) == "10.20.0.1");
  // 10.20.0.0/23 is all inner's: the next entry's first free address is right after it.
  CHECK(sampleAddress(r, r.networks[1]) == "10.20.2.0");
  CHECK(sampleAddress(r, r.networks[2]) == "fd00::5");
  CHECK(sampleAddress(r, r.networks[3]) == std::nullopt);
  CHECK(outsideAddress(r, false) == "198.51.100.1");  // 192.0.2.1 is inner's
  CHECK(outsideAddress(r, true) == "fd00::1");        // 2001:db8::/32 is outer's
  CHECK(sampleDestination(r, r.networks[0]) == "kp-probe.branch.example.com");
  // Not kp-probe.x.example.com: that name is inner's.
  CHECK(sampleDestination(r, r.networks[1]) == "kp-probe.kp-probe.example.com");
  CHECK(sampleDestination(r, r.networks[2]) == "db-xx.example.org");
  CHECK(sampleDestination(r, r.networks[3]) == std::nullopt);
  CHECK(outsideDestination(r) == "keepalive-policy.invalid");
}

TEST_CASE("networks: each network's values meet the rules; overlaps are warned about") {
  auto l = load(R"(version: 1
network: {idle_timeout: 1h}
networks:
  - name: wide
    addresses: ["10.0.0.0/8"]
    destinations: ["*.example.com"]
  - name: nat
    addresses: ["10.20.0.0/16", "192.0.2.0/24"]
    destinations: ["*.branch.example.com", "*.nat.example.org"]
    idle_timeout: 5m
    client_alive_interval: 5m
)");
  INFO(l.dump());
  CHECK(l.error("[for network nat]", 11));
  CHECK(l.error("is not below network.idle_timeout 5m"));
  CHECK(l.warning("network nat's address 10.20.0.0/16 lies inside wide's 10.0.0.0/8", 7));
  CHECK(l.warning("destination \"*.branch.example.com\" also matches names of wide", 7));
  CHECK_FALSE(l.warning("*.nat.example.org"));
  CHECK_FALSE(l.warning("192.0.2.0/24"));
  // For a host: checkForHost names the network too.
  const auto host = checkForHost(l.policy, HostIdentity::fromName("h"));
  CHECK(host.hasErrors());
}

TEST_CASE("networks: proofProbes lists a sample per network and one outside per side") {
  const Resolved r = resolved(kTwo);
  const auto probes = proofProbes(r);
  std::vector<std::string> seen;
  for (const auto& p : probes)
    seen.push_back(std::string(toString(p.side)) + " " + (p.network.empty() ? "-" : p.network) +
                   " " + p.target + " " + p.expect.front().first + "=" + p.expect.front().second);
  CHECK(seen == std::vector<std::string>{
                    "sshd branch-nat 10.20.0.1 ClientAliveInterval=100",
                    "sshd dc 2001:db8:99::1 ClientAliveInterval=600",
                    "sshd - 192.0.2.1 ClientAliveInterval=1200",
                    "sshd - 2001:db8::1 ClientAliveInterval=1200",
                    "ssh branch-nat kp-probe.branch.example.com ServerAliveInterval=150",
                    "ssh dc kp-probe.dc.example.com ServerAliveInterval=900",
                    "ssh - keepalive-policy.invalid ServerAliveInterval=1200",
                });
  // No networks: the outside probes alone, as the daemon checked before networks existed.
  const auto plain = proofProbes(resolved("version: 1\nnetwork: {idle_timeout: 10m}\n"));
  REQUIRE(plain.size() == 2);
  CHECK(plain[0].target == "192.0.2.1");
  CHECK(plain[1].target == "keepalive-policy.invalid");
}

TEST_CASE("networks: a network's own idle_logout needs sshd 10.5, where Match applies it") {
  // sshd 9.2 to 10.4 accept ChannelTimeout inside Match and sshd -T -C shows it, but only 10.5
  // applies it (auth.c, caa6d7d19): refused before, since the proof could not tell.
  const std::string text = R"(version: 1
server: {client_alive_interval: 100, idle_logout: 1h}
networks:
  - name: lab
    addresses: ["10.0.0.0/8"]
    client_alive_interval: 50
    idle_logout: 30m
)";
  auto at = [&](int major, int minor) {
    keepalive::test::Loaded l;
    l.policy = loadPolicy({{"policy.yaml", text}}, l.diags,
                          ModelContext{OpensshVersion{major, minor}, "test"});
    return l;
  };
  {
    const auto l = at(9, 2);
    INFO(l.dump());
    CHECK(l.diags.errorCount() == 1);
    CHECK(l.error("needs sshd 10.5 or newer; sshd 9.2 accepts it there but never applies it", 7));
    CHECK(l.error("network lab"));
  }
  {
    const auto l = at(10, 5);
    INFO(l.dump());
    REQUIRE_FALSE(l.diags.hasErrors());
    const Policy& p = l.policy;
    const ModelContext ctx{OpensshVersion{10, 5}, "test"};
    const Resolved r = resolve(p, HostIdentity::fromName("h"), ctx);
    REQUIRE(r.networks.size() == 1);
    // The network's own value in its block; the host's stays in the main section only.
    CHECK(renderedDirectives(r.networks[0], Side::kSshd) ==
          std::vector<std::pair<std::string, std::string>>{{"ClientAliveInterval", "50"},
                                                           {"ChannelTimeout", "session=1800"}});
    const std::string sshd = renderSshd(r, policyDigest(p));
    CHECK_THAT(sshd, Catch::Contains("ChannelTimeout session=3600\n") &&
                         Catch::Contains("  ChannelTimeout session=1800\n"));
  }
  {
    // Unknown version: a warning asking for it.
    const auto l = load(text);
    INFO(l.dump());
    CHECK_FALSE(l.diags.hasErrors());
    CHECK(l.warning("needs sshd 10.5 or newer (older sshd accept it there but never apply it)", 7));
    CHECK(l.warning("give --openssh VERSION", 7));
  }
}

TEST_CASE("networks: the fleet-wide values must serve someone, or they could not be proven") {
  // The apply proves them with an address and a name outside every network.
  const auto names = load(R"(version: 1
client: {server_alive_interval: 60}
networks:
  - name: all
    destinations: ["*"]
    server_alive_interval: 30
)");
  CHECK(names.error("destinations match every host name", 4));
  const auto both = load(R"(version: 1
server: {client_alive_interval: 60}
networks:
  - name: v4
    addresses: ["0.0.0.0/0"]
    client_alive_interval: 30
  - name: v6
    addresses: ["::/0"]
    client_alive_interval: 30
)");
  CHECK(both.error("cover every IPv4 and IPv6 address", 7));
  // One family whole is fine: the other family's clients get the fleet-wide values.
  const auto v4 = load(R"(version: 1
server: {client_alive_interval: 60}
networks:
  - name: v4
    addresses: ["0.0.0.0/0"]
    client_alive_interval: 30
)");
  CHECK_VALID(v4);
  const Resolved r = resolve(v4.policy, HostIdentity::fromName("h"));
  CHECK(outsideAddress(r, false).empty());
  CHECK_FALSE(outsideAddress(r, true).empty());
}

TEST_CASE("networks: networkFor names the first listed network that contains an address") {
  const Resolved r = resolved(kTwo);
  CHECK(networkFor("10.20.3.4", r.networks) == "branch-nat");
  CHECK(networkFor("2001:db8:20::5", r.networks) == "branch-nat");
  CHECK(networkFor("2001:db8:99:1::1", r.networks) == "dc");
  CHECK(networkFor("192.0.2.7", r.networks) == "dc");
  CHECK(networkFor("192.0.2.8", r.networks) == "default");
  CHECK(networkFor("10.21.0.1", r.networks) == "default");
  // sshd logs and matches an IPv4-mapped address as its IPv4 address.
  CHECK(networkFor("::ffff:10.20.0.9", r.networks) == "branch-nat");
  // Not an address, or a block rather than one address: outside every network.
  CHECK(networkFor("host.example.com", r.networks) == "default");
  CHECK(networkFor("10.20.0.0/16", r.networks) == "default");
  CHECK(networkFor("", r.networks) == "default");
  CHECK(networkFor("10.20.3.4", {}) == "default");
  // Overlapping networks: the first listed wins, as with sshd's first matching Match block.
  const auto l = load(R"(version: 1
server: {client_alive_interval: 60}
networks:
  - name: narrow
    addresses: ["10.20.3.0/24"]
    client_alive_interval: 30
  - name: wide
    addresses: ["10.0.0.0/8"]
    client_alive_interval: 40
)");
  REQUIRE_FALSE(l.diags.hasErrors());
  const Resolved o = resolve(l.policy, HostIdentity::fromName("h"));
  CHECK(networkFor("10.20.3.4", o.networks) == "narrow");
  CHECK(networkFor("10.20.4.4", o.networks) == "wide");
}
