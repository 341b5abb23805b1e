// SPDX-License-Identifier: GPL-2.0-or-later
// The keepalive model (policy/src/model.cpp) against the facts of each OpenSSH version (issue 16
// §1; docs/policy.md §7 cites serverloop.c and clientloop.c per tag).
#include <catch2/catch.hpp>

#include <algorithm>

#include "helpers.h"
#include "keepalive/policy/advise.h"
#include "keepalive/policy/duration.h"
#include "keepalive/policy/model.h"
#include "keepalive/policy/render.h"

using namespace keepalive::policy;

namespace {

ModelContext at(int major, int minor) {
  return ModelContext{OpensshVersion{major, minor}, "test"};
}

ModelInput values(std::int64_t ci, std::int64_t cc, std::int64_t si = 0, std::int64_t sc = 3) {
  ModelInput in;
  in.client_alive_interval = ci;
  in.client_alive_count_max = cc;
  in.server_alive_interval = si;
  in.server_alive_count_max = sc;
  return in;
}

bool hasWarning(const Figures& f, const std::string& id) {
  return std::any_of(f.warnings.begin(), f.warnings.end(),
                     [&](const ModelWarning& w) { return w.id == id; });
}

const ModelWarning* warning(const Figures& f, const std::string& id) {
  for (const auto& w : f.warnings)
    if (w.id == id)
      return &w;
  return nullptr;
}

keepalive::test::Loaded loadFor(const std::string& text, const ModelContext& ctx) {
  keepalive::test::Loaded l;
  l.policy = loadPolicy({{"policy.yaml", text}}, l.diags, ctx);
  return l;
}

}  // namespace

TEST_CASE("model: OpensshVersion reads what sshd -V and ssh -V print") {
  CHECK(OpensshVersion::parse("9.2") == OpensshVersion{9, 2});
  CHECK(OpensshVersion::parse("9.6p1") == OpensshVersion{9, 6});
  CHECK(OpensshVersion::parse("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026") == OpensshVersion{9, 2});
  CHECK(OpensshVersion::parse("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026") ==
        OpensshVersion{9, 2});
  CHECK(OpensshVersion::parse("OpenSSH_10.2p1") == OpensshVersion{10, 2});
  CHECK_FALSE(OpensshVersion::parse("unknown option -- V"));
  CHECK(OpensshVersion{10, 0} > OpensshVersion{9, 9});
  CHECK(OpensshVersion{9, 2}.str() == "9.2");
}

TEST_CASE("model: the probe factor k per version and server.openssh_timing") {
  struct Row {
    int major, minor, k;
  };
  for (const Row& r :
       {Row{7, 4, 1}, Row{8, 1, 1}, Row{8, 9, 1}, Row{9, 1, 1}, Row{9, 2, 2}, Row{9, 3, 2},
        Row{9, 4, 2}, Row{9, 5, 1}, Row{9, 6, 1}, Row{10, 0, 1}, Row{10, 2, 1}}) {
    INFO(r.major << "." << r.minor);
    CHECK(probeFactor(at(r.major, r.minor), OpensshTiming::kAuto) == r.k);
  }
  CHECK(probeFactor({}, OpensshTiming::kAuto) == 2);  // the worst case
  CHECK(probeFactor(at(9, 2), OpensshTiming::kOnce) == 1);
  CHECK(probeFactor(at(9, 6), OpensshTiming::kTwice) == 2);
  CHECK_THAT(probeFactorReason(at(9, 2), OpensshTiming::kAuto),
             Catch::Contains("sshd 9.2 sends its probe only after 2 x ClientAliveInterval") &&
                 Catch::Contains("serverloop.c") && Catch::Contains("fixed in 9.5"));
}

