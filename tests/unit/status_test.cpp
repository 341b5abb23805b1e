// SPDX-License-Identifier: GPL-2.0-or-later
// The status model: one table of properties, the same as the D-Bus contract's, and what is
// rendered from it.
#include "core/status.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "core/users.h"

using namespace keepalive::daemon;

namespace {

struct XmlProperty {
  std::string type;
  std::string access;
  std::string emits;  // EmitsChangedSignal: true | const | ...
};

// The <property> elements of org.keepalivepolicy1.xml, the contract.
std::map<std::string, XmlProperty> xmlProperties() {
  std::ifstream in(KEEPALIVE_DBUS_XML);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string xml = ss.str();
  std::map<std::string, XmlProperty> out;
  const std::regex element(
      R"re(<property\s+name="([^"]+)"\s+type="([^"]+)"\s+access="([^"]+)"\s*(/>|>([\s\S]*?)</property>))re");
  const std::regex emits(R"re(EmitsChangedSignal"\s+value="([^"]+)")re");
  for (std::sregex_iterator it(xml.begin(), xml.end(), element), end; it != end; ++it) {
    XmlProperty p{(*it)[2], (*it)[3], "true"};
    const std::string body = (*it)[5];
    std::smatch m;
    if (std::regex_search(body, m, emits))
      p.emits = m[1];
    INFO((*it)[1]);
    CHECK(out.emplace((*it)[1], p).second);
  }
  return out;
}

DaemonStatus sample() {
  DaemonStatus s;
  s.state = StateKind::kShadowed;
  s.state_reason = "1 setting shadowed";
  s.version = "0.1.0";
  s.policy_files = {"/etc/keepalive-policy/policy.yaml", "/etc/keepalive-policy/policy.d/a.yaml"};
  s.policy_digest = "sha256:27087c4c";
  s.generation = 3;
  s.last_apply_usec = 1700000000123456;
  s.last_apply_result = ApplyResult::kRestored;
  s.last_error = "sshd -t: /etc/ssh/sshd_config: line 3: bad";
  s.sshd_unit = "ssh.service";
  s.drop_ins = {"/etc/ssh/sshd_config.d/00-keepalive-policy.conf"};
  s.effective_server = {{"clientaliveinterval", {"120", "/etc/ssh/sshd_config.d/00-k.conf:3"}},
                        {"tcpkeepalive", {"no", "sshd default"}}};
  s.effective_client = {{"serveraliveinterval", {"240", "/etc/ssh/ssh_config.d/00-k.conf:3"}}};
  s.shadowed = {"\"/etc/ssh/sshd_config\":3 sets ClientAliveInterval 0"};
  s.users_covered = 12;
  s.users_noncompliant = 2;
  s.users_unwatched = 1;
  s.repairs_total = 7;
  s.refusals_total = 1;
  s.reloads_total = 2;
  s.rollbacks_total = 1;
  s.watches_used = 25;
  s.disconnect_counts = {{"keepalive-timeout", "branch", 3}, {"logout", "default", 41}};
  s.disconnect_totals = {{"keepalive-timeout", "branch", 30}, {"logout", "default", 410}};
  s.last_keepalive_timeout_usec = 1796000000000000;
  s.last_keepalive_timeout_network = "branch";
  s.disconnects_since_usec = 1795913600000000;
  s.journal_state = "following";
  s.sshd_log_level = "INFO";
  return s;
}

}  // namespace

TEST_CASE("status: the table and the D-Bus XML list the same properties, types and constness") {
  const auto xml = xmlProperties();
  REQUIRE(!xml.empty());
  std::set<std::string> table;
  for (const StatusProperty& p : statusProperties()) {
    INFO(p.name);
    CHECK(table.insert(p.name).second);  // no property twice
    auto it = xml.find(p.name);
    REQUIRE(it != xml.end());
    CHECK(it->second.type == p.signature);
    CHECK(it->second.access == "read");
    CHECK((it->second.emits == "const") == p.constant);
    CHECK(std::string(p.doc).size() > 10);
  }
  for (const auto& [name, p] : xml) {
    INFO(name << " is in the XML but not in core/status.cpp's table");
    CHECK(table.count(name) == 1);
  }
}

TEST_CASE("status: every getter gives its declared type, and reads back into the same status") {
  const DaemonStatus s = sample();
  DaemonStatus back;
  for (const StatusProperty& p : statusProperties()) {
    INFO(p.name);
    const PropertyValue v = p.get(s);
    CHECK(std::string(signatureOf(v)) == p.signature);
    CHECK(p.set(back, v));
    CHECK(p.get(back) == v);
    DaemonStatus scratch;
    CHECK(p.set(scratch, PropertyValue(std::vector<std::string>{"another", "type"})) ==
          (std::string(p.signature) == "as"));
  }
  // The fields no property shows stay as they were.
  back.writes_total = s.writes_total;
  back.drift_repairs_total = s.drift_repairs_total;
  CHECK(back == s);
  // A state or result this build does not know is refused, not guessed.
  CHECK_FALSE(findStatusProperty("State")->set(back, std::string("something-new")));
  CHECK_FALSE(findStatusProperty("LastApplyResult")->set(back, std::string("exploded")));
  CHECK(findStatusProperty("LastApplyResult")->set(back, std::string("")));
  CHECK(back.last_apply_result == ApplyResult::kNone);
  CHECK(findStatusProperty("NoSuchProperty") == nullptr);
}

