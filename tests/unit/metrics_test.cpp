// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/metrics.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using keepalive::daemon::ApplyResult;
using keepalive::daemon::DaemonStatus;
using keepalive::daemon::escapeLabelValue;
using keepalive::daemon::renderMetrics;
using keepalive::daemon::StateKind;

namespace {

DaemonStatus sample() {
  DaemonStatus in;
  in.state = StateKind::kOk;
  in.version = "0.1.0";
  in.policy_digest = "sha256:27087c4c";
  in.generation = 3;
  in.last_apply_usec = 1700000000123456;
  in.last_apply_result = ApplyResult::kApplied;
  in.effective_server = {{"clientaliveinterval", {"120", ""}},
                         {"clientalivecountmax", {"3", ""}},
                         {"tcpkeepalive", {"no", ""}}};
  in.effective_client = {{"serveraliveinterval", {"240", ""}}, {"serveralivecountmax", {"4", ""}}};
  in.shadowed = {"\"/etc/ssh/sshd_config\":3 sets ClientAliveInterval 0"};
  in.users_covered = 12;
  in.users_noncompliant = 2;
  in.users_unwatched = 1;
  in.repairs_total = 7;
  in.refusals_total = 1;
  in.reloads_total = 2;
  in.rollbacks_total = 1;
  in.watches_used = 25;
  return in;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    out.push_back(l);
  return out;
}

// name{labels} -> value, for every sample line.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& l : lines(text)) {
    if (l.empty() || l[0] == '#')
      continue;
    const auto sp = l.rfind(' ');
    out[l.substr(0, sp)] = l.substr(sp + 1);
  }
  return out;
}

std::string metricName(const std::string& sampleKey) {
  return sampleKey.substr(0, sampleKey.find('{'));
}

}  // namespace

TEST_CASE("metrics: every family has HELP and TYPE before its samples, names prefixed") {
  const std::string text = renderMetrics(sample());
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  std::set<std::string> helped, typed, seen;
  for (const auto& l : lines(text)) {
    if (l.rfind("# HELP ", 0) == 0) {
      helped.insert(l.substr(7, l.find(' ', 7) - 7));
    } else if (l.rfind("# TYPE ", 0) == 0) {
      const auto name = l.substr(7, l.find(' ', 7) - 7);
      const auto type = l.substr(l.rfind(' ') + 1);
      CHECK((type == "gauge" || type == "counter"));
      // Prometheus conventions: counters and only counters end in _total.
      CHECK((type == "counter") == (name.size() > 6 && name.substr(name.size() - 6) == "_total"));
      typed.insert(name);
    } else {
      const auto name = metricName(l.substr(0, l.rfind(' ')));
      INFO(l);
      CHECK(name.rfind("keepalive_policy_", 0) == 0);
      CHECK(helped.count(name) == 1);  // HELP and TYPE came first
      CHECK(typed.count(name) == 1);
      seen.insert(name);
    }
  }
  CHECK(helped == typed);
  CHECK(seen == typed);  // no family without samples
}

