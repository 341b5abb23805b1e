// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's decisions, with every side effect faked: what is written, when sshd is reloaded,
// and what is rolled back.
#include <arpa/inet.h>
#include <fnmatch.h>
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>

#include "core/config_text.h"
#include "core/engine.h"
#include "keepalive/policy/networks.h"
#include "keepalive/policy/render.h"

using namespace keepalive::daemon;
using keepalive::policy::HostIdentity;
using keepalive::policy::PolicyFile;

namespace {

struct FakeStore : DropInStore {
  std::map<Target, std::optional<std::string>> files;
  std::map<Target, std::optional<std::string>> lastGood;
  int writes = 0;
  std::string failWrite;     // next write fails with this
  std::string failLastGood;  // saveLastGood fails with this
  std::optional<std::string> read(Target t, Status& st) override {
    st = Status::success();
    return files[t];
  }
  Status write(Target t, const std::string& bytes) override {
    if (!failWrite.empty()) {
      auto e = failWrite;
      failWrite.clear();
      return Status::failure(e);
    }
    ++writes;
    files[t] = bytes;
    return Status::success();
  }
  Status remove(Target t) override {
    files[t].reset();
    return Status::success();
  }
  Status saveLastGood(Target t, const std::optional<std::string>& b) override {
    if (!failLastGood.empty())
      return Status::failure(failLastGood);
    lastGood[t] = b;
    return Status::success();
  }
  std::optional<GoodPolicy> good;
  bool goodCorrupt = false;
  std::optional<GoodPolicy> loadGoodPolicy(Status& st) override {
    st = goodCorrupt ? Status::failure("cannot be read; set aside") : Status::success();
    return goodCorrupt ? std::nullopt : good;
  }
  Status saveGoodPolicy(const GoodPolicy& g) override {
    good = g;
    return Status::success();
  }
  std::optional<ServedValues> served;
  std::optional<ServedValues> loadServed() override { return served; }
  void saveServed(const ServedValues& v) override { served = v; }
  bool pending = false;
  bool reloadPending() override { return pending; }
  Status setReloadPending(bool p) override {
    pending = p;
    return Status::success();
  }
  std::string path(Target t) const override {
    return t == Target::kSshd ? "/etc/ssh/sshd_config.d/00-keepalive-policy.conf"
                              : "/etc/ssh/ssh_config.d/00-keepalive-policy.conf";
  }
};

// sshd and ssh as far as the engine can tell: the config is the lines in `before` (files read
// before ours), our drop-in, then `after`; the first value wins, as in OpenSSH.
struct FakeSshd : Sshd {
  FakeStore& store;
  std::vector<ConfigLine> before, after;
  bool included = true;
  bool brokenElsewhere = false;  // sshd -t fails whatever our drop-in says
  bool clientFails = false;
  int tests = 0, inserts = 0;
  explicit FakeSshd(FakeStore& s) : store(s) {}

  std::vector<ConfigLine> ourLines(Target t) {
    std::vector<ConfigLine> out;
    auto& f = store.files[t];
    if (!f)
      return out;
    std::string cond;
    for (const auto& d : parseConfigText(*f)) {
      if (d.keyword == "match" || (t == Target::kClient && d.keyword == "host")) {
        cond = d.value == "*" || d.value == "all" ? "" : d.keyword_as_written + " " + d.value;
        continue;
      }
      out.push_back({store.path(t), d.line, d.keyword, d.keyword_as_written, d.value, cond});
    }
    return out;
  }
  // "Match Address 10.20.0.0/16,192.0.2.7": IPv4 only, enough for these tests.
  static bool addressMatches(const std::string& condition, const std::string& addr) {
    const std::string prefix = "Match Address ";
    if (condition.rfind(prefix, 0) != 0)
      return false;
    in_addr a{};
    if (::inet_pton(AF_INET, addr.c_str(), &a) != 1)
      return false;
    std::string list = condition.substr(prefix.size());
    std::size_t start = 0;
    while (start <= list.size()) {
      auto end = list.find(',', start);
      if (end == std::string::npos)
        end = list.size();
      std::string cidr = list.substr(start, end - start);
      int bits = 32;
      if (auto slash = cidr.find('/'); slash != std::string::npos) {
        bits = std::stoi(cidr.substr(slash + 1));
        cidr = cidr.substr(0, slash);
      }
      in_addr n{};
      if (::inet_pton(AF_INET, cidr.c_str(), &n) == 1) {
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
        if ((ntohl(a.s_addr) & mask) == (ntohl(n.s_addr) & mask))
          return true;
      }
      start = end + 1;
    }
    return false;
  }
  static bool hostMatches(const std::string& condition, const std::string& host) {
    const std::string prefix = "Host ";
    if (condition.rfind(prefix, 0) != 0)
      return false;
    std::string list = condition.substr(prefix.size()) + " ";
    std::size_t start = 0;
    while (start < list.size()) {
      auto end = list.find(' ', start);
      const std::string pattern = list.substr(start, end - start);
      if (!pattern.empty() && ::fnmatch(pattern.c_str(), host.c_str(), 0) == 0)
        return true;
      start = end + 1;
    }
    return false;
  }
  std::int64_t newest = 0;  // the tree's newest change (ctime), CLOCK_REALTIME usec
  ConfigScan scan(Target t) {
    ConfigScan s;
    s.newest_change_usec = newest;
    s.files_read.push_back(t == Target::kSshd ? "/etc/ssh/sshd_config" : "/etc/ssh/ssh_config");
    if (t == Target::kSshd)
      s.lines = before;
    if (included || t == Target::kClient) {
      s.files_read.push_back(store.path(t));
      for (auto& l : ourLines(t))
        s.lines.push_back(l);
    }
    if (t == Target::kSshd)
      for (auto& l : after)
        s.lines.push_back(l);
    return s;
  }
  // sshd: the Match blocks that match the address first (their values replace the top-level
  // ones), then the top level; ssh: the first value, from the Host blocks that match the name.
  // forced: what a sample gets whatever the files say (a drop-in that does not do its job).
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> forced;
  Dump dump(Target t, const std::string& sample = {}) {
    Dump d;
    auto set = [&d](const std::string& k, const std::string& v) {
      bool seen = false;
      for (auto& [key, value] : d.entries)
        seen |= key == k;
      if (!seen)
        d.entries.emplace_back(k, v);
    };
    if (auto it = forced.find(sample); it != forced.end())
      for (const auto& [k, v] : it->second)
        set(k, v);
    const auto lines = scan(t).lines;
    if (t == Target::kSshd)
      for (const auto& l : lines)
        if (!l.condition.empty() && addressMatches(l.condition, sample))
          set(l.keyword, l.value);
    for (const auto& l : lines)
      if (l.condition.empty() || (t == Target::kClient && hostMatches(l.condition, sample)))
        set(l.keyword, l.value);
    d.entries.emplace_back("listenaddress", "127.0.0.1:22");
    return d;
  }
  void test(Done<CheckResult> done) override { done(testNow()); }
  CheckResult testNow() {
    ++tests;
    CheckResult c;
    c.ok = !brokenElsewhere;
    for (const auto& l : ourLines(Target::kSshd))
      if (l.keyword == "clientaliveinterval" && l.value == "666")
        c.ok = false;  // a value this fake sshd refuses, standing in for a rejected candidate
    if (!c.ok)
      c.message = "/etc/ssh/sshd_config line 3: Bad configuration option: Bogus";
    return c;
  }
  std::vector<ConnectionSpec> serverSpecs;
  void serverDump(const ConnectionSpec& c, Done<Dump> done) override {
    serverSpecs.push_back(c);
    done(dump(Target::kSshd, c.addr));
  }
  int clientDumps = 0;
  std::vector<std::string> clientHosts;
  void clientDump(const std::string& host, Done<Dump> done) override {
    clientHosts.push_back(host);
    done(clientDumpNow(host));
  }
  Dump clientDumpNow(const std::string& host = "keepalive-policy.invalid") {
    ++clientDumps;
    if (clientFails) {
      Dump d;
      d.status = Status::failure("ssh -G failed: bad configuration");
      return d;
    }
    return dump(Target::kClient, host);
  }
  int versions = 0;
  VersionText versionText{Status::success(), "sshd -V",
                          "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026"};
  void version(Done<VersionText> done) override {
    ++versions;
    done(versionText);
  }
  ConfigScan scanServer() override { return scan(Target::kSshd); }
  ConfigScan scanClient() override { return scan(Target::kClient); }
  void insertInclude(Done<Status> done) override {
    ++inserts;
    included = true;
    done(Status::success());
  }
  std::string mainConfigPath() const override { return "/etc/ssh/sshd_config"; }
};

struct FakeServices : ServiceManager {
  int reloads = 0;
  bool fail = false;
  UnitState unit_state{
      UnitState::Activity::kActive, "ssh.service", "", false, 1, 0, "active (running)"};
  std::string unit() const override { return "ssh.service"; }
  void reload(Done<ReloadOutcome> done) override {
    if (unit_state.activity != UnitState::Activity::kActive)
      return done({false, false, "ssh.service is not active: not reloaded"});
    done(reloadNow());
  }
  UnitState unitState() const override { return unit_state; }
  // The unit's activity once a failed reload ended (a reload that took sshd down).
  std::optional<UnitState::Activity> afterFail;
  virtual ReloadOutcome reloadNow() {
    ++reloads;
    if (fail && afterFail)
      unit_state.activity = *afterFail;
    if (fail)
      return {false, true, "job ended with result 'failed'"};
    return {true, true, "job done"};
  }
};

struct FakeProbe : Probe {
  bool fail = false;
  bool partial = false;
  int probes = 0;
  std::uint32_t pid = 0;  // the main PID the last check was asked about
  void listening(const Dump&, const UnitState& unit, Done<ListenCheck> done) override {
    ++probes;
    pid = unit.main_pid;
    ListenCheck c;
    if (fail) {
      c.status = Status::failure("ssh.service main PID 812: no listening socket on 0.0.0.0:22");
      return done(std::move(c));
    }
    c.partial = partial;
    c.detail = partial ? "ssh.service main PID 812: no listening socket on [::]:22 (listens on "
                         "0.0.0.0:22)"
                       : "ssh.service main PID 812: listens on 0.0.0.0:22";
    done(std::move(c));
  }
};

// Ports that answer later, as the real ones do when a child process or a job ends: the test
// hands them their answer.
struct SlowSshd : FakeSshd {
  using FakeSshd::FakeSshd;
  std::vector<Done<CheckResult>> heldTests;
  void test(Done<CheckResult> done) override { heldTests.push_back(std::move(done)); }
};
struct SlowServices : FakeServices {
  std::vector<Done<ReloadOutcome>> held;
  void reload(Done<ReloadOutcome> done) override { held.push_back(std::move(done)); }
};

// The fakes answer at once, so a transaction ends before the call that started it returns.
Outcome applyNow(Engine& e, std::vector<PolicyFile> files, const std::string& trigger) {
  std::optional<Outcome> out;
  e.apply(std::move(files), {}, trigger, [&](Outcome o) { out = std::move(o); });
  REQUIRE(out);
  return *out;
}
Outcome reconcileNow(Engine& e, const std::string& trigger) {
  std::optional<Outcome> out;
  e.reconcile(trigger, [&](Outcome o) { out = std::move(o); });
  REQUIRE(out);
  return *out;
}

struct FakeClock : Clock {
  std::int64_t now = 1700000000000000;
  std::int64_t realtimeUsec() override { return now; }
  std::int64_t monotonicUsec() override { return mono += 1000; }
  std::int64_t mono = 0;
};

struct Rig {
  FakeStore store;
  FakeSshd sshd{store};
  FakeServices services;
  FakeProbe probe;
  FakeClock clock;
  Engine engine{store, sshd,  services,
                probe, clock, EngineOptions{HostIdentity::fromName("web-1")}};

