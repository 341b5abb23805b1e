// SPDX-License-Identifier: GPL-2.0-or-later
// Where the users come from: NSS on the real system (so LDAP and SSSD users count), ROOT/etc/passwd
// under a test root. One job: a list of entries, in the source's order, duplicates kept (the
// watcher keeps the first of a name, as getpwnam does).
#pragma once

#include <string>
#include <vector>

#include "core/users.h"

namespace keepalive::daemon {

std::vector<UserEntry> loadUsers(const std::string& root);

}  // namespace keepalive::daemon
