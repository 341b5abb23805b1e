// SPDX-License-Identifier: GPL-2.0-or-later
// The metrics writer on real directories, and promtool over its output and over the alert rules
// in docs/metrics.md.
#include "adapters/metrics_writer.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

using namespace keepalive::daemon;
using keepalive::test::isRoot;
using keepalive::test::makeDirs;
using keepalive::test::readFile;
using keepalive::test::run;
using keepalive::test::TempDir;
using keepalive::test::writeFile;

namespace {

class FakeClock : public Clock {
 public:
  std::int64_t realtimeUsec() override { return 1700000000000000 + mono; }
  std::int64_t monotonicUsec() override { return mono; }
  void advance(std::chrono::milliseconds d) { mono += d.count() * 1000; }
  std::int64_t mono = 5000000;
};

DaemonStatus input(std::uint64_t repairs = 7) {
  DaemonStatus in;
  in.state = StateKind::kShadowed;
  in.version = "0.1.0";
  in.policy_digest = "sha256:27087c4c";
  in.generation = 2;
  in.last_apply_usec = 1700000000123456;
  in.last_apply_result = ApplyResult::kApplied;
  in.effective_server = {{"clientaliveinterval", {"120", ""}},
                         {"clientalivecountmax", {"3", ""}},
                         {"tcpkeepalive", {"yes", ""}}};
  in.effective_client = {{"serveraliveinterval", {"240", ""}}, {"serveralivecountmax", {"3", ""}}};
  in.shadowed = {"\"/etc/ssh/sshd_config\":3 sets ClientAliveInterval 0"};
  in.users_covered = 3;
  in.users_noncompliant = 1;
  in.repairs_total = repairs;
  in.reloads_total = 1;
  in.watches_used = 9;
  return in;
}

struct stat lstatOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

// Back-dates the file, so that any write or touch shows in its mtime.
void setOldMtime(const std::string& path) {
  const timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

std::vector<std::string> names(const std::string& dir) {
  auto r = run({"/bin/ls", "-A", dir});
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    out.push_back(r.out.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

MetricsWriterOptions options(const std::string& dir) {
  MetricsWriterOptions o;
  o.dir = dir;
  return o;
}

// promtool, from PATH. Missing in CI is a failure (scripts/deps.sh installs it); elsewhere the
// check is reported as not run, loudly.
std::string promtool() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos)
      end = dirs.size();
    const std::string p = dirs.substr(start, end - start) + "/promtool";
    if (end > start && ::access(p.c_str(), X_OK) == 0)
      return p;
    start = end + 1;
  }
  if (std::getenv("CI"))
    FAIL("promtool is missing: scripts/deps.sh installs it (from Debian's prometheus package)");
  WARN("promtool is missing, NOT checking with it: run scripts/deps.sh");
  return "";
}

std::string docsDir() {
  return keepalive::test::dataDir() + "/../../docs";
}

// The ```yaml blocks of docs/metrics.md that hold rule groups, as one rules file.
std::string rulesFromDocs() {
  const std::string md = readFile(docsDir() + "/metrics.md");
  std::string out;
  std::size_t pos = 0;
  while ((pos = md.find("```yaml\n", pos)) != std::string::npos) {
    pos += 8;
    const auto end = md.find("```", pos);
    REQUIRE(end != std::string::npos);
    const std::string block = md.substr(pos, end - pos);
    if (block.rfind("groups:", 0) == 0) {
      REQUIRE(out.empty());  // one rules file, so it can be copied as it is
      out = block;
    }
    pos = end + 3;
  }
  return out;
}

// promtool test rules compares annotations too: the firing tests check labels only.
std::string withoutAnnotations(const std::string& rules) {
  std::string out;
  std::size_t skipIndent = std::string::npos;
  std::size_t start = 0;
  while (start < rules.size()) {
    auto end = rules.find('\n', start);
    if (end == std::string::npos)
      end = rules.size();
    const std::string line = rules.substr(start, end - start);
    start = end + 1;
    const auto indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) {
      out += "\n";
      continue;
    }
    if (skipIndent != std::string::npos && indent > skipIndent)
      continue;
    skipIndent = std::string::npos;
    if (line.compare(indent, 12, "annotations:") == 0) {
      skipIndent = indent;
      continue;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("metrics writer: writes the rendering atomically, 0644, no temp file left") {
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  const mode_t old = ::umask(077);  // as under the unit's UMask=0077
  w.update(input());
  ::umask(old);
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(w.path() == t / "keepalive-policy.prom");
  CHECK(readFile(w.path()) == renderMetrics(input()));
  const auto st = lstatOf(w.path());
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(names(t.path()) == std::vector<std::string>{"keepalive-policy.prom"});
}

TEST_CASE("metrics writer: the file appears only by rename, from a name node_exporter ignores") {
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  w.update(input());
  const int ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  REQUIRE(ifd >= 0);
  REQUIRE(::inotify_add_watch(ifd, t.path().c_str(),
                              IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                                  IN_ATTRIB | IN_DELETE) >= 0);
  clock.advance(std::chrono::seconds(2));
  w.update(input(8));
  REQUIRE(w.lastAction() == MetricsWriter::Action::kWritten);
  alignas(inotify_event) char buf[8192];
  const ssize_t n = ::read(ifd, buf, sizeof buf);
  ::close(ifd);
  REQUIRE(n > 0);
  std::vector<std::pair<std::uint32_t, std::string>> events;
  for (char* p = buf; p < buf + n;) {
    auto* e = reinterpret_cast<inotify_event*>(p);
    events.emplace_back(e->mask, e->len ? std::string(e->name) : "");
    p += sizeof(inotify_event) + e->len;
  }
  std::string temp;
  bool movedTo = false;
  for (const auto& [mask, name] : events) {
    INFO(name << " mask " << mask);
    if (name == "keepalive-policy.prom") {
      // Never created, written or closed under its real name: only renamed onto it.
      CHECK((mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE)) == 0);
      movedTo = movedTo || (mask & IN_MOVED_TO);
    } else {
      CHECK(name.rfind(".keepalive-policy.prom.", 0) == 0);
      CHECK(name.substr(name.size() - 5) != ".prom");  // outside the collector's *.prom
      if (mask & IN_CREATE)
        temp = name;
    }
  }
  CHECK_FALSE(temp.empty());
  CHECK(movedTo);
  CHECK(readFile(w.path()) == renderMetrics(input(8)));
}

TEST_CASE("metrics writer: unchanged metrics are not rewritten, changes wait for minInterval") {
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  w.update(input());
  REQUIRE(w.writes() == 1);
  setOldMtime(w.path());
  const auto before = lstatOf(w.path());

  clock.advance(std::chrono::seconds(5));
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kUnchanged);
  auto after = lstatOf(w.path());
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == 1000000000);
  CHECK(w.writes() == 1);
  CHECK(w.nextWakeUsec() == clock.mono - 5000000 + 60000000);  // the refresh

