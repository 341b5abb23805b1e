// SPDX-License-Identifier: GPL-2.0-or-later
// Runs DbusService on an sd-event loop with scripted data, for the tests and the benchmark: the
// service exactly as keepalive-policyd wires it, without sshd, inotify or a policy behind it.
//
//   dbus_service_driver [--users N] [--findings 'A|B'] [--reload-result R] [--throw WHAT]
//                       [--weird] [--max-reply-bytes N] [--add-user NAME:UID:STATE]...
//                       [--check-later] [--stalls FILE] [--rejoin-give-up-ms N]
//
// A finding "@UID text" is about that uid's user, any other the host's. Check returns them all
// whoever calls, as a handler that ignored onlyUid would: what a caller sees is the service's
// doing.
// Prints "ready" on stdout once it owns the name. Reload bumps Generation and emits Applied;
// SIGUSR1 repairs a user (Repaired, RepairsTotal), SIGUSR2 reports drift (Drift, State,
// StateReason, Shadowed). SIGTERM ends it.
// --check-later: Check's handler answers on a later turn of the loop, as the daemon's does.
// --rejoin-give-up-ms N: when the bus goes, rejoin it ("rejoined" on stderr), giving up after N ms
// ("gave up: ..." on stderr, exit 5); without it the driver exits 4 at once ("lost: ...").
// --stalls FILE: at exit, write how long the longest dispatch of the loop took, in wall time
// ("max_usec N") and in CPU time ("max_cpu_usec N"), and how many took over 1 ms of CPU
// ("over_1ms N"): what a caller costs everyone else.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dbus_service.h"

using namespace keepalive::daemon;

namespace {

struct Script {
  std::size_t users = 0;  // 0: the five named users below
  std::vector<Finding> findings;
  std::string reloadResult = "applied";
  std::string throwIn;         // check | users | reload
  bool weird = false;          // strings that are not UTF-8, or hold terminal escapes
  std::vector<UserRow> extra;  // after the others: a user whose uid a test can run as
  DbusLimits limits;
  bool checkLater = false;
  bool rejoin = false;  // --rejoin-give-up-ms
  std::string stalls;
};

// "STATE" or "STATE:DETAIL" (the driver's own spelling, for --add-user; "unwatched" is ok without
// a watch), and what was or would be done.
UserRow row(std::string name, std::uint32_t uid, const std::string& state, std::uint64_t last = 0,
            std::uint32_t repairs = 0, std::uint32_t refusals = 0, std::string action = "") {
  UserRow r;
  r.name = std::move(name);
  r.uid = uid;
  r.home = "/home/" + r.name;
  r.last_change = last;
  r.repairs = repairs;
  r.refusals = refusals;
  r.action = std::move(action);
  const std::string kind = state.substr(0, state.find(':'));
  if (state.find(':') != std::string::npos)
    r.detail = state.substr(state.find(':') + 1);
  if (kind == "unwatched") {
    r.unwatched = true;
    return r;
  }
  for (auto s : {UserState::kOk, UserState::kRepaired, UserState::kNonCompliant,
                 UserState::kRefused, UserState::kError, UserState::kUnresponsive})
    if (kind == toString(s))
      r.state = s;
  return r;
}

std::uint64_t realtimeUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000u + std::uint64_t(ts.tv_nsec) / 1000u;
}

std::vector<UserRow> makeUsers(const Script& sc) {
  std::vector<UserRow> rows;
  if (sc.users == 0) {
    rows = {row("alice", 1000, "ok"),
            row("bob", 1001, "repaired", 1700000000000000, 2, 0, "~/.ssh/config: mode set to 0600"),
            row("carol", 1002, "non-compliant:~/.ssh/config is group-writable (0664)",
                1700000100000000, 0, 0, "~/.ssh/config: enforce would set mode 0600"),
            row("dave", 1003, "refused:config is a symlink", 1700000200000000, 0, 1),
            row("erin", 1004, "unwatched")};
  } else {
    rows.reserve(sc.users);
    char name[32];
    for (std::size_t i = 0; i < sc.users; ++i) {
      std::snprintf(name, sizeof name, "u%06zu", i);
      // One in ten is out of line, as on a host that was never managed before.
      rows.push_back(row(name, std::uint32_t(10000 + i), i % 10 == 7 ? "non-compliant" : "ok"));
    }
  }
  rows.insert(rows.end(), sc.extra.begin(), sc.extra.end());
  if (sc.weird) {
    rows.push_back(row("m\xe9lanie", 1100, "error:bad byte \xff"));
    rows.push_back(row("mallory", 1101, "ok"));
    rows.back().home = "/home/\x1b[31mred";
  }
  return rows;
}