  Outcome apply(const std::string& text) {
    return applyNow(engine, {{"/etc/keepalive-policy/policy.yaml", text}}, "test");
  }
  std::string sshdFile() { return store.files[Target::kSshd].value_or("<absent>"); }
};

const char* kPolicy =
    "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
    "client: {server_alive_interval: 4m}\n";
const char* kPolicy2 = "version: 1\nserver: {client_alive_interval: 1m}\n";

}  // namespace

TEST_CASE("engine: the first apply writes both drop-ins and reloads sshd once") {
  Rig r;
  auto o = r.apply(kPolicy);
  CHECK(o.result == ApplyResult::kApplied);
  CHECK(r.store.writes == 2);
  CHECK(r.services.reloads == 1);
  CHECK(r.probe.probes == 1);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 120\nClientAliveCountMax 3\n"));
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kOk);
  CHECK(s.generation == 1);
  CHECK(s.reloads_total == 1);
  CHECK(s.last_apply_usec == r.clock.now);
  REQUIRE(s.effective_server.size() == 2);
  CHECK(s.effective_server[0].keyword == "clientaliveinterval");
  CHECK(s.effective_server[0].value == "120");
  CHECK(s.effective_server[0].source == r.store.path(Target::kSshd) + ":5");
  CHECK(s.effective_client[0].value == "240");
  CHECK(s.policy_files == std::vector<std::string>{"/etc/keepalive-policy/policy.yaml"});
  CHECK(s.policy_digest.rfind("sha256:", 0) == 0);
}

TEST_CASE("engine: an unchanged policy causes zero writes and zero reloads") {
  Rig r;
  r.apply(kPolicy);
  auto o = r.apply(
      "# reformatted\nversion: 1\nclient: {server_alive_interval: 240}\n"
      "server:\n  client_alive_count_max: 3\n  client_alive_interval: 120\n");
  CHECK(o.result == ApplyResult::kUnchanged);
  CHECK(r.store.writes == 2);
  CHECK(r.services.reloads == 1);
  CHECK(r.engine.state().generation == 2);
}

TEST_CASE("engine: an invalid policy changes nothing and keeps the last good one in force") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  auto o = r.apply("version: 1\nserver: {client_alive_intervall: 1m}\n");
  CHECK(o.result == ApplyResult::kPolicyError);
  CHECK(r.sshdFile() == before);
  CHECK(r.store.writes == 2);
  CHECK(r.services.reloads == 1);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kPolicyInvalid);
  CHECK_THAT(s.reason, Catch::Contains("policy.yaml:2:10: error: unknown key"));
  CHECK_THAT(s.reason, Catch::Contains("stays in force"));
  CHECK_THAT(s.reason, Catch::Contains("; keepalivectl validate lists every error"));
  CHECK_THAT(s.last_error, Catch::Contains("did you mean 'client_alive_interval'"));
  // Fixed: back to ok.
  r.apply(kPolicy2);
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 60\n"));
}