TEST_CASE("model: the table of figures for 8.1, 8.9, 9.2, 9.4, 9.5, 9.6 and 10.x") {
  // ClientAliveInterval 100, ClientAliveCountMax 3, ServerAliveInterval 150, count 3.
  struct Row {
    int major, minor;
    std::int64_t gap, dead;
    bool blindSpot;
  };
  for (const Row& r :
       {Row{7, 4, 100, 400, true}, Row{7, 5, 100, 400, true}, Row{7, 6, 100, 400, false},
        Row{8, 1, 100, 400, false}, Row{8, 9, 100, 400, false}, Row{9, 2, 200, 800, true},
        Row{9, 4, 200, 800, true}, Row{9, 5, 100, 400, true}, Row{9, 6, 100, 400, true},
        Row{10, 0, 100, 400, true}, Row{10, 2, 100, 400, true}, Row{10, 5, 100, 400, true}}) {
    INFO(r.major << "." << r.minor);
    const Figures f = evaluate(values(100, 3, 150, 3), at(r.major, r.minor));
    CHECK(f.openssh == OpensshVersion{r.major, r.minor}.str());
    CHECK_FALSE(f.worst_case);
    CHECK(f.server.max_idle_gap == r.gap);
    CHECK(f.server.dead_client == r.dead);
    CHECK(f.client.max_idle_gap == 150);
    CHECK(f.client.dead_server == 600);
    CHECK(hasWarning(f, "busy-blind-spot") == r.blindSpot);
    if (r.blindSpot) {
      CHECK(warning(f, "busy-blind-spot")->fact);
      CHECK_THAT(warning(f, "busy-blind-spot")->text,
                 Catch::Contains("tcp_retries2") && Catch::Contains("924.6 s"));
    }
  }
}

TEST_CASE("model: ssh up to 8.3 delays its probe on local activity, 8.4 does not") {
  // V_8_1_P1 clientloop.c:539-541,580-586; fixed in 8.4 (f11b23346).
  for (const auto& [minor, delays] : {std::pair{3, true}, std::pair{4, false}}) {
    const Figures f = evaluate(values(100, 3, 150, 3), at(8, minor));
    INFO("8." << minor);
    CHECK(hasWarning(f, "client-local-activity") == delays);
  }
  CHECK(hasWarning(evaluate(values(100, 3, 150, 3), {}), "client-local-activity"));
  // No ServerAliveInterval, no probe to delay.
  CHECK_FALSE(hasWarning(evaluate(values(100, 3, 0, 3), at(8, 1)), "client-local-activity"));
}

TEST_CASE("model: ClientAliveCountMax 0 cuts after one interval up to 8.1, never from 8.2") {
  const Figures old = evaluate(values(100, 0), at(8, 1));
  CHECK(old.server.dead_client == 100);
  CHECK(old.server.break_survived == 100);
  CHECK_THAT(warning(old, "count-max-zero")->text, Catch::Contains("live or dead"));
  for (auto ctx : {at(8, 2), at(8, 9), at(9, 2), at(9, 6), at(10, 2), ModelContext{}}) {
    const Figures f = evaluate(values(100, 0), ctx);
    INFO(f.openssh);
    CHECK_FALSE(f.server.dead_client);
    REQUIRE(hasWarning(f, "count-max-zero"));
    CHECK_FALSE(warning(f, "count-max-zero")->fact);
    CHECK_THAT(warning(f, "count-max-zero")->text, Catch::Contains("never disconnects"));
    // Only TCP's retransmission limit ends a broken session: first probe + 924 s.
    CHECK(f.server.break_survived == f.server.max_idle_gap + kTcpGiveUpSeconds);
  }
}

TEST_CASE("model: no version means the worst case, and says so") {
  const Figures f = evaluate(values(100, 3), {});
  CHECK(f.worst_case);
  CHECK(f.openssh == "worst case over OpenSSH 7.4 to 10.5");
  CHECK(f.server.k == 2);
  CHECK(f.server.dead_client == 800);
  CHECK(hasWarning(f, "worst-case"));
  CHECK(hasWarning(f, "busy-blind-spot"));
  CHECK(describe({}) == "the worst case over OpenSSH 7.4 to 10.5");
  CHECK(describe(at(9, 2)) == "OpenSSH 9.2 (test)");
  CHECK(hasWarning(evaluate(values(100, 3), at(11, 0)), "version-unknown"));
}

TEST_CASE("model: the seed's 298 x 50 on Debian 12's sshd 9.2 keeps a dead client 8h26m36s") {
  const Figures f = evaluate(values(298, 50), at(9, 2));
  CHECK(f.server.dead_client == 30396);
  CHECK(formatDuration(*f.server.dead_client) == "8h26m36s");
  CHECK(evaluate(values(298, 50), at(8, 9)).server.dead_client == 15198);
}