  // A burst of changes: the first goes out, the rest wait out the interval, and the last wins.
  w.update(input(8));
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  clock.advance(std::chrono::milliseconds(300));
  w.update(input(9));
  CHECK(w.lastAction() == MetricsWriter::Action::kDeferred);
  w.update(input(10));
  CHECK(w.lastAction() == MetricsWriter::Action::kDeferred);
  CHECK(readFile(w.path()) == renderMetrics(input(8)));
  REQUIRE(w.nextWakeUsec());
  CHECK(*w.nextWakeUsec() == clock.mono - 300000 + 1000000);
  clock.mono = *w.nextWakeUsec();
  w.update(input(10));  // what the daemon's timer does
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(readFile(w.path()) == renderMetrics(input(10)));
  CHECK(w.writes() == 3);

  // A change and back within the interval: nothing to write.
  clock.advance(std::chrono::milliseconds(100));
  w.update(input(11));
  w.update(input(10));
  CHECK(w.lastAction() == MetricsWriter::Action::kUnchanged);
  CHECK(w.writes() == 3);
}

TEST_CASE("metrics writer: an unchanged file is touched every refresh, not rewritten") {
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  w.update(input());
  setOldMtime(w.path());
  const auto before = lstatOf(w.path());
  clock.advance(std::chrono::seconds(59));
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kUnchanged);
  clock.advance(std::chrono::seconds(1));
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kTouched);
  const auto after = lstatOf(w.path());
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec > 1000000000);
  CHECK(w.writes() == 1);
  CHECK(w.nextWakeUsec() == clock.mono + 60000000);

  // Removed behind our back: the refresh writes it again.
  REQUIRE(::unlink(w.path().c_str()) == 0);
  clock.advance(std::chrono::seconds(60));
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(readFile(w.path()) == renderMetrics(input()));
}