TEST_CASE("engine: an invalid policy at start writes nothing") {
  Rig r;
  auto o = r.apply("version: 2\n");
  CHECK(o.result == ApplyResult::kPolicyError);
  CHECK(r.store.writes == 0);
  CHECK_FALSE(r.store.files[Target::kSshd].has_value());
  CHECK_THAT(r.engine.state().reason, Catch::Contains("nothing was changed"));
}

TEST_CASE("engine: sshd -t rejecting the candidate restores the old drop-in without a reload") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  auto o = r.apply("version: 1\nserver: {client_alive_interval: 666}\n");
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  CHECK(r.services.reloads == 1);
  CHECK(r.store.lastGood[Target::kSshd] == before);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kPolicyInvalid);
  CHECK_THAT(s.reason, Catch::Contains("the last good policy sha256:"));
  CHECK(s.rollbacks_total == 1);
  CHECK_THAT(s.reason, Catch::Contains("sshd -t rejected the configuration"));
  CHECK_THAT(s.reason, Catch::Contains("Bad configuration option"));
}

TEST_CASE("engine: a first apply that sshd -t rejects removes our drop-in again") {
  Rig r;
  r.apply("version: 1\nserver: {client_alive_interval: 666}\n");
  CHECK_FALSE(r.store.files[Target::kSshd].has_value());
  CHECK_FALSE(r.store.files[Target::kClient].has_value());
  CHECK(r.services.reloads == 0);
}

TEST_CASE("engine: a configuration broken by another file is reported and never reloaded") {
  Rig r;
  r.apply(kPolicy);
  r.sshd.brokenElsewhere = true;
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.services.reloads == 1);
  CHECK(r.engine.state().kind == StateKind::kSshdConfigBroken);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("without our change too"));
  CHECK_THAT(r.engine.state().reason, Catch::Contains("/etc/ssh/sshd_config line 3"));
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 120\n"));
  // Known broken: the next push installs nothing at all, not even for a moment.
  const int writes = r.store.writes;
  r.apply(kPolicy2);
  CHECK(r.store.writes == writes);
  CHECK(r.engine.state().kind == StateKind::kSshdConfigBroken);
  // Fixed by its writer: a reconcile sees it and says the held-back policy can go in.
  r.sshd.brokenElsewhere = false;
  auto fixed = reconcileNow(r.engine, "sshd_config changed");
  CHECK(fixed.tree_repaired);
  r.apply(kPolicy2);
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 60\n"));
}

TEST_CASE("engine: a tree broken while our drop-in is unchanged is someone else's, not ours") {
  Rig r;
  r.apply(kPolicy);
  const int writes = r.store.writes;
  r.sshd.brokenElsewhere = true;
  reconcileNow(r.engine, "sshd_config changed");
  CHECK(r.engine.state().kind == StateKind::kSshdConfigBroken);
  CHECK(r.store.writes == writes);
  CHECK(r.services.reloads == 1);
  CHECK(r.engine.state().last_error_usec > 0);
}

TEST_CASE("engine: a reload the unit refuses keeps the accepted drop-ins, pending-reload") {
  Rig r;
  r.apply(kPolicy);
  r.services.fail = true;
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kApplied);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 60\n"));
  CHECK(r.services.reloads == 2);
  CHECK(r.engine.state().kind == StateKind::kPendingReload);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("reload of ssh.service failed"));
  CHECK(r.store.pending);
  // Retried by the next run, which clears it once the unit takes the reload.
  r.services.fail = false;
  reconcileNow(r.engine, "periodic reconcile");
  CHECK(r.services.reloads == 3);
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK_FALSE(r.store.pending);
}

TEST_CASE("engine: a failed reload that leaves the unit not active rolls back") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  r.services.fail = true;
  r.services.afterFail = UnitState::Activity::kActivating;
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  // The first apply and the failed one; the unit is not active, so the restored files are read
  // when it starts rather than by a reload.
  CHECK(r.services.reloads == 2);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("reload of ssh.service failed"));
}

TEST_CASE("engine: sshd not answering after the reload rolls back") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  r.probe.fail = true;
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  CHECK_THAT(r.engine.state().reason,
             Catch::Contains("sshd does not listen after the reload: ssh.service main PID 812: "
                             "no listening socket on 0.0.0.0:22"));
}

TEST_CASE("engine: sshd listening on some of its addresses only is a warning, not a rollback") {
  Rig r;
  r.apply(kPolicy);
  r.probe.partial = true;
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kApplied);
  bool warned = false;
  for (const auto& l : o.log)
    warned = warned || (l.level == LogEvent::Level::kWarning &&
                        l.message.find("not on every address of sshd -T: ssh.service main PID 812: "
                                       "no listening socket on [::]:22") != std::string::npos);
  CHECK(warned);
}

TEST_CASE("engine: a write that fails (ENOSPC) leaves everything as it was") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  r.store.failWrite = "cannot write: No space left on device";
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  CHECK(r.services.reloads == 1);
  CHECK_THAT(r.engine.state().last_error, Catch::Contains("No space left on device"));
}

TEST_CASE("engine: no last-known-good copy, no change") {
  Rig r;
  r.apply(kPolicy);
  r.store.failLastGood = "cannot create state directory";
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.store.writes == 2);
}

TEST_CASE("engine: ssh -G rejecting the client drop-in rolls back both drop-ins") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  r.sshd.clientFails = true;
  auto o = r.apply(
      "version: 1\nserver: {client_alive_interval: 1m}\nclient: {server_alive_interval: 1m}\n");
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  CHECK(r.services.reloads == 1);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("ssh -G rejected"));
}

TEST_CASE(
    "engine: an earlier file setting our keyword is reported as shadowing, with file and line") {
  Rig r;
  r.sshd.before.push_back({"/etc/ssh/sshd_config.d/00-aaa.conf", 4, "clientaliveinterval",
                           "ClientAliveInterval", "0", ""});
  r.apply(kPolicy);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kShadowed);
  REQUIRE(s.shadowed.size() == 1);
  CHECK(s.shadowed[0].file == "/etc/ssh/sshd_config.d/00-aaa.conf");
  CHECK(s.shadowed[0].line == 4);
  CHECK(s.shadowed[0].theirs == "0");
  CHECK(s.shadowed[0].ours == "120");
  CHECK_THAT(s.reason,
             Catch::Contains("00-aaa.conf\":4 sets ClientAliveInterval 0 before our drop-in"));
  CHECK(s.effective_server[0].value == "0");
  CHECK(s.effective_server[0].source == "/etc/ssh/sshd_config.d/00-aaa.conf:4");
  // The shadowing file goes away: ok again, no write needed.
  r.sshd.before.clear();
  reconcileNow(r.engine, "test");
  CHECK(r.engine.state().kind == StateKind::kOk);
}

TEST_CASE("engine: a Match block overriding our keyword is reported with its condition") {
  Rig r;
  r.sshd.after.push_back({"/etc/ssh/sshd_config", 40, "clientaliveinterval", "ClientAliveInterval",
                          "0", "Match User backup"});
  r.apply(kPolicy);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kShadowed);
  REQUIRE(s.shadowed.size() == 1);
  CHECK(s.shadowed[0].condition == "Match User backup");
  CHECK_THAT(s.reason, Catch::Contains("for connections matching 'Match User backup'"));
}