TEST_CASE("model: the break survived") {
  // B + min(B - p, 120) <= D: (D + p) / 2 while (D - p) / 2 <= 120, else D - 120; at most p + 924.
  CHECK(breakSurvived(10, 40) == 25);
  CHECK(breakSurvived(100, 400) == 280);
  CHECK(breakSurvived(200, 800) == 680);
  CHECK(breakSurvived(150, 600) == 480);
  CHECK(breakSurvived(900, 3600) == 900 + 924);
  CHECK(breakSurvived(100, std::nullopt) == 1024);
  const Figures f = evaluate(values(100, 3, 150, 3), at(9, 2));
  CHECK(f.server.break_survived == 680);
  CHECK(f.client.break_survived == 480);
  CHECK(f.break_survived == 480);
  // No probes: keepalives never cut a session.
  const Figures none = evaluate(ModelInput{}, at(9, 2));
  CHECK_FALSE(none.server.break_survived);
  CHECK_FALSE(none.break_survived);
  CHECK_FALSE(none.server.dead_client);
}

TEST_CASE("model: TCPKeepAlive alone is no help against a NAT") {
  ModelInput in;
  in.tcp_keepalive = true;
  in.idle_timeout = 300;
  const Figures f = evaluate(in, at(9, 2));
  REQUIRE(hasWarning(f, "tcp-keepalive-no-nat"));
  CHECK_THAT(warning(f, "tcp-keepalive-no-nat")->text, Catch::Contains("2h"));
}

TEST_CASE("model: derived intervals per version, capped by the hour and the baseline") {
  CHECK(deriveServerInterval(300, at(9, 2), OpensshTiming::kAuto, Baseline::kNone) == 100);
  CHECK(deriveServerInterval(300, at(9, 4), OpensshTiming::kAuto, Baseline::kNone) == 100);
  CHECK(deriveServerInterval(300, {}, OpensshTiming::kAuto, Baseline::kNone) == 100);
  CHECK(deriveServerInterval(300, at(9, 6), OpensshTiming::kAuto, Baseline::kNone) == 150);
  CHECK(deriveServerInterval(300, at(8, 9), OpensshTiming::kAuto, Baseline::kNone) == 150);
  CHECK(deriveServerInterval(300, at(9, 6), OpensshTiming::kTwice, Baseline::kNone) == 100);
  CHECK(deriveServerInterval(3, at(9, 2), OpensshTiming::kAuto, Baseline::kNone) == 1);
  // k x I x (3 + 1) <= 1h.
  CHECK(deriveServerInterval(3600, at(9, 2), OpensshTiming::kAuto, Baseline::kNone) == 450);
  CHECK(deriveServerInterval(3600, at(9, 6), OpensshTiming::kAuto, Baseline::kNone) == 900);
  CHECK(deriveServerInterval(3600, at(9, 6), OpensshTiming::kAuto, Baseline::kStig) == 600);
  CHECK(deriveServerInterval(3600, at(9, 6), OpensshTiming::kAuto, Baseline::kLynis) == 300);
  CHECK(deriveServerInterval(3600, at(9, 6), OpensshTiming::kAuto, Baseline::kCis) == 300);
  CHECK(deriveClientInterval(300, Baseline::kNone) == 150);
  CHECK(deriveClientInterval(3600, Baseline::kStig) == 900);
  // Every derived interval keeps the gap below the timeout.
  for (std::int64_t t : {3, 4, 5, 6, 7, 59, 60, 299, 300, 301, 1799, 3600, 86400})
    for (auto ctx : {at(8, 9), at(9, 2), at(9, 6), ModelContext{}})
      CHECK(probeFactor(ctx, OpensshTiming::kAuto) *
                deriveServerInterval(t, ctx, OpensshTiming::kAuto, Baseline::kNone) <
            t);
}