TEST_CASE("metrics writer: a symlink at the file's name is replaced, never followed") {
  TempDir t("metrics");
  makeDirs(t / "dir");
  writeFile(t / "victim", "victim\n", 0600);
  REQUIRE(::symlink((t / "victim").c_str(), (t / "dir/keepalive-policy.prom").c_str()) == 0);
  FakeClock clock;
  MetricsWriter w(options(t / "dir"), clock);
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(S_ISREG(lstatOf(w.path()).st_mode));
  CHECK(readFile(w.path()) == renderMetrics(input()));
  CHECK(readFile(t / "victim") == "victim\n");
  CHECK((lstatOf(t / "victim").st_mode & 07777) == 0600);

  // Planted after our write: the refresh sees a file that is not ours and replaces it too.
  setOldMtime(t / "victim");
  REQUIRE(::unlink(w.path().c_str()) == 0);
  REQUIRE(::symlink((t / "victim").c_str(), w.path().c_str()) == 0);
  clock.advance(std::chrono::seconds(60));
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(S_ISREG(lstatOf(w.path()).st_mode));
  CHECK(readFile(t / "victim") == "victim\n");
  CHECK(lstatOf(t / "victim").st_mtim.tv_sec == 1000000000);
}

TEST_CASE("metrics writer: a symlinked or foreign directory is refused") {
  TempDir t("metrics");
  makeDirs(t / "real");
  REQUIRE(::symlink((t / "real").c_str(), (t / "link").c_str()) == 0);
  FakeClock clock;
  MetricsWriter w(options(t / "link"), clock);
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kFailed);
  CHECK(w.lastError() == "refusing \"" + t / "link" + "\": it is a symlink");
  CHECK(names(t / "real").empty());

  if (isRoot()) {
    makeDirs(t / "nobodys");
    REQUIRE(::chown((t / "nobodys").c_str(), 65534, 65534) == 0);
    MetricsWriter n(options(t / "nobodys"), clock);
    n.update(input());
    CHECK(n.lastAction() == MetricsWriter::Action::kFailed);
    CHECK(n.lastError().find("owned by uid 65534, not root") != std::string::npos);
    CHECK(names(t / "nobodys").empty());
  }
}

TEST_CASE("metrics writer: a missing directory means no metrics, until it appears") {
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t / "node-exporter"), clock);
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kNoDirectory);
  CHECK(w.lastError().empty());
  CHECK(w.writes() == 0);
  CHECK(names(t.path()).empty());
  // No timer of its own: a host without node_exporter wakes the daemon for nothing.
  CHECK_FALSE(w.nextWakeUsec());

  // Installed later: picked up at the next change past the retry interval, not at every change
  // before it.
  makeDirs(t / "node-exporter");
  clock.advance(std::chrono::seconds(10));
  w.update(input(8));
  CHECK(w.lastAction() == MetricsWriter::Action::kNoDirectory);
  CHECK(names(t / "node-exporter").empty());
  clock.advance(std::chrono::seconds(50));
  w.update(input(8));
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(readFile(w.path()) == renderMetrics(input(8)));
}

