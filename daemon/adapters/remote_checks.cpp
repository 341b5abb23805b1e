// SPDX-License-Identifier: GPL-2.0-or-later
#include "remote_checks.h"

#include <sys/inotify.h>

#include <cerrno>

#include "adapters/user_watch_masks.h"

namespace keepalive::daemon {

RemoteChecks::RemoteChecks(sd_event* loop, std::chrono::milliseconds deadline, Finished finished,
                           Overdue overdue)
    : finished_(std::move(finished)), overdue_(std::move(overdue)) {
  pool_ = std::make_unique<BlockingPool>(loop, 2, 4, deadline,
                                         [this](std::uint64_t seq) { this->overdue(seq); });
}

RemoteChecks::~RemoteChecks() {
  pool_.reset();
}

void RemoteChecks::submit(Request r) {
  const std::uint64_t seq = nextSeq_++;
  inFlight_[seq] = r.user.name;
  // Everything by value: a worker stuck in the kernel may outlive this object.
  pool_->submit(seq, [this, seq, r = std::move(r)]() -> std::function<void()> {
    Result res;
    res.why = r.why;
    if (r.addWatch) {
      res.wd =
          ::inotify_add_watch(r.inotifyFd, (r.home + "/.ssh").c_str(), kSshDirMask | IN_MASK_ADD);
      if (res.wd < 0 && errno != ENOSPC) {
        res.wd = ::inotify_add_watch(r.inotifyFd, r.home.c_str(), kHomeMask | IN_MASK_ADD);
        res.atHome = true;
      }
      res.watchErr = res.wd < 0 ? errno : 0;
    }
    res.check = checkUser(r.user, r.root, r.configMode, r.dirMode, r.enforce);
    return [this, seq, res = std::move(res)] {
      auto it = inFlight_.find(seq);
      const std::string name = it == inFlight_.end() ? std::string() : it->second;
      if (it != inFlight_.end())
        inFlight_.erase(it);
      finished_(name, res);
    };
  });
}

void RemoteChecks::overdue(std::uint64_t seq) {
  auto it = inFlight_.find(seq);
  if (it != inFlight_.end())
    overdue_(it->second);
}

}  // namespace keepalive::daemon