DaemonStatus initialSnapshot(const Script& sc, const std::vector<UserRow>& users) {
  DaemonStatus s;
  s.state = StateKind::kOk;
  s.state_reason = "policy sha256:0123abcd in force";
  s.version = "9.9.9-test";
  s.policy_files = {"/etc/keepalive-policy/policy.yaml",
                    "/etc/keepalive-policy/policy.d/10-db.yaml"};
  s.policy_digest = "sha256:0123abcd";
  s.generation = 1;
  s.last_apply_usec = 1700000000123456;
  s.last_apply_result = ApplyResult::kApplied;
  s.sshd_unit = "ssh.service";
  s.drop_ins = {"/etc/ssh/sshd_config.d/00-keepalive-policy.conf",
                "/etc/ssh/ssh_config.d/00-keepalive-policy.conf"};
  s.effective_server = {
      {"clientaliveinterval", {"120", "/etc/ssh/sshd_config.d/00-keepalive-policy.conf:3"}},
      {"clientalivecountmax", {"3", "/etc/ssh/sshd_config.d/00-keepalive-policy.conf:4"}},
      {"tcpkeepalive", {"yes", "sshd default"}}};
  s.effective_client = {
      {"serveraliveinterval", {"240", "/etc/ssh/ssh_config.d/00-keepalive-policy.conf:3"}},
      {"serveralivecountmax", {"3", "/etc/ssh/ssh_config.d/00-keepalive-policy.conf:4"}}};
  s.users_covered = std::uint32_t(users.size());
  for (const auto& u : users) {
    if (!isCompliant(u.state))
      ++s.users_noncompliant;
    if (isCompliant(u.state) && u.unwatched)
      ++s.users_unwatched;
  }
  s.repairs_total = 7;
  s.refusals_total = 1;
  s.reloads_total = 2;
  s.rollbacks_total = 0;
  s.watches_used = std::uint32_t(2 * users.size() + 3);
  s.openssh_version = "9.2";
  s.openssh_source = "sshd -V";
  s.keepalive = {{"", "9.2", 200, 2, 100, 800, 150, 600},
                 {"branch-nat", "9.2", 120, 2, 60, 480, 0, -1}};
  s.network_checks = {{"", "sshd", "addr=192.0.2.1", "clientaliveinterval", "100"},
                      {"branch-nat", "sshd", "addr=10.20.0.1", "clientaliveinterval", "60"},
                      {"branch-nat", "sshd", "addr=10.20.0.1", "clientalivecountmax", "3"},
                      {"branch-nat", "ssh", "a.branch.example.com", "serveraliveinterval", "150"}};
  if (sc.weird) {
    s.last_error = "open \"/etc/keepalive-policy/policy.d/m\xe9lanie.yaml\": \x1b]0;owned\x07 bad";
    s.policy_files.push_back("/etc/keepalive-policy/policy.d/\xff.yaml");
  }
  return s;
}

struct Driver {
  Script sc;
  std::vector<UserRow> users;
  DbusService* svc = nullptr;
  sd_event* loop = nullptr;
  std::vector<std::function<void()>> later;  // --check-later: answered on the next turn
  sd_event_source* laterSource = nullptr;
};

int onLater(sd_event_source*, void* p) {
  auto* d = static_cast<Driver*>(p);
  auto later = std::move(d->later);
  d->later.clear();
  for (auto& f : later)
    f();
  return 0;
}

std::uint64_t usecOf(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000u + std::uint64_t(ts.tv_nsec) / 1000u;
}