TEST_CASE("metrics: every metric of the issue is present with its value") {
  const auto s = samples(renderMetrics(sample()));
  CHECK(s.at(R"(keepalive_policy_info{version="0.1.0",digest="sha256:27087c4c"})") == "1");
  CHECK(s.at(R"(keepalive_policy_state{state="ok"})") == "1");
  CHECK(s.at("keepalive_policy_generation") == "3");
  CHECK(s.at("keepalive_policy_last_apply_timestamp_seconds") == "1700000000.123456");
  CHECK(s.at("keepalive_policy_last_apply_success") == "1");
  CHECK(s.at(R"(keepalive_policy_last_apply_result{result="applied"})") == "1");
  CHECK(
      s.at(
          R"(keepalive_policy_effective_interval_seconds{target="sshd",keyword="clientaliveinterval"})") ==
      "120");
  CHECK(
      s.at(
          R"(keepalive_policy_effective_interval_seconds{target="ssh",keyword="serveraliveinterval"})") ==
      "240");
  CHECK(
      s.at(
          R"(keepalive_policy_effective_count_max{target="sshd",keyword="clientalivecountmax"})") ==
      "3");
  CHECK(
      s.at(R"(keepalive_policy_effective_count_max{target="ssh",keyword="serveralivecountmax"})") ==
      "4");
  CHECK(s.at(R"(keepalive_policy_effective_tcp_keepalive{target="sshd"})") == "0");
  CHECK(s.at("keepalive_policy_shadowed_settings") == "1");
  CHECK(s.at("keepalive_policy_users_covered") == "12");
  CHECK(s.at("keepalive_policy_users_noncompliant") == "2");
  CHECK(s.at("keepalive_policy_users_unwatched") == "1");
  CHECK(s.at("keepalive_policy_repairs_total") == "7");
  CHECK(s.at("keepalive_policy_refusals_total") == "1");
  CHECK(s.at("keepalive_policy_reloads_total") == "2");
  CHECK(s.at("keepalive_policy_rollbacks_total") == "1");
  CHECK(s.at("keepalive_policy_inotify_watches") == "25");
}

// The state is an enum: a state this build does not know cannot reach the file.
TEST_CASE("metrics: the state is one-hot over every state") {
  const std::vector<std::string> states = {
      "starting",           "ok",       "pending-reload", "sshd-stopped",
      "sshd-config-broken", "shadowed", "policy-invalid", "degraded"};
  for (const auto& current : states) {
    auto in = sample();
    in.state = *keepalive::daemon::stateKindFromString(current);
    const auto s = samples(renderMetrics(in));
    int ones = 0;
    for (const auto& st : states) {
      const auto v = s.at("keepalive_policy_state{state=\"" + st + "\"}");
      CHECK(v == (st == current ? "1" : "0"));
      ones += v == "1";
    }
    CHECK(ones == 1);
  }
}

TEST_CASE("metrics: before the first apply") {
  DaemonStatus in;  // state starting, nothing applied, no effective values
  const auto text = renderMetrics(in);
  const auto s = samples(text);
  CHECK(s.at(R"(keepalive_policy_info{version="",digest=""})") == "1");
  CHECK(s.at(R"(keepalive_policy_state{state="starting"})") == "1");
  CHECK(s.at("keepalive_policy_last_apply_timestamp_seconds") == "0.000000");
  CHECK(s.at("keepalive_policy_last_apply_success") == "0");
  CHECK(s.at(R"(keepalive_policy_last_apply_result{result="none"})") == "1");
  // No effective value is known: those families are left out, HELP and TYPE too.
  CHECK(text.find("effective") == std::string::npos);
}

TEST_CASE("metrics: failed applies and values that are not numbers") {
  auto in = sample();
  for (const auto& [result, ok] :
       std::vector<std::pair<std::string, std::string>>{{"applied", "1"},
                                                        {"unchanged", "1"},
                                                        {"restored", "1"},
                                                        {"policy-error", "0"},
                                                        {"rolled-back", "0"}}) {
    in.last_apply_result = *keepalive::daemon::applyResultFromString(result);
    CHECK(samples(renderMetrics(in)).at("keepalive_policy_last_apply_success") == ok);
  }
  in.effective_server = {{"clientaliveinterval", {"2m", ""}}, {"clientalivecountmax", {"-1", ""}}};
  const auto text = renderMetrics(in);
  CHECK(text.find("clientaliveinterval") == std::string::npos);
  CHECK(text.find("clientalivecountmax") == std::string::npos);
}