TEST_CASE("metrics writer: --root resolves the directory under the root, stale temps go") {
  TempDir t("metrics");
  makeDirs(t / "var/lib/prometheus/node-exporter");
  writeFile(t / "var/lib/prometheus/node-exporter/.keepalive-policy.prom.k1LLed9x", "half");
  writeFile(t / "var/lib/prometheus/node-exporter/other.prom", "other_metric 1\n");
  FakeClock clock;
  MetricsWriterOptions o;
  o.root = t.path() + "/";
  MetricsWriter w(o, clock);
  CHECK(w.dir() == t / "var/lib/prometheus/node-exporter");
  w.update(input());
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(readFile(t / "var/lib/prometheus/node-exporter/keepalive-policy.prom") ==
        renderMetrics(input()));
  CHECK(names(w.dir()) == std::vector<std::string>{"keepalive-policy.prom", "other.prom"});
}

TEST_CASE("metrics writer: a failed write is reported, cleaned up and retried") {
  TempDir t("metrics");
  // A directory where the file should be: the rename fails (EISDIR).
  makeDirs(t / "keepalive-policy.prom/x");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  REQUIRE_NOTHROW(w.update(input()));
  CHECK(w.lastAction() == MetricsWriter::Action::kFailed);
  CHECK(w.lastError().find("cannot rename into \"" + t / "keepalive-policy.prom\"") == 0);
  CHECK(names(t.path()) == std::vector<std::string>{"keepalive-policy.prom"});  // no temp left
  clock.advance(std::chrono::seconds(2));
  w.update(input(8));  // not before the retry interval
  CHECK(w.lastAction() == MetricsWriter::Action::kFailed);
  CHECK(w.writes() == 0);

  REQUIRE(run({"/bin/rm", "-r", t / "keepalive-policy.prom"}).exitCode == 0);
  clock.advance(std::chrono::seconds(60));
  w.update(input(8));
  CHECK(w.lastAction() == MetricsWriter::Action::kWritten);
  CHECK(w.lastError().empty());
  CHECK(readFile(w.path()) == renderMetrics(input(8)));
}