TEST_CASE("status: PropertiesChanged names exactly what differs, never a constant property") {
  const DaemonStatus a = sample();
  CHECK(changedProperties(a, a).empty());
  DaemonStatus b = a;
  b.version = "9.9";  // constant: never announced
  b.repairs_total++;
  b.state = StateKind::kOk;
  b.effective_client["serveralivecountmax"] = {"3", "ssh default"};
  b.writes_total++;  // not a property
  std::vector<std::string> names;
  for (const auto* p : changedProperties(a, b))
    names.push_back(p->name);
  CHECK(names == std::vector<std::string>{"State", "EffectiveClient", "RepairsTotal"});
}

TEST_CASE("status: enums are words only at the edge, and back") {
  for (auto k : kAllStates)
    CHECK(stateKindFromString(toString(k)) == k);
  for (auto r : {ApplyResult::kNone, ApplyResult::kApplied, ApplyResult::kUnchanged,
                 ApplyResult::kRestored, ApplyResult::kPolicyError, ApplyResult::kRolledBack})
    CHECK(applyResultFromString(toString(r)) == r);
  CHECK(succeeded(ApplyResult::kRestored));
  CHECK_FALSE(succeeded(ApplyResult::kNone));
  CHECK_FALSE(succeeded(ApplyResult::kRolledBack));
  // The journal's and Check's words; ListUsers carries the state and its detail apart.
  CHECK(userStateText(UserState::kOk, "") == "ok");
  CHECK(userStateText(UserState::kRefused, "~/.ssh/config is a symlink") ==
        "refused: ~/.ssh/config is a symlink");
  CHECK(userStateText(UserState::kNonCompliant, "") == "non-compliant");
  for (UserState u : kAllUserStates)
    CHECK(userStateFromString(toString(u)) == u);
  CHECK_FALSE(userStateFromString("non-compliant:~/.ssh/config"));
  CHECK_FALSE(userStateFromString("unwatched"));
  CHECK(isCompliant(UserState::kRepaired));
  CHECK_FALSE(isCompliant(UserState::kUnresponsive));
}

TEST_CASE("status: show's one-line values and the journal's state line") {
  const DaemonStatus s = sample();
  CHECK(showText(findStatusProperty("PolicyFiles")->get(s)) ==
        "/etc/keepalive-policy/policy.yaml /etc/keepalive-policy/policy.d/a.yaml");
  CHECK(showText(findStatusProperty("EffectiveServer")->get(s)) ==
        "clientaliveinterval=120 (/etc/ssh/sshd_config.d/00-k.conf:3), tcpkeepalive=no (sshd "
        "default)");
  CHECK(showText(findStatusProperty("Generation")->get(s)) == "3");
  CHECK(showText(findStatusProperty("LastApplyResult")->get(s)) == "restored");
  DaemonStatus j = s;
  j.writes_total = 4;
  j.drift_repairs_total = 5;
  // Admins' and the system tests' patterns match this wording.
  CHECK(journalLine(j) ==
        "state shadowed: 1 setting shadowed; generation 3, last apply restored, policy "
        "sha256:27087c4c; effective sshd: clientaliveinterval=120 "
        "(/etc/ssh/sshd_config.d/00-k.conf:3) tcpkeepalive=no (sshd default); effective ssh: "
        "serveraliveinterval=240 (/etc/ssh/ssh_config.d/00-k.conf:3); reloads 2, writes 4, "
        "rollbacks 1, drift repairs 5");
  CHECK(journalLine(DaemonStatus{}).rfind("state starting: ; generation 0, last apply none;", 0) ==
        0);
}

TEST_CASE("status: the time properties are microseconds since the epoch, each one of them") {
  std::set<std::string> times;
  for (const auto& p : statusProperties()) {
    const std::string doc = p.doc;
    if (isTimeProperty(p.name)) {
      times.insert(p.name);
      CHECK(std::string(p.signature) == "t");
    }
    // A property documented as a time is declared as one (status --json adds ISO and Unix).
    if (doc.find("microseconds since the epoch") != std::string::npos)
      CHECK(isTimeProperty(p.name));
  }
  CHECK(times == std::set<std::string>{"StateSince", "LastApplyTime", "LastErrorTime",
                                       "PolicySince", "LastReloadTime", "SshdReadConfigTime",
                                       "LastKeepaliveTimeout", "DisconnectsSince"});
}
