// SPDX-License-Identifier: GPL-2.0-or-later
// Child processes: the one way the daemon starts one (spawnProcess). The child gets a clean
// environment, /dev/null as stdin, default signal dispositions, its own process group, no fd of
// ours but stdout and stderr, and optionally the credentials of an unprivileged user. Two ways
// to wait for it: on the event loop (child_runner.h: sshd -t, sshd -T, ssh -G, the probe), and
// runProcess, which blocks and is for worker threads only (the per-user helper).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
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

// Containment for a run of a user's code (the per-user helper, whose ssh -G runs Match exec).
// The child is then an intermediate process that stays root, is a child subreaper, starts argv
// as its only child and, when that child ends or the deadline comes, kills and reaps every
// process left below it (setsid and double forks included: orphans come to the subreaper).
// The user cannot signal it (another uid), so killing the helper does not free its children.
struct Containment {
  // Per process of the run (setrlimit before the exec; inherited by everything it starts).
  unsigned cpuSeconds = 10;  // RLIMIT_CPU: SIGXCPU, then SIGKILL a second later
#if defined(__SANITIZE_ADDRESS__)
  // ASan's shadow reserves terabytes of address space at start, so an instrumented helper
  // (scripts/sanitize.sh) could not start under any RLIMIT_AS: unlimited there, only there.
  unsigned long long addressSpace = ~0ull;  // RLIM_INFINITY
#else
  unsigned long long addressSpace = 1ull << 30;  // RLIMIT_AS, bytes
#endif
  // Tasks of the run: a cgroup's pids limit when enter() gave the run its own cgroup, else
  // RLIMIT_NPROC = (processes the user has now) + tasks. RLIMIT_NPROC counts every process of
  // the real uid, so it is set only where we can count them (no systemd, no hidden /proc).
  unsigned tasks = 128;
  // Called with the intermediate's pid before it starts argv (it waits for this): puts it into
  // a cgroup of its own. Returns true when that cgroup bounds the tasks (RLIMIT_NPROC is then
  // not set).
  std::function<bool(pid_t)> enter;
  // Called after the intermediate was reaped, whenever enter was called: kills whatever the
  // cgroup still holds (nothing, unless a process outlived its SIGKILL in the kernel).
  std::function<void()> leave;
};

// Processes of the real uid `uid` that /proc shows; nullopt when /proc hides some (hidepid).
std::optional<unsigned> countProcessesOf(uid_t uid);

// A started child: its pid, the read ends of its stdout and stderr, and of the exec-error pipe
// (EOF when the exec succeeded; an errno when it failed). go: with containment, the write end on
// which the intermediate waits for its go byte. All fds are close-on-exec; the caller closes them.
struct Spawned {
  pid_t pid = -1;
  int out = -1, err = -1, exec = -1, go = -1;
  std::string error;  // why it could not be started (pid -1)
};
// privateDir: run the child in a mount namespace of its own (nothing it mounts reaches the host)
// where that absolute path exists as an empty root-owned 0755 directory: on a tmpfs mounted over
// its parent, which hides the rest of the parent from the child only. For sshd -t and -T while
// sshd's stopped unit has taken its RuntimeDirectory (/run/sshd) away. Needs CAP_SYS_ADMIN; the
// child fails as a failed exec would (EPERM, ...) when it cannot have that view.
// dieWithParent: the child gets SIGKILL when the process that spawned it dies
// (PR_SET_PDEATHSIG), and does not start at all when it died already: keepalivectl probe's ssh
// sessions never outlive it, even when it is killed outright.
Spawned spawnProcess(const std::vector<std::string>& argv, const std::optional<Credentials>& as,
                     const std::vector<std::string>* environment, const Containment* contain,
                     const std::string* privateDir = nullptr, bool dieWithParent = false);
std::string execError(const std::string& program, int childErrno);

// Blocks until the child ended or its deadline passed: for worker threads, never the loop.
// argv[0] without a '/' is looked up in PATH. environment: the child's whole environment;
// nullptr gives the clean one the daemon's children get (PATH of the system dirs, LC_ALL=C).
ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::optional<Credentials>& as = std::nullopt,
                         const std::vector<std::string>* environment = nullptr,
                         const Containment* contain = nullptr);

// The unprivileged "nobody" user of the real system (never of a test root).
std::optional<Credentials> nobodyCredentials();

// A user's credentials with the groups login would give them (initgroups): from NSS when NSS
// knows `name` with this uid, else the primary group alone (users of a test root, or an NSS
// that is down: fewer groups never grant more).
Credentials credentialsFor(const std::string& name, uid_t uid, gid_t gid);

}  // namespace keepalive::daemon