TEST_CASE("metrics: promtool check metrics passes on the written file") {
  const std::string tool = promtool();
  if (tool.empty())
    return;
  TempDir t("metrics");
  FakeClock clock;
  MetricsWriter w(options(t.path()), clock);
  auto in = input();
  in.version = "1.0 \"beta\" \\ \n\xff";  // every escape, and a byte that is not UTF-8
  for (const auto state : {StateKind::kStarting, StateKind::kPolicyInvalid}) {
    in.state = state;
    clock.advance(std::chrono::seconds(2));
    w.update(in);
    REQUIRE(w.lastAction() == MetricsWriter::Action::kWritten);
    auto r = run({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", tool, w.path()});
    INFO(readFile(w.path()) << "\npromtool: " << r.out << r.err);
    CHECK(r.exitCode == 0);
    CHECK(r.out + r.err == "");
  }
  // Before any policy: the families without samples are left out, still valid.
  w.update(DaemonStatus{});
  clock.advance(std::chrono::seconds(2));
  w.update(DaemonStatus{});
  auto r = run({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", tool, w.path()});
  INFO(readFile(w.path()) << "\npromtool: " << r.out << r.err);
  CHECK(r.exitCode == 0);
}

TEST_CASE("metrics: the alert rules in docs/metrics.md pass promtool check and test rules") {
  const std::string rules = rulesFromDocs();
  REQUIRE(rules.find("KeepalivePolicyNotCompliant") != std::string::npos);
  const std::string tool = promtool();
  if (tool.empty())
    return;
  TempDir t("metrics-rules");
  writeFile(t / "docs.yml", rules);
  auto r = run({tool, "check", "rules", t / "docs.yml"});
  INFO(rules << "\npromtool: " << r.out << r.err);
  REQUIRE(r.exitCode == 0);
  const std::string bare = withoutAnnotations(rules);
  REQUIRE(bare.find("annotations") == std::string::npos);
  REQUIRE(bare.find("alert: KeepalivePolicyMetricsStale") != std::string::npos);
  writeFile(t / "rules.yml", bare);

  // The rules fire when they should, on samples as the daemon writes them (1-minute scrapes).
  writeFile(t / "test.yml", R"(rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'keepalive_policy_state{instance="a",state="ok"}'
        values: '1 1 0x15'
      - series: 'keepalive_policy_state{instance="b",state="ok"}'
        values: '1x20'
      - series: 'keepalive_policy_users_noncompliant{instance="a"}'
        values: '0 2x40'
      - series: 'keepalive_policy_last_apply_success{instance="a"}'
        values: '1 0x20'
      - series: 'node_textfile_mtime_seconds{instance="a",file="/var/lib/prometheus/node-exporter/keepalive-policy.prom"}'
        values: '0x20'
      - series: 'node_textfile_mtime_seconds{instance="b",file="keepalive-policy.prom"}'
        values: '0+60x20'
    alert_rule_test:
      - eval_time: 11m
        alertname: KeepalivePolicyNotCompliant
        exp_alerts: []
      - eval_time: 13m
        alertname: KeepalivePolicyNotCompliant
        exp_alerts:
          - exp_labels: {severity: warning, instance: a, state: ok}
      - eval_time: 31m
        alertname: KeepalivePolicyUsersNonCompliant
        exp_alerts:
          - exp_labels: {severity: warning, instance: a}
      - eval_time: 20m
        alertname: KeepalivePolicyApplyFailed
        exp_alerts:
          - exp_labels: {severity: warning, instance: a}
      - eval_time: 20m
        alertname: KeepalivePolicyMetricsStale
        exp_alerts:
          - exp_labels: {severity: warning, instance: a, file: /var/lib/prometheus/node-exporter/keepalive-policy.prom}
)");
  r = run({tool, "test", "rules", t / "test.yml"});
  INFO(rules << "\npromtool: " << r.out << r.err);
  CHECK(r.exitCode == 0);
}

TEST_CASE("metrics: the docs' alert on keepalive timeouts after a policy change fires as told") {
  const std::string rules = rulesFromDocs();
  REQUIRE(rules.find("alert: KeepalivePolicyTimeoutsRoseAfterChange") != std::string::npos);
  const std::string tool = promtool();
  if (tool.empty())
    return;
  TempDir t("metrics-timeouts");
  writeFile(t / "rules.yml", withoutAnnotations(rules));
  // 5-minute scrapes; the policy changes at 12h on host a.
  writeFile(t / "test.yml", R"(rule_files: [rules.yml]
evaluation_interval: 5m
tests:
  - interval: 5m
    input_series:
      # The policy changes at 12h: a new digest.
      - series: 'keepalive_policy_info{instance="a",version="0.1.0",digest="sha256:old"}'
        values: '1x144'
      - series: 'keepalive_policy_info{instance="a",version="0.1.0",digest="sha256:new"}'
        values: '_x144 1x72'
      # Host b: only the daemon's version changes at 6h, its policy stays: no change.
      - series: 'keepalive_policy_info{instance="b",version="0.1.0",digest="sha256:old"}'
        values: '1x72'
      - series: 'keepalive_policy_info{instance="b",version="0.2.0",digest="sha256:old"}'
        values: '_x72 1x144'
      - series: 'keepalive_policy_disconnects_total{instance="b",cause="keepalive-timeout",network="dc"}'
        values: '0+0.25x72 18+2x36 90+0.25x108'
      # branch-nat: 3 an hour before, 24 an hour after the change.
      - series: 'keepalive_policy_disconnects_total{instance="a",cause="keepalive-timeout",network="branch-nat"}'
        values: '0+0.25x144 36+2x72'
      # default: 3 an hour throughout.
      - series: 'keepalive_policy_disconnects_total{instance="a",cause="keepalive-timeout",network="default"}'
        values: '0+0.25x216'
      # lan: its first keepalive timeouts ever, after the change: 12 an hour.
      - series: 'keepalive_policy_disconnects_total{instance="a",cause="keepalive-timeout",network="lan"}'
        values: '_x144 0+1x72'
      # reset on branch-nat rises too, but it is not a keepalive timeout.
      - series: 'keepalive_policy_disconnects_total{instance="a",cause="reset",network="branch-nat"}'
        values: '0+0.25x144 36+5x72'
    alert_rule_test:
      # dc rose with b's daemon upgrade alone.
      - eval_time: 7h30m
        alertname: KeepalivePolicyTimeoutsRoseAfterChange
        exp_alerts: []
      - eval_time: 11h
        alertname: KeepalivePolicyTimeoutsRoseAfterChange
        exp_alerts: []
      - eval_time: 13h30m
        alertname: KeepalivePolicyTimeoutsRoseAfterChange
        exp_alerts:
          - exp_labels: {severity: warning, network: branch-nat}
          - exp_labels: {severity: warning, network: lan}
      # 6 hours after the change it no longer counts as the change's doing.
      - eval_time: 18h30m
        alertname: KeepalivePolicyTimeoutsRoseAfterChange
        exp_alerts: []
)");
  const auto r = run({tool, "test", "rules", t / "test.yml"});
  INFO(rules << "\npromtool: " << r.out << r.err);
  CHECK(r.exitCode == 0);
}

TEST_CASE("metrics: the daemon keeps keepalive-policy.prom up to date") {
  using namespace keepalive::test;
  if (!isRoot())
    return;
  TempDir root("metrics-daemon");
  makeDaemonRoot(root.path(),
                 "version: 1\nserver: {client_alive_interval: 2m}\n"
                 "users: {action: enforce, min_uid: 41000}\n");
  replaceByRename(root / "etc/passwd", "alice:x:41000:41000::/home/alice:/bin/sh\n");
  makeDirs(root / "home/alice/.ssh", 0700);
  REQUIRE(::chown((root / "home/alice").c_str(), 41000, 41000) == 0);
  REQUIRE(::chown((root / "home/alice/.ssh").c_str(), 41000, 41000) == 0);
  makeDirs(root / "var/lib/prometheus/node-exporter", 0755);
  const std::string prom = root / "var/lib/prometheus/node-exporter/keepalive-policy.prom";
  DaemonProcess d(root.path());
  auto holds = [&](const std::string& line) {
    return waitFor([&] {
      struct stat st {};
      return ::stat(prom.c_str(), &st) == 0 && readFile(prom).find(line) != std::string::npos;
    });
  };
  CHECK(holds("keepalive_policy_state{state=\"ok\"} 1\n"));
  CHECK(holds("keepalive_policy_users_covered 1\n"));
  CHECK(
      holds("keepalive_policy_effective_interval_seconds{target=\"sshd\",keyword=\""
            "clientaliveinterval\"} 120\n"));
  // A repair shows in the counter (writes are at most one a second: the wait covers it).
  writeFile(root / "home/alice/.ssh/config", "Host *\n", 0666);
  REQUIRE(::chown((root / "home/alice/.ssh/config").c_str(), 41000, 41000) == 0);
  REQUIRE(::chmod((root / "home/alice/.ssh/config").c_str(), 0666) == 0);
  CHECK(holds("keepalive_policy_repairs_total 1\n"));
  INFO(readFile(prom) << "\nthe daemon's log:\n" << d.log());
  struct stat st {};
  REQUIRE(::stat(prom.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  const std::string tool = promtool();
  if (!tool.empty()) {
    auto r = run({"sh", "-c", tool + " check metrics < " + prom});
    CHECK(r.exitCode == 0);
  }
}
