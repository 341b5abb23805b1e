// SPDX-License-Identifier: GPL-2.0-or-later
// keepalive-policyd: enforces the keepalive policy on this host. See keepalive-policyd(8).
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/listen_check.h"
#include "adapters/log.h"
#include "daemon.h"

namespace {

// --check-listening: the whole run of a listen check (the transient unit's, or the daemon's
// child). Nothing else of the daemon starts.
int checkListening(const std::string& list, long pid, long timeoutMs) {
  std::vector<std::string> listen;
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at)
      listen.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  const keepalive::daemon::ListenReport r = keepalive::daemon::waitListening(
      listen, static_cast<pid_t>(pid), std::chrono::milliseconds(timeoutMs));
  std::printf("%s\n", r.line().c_str());
  return r.exitCode();
}

void usage(FILE* out) {
  std::fprintf(
      out,
      "Usage: keepalive-policyd [OPTIONS]\n\n"
      "Enforce the keepalive policy of /etc/keepalive-policy/ on this host: render the sshd\n"
      "and ssh drop-ins, install them as a transaction (sshd -t, reload through systemd,\n"
      "verify, roll back on failure), and restore them when they drift.\n\n"
      "  --root DIR          resolve every path (policy, /etc/ssh, /etc/passwd, state) under DIR\n"
      "  --foreground        log to stderr, even under systemd (the state line on every change)\n"
      "  --sshd PATH         sshd binary (default /usr/sbin/sshd)\n"
      "  --ssh PATH          ssh binary for ssh -G (default /usr/bin/ssh)\n"
      "  --metrics-dir DIR|none  Prometheus metrics to DIR/keepalive-policy.prom (default\n"
      "                      /var/lib/prometheus/node-exporter; nothing when DIR does not exist)\n"
      "  --bus system|none   serve org.keepalivepolicy1 on the system bus (default system)\n"
      "  --journal system|none  count how SSH sessions end from sshd's lines in the system\n"
      "                      journal (default system; none under --root unless given)\n"
      "  --user-block-helper PATH  the per-user block's helper (default %s)\n"
      "  --unit NAME         sshd's systemd unit (default: detected; 'none': never reload)\n"
      "  --probe transient|inline|auto  where the check that sshd listens after a reload runs:\n"
      "                      a transient unit outside the daemon's network namespace, or the\n"
      "                      daemon's child (default auto: transient as a systemd service\n"
      "                      without --root)\n"
      "  --host NAME         match host overrides against NAME instead of this host's names\n"
      "  --log-level LEVEL   debug, info, notice, warning or error (default info)\n"
      "  --help, --version\n\n"
      "Listen check (what the transient unit runs): --check-listening ADDR:PORT[,ADDR:PORT...]\n"
      "--pid PID [--check-timeout MS] waits until process PID owns a listening TCP socket on\n"
      "every address (sock_diag and /proc/PID/fd; it never connects), prints 'ok: ...',\n"
      "'partial: ...' (some listen) or 'failed: REASON' and exits 0, 0 or 1.\n\n"
      "Signals: SIGHUP re-reads the policy; SIGTERM exits.\n",
      keepalive::daemon::kInstalledUserBlockHelper);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace keepalive::daemon;
  static const option kOpts[] = {{"root", required_argument, nullptr, 'r'},
                                 {"foreground", no_argument, nullptr, 'f'},
                                 {"sshd", required_argument, nullptr, 's'},
                                 {"ssh", required_argument, nullptr, 'S'},
                                 {"unit", required_argument, nullptr, 'u'},
                                 {"host", required_argument, nullptr, 'H'},
                                 {"log-level", required_argument, nullptr, 'l'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {"user-block-helper", required_argument, nullptr, 'B'},
                                 {"bus", required_argument, nullptr, 'b'},
                                 {"metrics-dir", required_argument, nullptr, 'M'},
                                 {"journal", required_argument, nullptr, 'J'},
                                 {"probe", required_argument, nullptr, 'P'},
                                 {"check-listening", required_argument, nullptr, 'c'},
                                 {"pid", required_argument, nullptr, 'i'},
                                 {"check-timeout", required_argument, nullptr, 't'},
                                 {nullptr, 0, nullptr, 0}};
  DaemonOptions o;
  o.version = KEEPALIVE_VERSION;
  std::string checkList;
  bool checkMode = false;
  long checkPid = 0;
  long checkTimeoutMs = kListenDeadline.count();
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 'r':
        o.root = optarg;
        break;
      case 'f':
        o.foreground = true;
        break;
      case 's':
        o.sshd = optarg;
        break;
      case 'S':
        o.ssh = optarg;
        break;
      case 'M':
        if (std::string(optarg) != "none" && optarg[0] != '/') {
          std::fprintf(
              stderr, "keepalive-policyd: --metrics-dir takes an absolute path or none, not '%s'\n",
              optarg);
          return 2;
        }
        o.metrics_dir = optarg;
        break;
      case 'b':
        if (std::string(optarg) != "system" && std::string(optarg) != "none") {
          std::fprintf(stderr, "keepalive-policyd: --bus takes system or none, not '%s'\n", optarg);
          return 2;
        }
        o.bus = std::string(optarg) == "system";
        break;
      case 'J':
        if (std::string(optarg) != "system" && std::string(optarg) != "none") {
          std::fprintf(stderr, "keepalive-policyd: --journal takes system or none, not '%s'\n",
                       optarg);
          return 2;
        }
        o.journal = optarg;
        break;
      case 'B':
        o.user_block_helper = optarg;
        break;
      case 'u':
        o.unit = optarg;
        break;
      case 'P':
        if (std::string(optarg) != "transient" && std::string(optarg) != "inline" &&
            std::string(optarg) != "auto") {
          std::fprintf(stderr,
                       "keepalive-policyd: --probe takes transient, inline or auto, not '%s'\n",
                       optarg);
          return 2;
        }
        o.probe = optarg;
        break;
      case 'c':
        checkMode = true;
        checkList = optarg;
        break;
      case 'i': {
        char* end = nullptr;
        checkPid = std::strtol(optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || checkPid <= 0 || checkPid > 4194304) {
          std::fprintf(stderr, "keepalive-policyd: --pid takes a process id, not '%s'\n", optarg);
          return 2;
        }
        break;
      }
      case 't': {
        char* end = nullptr;
        checkTimeoutMs = std::strtol(optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || checkTimeoutMs <= 0 || checkTimeoutMs > 600000) {
          std::fprintf(stderr,
                       "keepalive-policyd: --check-timeout takes milliseconds (1..600000), not "
                       "'%s'\n",
                       optarg);
          return 2;
        }
        break;
      }
      case 'H':
        o.host = optarg;
        break;
      case 'l':
        o.log_level = optarg;
        break;
      case 'h':
        usage(stdout);
        return 0;
      case 'V':
        std::printf("keepalive-policyd %s\n", KEEPALIVE_VERSION);
        return 0;
      case ':':
        std::fprintf(stderr, "keepalive-policyd: option '%s' needs a value\n", argv[optind - 1]);
        return 2;
      default:
        std::fprintf(stderr, "keepalive-policyd: unknown option '%s'\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "keepalive-policyd: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (checkMode != (checkPid != 0)) {
    std::fprintf(stderr, "keepalive-policyd: --check-listening and --pid go together\n");
    return 2;
  }
  if (checkMode)
    return checkListening(checkList, checkPid, checkTimeoutMs);
  if (!log::validLevel(o.log_level)) {
    std::fprintf(stderr, "keepalive-policyd: unknown log level '%s'\n", o.log_level.c_str());
    return 2;
  }
  if (o.root.empty() && argc > 1) {
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]) == "--root" || std::string(argv[i]).rfind("--root=", 0) == 0) {
        // An empty --root is a script's unset variable, not a request to act on the real /.
        std::fprintf(stderr, "keepalive-policyd: --root needs a non-empty path\n");
        return 2;
      }
  }
  if (!o.root.empty() && o.root.front() != '/') {
    std::fprintf(stderr, "keepalive-policyd: --root needs an absolute path\n");
    return 2;
  }
  // Under systemd, stderr is connected to the journal: log there with priorities.
  const bool journal = !o.foreground && std::getenv("JOURNAL_STREAM") != nullptr;
  log::setup(journal, o.log_level);
  try {
    Daemon d(o);
    return d.run();
  } catch (const std::exception& e) {
    log::error(std::string("cannot start: ") + e.what());
    return 1;
  }
}