TEST_CASE("engine: a missing Include is reported, and added only when the policy says so") {
  Rig r;
  r.sshd.included = false;
  r.apply(kPolicy);
  CHECK(r.engine.state().kind == StateKind::kShadowed);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("does not include our sshd drop-in"));
  CHECK(r.sshd.inserts == 0);

  Rig fix;
  fix.sshd.included = false;
  fix.apply("version: 1\nserver: {client_alive_interval: 2m, ensure_include: true}\n");
  CHECK(fix.sshd.inserts == 1);
  CHECK(fix.engine.state().kind == StateKind::kOk);
  CHECK(fix.services.reloads == 1);
}

TEST_CASE("engine: reconcile restores an edited or removed drop-in and reloads") {
  Rig r;
  r.apply(kPolicy);
  const std::string good = r.sshdFile();
  CHECK(r.engine.dropInsAsDesired());
  r.store.files[Target::kSshd] = "ClientAliveInterval 0\n";
  CHECK_FALSE(r.engine.dropInsAsDesired());
  auto o = reconcileNow(r.engine, "drift");
  CHECK(o.result == ApplyResult::kRestored);
  CHECK(r.sshdFile() == good);
  CHECK(r.services.reloads == 2);
  CHECK(r.engine.state().drift_repairs_total == 1);
  r.store.files[Target::kClient].reset();
  reconcileNow(r.engine, "drift");
  CHECK(r.store.files[Target::kClient].has_value());
  CHECK(r.services.reloads == 2);  // the client drop-in needs no sshd reload
  CHECK(reconcileNow(r.engine, "again").result == ApplyResult::kUnchanged);
}

TEST_CASE("engine: a change in comments only is written without a reload") {
  Rig r;
  r.apply(kPolicy);
  // Same sshd values, different policy (users section) so the header's digest changes.
  r.apply(std::string(kPolicy) + "users: {action: off}\n");
  CHECK(r.store.writes == 4);
  CHECK(r.services.reloads == 1);
}

TEST_CASE("engine: before any good policy, reconcile changes nothing") {
  Rig r;
  r.apply("version: 9\n");
  CHECK(reconcileNow(r.engine, "periodic").result == ApplyResult::kUnchanged);
  CHECK(r.store.writes == 0);
}

TEST_CASE("engine: an apply reports how long each step took") {
  Rig r;
  auto o = r.apply(kPolicy);
  std::vector<std::string> names;
  for (const auto& [n, us] : o.steps_usec)
    names.push_back(n);
  CHECK(names == std::vector<std::string>{"parse", "write", "sshd -t", "ssh -G", "reload", "probe",
                                          "verify"});
  CHECK(o.total_usec == 7000);  // the fake clock advances 1 ms per reading
  CHECK_THAT(o.timing(), Catch::StartsWith("7.0 ms (parse 1.0, write 1.0"));
  bool logged = false;
  for (const auto& e : o.log)
    logged |= e.message.find("applied in 7.0 ms") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("engine: a write that fails after its rename is rolled back too") {
  struct LateFailStore : FakeStore {
    bool failAfterRename = false;
    Status write(Target t, const std::string& bytes) override {
      Status s = FakeStore::write(t, bytes);
      if (failAfterRename && s) {
        failAfterRename = false;
        return Status::failure("cannot fsync directory: Input/output error");
      }
      return s;
    }
  };
  LateFailStore store;
  FakeSshd sshd{store};
  FakeServices services;
  FakeProbe probe;
  FakeClock clock;
  Engine engine{store, sshd, services, probe, clock, EngineOptions{HostIdentity::fromName("h")}};
  applyNow(engine, {{"p.yaml", kPolicy}}, "t");
  const auto before = store.files[Target::kSshd];
  store.failAfterRename = true;
  auto o = applyNow(engine, {{"p.yaml", kPolicy2}}, "t");
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(store.files[Target::kSshd] == before);
}

TEST_CASE("engine: a reload left pending by a killed daemon happens at the next start") {
  Rig r;
  r.apply(kPolicy);
  CHECK_FALSE(r.store.pending);
  // The previous daemon wrote the drop-in and died before reloading.
  r.store.pending = true;
  Rig next;
  next.store.files = r.store.files;
  next.store.pending = true;
  auto o = next.apply(kPolicy);
  CHECK(o.result == ApplyResult::kUnchanged);
  CHECK(next.services.reloads == 1);
  CHECK(next.sshd.tests == 1);  // validated before the reload
  CHECK(next.store.writes == 0);
  CHECK_FALSE(next.store.pending);
  // An ordinary restart: no reload.
  Rig again;
  again.store.files = next.store.files;
  again.apply(kPolicy);
  CHECK(again.services.reloads == 0);
}

TEST_CASE("engine: the pending mark is set before the write and cleared after the reload") {
  struct WatchingServices : FakeServices {
    FakeStore* store = nullptr;
    bool pendingDuringReload = false;
    ReloadOutcome reloadNow() override {
      pendingDuringReload = store->pending;
      return FakeServices::reloadNow();
    }
  };
  FakeStore store;
  FakeSshd sshd{store};
  WatchingServices services;
  services.store = &store;
  FakeProbe probe;
  FakeClock clock;
  Engine engine{store, sshd, services, probe, clock, EngineOptions{HostIdentity::fromName("h")}};
  applyNow(engine, {{"p.yaml", kPolicy}}, "t");
  CHECK(services.pendingDuringReload);
  CHECK_FALSE(store.pending);
}

TEST_CASE("engine: a reload that failed is not counted") {
  Rig r;
  r.apply(kPolicy);
  r.services.fail = true;
  r.apply(kPolicy2);
  CHECK(r.engine.state().reloads_total == 1);
  CHECK(r.store.pending);  // sshd may run anything now: the next start reloads
}

TEST_CASE("engine: a client drop-in whose directives did not change skips ssh -G") {
  Rig r;
  r.apply(kPolicy);
  const int before = r.sshd.clientDumps;
  r.apply("version: 1\nserver: {client_alive_interval: 1m}\nclient: {server_alive_interval: 4m}\n");
  // The client file was rewritten (its header's digest changed), verify read ssh -G once, and
  // no check ran before the reload.
  CHECK(r.store.writes == 4);
  CHECK(r.sshd.clientDumps == before + 1);
}

TEST_CASE("engine: a rolled-back policy stays visible after a drift repair") {
  Rig r;
  r.apply(kPolicy);
  r.probe.fail = true;
  r.apply(kPolicy2);
  REQUIRE(r.engine.state().kind == StateKind::kPolicyInvalid);
  r.probe.fail = false;
  r.store.files[Target::kClient].reset();
  reconcileNow(r.engine, "drift");
  CHECK(r.store.files[Target::kClient].has_value());
  CHECK(r.engine.state().kind == StateKind::kPolicyInvalid);
  r.apply(kPolicy2);  // the retry of the periodic reconcile
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 60\n"));
}

TEST_CASE("engine: a valid policy's warnings reach the log") {
  Rig r;
  auto o = r.apply("version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 1}\n");
  int n = 0;
  for (const auto& e : o.log)
    n += e.level == LogEvent::Level::kWarning && e.message.find("flaky link") != std::string::npos;
  CHECK(n == 1);
}

TEST_CASE("engine: degraded when the users' side cannot watch every home") {
  Rig r;
  r.apply(kPolicy);
  r.engine.setDegraded("3 of 100000 homes are not watched");
  CHECK(r.engine.state().kind == StateKind::kDegraded);
  CHECK(r.engine.state().reason == "3 of 100000 homes are not watched");
  r.engine.setDegraded("");
  CHECK(r.engine.state().kind == StateKind::kOk);
}

TEST_CASE("engine: a transaction waits for sshd -t and the reload without holding its caller") {
  FakeStore store;
  SlowSshd sshd{store};
  SlowServices services;
  FakeProbe probe;
  FakeClock clock;
  Engine engine{store, sshd, services, probe, clock, EngineOptions{HostIdentity::fromName("h")}};
  std::optional<Outcome> out;
  engine.apply({{"p.yaml", kPolicy}}, {}, "t", [&](Outcome o) { out = std::move(o); });
  // The candidate is written and sshd -t is running: the call has returned, nothing answered.
  CHECK_FALSE(out);
  CHECK(engine.busy());
  REQUIRE(sshd.heldTests.size() == 1);
  CHECK(store.writes == 2);
  CHECK(engine.state().kind == StateKind::kStarting);  // readable meanwhile, and not "ok" yet
  CHECK_THROWS_AS(engine.verifyNow([](Outcome) {}), std::logic_error);  // one at a time
  auto t = std::move(sshd.heldTests[0]);
  sshd.heldTests.clear();
  t(sshd.testNow());
  // Accepted: now the reload job is what it waits for.
  CHECK_FALSE(out);
  REQUIRE(services.held.size() == 1);
  auto r = std::move(services.held[0]);
  r(services.reloadNow());
  REQUIRE(out);
  CHECK(out->result == ApplyResult::kApplied);
  CHECK_FALSE(engine.busy());
  CHECK(engine.state().kind == StateKind::kOk);
  // The done of one transaction may start the next.
  bool second = false;
  engine.apply({{"p.yaml", kPolicy}}, {}, "t", [&](Outcome) {
    engine.verifyNow([&](Outcome o) { second = o.result == ApplyResult::kUnchanged; });
  });
  // Each run checks the whole tree with sshd -t, even with nothing to write ("ok" needs it).
  for (int i = 0; i < 4 && !second && !sshd.heldTests.empty(); ++i) {
    auto held = std::move(sshd.heldTests.front());
    sshd.heldTests.erase(sshd.heldTests.begin());
    held(sshd.testNow());
  }
  CHECK(second);
}

TEST_CASE("engine: sshd -t rejecting after a wait still rolls back in order") {
  FakeStore store;
  SlowSshd sshd{store};
  FakeServices services;
  FakeProbe probe;
  FakeClock clock;
  Engine engine{store, sshd, services, probe, clock, EngineOptions{HostIdentity::fromName("h")}};
  std::optional<Outcome> out;
  engine.apply({{"p.yaml", "version: 1\nserver: {client_alive_interval: 666}\n"}}, {}, "t",
               [&](Outcome o) { out = std::move(o); });
  REQUIRE(sshd.heldTests.size() == 1);
  CHECK(store.files[Target::kSshd].has_value());  // the candidate, not yet accepted
  auto t = std::move(sshd.heldTests[0]);
  t(sshd.testNow());  // rejected (666)
  CHECK_FALSE(out);   // rolled back; now sshd -t over what was there before
  REQUIRE(sshd.heldTests.size() == 2);
  auto again = std::move(sshd.heldTests[1]);
  again(sshd.testNow());
  REQUIRE(out);
  CHECK(out->result == ApplyResult::kRolledBack);
  CHECK_FALSE(store.files[Target::kSshd].has_value());
  CHECK(services.reloads == 0);
}

TEST_CASE(
    "engine: a push while sshd is stopped installs, reloads nothing, and is ok once it starts") {
  Rig r;
  r.services.unit_state.activity = UnitState::Activity::kInactive;
  r.services.unit_state.detail = "inactive (dead)";
  auto o = r.apply(kPolicy);
  CHECK(o.result == ApplyResult::kApplied);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 120\n"));
  CHECK(r.services.reloads == 0);
  CHECK(r.engine.state().kind == StateKind::kSshdStopped);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("inactive (dead)"));
  CHECK_THAT(r.engine.state().reason, Catch::Contains("sshd reads it when it starts"));
  CHECK_FALSE(r.store.pending);
  // systemd says it started, after the files' last change: the verification says ok.
  r.sshd.newest = r.clock.now - 5;
  r.clock.now += 1000000;
  r.services.unit_state = {
      UnitState::Activity::kActive, "ssh.service", "", false, 42, r.clock.now, "active (running)"};
  r.engine.unitChanged();
  reconcileNow(r.engine, "ssh.service started");
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK(r.services.reloads == 0);
  CHECK(r.engine.state().since_usec == r.clock.now);
}

