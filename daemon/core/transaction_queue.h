// SPDX-License-Identifier: GPL-2.0-or-later
// Which transaction runs next. One runs at a time; requests that arrive meanwhile (a policy
// event, SIGHUP, the drift timer, the periodic reconcile, Reload and Check calls) wait here and
// are coalesced: one apply covers every apply request and any requested reconcile (it installs
// the policy, drift included); else one reconcile covers every reconcile request; else one
// verification answers every waiting Check. Pure: the daemon starts the run it is given.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace keepalive::daemon {

enum class RunKind { kApply, kReconcile, kVerify };

// Reload: what a Reload caller waits with; Check: what a Check caller waits with.
template <class Reload, class Check>
class TransactionQueue {
 public:
  struct Run {
    RunKind kind;
    std::string trigger;          // the triggers it covers, ", "-separated, each once
    std::vector<Reload> reloads;  // answered when an apply run ends
    std::vector<Check> checks;    // answered when a verify run ends
  };

  void requestApply(const std::string& trigger, std::optional<Reload> waiter = std::nullopt) {
    add(apply_, trigger);
    if (waiter)
      reloads_.push_back(std::move(*waiter));
  }
  void requestReconcile(const std::string& trigger) { add(reconcile_, trigger); }
  void requestCheck(Check waiter) { checks_.push_back(std::move(waiter)); }

  bool pending() const { return !apply_.empty() || !reconcile_.empty() || !checks_.empty(); }

  // The run to start now, taking the requests it covers; nullopt when nothing waits.
  std::optional<Run> next() {
    if (!apply_.empty()) {
      reconcile_.clear();
      return Run{RunKind::kApply, std::exchange(apply_, {}), std::exchange(reloads_, {}), {}};
    }
    if (!reconcile_.empty())
      return Run{RunKind::kReconcile, std::exchange(reconcile_, {}), {}, {}};
    if (!checks_.empty())
      return Run{RunKind::kVerify, "Check", {}, std::exchange(checks_, {})};
    return std::nullopt;
  }

 private:
  static void add(std::string& triggers, const std::string& trigger) {
    const std::string t = trigger.empty() ? std::string("request") : trigger;
    // Each trigger once: a burst of SIGHUPs is one "SIGHUP".
    std::size_t at = 0;
    while ((at = triggers.find(t, at)) != std::string::npos) {
      const bool starts = at == 0 || triggers.compare(at - 2, 2, ", ") == 0;
      const bool ends =
          at + t.size() == triggers.size() || triggers.compare(at + t.size(), 2, ", ") == 0;
      if (starts && ends)
        return;
      at += t.size();
    }
    triggers += (triggers.empty() ? "" : ", ") + t;
  }

  std::string apply_, reconcile_;
  std::vector<Reload> reloads_;
  std::vector<Check> checks_;
};

}  // namespace keepalive::daemon
