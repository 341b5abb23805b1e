// SPDX-License-Identifier: GPL-2.0-or-later
#include "user_blocks.h"

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {

UserBlocks::UserBlocks(sd_event* loop, std::string root, UserBlockTools tools, Hooks hooks)
    : root_(std::move(root)), tools_(std::move(tools)), hooks_(std::move(hooks)) {
  // The helper kills its own children at tools_.timeout; past that and a margin, it is stuck in
  // the kernel (a hung home): its worker is written off.
  pool_ = std::make_unique<BlockingPool>(loop, 2, 4, tools_.timeout + std::chrono::seconds(5),
                                         [](std::uint64_t) {});
}

UserBlocks::~UserBlocks() {
  pool_.reset();
}

bool UserBlocks::configure(BlockSettings settings) {
  if (settings == settings_)
    return false;
  settings_ = std::move(settings);
  ++gen_;  // every user's block is rewritten (or removed) at this scan
  return true;
}

void UserBlocks::afterCheck(const UserEntry& u, const UserCheck& c) {
  if (!c.config ||
      (c.result != UserCheck::Result::kCompliant && c.result != UserCheck::Result::kRepaired))
    return;  // no config (nothing is created), or not a file we would let the user's helper touch
  auto it = marks_.find(u.name);
  if (settings_.empty() && it == marks_.end())
    return;  // off, and we never wrote one for this user
  Mark& m = it != marks_.end() ? it->second : marks_[u.name];
  if (m.inFlight) {
    m.again = true;  // one helper per user at a time
    return;
  }
  if (m.id == c.config && m.gen == gen_)
    return;  // the file is as the helper left it, for these settings: nothing to do
  m.inFlight = true;
  m.again = false;
  const bool removal = settings_.empty();
  log::debug("running the keepalive block helper for " + u.name + (removal ? " (removal)" : ""));
  // The helper runs as the user and never as root: root neither reads the file nor evaluates
  // it (ssh -G runs a Match exec). A process per change, on a worker: never on the loop.
  pool_->submit(
      gen_,
      [this, user = u, path = io::underRoot(root_, u.home) + "/.ssh/config", settings = settings_,
       tools = tools_, id = *c.config, gen = gen_, removal]() -> std::function<void()> {
        UserBlockResult r =
            runUserBlock(user, path, settings, tools.helper, tools.ssh, tools.timeout);
        return [this, name = user.name, id, gen, removal, r = std::move(r)] {
          finish(name, id, gen, removal, r);
        };
      });
}

void UserBlocks::finish(const std::string& name, const UserCheck::FileId& id, std::uint64_t gen,
                        bool removal, const UserBlockResult& r) {
  auto it = marks_.find(name);
  if (it == marks_.end())
    return;
  Mark& m = it->second;
  m.inFlight = false;
  m.gen = gen;
  // The host's matter, not the user's: said once, again only after scopes worked meanwhile.
  if (r.note != note_) {
    if (!r.note.empty())
      log::warning("the keepalive block helper runs contained by its subreaper alone: " + r.note +
                   ", ignoring");
    note_ = r.note;
  }
  const std::string path = hooks_.configPath(name);
  using Kind = UserBlockResult::Kind;
  switch (r.kind) {
    case Kind::kUnchanged:
    case Kind::kAbsent:
      m.id = id;
      log::debug("the keepalive block helper for " + name + ": " + toString(r.kind));
      break;
    case Kind::kUpdated:
    case Kind::kRemoved:
      // Renamed into place: a new file, whose event brings one more run that finds it
      // unchanged and records its identity.
      m.id.reset();
      if (hooks_.announce(name, "block write"))
        log::structured(LogEvent::Level::kNotice,
                        std::string(r.kind == Kind::kUpdated ? "wrote" : "removed") +
                            " the keepalive block in \"" + path + "\" of " + name,
                        {{"USER", name},
                         {"PATH", path},
                         {"ACTION", r.kind == Kind::kUpdated ? "block-written" : "block-removed"}},
                        log::kMessageIdRepaired);
      break;
    case Kind::kRefused:
      m.id = id;  // not again until the user changes the file
      if (hooks_.announce(name, "block refusal"))
        log::structured(
            LogEvent::Level::kWarning,
            (removal ? "left the keepalive block in \"" + path + "\" of " + name + ": "
                     : "left \"" + path + "\" of " + name + " without the keepalive block: ") +
                r.detail,
            {{"USER", name}, {"PATH", path}, {"ACTION", "block-refused"}}, log::kMessageIdRefused);
      break;
    case Kind::kError:
      m.id.reset();  // the next event or scan tries again
      if (hooks_.announce(name, "block failure"))
        log::structured(LogEvent::Level::kWarning,
                        "cannot write the keepalive block in \"" + path + "\" of " + name + ": " +
                            r.detail + ", ignoring",
                        {{"USER", name}, {"PATH", path}, {"ACTION", "block-failed"}},
                        log::kMessageIdFailed);
      break;
  }
  const bool again = m.again;
  if (removal &&
      (r.kind == Kind::kRemoved || r.kind == Kind::kUnchanged || r.kind == Kind::kAbsent))
    marks_.erase(it);  // nothing of ours is left in that file
  if (again)
    hooks_.again(name);
}

}  // namespace keepalive::daemon