// sd_event_loop, with each dispatch timed: the longest is how long one call held everyone else.
// Wall time, and this thread's CPU time: on a loaded machine the wall time of a dispatch also
// holds the time the kernel gave other processes (a 4 ms tick at HZ=250).
int runTimed(sd_event* loop, const std::string& report) {
  std::uint64_t maxUsec = 0, maxCpuUsec = 0, over = 0, dispatches = 0;
  int r = 0;
  while (sd_event_get_state(loop) != SD_EVENT_FINISHED) {
    r = sd_event_prepare(loop);
    if (r == 0)
      r = sd_event_wait(loop, UINT64_MAX);
    if (r > 0) {
      const std::uint64_t t0 = usecOf(CLOCK_MONOTONIC), c0 = usecOf(CLOCK_THREAD_CPUTIME_ID);
      r = sd_event_dispatch(loop);
      const std::uint64_t took = usecOf(CLOCK_MONOTONIC) - t0;
      const std::uint64_t cpu = usecOf(CLOCK_THREAD_CPUTIME_ID) - c0;
      maxUsec = std::max(maxUsec, took);
      maxCpuUsec = std::max(maxCpuUsec, cpu);
      over += cpu > 1000;
      ++dispatches;
    }
    if (r < 0)
      return r;
  }
  if (FILE* f = std::fopen(report.c_str(), "w")) {
    std::fprintf(f, "max_usec %llu\nmax_cpu_usec %llu\nover_1ms %llu\ndispatches %llu\n",
                 static_cast<unsigned long long>(maxUsec),
                 static_cast<unsigned long long>(maxCpuUsec), static_cast<unsigned long long>(over),
                 static_cast<unsigned long long>(dispatches));
    std::fclose(f);
  }
  int code = 0;
  sd_event_get_exit_code(loop, &code);
  return code;
}

int onSignal(sd_event_source*, const struct signalfd_siginfo* si, void* p) {
  auto* d = static_cast<Driver*>(p);
  DaemonStatus s = d->svc->snapshot();
  if (si->ssi_signo == SIGUSR1) {
    ++s.repairs_total;
    d->svc->emitRepaired("bob", "/home/bob/.ssh/config", "mode 0644 -> 0600");
    d->svc->publish(s);
  } else if (si->ssi_signo == SIGUSR2) {
    const std::string shadow =
        "/etc/ssh/sshd_config.d/00-aaa.conf:1 sets ClientAliveInterval 0 before our drop-in";
    s.state = StateKind::kShadowed;
    s.state_reason = "1 setting shadowed";
    s.shadowed = {shadow};
    d->svc->emitDrift("/etc/ssh/sshd_config.d/00-aaa.conf", "shadows ClientAliveInterval");
    d->svc->publish(s);
  } else {
    sd_event_exit(d->loop, 0);
  }
  return 0;
}

int usage(const char* why) {
  std::fprintf(stderr, "dbus_service_driver: %s\n", why);
  return 2;
}