TEST_CASE("engine: behind a listening socket an inactive sshd is ok, socket-activated") {
  Rig r;
  r.services.unit_state.activity = UnitState::Activity::kInactive;
  r.services.unit_state.socket = "ssh.socket";
  r.services.unit_state.socket_listening = true;
  r.apply(kPolicy);
  CHECK(r.services.reloads == 0);
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK_THAT(r.engine.state().reason, Catch::Contains("socket-activated"));
}

TEST_CASE("engine: another writer's change to a served keepalive value reloads sshd") {
  Rig r;
  r.sshd.before.push_back({"/etc/ssh/sshd_config.d/00-aaa.conf", 1, "clientaliveinterval",
                           "ClientAliveInterval", "7", ""});
  r.apply(kPolicy);
  REQUIRE(r.engine.state().kind == StateKind::kShadowed);
  REQUIRE(r.services.reloads == 1);
  // The shadowing file is removed; systemd's time of the last reload is older than that.
  r.sshd.before.clear();
  r.sshd.newest = r.clock.now + 10;
  r.clock.now += 1000000;
  auto o = reconcileNow(r.engine, "sshd_config.d changed");
  CHECK(o.reloaded);
  CHECK(r.services.reloads == 2);
  CHECK(r.engine.state().kind == StateKind::kOk);
  bool logged = false;
  for (const auto& e : o.log)
    logged |= e.message.find("clientaliveinterval 7 -> 120") != std::string::npos &&
              e.message.find("reloading ssh.service") != std::string::npos;
  CHECK(logged);
  // A change that leaves every keepalive value as sshd serves it: no reload.
  r.sshd.newest = r.clock.now + 10;
  r.clock.now += 1000000;
  reconcileNow(r.engine, "sshd_config changed");
  CHECK(r.services.reloads == 2);
  CHECK(r.engine.state().kind == StateKind::kOk);
}

TEST_CASE("engine: files newer than the running sshd, what it serves unknown: pending-reload") {
  Rig r;
  r.services.unit_state.read_config_usec = r.clock.now - 100;
  r.sshd.newest = r.clock.now - 50;
  // Our drop-ins are already in place (an earlier daemon wrote them): nothing to write, no
  // reload of ours, and sshd started before someone's last edit.
  r.apply(kPolicy);
  Rig fresh;
  fresh.store.files = r.store.files;
  fresh.services.unit_state.read_config_usec = fresh.clock.now - 100;
  fresh.sshd.newest = fresh.clock.now - 50;
  fresh.apply(kPolicy);
  CHECK(fresh.services.reloads == 0);
  CHECK(fresh.engine.state().kind == StateKind::kPendingReload);
  CHECK_THAT(fresh.engine.state().reason, Catch::Contains("not known"));
}

TEST_CASE("engine: a line after our drop-in is listed as ineffective; the state stays ok") {
  Rig r;
  r.sshd.after.push_back(
      {"/etc/ssh/sshd_config", 99, "clientaliveinterval", "ClientAliveInterval", "33", ""});
  r.apply(kPolicy);
  CHECK(r.engine.state().kind == StateKind::kOk);
  REQUIRE(r.engine.state().shadowed.size() == 1);
  const Shadowing& s = r.engine.state().shadowed[0];
  CHECK(s.effect == LineEffect::kIneffective);
  CHECK(s.line == 99);
  CHECK_THAT(s.describe(),
             Catch::Contains("\"/etc/ssh/sshd_config\":99 sets ClientAliveInterval 33"));
  CHECK_THAT(s.describe(), Catch::Contains("has no effect"));
}

