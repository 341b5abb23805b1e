// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl probe: measure the idle timeout of the path to an SSH server, from a client, as
// an ordinary user. The ladder, the verdict and its texts are pure (probe.h); the sessions run
// in probe_runner.h.
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/duration.h"
#include "probe.h"
#include "probe_runner.h"
#include "verbs.h"

namespace keepalive::cli {

int runProbe(const Args& args) {
  using policy::formatDuration;
  const std::string destination = args.operands().front();
  if (destination.empty())
    return usageError("probe", "DESTINATION is empty");
  std::int64_t maxSeconds = probe::kDefaultMaxSeconds;
  if (args.has("max")) {
    const std::string text = args.value("max");
    const auto d = policy::parseDuration(text);
    if (!d.value)
      return usageError("probe", "--max '" + policy::printable(text) + "' " + d.error);
    if (*d.value < 1 || *d.value > probe::kMaxMaxSeconds)
      return usageError("probe",
                        "--max must be 1s to 2h: beyond 2h the server's TCP keepalive "
                        "(sshd's TCPKeepAlive, on by default) refreshes the path");
    maxSeconds = *d.value;
  }
  std::vector<std::int64_t> rungs;
  if (args.has("ladder")) {
    const auto l =
        probe::parseLadder(args.value("ladder"),
                           args.has("max") ? maxSeconds : probe::kMaxMaxSeconds, args.has("max"));
    if (!l.error.empty())
      return usageError("probe", l.error);
    rungs = l.rungs;
  } else {
    rungs = probe::defaultLadder(maxSeconds);
  }
  probe::RunOptions opt;
  opt.destination = destination;
  opt.sshOptions = args.passThrough();
  opt.rungs = rungs;
  opt.progress = ::isatty(STDERR_FILENO) == 1;
  if (opt.progress)
    std::fprintf(stderr,
                 "Probing the path to %s: %zu ssh sessions silent for %s to %s; about %s.\n",
                 destination.c_str(), rungs.size(), formatDuration(rungs.front()).c_str(),
                 formatDuration(rungs.back()).c_str(),
                 formatDuration(rungs.back() + probe::graceMillis(rungs.back()) / 1000).c_str());
  const probe::RunResult run = probe::runLadder(opt);
  if (run.signal) {
    // Every ssh has ended; die of the signal as the shell expects.
    std::fprintf(stderr, "keepalivectl probe: interrupted; every ssh session ended\n");
    ::signal(run.signal, SIG_DFL);
    ::raise(run.signal);
    return 128 + run.signal;
  }
  const probe::Verdict v = probe::judge(run.outcomes);
  if (args.has("json"))
    std::printf("%s\n", probe::toJson(v, destination).dump(2).c_str());
  else
    std::fputs(probe::text(v, destination).c_str(), stdout);
  if (!v.measured()) {
    if (args.has("json"))
      std::fprintf(stderr, "keepalivectl probe: %s\n", v.error.c_str());
    return kExitPolicy;
  }
  return kExitOk;
}

}  // namespace keepalive::cli