int runDriver(int argc, char** argv) {
  Driver d;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--users") {
        d.sc.users = std::stoul(value());
      } else if (a == "--findings") {
        const std::string f = value();
        for (std::size_t b = 0; b <= f.size();) {
          const std::size_t e = std::min(f.find('|', b), f.size());
          std::string one = f.substr(b, e - b);
          if (one.size() > 1 && one[0] == '@') {
            const std::size_t space = one.find(' ');
            d.sc.findings.push_back(
                {one.substr(space + 1), std::uint32_t(std::stoul(one.substr(1, space - 1)))});
          } else if (!one.empty()) {
            d.sc.findings.push_back({one, std::nullopt});
          }
          b = e + 1;
        }
      } else if (a == "--reload-result") {
        d.sc.reloadResult = value();
      } else if (a == "--throw") {
        d.sc.throwIn = value();
      } else if (a == "--max-reply-bytes") {
        d.sc.limits.max_reply_bytes = std::stoul(value());
      } else if (a == "--add-user") {
        const std::string u = value();
        const std::size_t c1 = u.find(':'), c2 = u.find(':', c1 + 1);
        if (c1 == std::string::npos || c2 == std::string::npos)
          throw std::invalid_argument("--add-user takes NAME:UID:STATE");
        const std::string name = u.substr(0, c1);
        d.sc.extra.push_back(
            row(name, std::uint32_t(std::stoul(u.substr(c1 + 1, c2 - c1 - 1))), u.substr(c2 + 1)));
      } else if (a == "--rejoin-give-up-ms") {
        d.sc.rejoin = true;
        d.sc.limits.rejoin_give_up = std::chrono::milliseconds(std::stoul(value()));
      } else if (a == "--check-later") {
        d.sc.checkLater = true;
      } else if (a == "--stalls") {
        d.sc.stalls = value();
      } else if (a == "--weird") {
        d.sc.weird = true;
      } else {
        return usage(("unknown argument " + a).c_str());
      }
    } catch (const std::exception& e) {
      return usage(e.what());
    }
  }
  d.users = makeUsers(d.sc);

  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2})
    sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  if (sd_event_default(&d.loop) < 0)
    return 1;
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2})
    sd_event_add_signal(d.loop, nullptr, s, onSignal, &d);

  DbusHandlers h;
  h.reload = [&d](DbusHandlers::ReloadDone done) {
    if (d.sc.throwIn == "reload")
      throw std::runtime_error("apply: \"/etc/keepalive-policy/policy.yaml\": scripted failure");
    DaemonStatus s = d.svc->snapshot();
    ++s.generation;
    s.last_apply_usec = realtimeUsec();
    s.last_apply_result = applyResultFromString(d.sc.reloadResult).value_or(ApplyResult::kNone);
    if (s.last_apply_result == ApplyResult::kApplied)
      ++s.reloads_total;
    if (s.last_apply_result == ApplyResult::kRolledBack) {
      ++s.rollbacks_total;
      s.state = StateKind::kPolicyInvalid;
      s.last_error = "sshd -t: scripted rejection";
    }
    d.svc->publish(s);
    d.svc->emitApplied(s.generation, s.last_apply_result);
    done(s.generation, s.last_apply_result);
  };
  h.check = [&d](std::optional<std::uint32_t>, DbusHandlers::CheckDone done) {
    if (d.sc.throwIn == "check")
      throw std::runtime_error("sshd -T: scripted failure");
    if (!d.sc.checkLater) {
      done(d.sc.findings);
      return;
    }
    d.later.push_back([&d, done = std::move(done)] { done(d.sc.findings); });
    sd_event_source_set_enabled(d.laterSource, SD_EVENT_ONESHOT);
  };
  h.warn = [](const std::string& m) { std::fprintf(stderr, "warning: %s\n", m.c_str()); };
  h.lost = [&d](const std::string& m) {
    std::fprintf(stderr, "lost: %s\n", m.c_str());
    if (!d.sc.rejoin)
      sd_event_exit(d.loop, 4);
  };
  h.rejoined = [] { std::fprintf(stderr, "rejoined\n"); };
  h.gaveUp = [&d](const std::string& m) {
    std::fprintf(stderr, "gave up: %s\n", m.c_str());
    sd_event_exit(d.loop, 5);
  };
  sd_event_add_defer(d.loop, &d.laterSource, onLater, &d);
  sd_event_source_set_enabled(d.laterSource, SD_EVENT_OFF);
  try {
    DbusService svc(d.loop, h, initialSnapshot(d.sc, d.users), d.sc.limits);
    d.svc = &svc;
    svc.setUsers(d.users);
    std::printf("ready\n");
    std::fflush(stdout);
    const int r = d.sc.stalls.empty() ? sd_event_loop(d.loop) : runTimed(d.loop, d.sc.stalls);
    d.svc = nullptr;
    sd_event_unref(d.loop);
    return r;
  } catch (const DbusServiceError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // What the driver does not expect (bad_alloc, an sdbus-c++ error outside DbusServiceError) ends
  // it with a message and a failure, never with std::terminate.
  try {
    return runDriver(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dbus_service_driver: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "dbus_service_driver: unknown exception\n");
  }
  return 1;
}