TEST_CASE("engine: the last good policy survives a restart with an invalid policy") {
  Rig r;
  r.apply(kPolicy);
  REQUIRE(r.store.good);
  const std::string digest = r.engine.state().policy_digest;
  CHECK(r.store.good->digest == digest);
  CHECK(r.store.good->sshd == r.sshdFile());
  const std::int64_t since = r.engine.state().policy_since_usec;
  CHECK(since == r.clock.now);
  // An unchanged policy re-applied keeps the time it took effect.
  r.clock.now += 1000000;
  r.apply(kPolicy);
  CHECK(r.engine.state().policy_since_usec == since);

  // A new daemon over the same files and state directory, the policy now invalid.
  Rig again;
  again.store.files = r.store.files;
  again.store.good = r.store.good;
  const int writes = again.store.writes;
  again.apply("version: 1\nserver: {client_alive_interval: bogus}\n");
  CHECK(again.store.writes == writes);
  CHECK(again.store.files == r.store.files);
  const State& s = again.engine.state();
  CHECK(s.kind == StateKind::kPolicyInvalid);
  CHECK_THAT(s.reason, Catch::Contains("the last good policy " + digest + " stays in force"));
  CHECK(s.policy_digest == digest);
  CHECK(s.policy_since_usec == since);
  REQUIRE(again.engine.resolved());
  // A drift repair puts the last good drop-ins back, not nothing.
  again.store.files[Target::kSshd].reset();
  reconcileNow(again.engine, "drift");
  CHECK(again.store.files[Target::kSshd] == r.store.files[Target::kSshd]);
}

TEST_CASE("engine: a corrupt record of the last good policy is a warning, never fatal") {
  Rig r;
  r.store.goodCorrupt = true;
  auto o = r.apply(kPolicy);
  CHECK(o.result == ApplyResult::kApplied);
  bool warned = false;
  for (const auto& e : o.log)
    warned |=
        e.level == LogEvent::Level::kWarning && e.message.find("set aside") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("engine: a restarted daemon trusts what sshd served while sshd has not reloaded since") {
  Rig r;
  r.apply(kPolicy);
  REQUIRE(r.store.served);
  // Someone edits sshd_config without reloading (no keepalive value changes), then the daemon
  // restarts: sshd read its files at the last reload, which the record covers.
  Rig again;
  again.store.files = r.store.files;
  again.store.good = r.store.good;
  again.store.served = r.store.served;
  again.services.unit_state.read_config_usec = r.store.served->read_usec - 100;
  again.sshd.newest = r.store.served->read_usec + 500;
  again.apply(kPolicy);
  CHECK(again.services.reloads == 0);
  CHECK(again.engine.state().kind == StateKind::kOk);
  // sshd reloaded by someone after the record: the record says nothing about it.
  Rig later;
  later.store.files = r.store.files;
  later.store.served = r.store.served;
  later.services.unit_state.read_config_usec = r.store.served->read_usec + 100;
  later.sshd.newest = r.store.served->read_usec + 500;
  later.apply(kPolicy);
  CHECK(later.engine.state().kind == StateKind::kPendingReload);
}

// Issue 16: the OpenSSH version, the model's figures and the proof per network.

TEST_CASE("engine: the first transaction learns the OpenSSH version once and uses it") {
  Rig r;
  auto o = r.apply(kPolicy);
  CHECK(r.sshd.versions == 1);
  REQUIRE(r.engine.resolved());
  REQUIRE(r.engine.resolved()->context.openssh);
  CHECK(r.engine.resolved()->context.openssh->str() == "9.2");
  CHECK(r.engine.resolved()->context.source == "sshd -V");
  CHECK(r.engine.modelContext().openssh == r.engine.resolved()->context.openssh);
  const State& s = r.engine.state();
  CHECK(s.openssh_version == "9.2");
  CHECK(s.openssh_source == "sshd -V");
  bool logged = false;
  for (const auto& e : o.log)
    logged |= e.message.rfind("OpenSSH 9.2 (sshd -V: OpenSSH_9.2p1 Debian-2+deb12u10", 0) == 0;
  CHECK(logged);
  // The figures of the policy in force, for that version: 9.2 probes after 2 x 120 s.
  REQUIRE(s.keepalive.size() == 1);
  CHECK(s.keepalive[0].network.empty());
  CHECK(s.keepalive[0].openssh == "9.2");
  CHECK(s.keepalive[0].probe_factor == 2);
  CHECK(s.keepalive[0].client_alive_interval == 120);
  CHECK(s.keepalive[0].probe_after == 240);
  CHECK(s.keepalive[0].dead_client == 960);  // 2 x 120 x (3 + 1)
  CHECK(s.keepalive[0].server_alive_interval == 240);
  CHECK(s.keepalive[0].dead_server == 960);  // 240 x (3 + 1)
  // Read once: later transactions do not ask again.
  r.apply(kPolicy2);
  reconcileNow(r.engine, "test");
  CHECK(r.sshd.versions == 1);
}

TEST_CASE("engine: a version learnt from ssh -V, and 9.6's figures") {
  Rig r;
  r.sshd.versionText = {Status::success(), "ssh -V", "OpenSSH_9.6p1 Ubuntu-3ubuntu13, OpenSSL 3"};
  r.apply(kPolicy);
  const State& s = r.engine.state();
  CHECK(s.openssh_version == "9.6");
  CHECK(s.openssh_source == "ssh -V");
  REQUIRE(s.keepalive.size() == 1);
  CHECK(s.keepalive[0].probe_factor == 1);
  CHECK(s.keepalive[0].probe_after == 120);
}

TEST_CASE("engine: no version learnt is a warning, and the worst case is assumed") {
  Rig r;
  r.sshd.versionText = {Status::failure("sshd -V: no version printed; ssh -V: not found"), "", ""};
  auto o = r.apply(kPolicy);
  CHECK(o.result == ApplyResult::kApplied);
  const State& s = r.engine.state();
  CHECK(s.openssh_version.empty());
  CHECK(s.openssh_source.empty());
  REQUIRE(r.engine.resolved());
  CHECK_FALSE(r.engine.resolved()->context.openssh);
  bool warned = false;
  for (const auto& e : o.log)
    warned |= e.level == LogEvent::Level::kWarning &&
              e.message.find(
                  "cannot learn the installed OpenSSH's version (sshd -V: no version "
                  "printed; ssh -V: not found): the keepalive figures assume the "
                  "worst case") != std::string::npos;
  CHECK(warned);
  REQUIRE(s.keepalive.size() == 1);
  CHECK(s.keepalive[0].probe_factor == 2);  // the worst case: every second interval
}

TEST_CASE("engine: the default is proven with the outside address and host name") {
  Rig r;
  r.apply(kPolicy);
  REQUIRE_FALSE(r.sshd.serverSpecs.empty());
  CHECK(r.sshd.serverSpecs.back().addr == "192.0.2.1");
  // Once an sshd -T printed sshd's listen address and port, they are the local end.
  reconcileNow(r.engine, "test");
  CHECK(r.sshd.serverSpecs.back().addr == "192.0.2.1");
  CHECK(r.sshd.serverSpecs.back().laddr == "127.0.0.1");
  CHECK(r.sshd.serverSpecs.back().lport == "22");
  REQUIRE_FALSE(r.sshd.clientHosts.empty());
  CHECK(r.sshd.clientHosts.back() == "keepalive-policy.invalid");
  const auto& checks = r.engine.state().network_checks;
  REQUIRE(checks.size() == 3);  // ClientAliveInterval, ClientAliveCountMax, ServerAliveInterval
  CHECK(checks[0].network.empty());
  CHECK(checks[0].target == "sshd");
  CHECK(checks[0].sample == "addr=192.0.2.1");
  CHECK(checks[0].keyword == "clientaliveinterval");
  CHECK(checks[0].value == "120");
  CHECK(checks[2].target == "ssh");
  CHECK(checks[2].sample == "keepalive-policy.invalid");
  CHECK(checks[2].value == "240");
}

TEST_CASE("engine: a value our drop-in does not serve outside every network rolls back") {
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  // sshd -T -C for the outside address shows a value nothing in the files explains.
  r.sshd.forced["192.0.2.1"] = {{"clientaliveinterval", "999"}};
  auto o = r.apply(kPolicy2);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  CHECK(r.services.reloads == 3);  // the candidate's reload, and the restored files'
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kPolicyInvalid);
  CHECK_THAT(s.reason, Catch::Contains("the installed drop-ins do not serve the policy: sshd "
                                       "ClientAliveInterval is 999, not our 60"));
  CHECK(s.rollbacks_total == 1);
}