TEST_CASE("model: derived counts cover outage_tolerance; baselines set theirs") {
  CHECK_FALSE(
      deriveServerCountMax(100, std::nullopt, at(9, 2), OpensshTiming::kAuto, Baseline::kNone));
  CHECK_FALSE(
      deriveServerCountMax(100, std::nullopt, at(9, 2), OpensshTiming::kAuto, Baseline::kCis));
  CHECK(deriveServerCountMax(100, std::nullopt, at(9, 2), OpensshTiming::kAuto, Baseline::kStig) ==
        1);
  CHECK(deriveServerCountMax(100, std::nullopt, at(9, 2), OpensshTiming::kAuto, Baseline::kLynis) ==
        2);
  // 3m is covered by the default 3 (680 s); 15m needs 5 (k = 2, I = 100: D = 1200, 1080 s).
  CHECK(deriveServerCountMax(100, 180, at(9, 2), OpensshTiming::kAuto, Baseline::kNone) == 3);
  CHECK(deriveServerCountMax(100, 900, at(9, 2), OpensshTiming::kAuto, Baseline::kNone) == 5);
  CHECK(breakSurvived(200, 200 * 6) >= 900);
  CHECK(breakSurvived(200, 200 * 5) < 900);
  CHECK(deriveServerCountMax(100, 900, at(9, 2), OpensshTiming::kAuto, Baseline::kStig) == 1);
  CHECK(deriveServerCountMax(100, 900, at(9, 2), OpensshTiming::kAuto, Baseline::kLynis) == 2);
  // J = 150: D = 7 x 150 = 1050 survives 930 s, 6 x 150 only 780 s.
  CHECK(deriveClientCountMax(150, 900, Baseline::kNone) == 6);
  CHECK_FALSE(deriveClientCountMax(150, std::nullopt, Baseline::kNone));
}

TEST_CASE("model: an outage the counts cannot cover is warned about, and who wins") {
  // TCP's limit: 20m is more than any count survives with a 3m20s probe gap (p + 924 = 18m44s).
  ModelInput in = values(100, 6);
  in.outage_tolerance = 1200;
  const Figures f = evaluate(in, at(9, 2));
  REQUIRE(hasWarning(f, "outage-not-covered"));
  CHECK_THAT(warning(f, "outage-not-covered")->text, Catch::Contains("TCP gives up"));
  // STIG's ClientAliveCountMax 1 against a 15m outage: the baseline wins, and says how much.
  ModelInput stig = values(100, 1);
  stig.outage_tolerance = 900;
  stig.baseline = Baseline::kStig;
  const Figures fs = evaluate(stig, at(9, 2));
  REQUIRE(hasWarning(fs, "outage-not-covered"));
  CHECK_THAT(warning(fs, "outage-not-covered")->text,
             Catch::Contains("the baseline wins because it is an audit requirement") &&
                 Catch::Contains("sessions survive a break of only 5m"));
  // Covered: no warning.
  ModelInput ok = values(100, 5, 150, 6);
  ok.outage_tolerance = 900;
  CHECK_FALSE(hasWarning(evaluate(ok, at(9, 2)), "outage-not-covered"));
}

TEST_CASE("model: STIG errors name their rule ids") {
  const auto ctx = at(9, 2);
  auto count = loadFor(
      "version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m}\n"
      "server: {client_alive_count_max: 3}\n",
      ctx);
  CHECK(count.error("sshd_set_keepalive; RHEL-08-010200, RHEL-09-255095, UBTU-22-255030"));
  auto interval =
      loadFor("version: 1\nbaseline: stig\nserver: {client_alive_interval: 15m}\n", ctx);
  CHECK(interval.error("sshd_set_idle_timeout; RHEL-08-010201, RHEL-09-255100, UBTU-22-255035"));
  auto unset = loadFor("version: 1\nbaseline: stig\n", ctx);
  CHECK(unset.error("ClientAliveInterval unset"));
  // With only the idle timeout, the derived values satisfy the STIG and the timeout both.
  auto derived = loadFor("version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m}\n", ctx);
  CHECK_VALID(derived);
  CHECK(derived.diags.items().empty());
  const Resolved r = resolve(derived.policy, HostIdentity::fromName("h"), ctx);
  CHECK(r.settings.server.client_alive_count_max->value == 1);
  CHECK(r.settings.server.client_alive_interval->value == 100);
  CHECK_THAT(r.settings.server.client_alive_count_max->note, Catch::Contains("RHEL-08-010200"));
  // The dead-session warning's advice follows the baseline, not OpenSSH's default of 3.
  auto seed = loadFor(
      "version: 1\nbaseline: stig\nserver: {client_alive_interval: 298, "
      "client_alive_count_max: 50}\n",
      ctx);
  CHECK(seed.warning("lower the count to 1, as baseline stig requires"));
  CHECK_FALSE(seed.warning("lower the count to 3"));
}

