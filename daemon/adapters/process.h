// Child processes with a deadline: sshd -t, sshd -T and ssh -G. The child gets a clean
// environment, /dev/null as stdin, and optionally the credentials of an unprivileged user.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace keepalive::daemon {

struct Credentials {
  uid_t uid;
  gid_t gid;
  // Supplementary groups the child gets; empty drops them all. Filled in the parent, because
  // after fork in a multithreaded process the child may not allocate (nor call into NSS).
  std::vector<gid_t> groups{};
};

struct ProcessResult {
  int exit_code = -1;  // -1: killed, timed out or not started
  bool timed_out = false;
  std::string out;
  std::string err;
  std::string spawn_error;
};

// argv[0] without a '/' is looked up in PATH. environment: the child's whole environment;
// nullptr gives the clean one the daemon's children get (PATH of the system dirs, LC_ALL=C).
ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::optional<Credentials>& as = std::nullopt,
                         const std::vector<std::string>* environment = nullptr);

// The unprivileged "nobody" user of the real system (never of a test root).
std::optional<Credentials> nobodyCredentials();

// A user's credentials with the groups login would give them (initgroups): from NSS when NSS
// knows `name` with this uid, else the primary group alone (users of a test root, or an NSS
// that is down: fewer groups never grant more).
Credentials credentialsFor(const std::string& name, uid_t uid, gid_t gid);

}  // namespace keepalive::daemon