namespace {

// The networks module (policy/networks.h) is built on its own branch: until it is merged, its
// stubs validate nothing and sample nothing, and these tests have nothing to prove.
bool networksImplemented() {
  return keepalive::policy::validCidr("10.20.0.0/16", nullptr);
}

const char* kNetworkPolicy =
    "version: 1\n"
    "server: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
    "client: {server_alive_interval: 4m}\n"
    "networks:\n"
    "  - name: branch-nat\n"
    "    addresses: [\"10.20.0.0/16\"]\n"
    "    destinations: [\"*.branch.example.com\"]\n"
    "    idle_timeout: 5m\n";

}  // namespace

TEST_CASE("engine: each network is proven with sshd -T -C and ssh -G for a sample of its own") {
  if (!networksImplemented()) {
    WARN("policy/networks.cpp is a stub in this build: nothing to prove per network");
    return;
  }
  Rig r;
  auto o = r.apply(kNetworkPolicy);
  INFO(r.sshdFile());
  CHECK(o.result == ApplyResult::kApplied);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kOk);
  // Our own Match Address and Host blocks are ours: never reported as overriding us.
  CHECK(s.shadowed.empty());
  REQUIRE(r.engine.resolved());
  REQUIRE(r.engine.resolved()->networks.size() == 1);
  const auto& n = r.engine.resolved()->networks[0];
  const auto addr = keepalive::policy::sampleAddress(*r.engine.resolved(), n);
  const auto host = keepalive::policy::sampleDestination(*r.engine.resolved(), n);
  REQUIRE(addr);
  REQUIRE(host);
  bool sawAddr = false;
  for (const auto& c : r.sshd.serverSpecs)
    sawAddr |= c.addr == *addr;
  CHECK(sawAddr);
  CHECK(std::find(r.sshd.clientHosts.begin(), r.sshd.clientHosts.end(), *host) !=
        r.sshd.clientHosts.end());
  std::size_t rows = 0;
  for (const auto& c : s.network_checks)
    if (c.network == "branch-nat") {
      ++rows;
      CHECK((c.sample == "addr=" + *addr || c.sample == *host));
    }
  CHECK(rows == keepalive::policy::renderedDirectives(n, keepalive::policy::Side::kSshd).size() +
                    keepalive::policy::renderedDirectives(n, keepalive::policy::Side::kSsh).size());
  bool logged = false;
  for (const auto& e : o.log)
    logged |= e.message.rfind("served per network: branch-nat: sshd -T -C addr=" + *addr, 0) == 0;
  CHECK(logged);
  // The model's figures for the default and the network.
  REQUIRE(s.keepalive.size() == 2);
  CHECK(s.keepalive[1].network == "branch-nat");
}

TEST_CASE("engine: a network whose block sshd does not serve rolls back, naming it") {
  if (!networksImplemented()) {
    WARN("policy/networks.cpp is a stub in this build: nothing to prove per network");
    return;
  }
  Rig r;
  r.apply(kPolicy);
  const std::string before = r.sshdFile();
  Rig probe;  // the sample the engine will use, from the same policy
  probe.apply(kNetworkPolicy);
  REQUIRE(probe.engine.resolved());
  const auto addr = keepalive::policy::sampleAddress(*probe.engine.resolved(),
                                                     probe.engine.resolved()->networks.at(0));
  REQUIRE(addr);
  r.sshd.forced[*addr] = {{"clientaliveinterval", "120"}};  // the global value, not the network's
  auto o = r.apply(kNetworkPolicy);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK(r.sshdFile() == before);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kPolicyInvalid);
  CHECK_THAT(s.reason, Catch::Contains("for network branch-nat (sshd -T -C addr=" + *addr + ")"));
  CHECK_THAT(s.reason, Catch::Contains("sshd ClientAliveInterval is 120 for network branch-nat"));
}

TEST_CASE("engine: a network's host pattern that ssh does not serve rolls back, naming it") {
  if (!networksImplemented()) {
    WARN("policy/networks.cpp is a stub in this build: nothing to prove per network");
    return;
  }
  Rig r;
  r.apply(kPolicy);
  Rig probe;
  probe.apply(kNetworkPolicy);
  REQUIRE(probe.engine.resolved());
  const auto host = keepalive::policy::sampleDestination(*probe.engine.resolved(),
                                                         probe.engine.resolved()->networks.at(0));
  REQUIRE(host);
  r.sshd.forced[*host] = {{"serveraliveinterval", "240"}};
  auto o = r.apply(kNetworkPolicy);
  CHECK(o.result == ApplyResult::kRolledBack);
  CHECK_THAT(r.engine.state().reason,
             Catch::Contains("for network branch-nat (ssh -G " + *host + ")"));
}

TEST_CASE("engine: a restore that sshd does not serve is reported, never undone") {
  Rig r;
  r.apply(kPolicy);
  // Someone edits our drop-in, and sshd -T -C for the outside address shows a value nothing
  // explains: the reconcile puts ours back and says so; undoing the restore would only bring the
  // edit back (and the edit's event another restore).
  r.store.files[Target::kSshd] = "ClientAliveInterval 7\n";
  r.sshd.forced["192.0.2.1"] = {{"clientaliveinterval", "999"}};
  auto o = reconcileNow(r.engine, "test");
  CHECK(o.result == ApplyResult::kRestored);
  CHECK_THAT(r.sshdFile(), Catch::Contains("ClientAliveInterval 120\n"));
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kShadowed);
  CHECK_THAT(s.reason, Catch::Contains("sshd ClientAliveInterval is 999, not our 120"));
  CHECK(s.rollbacks_total == 0);
}

