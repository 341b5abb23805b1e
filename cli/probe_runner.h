// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl probe's sessions: one ssh per rung, all open at once, started one after another,
// watched by one poll() loop with deadlines. Every ssh (and whatever it started: its process
// group) is ended and reaped before runLadder returns, also on SIGINT, SIGTERM and SIGHUP, and
// dies with keepalivectl (PR_SET_PDEATHSIG) if that is killed outright.
#pragma once

#include <string>
#include <vector>

#include "probe.h"

namespace keepalive::cli::probe {

struct RunOptions {
  std::string destination;
  std::vector<std::string> sshOptions;
  std::vector<std::int64_t> rungs;
  std::string sshProgram = "ssh";
  bool progress = false;  // a progress line on stderr (a terminal)
  // At most this many sessions connecting and logging in at once: sshd's MaxStartups (default
  // 10:30:100) drops unauthenticated connections at random beyond 10.
  std::size_t maxStarting = 3;
};

struct RunResult {
  std::vector<RungOutcome> outcomes;
  int signal = 0;  // nonzero: the run was interrupted by this signal (everything ended)
};

RunResult runLadder(const RunOptions& options);

}  // namespace keepalive::cli::probe
