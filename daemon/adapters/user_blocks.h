// SPDX-License-Identifier: GPL-2.0-or-later
// client.per_user_block: the keepalive block in each covered user's ~/.ssh/config, written (or
// removed when the setting goes) by the keepalive-user-block helper, run as the user on worker
// threads, never on the loop and never as root. One job: decide after each check whether the
// user's helper has to run (the file changed since it last ran, or the settings did), run one
// helper per user at a time, and say what it did, within the user's rate limit.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "adapters/blocking_pool.h"
#include "adapters/user_fs.h"
#include "core/users.h"
#include "user_block/runner.h"
#include "user_block/user_block.h"

namespace keepalive::daemon {

// The per-user block's helper and the ssh it checks the file with.
struct UserBlockTools {
  std::string helper = kInstalledUserBlockHelper;
  std::string ssh = "/usr/bin/ssh";
  std::chrono::milliseconds timeout{10000};
};

class UserBlocks {
 public:
  struct Hooks {
    // True when this per-user event may be journalled (the watcher's rate limit).
    std::function<bool(const std::string& user, const char* kind)> announce;
    // The user's ~/.ssh/config as the journal names it; "" when the user is gone.
    std::function<std::string(const std::string& name)> configPath;
    // The file changed while the helper ran: check the user again (if still there).
    std::function<void(const std::string& name)> again;
  };
  UserBlocks(sd_event* loop, std::string root, UserBlockTools tools, Hooks hooks);
  ~UserBlocks();
  UserBlocks(const UserBlocks&) = delete;
  UserBlocks& operator=(const UserBlocks&) = delete;

  // Empty: off (the marked users get theirs removed). True when they changed: every user's
  // block is to be rewritten (or removed), so the caller scans everyone.
  bool configure(BlockSettings settings);
  // After a check of u: runs the helper when the file (c.config) is not as it last left it.
  void afterCheck(const UserEntry& u, const UserCheck& c);

 private:
  void finish(const std::string& name, const UserCheck::FileId& id, std::uint64_t gen, bool removal,
              const UserBlockResult& r);

  std::string root_;
  UserBlockTools tools_;
  Hooks hooks_;
  // What was last run for a user, kept only for users it ran for.
  struct Mark {
    std::optional<UserCheck::FileId> id;  // the config as it was when the helper last finished
    std::uint64_t gen = 0;                // of the settings it ran with
    bool inFlight = false;
    bool again = false;
  };
  BlockSettings settings_;
  std::uint64_t gen_ = 1;
  std::unordered_map<std::string, Mark> marks_;
  std::string note_;  // the last run's UserBlockResult::note, logged when it changes
  // Last: destroyed first, so no helper's result reaches a half-destroyed object.
  std::unique_ptr<BlockingPool> pool_;
};

}  // namespace keepalive::daemon