TEST_CASE("engine: server.log_level is proven with sshd -T's loglevel and its shadows reported") {
  const char* policy = "version: 1\nserver: {client_alive_interval: 2m, log_level: verbose}\n";
  {
    Rig r;
    r.apply(policy);
    const State& s = r.engine.state();
    CHECK(s.kind == StateKind::kOk);
    const auto it = std::find_if(s.effective_server.begin(), s.effective_server.end(),
                                 [](const auto& e) { return e.keyword == "loglevel"; });
    REQUIRE(it != s.effective_server.end());
    CHECK(it->value == "VERBOSE");
  }
  // sshd keeps the first LogLevel it reads: an earlier file's INFO wins over ours.
  Rig r;
  r.sshd.before.push_back(
      {"/etc/ssh/sshd_config.d/00-aaa.conf", 2, "loglevel", "LogLevel", "INFO", ""});
  r.apply(policy);
  const State& s = r.engine.state();
  CHECK(s.kind == StateKind::kShadowed);
  REQUIRE(s.shadowed.size() == 1);
  CHECK(s.shadowed[0].ours == "VERBOSE");
  CHECK(s.shadowed[0].theirs == "INFO");
  CHECK_THAT(s.reason, Catch::Contains("00-aaa.conf\":2 sets LogLevel INFO before our drop-in"));
  // The same level in other case changes nothing: sshd reads the word case-insensitively.
  Rig same;
  same.sshd.before.push_back(
      {"/etc/ssh/sshd_config.d/00-aaa.conf", 2, "loglevel", "LogLevel", "verbose", ""});
  same.apply(policy);
  CHECK(same.engine.state().kind == StateKind::kOk);
}

// keepalivectl status says since when (issue 18): each time the engine keeps, set when the thing
// it names happened, and only then.
TEST_CASE("engine: the state's time is when its kind began, not when it was last re-decided") {
  Rig r;
  // Starting: since the engine (the daemon) started.
  CHECK(r.engine.state().kind == StateKind::kStarting);
  CHECK(r.engine.state().since_usec == r.clock.now);
  r.clock.now += 1000000;
  r.apply(kPolicy);
  REQUIRE(r.engine.state().kind == StateKind::kOk);
  const std::int64_t okSince = r.clock.now;
  CHECK(r.engine.state().since_usec == okSince);
  // Re-applied, reconciled and re-verified later: still ok, still since then.
  r.clock.now += 1000000;
  r.apply(kPolicy);
  reconcileNow(r.engine, "periodic");
  r.engine.unitChanged();
  CHECK(r.engine.state().since_usec == okSince);
  // Another policy: sshd is reloaded, pending-reload while it is, then ok again from then on.
  r.clock.now += 1000000;
  std::vector<StateKind> seen;
  r.engine.setStateListener([&] { seen.push_back(r.engine.state().kind); });
  r.apply(kPolicy2);
  CHECK(seen == std::vector<StateKind>{StateKind::kPendingReload, StateKind::kOk});
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK(r.engine.state().since_usec == r.clock.now);
  // A new kind begins: its own time; back to ok: the time ok began again.
  r.clock.now += 1000000;
  r.engine.setDegraded("1 of 3 homes are not watched");
  CHECK(r.engine.state().kind == StateKind::kDegraded);
  CHECK(r.engine.state().since_usec == r.clock.now);
  r.clock.now += 1000000;
  r.engine.setDegraded("2 of 3 homes are not watched");  // the reason only
  CHECK(r.engine.state().since_usec == r.clock.now - 1000000);
  r.clock.now += 1000000;
  r.engine.setDegraded("");
  CHECK(r.engine.state().kind == StateKind::kOk);
  CHECK(r.engine.state().since_usec == r.clock.now);
}

TEST_CASE("engine: the policy's time is when it took effect, kept across re-applies and restarts") {
  Rig r;
  CHECK(r.engine.state().policy_since_usec == 0);
  r.apply(kPolicy);
  const std::int64_t first = r.clock.now;
  CHECK(r.engine.state().policy_since_usec == first);
  // A rejected policy and a rolled-back one leave the policy in force, and its time.
  r.clock.now += 1000000;
  r.apply("version: 1\nserver: {client_alive_intervall: 1m}\n");
  CHECK(r.engine.state().policy_since_usec == first);
  r.clock.now += 1000000;
  r.probe.fail = true;
  REQUIRE(r.apply(kPolicy2).result == ApplyResult::kRolledBack);
  r.probe.fail = false;
  CHECK(r.engine.state().policy_since_usec == first);
  // A drift repair restores the same policy: the same time.
  r.clock.now += 1000000;
  r.store.files[Target::kSshd].reset();
  REQUIRE(reconcileNow(r.engine, "drift").result == ApplyResult::kRestored);
  CHECK(r.engine.state().policy_since_usec == first);
  // A restarted daemon over the same state directory, the same policy: the time it first took
  // effect, not the restart's.
  Rig again;
  again.clock.now = r.clock.now + 60000000;
  again.store.files = r.store.files;
  again.store.good = r.store.good;
  again.apply(kPolicy);
  CHECK(again.engine.state().policy_since_usec == first);
  // Another policy takes effect: its own time.
  again.clock.now += 1000000;
  REQUIRE(again.apply(kPolicy2).result == ApplyResult::kApplied);
  CHECK(again.engine.state().policy_since_usec == again.clock.now);
}

TEST_CASE("engine: the reload's time is when we reloaded sshd, also when a rollback followed") {
  Rig r;
  CHECK(r.engine.state().last_reload_usec == 0);
  r.apply(kPolicy);
  REQUIRE(r.services.reloads == 1);
  const std::int64_t reloaded = r.clock.now;
  CHECK(r.engine.state().last_reload_usec == reloaded);
  // Nothing to reload: the time stays.
  r.clock.now += 1000000;
  r.apply(kPolicy);
  REQUIRE(r.services.reloads == 1);
  CHECK(r.engine.state().last_reload_usec == reloaded);
  // Only comments differ (another trigger): no reload either.
  reconcileNow(r.engine, "periodic");
  CHECK(r.engine.state().last_reload_usec == reloaded);
  // sshd reloaded, then did not answer: the reload happened (and the rollback's reload too).
  r.clock.now += 1000000;
  r.probe.fail = true;
  REQUIRE(r.apply(kPolicy2).result == ApplyResult::kRolledBack);
  CHECK(r.services.reloads >= 2);
  CHECK(r.engine.state().last_reload_usec == r.clock.now);
  // A reload the unit refused is not a reload.
  r.probe.fail = false;
  const std::int64_t before = r.engine.state().last_reload_usec;
  r.clock.now += 1000000;
  r.services.fail = true;
  r.apply(kPolicy2);
  CHECK(r.engine.state().last_reload_usec == before);
}

TEST_CASE("engine: the last error's time is when it happened; a success keeps it") {
  Rig r;
  r.apply(kPolicy);
  CHECK(r.engine.state().last_error.empty());
  CHECK(r.engine.state().last_error_usec == 0);
  r.clock.now += 1000000;
  r.apply("version: 1\nserver: {client_alive_intervall: 1m}\n");
  const std::int64_t failed = r.clock.now;
  CHECK_FALSE(r.engine.state().last_error.empty());
  CHECK(r.engine.state().last_error_usec == failed);
  // Later successes do not move it: it is the last error's time, and the error stays shown.
  r.clock.now += 1000000;
  r.apply(kPolicy2);
  REQUIRE(r.engine.state().kind == StateKind::kOk);
  CHECK(r.engine.state().last_error_usec == failed);
  // The next error has its own.
  r.clock.now += 1000000;
  r.services.fail = true;
  r.apply(kPolicy);
  CHECK_THAT(r.engine.state().last_error, Catch::Contains("reload of ssh.service failed"));
  CHECK(r.engine.state().last_error_usec == r.clock.now);
}
