// SPDX-License-Identifier: GPL-2.0-or-later
// Checks of homes on file systems that may hang (NFS, FUSE, autofs; see core/mounts.h), on
// worker threads with a deadline, so that the loop never makes a call that may block. One job:
// run a check (and, when asked, add the home's watch, which resolves its path too) off the loop,
// and bring the result back to it by user name; or say the deadline passed. What the result
// means for the user is the state machine's matter (user_watcher_states.cpp).
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "adapters/blocking_pool.h"
#include "adapters/user_fs.h"
#include "core/users.h"

namespace keepalive::daemon {

class RemoteChecks {
 public:
  struct Request {
    UserEntry user;
    std::string root;
    std::string home;  // under the root
    mode_t configMode = 0600, dirMode = 0700;
    bool enforce = false;
    bool addWatch = false;  // add the watch on the worker (inotify_add_watch with IN_MASK_ADD)
    int inotifyFd = -1;
    const char* why = "";  // a string literal: it travels to a worker and back
  };
  struct Result {
    int wd = -1;          // the watch added, to adopt; -1: none
    int watchErr = 0;     // errno of a failed watch
    bool atHome = false;  // the watch is on the home (no ~/.ssh yet)
    UserCheck check;
    const char* why = "";
  };
  // name: the user the check was for; "" when it is no longer known (never happens today, but the
  // watcher then hands a watch back).
  using Finished = std::function<void(const std::string& name, const Result& r)>;
  using Overdue = std::function<void(const std::string& name)>;

  // Two workers: the homes that may hang are usually a few mounts; four more may replace
  // workers stuck on a dead server before the queue waits for them to come back.
  RemoteChecks(sd_event* loop, std::chrono::milliseconds deadline, Finished finished,
               Overdue overdue);
  ~RemoteChecks();
  RemoteChecks(const RemoteChecks&) = delete;
  RemoteChecks& operator=(const RemoteChecks&) = delete;

  void submit(Request r);
  bool idle() const { return inFlight_.empty(); }  // no check pending: counts are final

 private:
  void overdue(std::uint64_t seq);

  Finished finished_;
  Overdue overdue_;
  std::uint64_t nextSeq_ = 1;
  std::unordered_map<std::uint64_t, std::string> inFlight_;  // seq -> user
  // Last: destroyed first, so no result of a worker reaches a half-destroyed object.
  std::unique_ptr<BlockingPool> pool_;
};

}  // namespace keepalive::daemon