TEST_CASE("model: CIS 5.1.7 and Lynis SSH-7408 are checked with their ids") {
  const auto ctx = at(9, 6);
  CHECK(loadFor("version: 1\nbaseline: cis\nserver: {client_alive_interval: 0}\n", ctx)
            .error("CIS 5.1.7"));
  CHECK(loadFor("version: 1\nbaseline: cis\nserver: {client_alive_interval: 5m, "
                "client_alive_count_max: 0}\n",
                ctx)
            .error("CIS 5.1.7"));
  CHECK_VALID(loadFor("version: 1\nbaseline: cis\nnetwork: {idle_timeout: 10m}\n", ctx));
  auto lynis = loadFor(
      "version: 1\nbaseline: lynis\nserver: {client_alive_interval: 10m, "
      "client_alive_count_max: 3, tcp_keepalive: true}\n",
      ctx);
  CHECK(lynis.error("Lynis SSH-7408 rates ClientAliveInterval"));
  CHECK(lynis.error("Lynis SSH-7408 rates ClientAliveCountMax"));
  CHECK(lynis.error("Lynis SSH-7408 rates TCPKeepAlive"));
  auto derived = loadFor("version: 1\nbaseline: lynis\nnetwork: {idle_timeout: 1h}\n", ctx);
  CHECK_VALID(derived);
  const Resolved r = resolve(derived.policy, HostIdentity::fromName("h"), ctx);
  CHECK(r.settings.server.client_alive_interval->value == 300);
  CHECK(r.settings.server.client_alive_count_max->value == 2);
  CHECK_FALSE(r.settings.server.tcp_keepalive->value);
}

TEST_CASE("model: outage_tolerance derives the counts in a policy") {
  auto l = loadFor("version: 1\nnetwork: {idle_timeout: 5m, outage_tolerance: 15m}\n", at(9, 2));
  CHECK_VALID(l);
  const Resolved r = resolve(l.policy, HostIdentity::fromName("h"), at(9, 2));
  CHECK(r.settings.server.client_alive_count_max->value == 5);
  CHECK(r.settings.server.client_alive_count_max->derived);
  CHECK_THAT(r.settings.server.client_alive_count_max->note,
             Catch::Contains("derived from network.outage_tolerance 15m"));
  REQUIRE(r.settings.client.server_alive_count_max);
  auto stig = loadFor(
      "version: 1\nbaseline: stig\nnetwork: {idle_timeout: 5m, outage_tolerance: 15m}\n", at(9, 2));
  CHECK_FALSE(stig.diags.hasErrors());
  CHECK(stig.warning("the baseline wins because it is an audit requirement"));
}

TEST_CASE("model: idle_logout and unused_connection_timeout need sshd 9.2") {
  const std::string text =
      "version: 1\nserver: {idle_logout: 30m, unused_connection_timeout: 10m}\n";
  auto old = loadFor(text, at(8, 9));
  CHECK(old.error(
      "server.idle_logout (ChannelTimeout) needs sshd 9.2 or newer; this is OpenSSH 8.9"));
  CHECK(old.error("UnusedConnectionTimeout) needs sshd 9.2"));
  CHECK(loadFor(text, {}).warning("the OpenSSH version is unknown"));
  auto ok = loadFor(text, at(9, 2));
  CHECK_VALID(ok);
  CHECK(ok.diags.items().empty());
  const Resolved r = resolve(ok.policy, HostIdentity::fromName("h"), at(9, 2));
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  // As sshd -T prints them back.
  CHECK(renderedDirectives(r, Side::kSshd) ==
        Pairs{{"ChannelTimeout", "session=1800"}, {"UnusedConnectionTimeout", "600"}});
}

