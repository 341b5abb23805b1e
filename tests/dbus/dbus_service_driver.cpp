// Runs DbusService on an sd-event loop with scripted data, for the tests and the benchmark: the
// service exactly as keepalive-policyd wires it, without sshd, inotify or a policy behind it.
//
//   dbus_service_driver [--users N] [--findings 'A|B'] [--reload-result R] [--throw WHAT]
//                       [--weird] [--max-reply-bytes N] [--add-user NAME:UID:STATE]...
//
// A finding "@UID text" is about that uid's user, any other the host's. Check returns them all
// whoever calls, as a handler that ignored onlyUid would: what a caller sees is the service's
// doing.
// Prints "ready" on stdout once it owns the name. Reload bumps Generation and emits Applied;
// SIGUSR1 repairs a user (Repaired, RepairsTotal), SIGUSR2 reports drift (Drift, State,
// StateReason, Shadowed). SIGTERM ends it.
#include <signal.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
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
};

std::uint64_t realtimeUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000u + std::uint64_t(ts.tv_nsec) / 1000u;
}

std::vector<UserRow> makeUsers(const Script& sc) {
  std::vector<UserRow> rows;
  if (sc.users == 0) {
    rows = {{"alice", 1000, "/home/alice", "ok", 0, 0, 0},
            {"bob", 1001, "/home/bob", "repaired", 1700000000000000, 2, 0},
            {"carol", 1002, "/home/carol", "non-compliant", 1700000100000000, 0, 0},
            {"dave", 1003, "/home/dave", "refused:config is a symlink", 1700000200000000, 0, 1},
            {"erin", 1004, "/home/erin", "unwatched", 0, 0, 0}};
  } else {
    rows.reserve(sc.users);
    char name[32];
    for (std::size_t i = 0; i < sc.users; ++i) {
      std::snprintf(name, sizeof name, "u%06zu", i);
      // One in ten is out of line, as on a host that was never managed before.
      rows.push_back({name, std::uint32_t(10000 + i), std::string("/home/") + name,
                      i % 10 == 7 ? "non-compliant" : "ok", 0, 0, 0});
    }
  }
  rows.insert(rows.end(), sc.extra.begin(), sc.extra.end());
  if (sc.weird) {
    rows.push_back({"m\xe9lanie", 1100, "/home/m\xe9lanie", "error:bad byte \xff", 0, 0, 0});
    rows.push_back({"mallory", 1101, "/home/\x1b[31mred", "ok", 0, 0, 0});
  }
  return rows;
}

StatusSnapshot initialSnapshot(const Script& sc, const std::vector<UserRow>& users) {
  StatusSnapshot s;
  s.state = "ok";
  s.state_reason = "policy sha256:0123abcd in force";
  s.version = "9.9.9-test";
  s.policy_files = {"/etc/keepalive-policy/policy.yaml",
                    "/etc/keepalive-policy/policy.d/10-db.yaml"};
  s.policy_digest = "sha256:0123abcd";
  s.generation = 1;
  s.last_apply_time = 1700000000123456;
  s.last_apply_result = "applied";
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
    if (isNonCompliant(u.state))
      ++s.users_noncompliant;
    if (u.state == "unwatched")
      ++s.users_unwatched;
  }
  s.repairs_total = 7;
  s.refusals_total = 1;
  s.reloads_total = 2;
  s.rollbacks_total = 0;
  s.watches_used = std::uint32_t(2 * users.size() + 3);
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
};

int onSignal(sd_event_source*, const struct signalfd_siginfo* si, void* p) {
  auto* d = static_cast<Driver*>(p);
  StatusSnapshot s = d->svc->snapshot();
  if (si->ssi_signo == SIGUSR1) {
    ++s.repairs_total;
    d->svc->emitRepaired("bob", "/home/bob/.ssh/config", "mode 0644 -> 0600");
    d->svc->publish(s);
  } else if (si->ssi_signo == SIGUSR2) {
    const std::string shadow =
        "/etc/ssh/sshd_config.d/00-aaa.conf:1 sets ClientAliveInterval 0 before our drop-in";
    s.state = "shadowed";
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
        d.sc.extra.push_back({name, std::uint32_t(std::stoul(u.substr(c1 + 1, c2 - c1 - 1))),
                              "/home/" + name, u.substr(c2 + 1), 0, 0, 0});
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
  h.reload = [&d]() -> std::pair<std::uint64_t, std::string> {
    if (d.sc.throwIn == "reload")
      throw std::runtime_error("apply: \"/etc/keepalive-policy/policy.yaml\": scripted failure");
    StatusSnapshot s = d.svc->snapshot();
    ++s.generation;
    s.last_apply_time = realtimeUsec();
    s.last_apply_result = d.sc.reloadResult;
    if (d.sc.reloadResult == "applied")
      ++s.reloads_total;
    if (d.sc.reloadResult == "rolled-back") {
      ++s.rollbacks_total;
      s.state = "rolled-back";
      s.last_error = "sshd -t: scripted rejection";
    }
    d.svc->publish(s);
    d.svc->emitApplied(s.generation, s.last_apply_result);
    return {s.generation, s.last_apply_result};
  };
  h.check = [&d](std::optional<std::uint32_t>) {
    if (d.sc.throwIn == "check")
      throw std::runtime_error("sshd -T: scripted failure");
    return d.sc.findings;
  };
  h.users = [&d]() {
    if (d.sc.throwIn == "users")
      throw std::runtime_error("users: scripted failure");
    return d.users;
  };
  h.warn = [](const std::string& m) { std::fprintf(stderr, "warning: %s\n", m.c_str()); };
  h.lost = [&d](const std::string& m) {
    std::fprintf(stderr, "lost: %s\n", m.c_str());
    sd_event_exit(d.loop, 4);
  };
  try {
    DbusService svc(d.loop, h, initialSnapshot(d.sc, d.users), d.sc.limits);
    d.svc = &svc;
    std::printf("ready\n");
    std::fflush(stdout);
    const int r = sd_event_loop(d.loop);
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
