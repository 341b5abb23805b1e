#include "user_watcher.h"

#include <pwd.h>
#include <time.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "adapters/log.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {
namespace {

constexpr std::uint32_t kSshDirMask = IN_ATTRIB | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
                                      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
constexpr std::uint32_t kHomeMask =
    IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW;

std::string now() {
  char buf[32];
  time_t t = ::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

UserWatcher::UserWatcher(Inotify& inotify, std::string root)
    : inotify_(inotify), root_(std::move(root)) {}

UserWatcher::~UserWatcher() {
  clearWatches();
}

std::vector<UserEntry> loadUsers(const std::string& root) {
  if (!root.empty()) {
    std::ifstream in(io::underRoot(root, "/etc/passwd"));
    std::stringstream ss;
    ss << in.rdbuf();
    return parsePasswd(ss.str());
  }
  std::vector<UserEntry> out;
  setpwent();
  while (passwd* pw = getpwent())
    out.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""});
  endpwent();
  return out;
}

void UserWatcher::clearWatches() {
  for (const auto& [wd, name] : wdUser_)
    inotify_.remove(wd);
  wdUser_.clear();
  userWd_.clear();
}

void UserWatcher::configure(const policy::Resolved& r) {
  configMode_ = static_cast<mode_t>(r.users_config_mode.value);
  dirMode_ = static_cast<mode_t>(r.users_ssh_dir_mode.value);
  enforce_ = r.users_action.value == policy::UserAction::kEnforce;
  active_ = r.users_action.value != policy::UserAction::kOff;
  clearWatches();
  std::map<std::string, UserRecord> next;
  if (active_) {
    for (auto& u : loadUsers(root_)) {
      if (!isCovered(u, r) || next.count(u.name))
        continue;
      UserRecord rec;
      auto old = records_.find(u.name);
      if (old != records_.end())
        rec = old->second;
      rec.user = u;
      next[u.name] = std::move(rec);
    }
  }
  records_ = std::move(next);
  rescan();
}

void UserWatcher::rescan() {
  unwatched_ = 0;
  for (auto& [name, rec] : records_) {
    // The watch first, then the check: a change between the two is seen by one or the other.
    watch(name);
    check(name, "scan");
  }
}

void UserWatcher::watch(const std::string& name) {
  auto& rec = records_.at(name);
  unwatch(name);
  const std::string home = io::underRoot(root_, rec.user.home);
  auto handler = [this, name](const inotify_event& ev, const std::string& entry) {
    if (!records_.count(name))
      return;
    if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
      watch(name);  // ~/.ssh went away: watch the home for a new one
      check(name, "~/.ssh replaced");
      return;
    }
    if (entry == "config" || entry == ".ssh" || entry.empty())
      check(name, "inotify");
    if (entry == ".ssh" && (ev.mask & (IN_CREATE | IN_MOVED_TO)))
      watch(name);  // from the home's watch to the new ~/.ssh
  };
  // Watch ~/.ssh when it is a real directory; IN_DONT_FOLLOW keeps a symlink from redirecting
  // the watch (the check refuses it anyway). Without one, watch the home for its creation.
  int wd = inotify_.add(home + "/.ssh", kSshDirMask, handler);
  if (wd < 0)
    wd = inotify_.add(home, kHomeMask, handler);
  if (wd < 0) {
    if (wd == -ENOSPC)
      ++unwatched_;
    return;
  }
  wdUser_[wd] = name;
  userWd_[name] = wd;
}

void UserWatcher::unwatch(const std::string& name) {
  auto it = userWd_.find(name);
  if (it == userWd_.end())
    return;
  inotify_.remove(it->second);
  wdUser_.erase(it->second);
  userWd_.erase(it);
}

std::size_t UserWatcher::nonCompliant() const {
  std::size_t n = 0;
  for (const auto& [name, rec] : records_)
    n += rec.state != "ok" && rec.state != "repaired";
  return n;
}

void UserWatcher::check(const std::string& name, const std::string& why) {
  auto& rec = records_.at(name);
  UserCheck c = checkUser(rec.user, root_, configMode_, dirMode_, enforce_);
  std::string state;
  switch (c.result) {
    case UserCheck::Result::kAbsent:
    case UserCheck::Result::kCompliant:
      state = rec.state == "repaired" ? "repaired" : "ok";
      break;
    case UserCheck::Result::kRepaired:
      state = "repaired";
      ++repairs_;
      log::structured(
          LogEvent::Level::kNotice,
          "repaired \"" + rec.user.home + "/.ssh\" of " + name + ": " + c.detail + " (" + why + ")",
          {{"USER", name}, {"PATH", rec.user.home + "/.ssh/config"}, {"ACTION", "repaired"}},
          log::kMessageIdRepaired);
      break;
    case UserCheck::Result::kNonCompliant:
      state = "non-compliant";
      break;
    case UserCheck::Result::kRefused:
      state = "refused:" + c.detail;
      break;
    case UserCheck::Result::kError:
      state = "error:" + c.detail;
      break;
  }
  if (state == rec.state)
    return;
  if (c.result == UserCheck::Result::kRefused) {
    ++refusals_;
    log::structured(
        LogEvent::Level::kWarning,
        "refusing to touch \"" + rec.user.home + "/.ssh\" of " + name + ": " + c.detail,
        {{"USER", name}, {"PATH", rec.user.home + "/.ssh/config"}, {"ACTION", "refused"}},
        log::kMessageIdRefused);
  } else if (c.result == UserCheck::Result::kNonCompliant) {
    log::structured(
        LogEvent::Level::kWarning,
        "\"" + rec.user.home + "/.ssh\" of " + name +
            " is not compliant (users.action: report): would do " + c.detail,
        {{"USER", name}, {"PATH", rec.user.home + "/.ssh/config"}, {"ACTION", "reported"}},
        log::kMessageIdReported);
  }
  rec.state = state;
  rec.last_change = now();
}

}  // namespace keepalive::daemon