TEST_CASE("model: server.openssh_timing and baseline are read as words") {
  auto once =
      loadFor("version: 1\nnetwork: {idle_timeout: 5m}\nserver: {openssh_timing: 1x}\n", at(9, 2));
  CHECK_VALID(once);
  CHECK(resolve(once.policy, HostIdentity::fromName("h"), at(9, 2))
            .settings.server.client_alive_interval->value == 150);
  auto quoted = loadFor("version: 1\nserver: {openssh_timing: \"2x\"}\n", at(9, 6));
  CHECK_VALID(quoted);
  CHECK(quoted.policy.base.server.openssh_timing->value == OpensshTiming::kTwice);
  CHECK(loadFor("version: 1\nserver: {openssh_timing: 3x}\n", {})
            .error("is not one of auto, 1x or 2x"));
  CHECK(loadFor("version: 1\nbaseline: pci\n", {}).error("is not one of none, stig, cis or lynis"));
}

TEST_CASE("model: advise gives what the policy derives, and it passes the rules") {
  const Recommendation r92 = advise(300, at(9, 2));
  CHECK(r92.figures.server.interval == 100);
  CHECK(r92.figures.server.max_idle_gap == 200);
  CHECK(r92.figures.server.dead_client == 800);
  CHECK(r92.figures.client.interval == 150);
  CHECK(r92.figures.client.dead_server == 600);
  const Recommendation r96 = advise(300, at(9, 6));
  CHECK(r96.figures.server.interval == 150);
  CHECK(r96.figures.server.dead_client == 600);
  const Recommendation stig = advise(300, at(9, 2), std::nullopt, Baseline::kStig);
  CHECK(stig.figures.server.count_max == 1);
  CHECK(stig.figures.server.interval <= 600);
  CHECK(stig.figures.server.max_idle_gap < 300);
  for (auto b : {Baseline::kNone, Baseline::kStig, Baseline::kCis, Baseline::kLynis})
    for (auto ctx : {at(8, 1), at(8, 9), at(9, 2), at(9, 6), at(10, 2), ModelContext{}})
      for (std::int64_t t : {3, 7, 300, 3600, 86400}) {
        const Recommendation r = advise(t, ctx, std::nullopt, b);
        Settings s;
        s.network.idle_timeout = Value<std::int64_t>{t, {}, false, ""};
        s.server.client_alive_interval =
            Value<std::int64_t>{*r.input.client_alive_interval, {}, false, ""};
        s.server.client_alive_count_max =
            Value<std::int64_t>{*r.input.client_alive_count_max, {}, false, ""};
        s.client.server_alive_interval =
            Value<std::int64_t>{*r.input.server_alive_interval, {}, false, ""};
        s.client.server_alive_count_max =
            Value<std::int64_t>{*r.input.server_alive_count_max, {}, false, ""};
        s.server.tcp_keepalive = Value<bool>{*r.input.tcp_keepalive, {}, false, ""};
        Diagnostics d;
        checkSettings(s, d, ctx, b);
        INFO(toString(b) << " " << r.figures.openssh << " " << t);
        for (const auto& item : d.items())
          INFO(item.str());
        CHECK_FALSE(d.hasErrors());
      }
}

TEST_CASE("model: advise says which LogLevel shows the sessions the path cut") {
  auto row = [](const Recommendation& r) {
    for (const auto& a : r.advice)
      if (a.setting == "LogLevel")
        return a;
    FAIL("no LogLevel advice");
    return Advice{};
  };
  const Advice a92 = row(advise(300, at(9, 2)));
  CHECK(a92.product == "sshd");
  CHECK(a92.value == "VERBOSE");
  CHECK_THAT(a92.reason, Catch::Contains("sshd before 9.8 logs a session cut by the path"));
  CHECK(row(advise(300, {})).value == "VERBOSE");  // an unknown version may be older than 9.8
  CHECK(row(advise(300, at(9, 8))).value == "INFO (the default) or VERBOSE");
  const Advice stig = row(advise(300, at(9, 8), std::nullopt, Baseline::kStig));
  CHECK(stig.value == "VERBOSE");
  CHECK_THAT(stig.reason, Catch::Contains("baseline stig requires LogLevel VERBOSE"));
  CHECK(row(advise(300, at(10, 0), std::nullopt, Baseline::kCis)).value ==
        "INFO (the default) or VERBOSE");
}
