// SPDX-License-Identifier: GPL-2.0-or-later
// A daemon test root with users: passwd, homes owned by the users' (unnamed) uids, a policy
// covering them. Shared by the suites that run keepalive-policyd against users' homes.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "test_support.h"

namespace keepalive::test {

inline const char* kUsersPolicy =
    "version: 1\nserver: {client_alive_interval: 2m}\nusers: {action: enforce, min_uid: 41000}\n";

struct UsersRoot {
  TempDir dir{"keepalive-users"};
  explicit UsersRoot(const char* policy = kUsersPolicy, bool withAlice = true) {
    makeDaemonRoot(dir.path(), policy);
    if (withAlice) {
      passwd("alice:x:41000:41000::/home/alice:/bin/sh\n");
      home("alice", 41000);
    }
  }
  void passwd(const std::string& extra) {
    replaceByRename(dir / "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n" + extra);
  }
  std::string home(const std::string& user, uid_t uid, bool withSsh = true) {
    const std::string h = dir / ("home/" + user);
    makeDirs(h, 0755);
    (void)!::chown(h.c_str(), uid, uid);
    if (withSsh) {
      makeDirs(h + "/.ssh", 0700);
      (void)!::chown((h + "/.ssh").c_str(), uid, uid);
    }
    return h;
  }
  std::string config(const std::string& user) const {
    return dir / ("home/" + user + "/.ssh/config");
  }
  void makeConfig(const std::string& user, uid_t uid, mode_t mode) const {
    writeFile(config(user), "Host *\n  ServerAliveInterval 60\n", mode);
    (void)!::chown(config(user).c_str(), uid, uid);
    (void)!::chmod(config(user).c_str(), mode);
  }
  static mode_t modeOf(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }
};

}  // namespace keepalive::test