TEST_CASE("metrics: label values are escaped as the exposition format says") {
  CHECK(escapeLabelValue("plain-1.0") == "plain-1.0");
  CHECK(escapeLabelValue(R"(a\b)") == R"(a\\b)");
  CHECK(escapeLabelValue(R"(say "hi")") == R"(say \"hi\")");
  CHECK(escapeLabelValue("two\nlines") == R"(two\\x0alines)");
  CHECK(escapeLabelValue("caf\xc3\xa9 \xe2\x9c\x93") == "caf\xc3\xa9 \xe2\x9c\x93");  // UTF-8 kept
  // Invalid UTF-8 and control bytes would make node_exporter drop the whole file.
  CHECK(escapeLabelValue("bad\xff") == R"(bad\\xff)");
  CHECK(escapeLabelValue("tab\there") == R"(tab\\x09here)");
  CHECK(escapeLabelValue("\xc3") == R"(\\xc3)");                    // truncated sequence
  CHECK(escapeLabelValue("\xc0\xaf") == R"(\\xc0\\xaf)");           // overlong '/'
  CHECK(escapeLabelValue("\xed\xa0\x80") == R"(\\xed\\xa0\\x80)");  // a surrogate
  CHECK(escapeLabelValue(std::string("nul\0", 4)) == R"(nul\\x00)");

  auto in = sample();
  in.version = "1.0 \"beta\"\\\n";
  const auto text = renderMetrics(in);
  CHECK(text.find(
            R"(keepalive_policy_info{version="1.0 \"beta\"\\\\x0a",digest="sha256:27087c4c"} 1)") !=
        std::string::npos);
  // One sample per line whatever the labels hold.
  for (const auto& l : lines(text))
    CHECK((l.rfind("# ", 0) == 0 || l.rfind("keepalive_policy_", 0) == 0));
}

TEST_CASE("metrics: deterministic: equal inputs give equal bytes, in a fixed order") {
  auto a = sample();
  auto b = sample();
  // The same values inserted in another order.
  b.effective_server.clear();
  b.effective_server["tcpkeepalive"] = {"no", ""};
  b.effective_server["clientalivecountmax"] = {"3", ""};
  b.effective_server["clientaliveinterval"] = {"120", ""};
  CHECK(renderMetrics(a) == renderMetrics(b));
  CHECK(renderMetrics(a) == renderMetrics(a));
  b.repairs_total++;
  CHECK(renderMetrics(a) != renderMetrics(b));

  // sshd's values before ssh's, each family in one block, states in their documented order.
  const auto text = renderMetrics(a);
  CHECK(text.find(R"(target="sshd",keyword="clientaliveinterval")") <
        text.find(R"(target="ssh",keyword="serveraliveinterval")"));
  CHECK(text.find(R"(state="starting")") < text.find(R"(state="ok")"));
  CHECK(text.find(R"(state="ok")") < text.find(R"(state="rolled-back")"));
  std::vector<std::string> order;
  for (const auto& l : lines(text))
    if (l.rfind("# TYPE ", 0) == 0)
      order.push_back(l.substr(7, l.find(' ', 7) - 7));
  const std::set<std::string> unique(order.begin(), order.end());
  CHECK(unique.size() == order.size());
  // No timestamps (the textfile collector refuses them): one value after the name and labels.
  for (const auto& l : lines(text)) {
    if (l[0] == '#')
      continue;
    const auto close = l.rfind('}');
    const auto rest = close == std::string::npos ? l : l.substr(close);
    CHECK(std::count(rest.begin(), rest.end(), ' ') == 1);
  }
}

TEST_CASE("metrics: disconnects as a counter per cause and network, label values escaped") {
  auto in = sample();
  in.disconnect_totals = {{"keepalive-timeout", "branch \"nat\"", 3}, {"logout", "default", 41}};
  in.disconnect_counts = {{"keepalive-timeout", "branch \"nat\"", 1}};
  const auto text = renderMetrics(in);
  const auto s = samples(text);
  CHECK(
      s.at(
          R"(keepalive_policy_disconnects_total{cause="keepalive-timeout",network="branch \"nat\""})") ==
      "3");
  CHECK(s.at(R"(keepalive_policy_disconnects_total{cause="logout",network="default"})") == "41");
  CHECK(text.find("# TYPE keepalive_policy_disconnects_total counter\n") != std::string::npos);
  // No disconnect counted yet: the family is left out, not shown empty.
  CHECK(renderMetrics(sample()).find("keepalive_policy_disconnects_total") == std::string::npos);
}
