// SPDX-License-Identifier: GPL-2.0-or-later
// What the users' watches ask inotify for, shared by the loop and the workers that add watches
// on homes that may hang.
#pragma once

#include <sys/inotify.h>

#include <cstdint>

namespace keepalive::daemon {

// ~/.ssh itself (not the file: editors and sed -i replace it); IN_DONT_FOLLOW keeps a symlink
// from redirecting the watch.
constexpr std::uint32_t kSshDirMask = IN_ATTRIB | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
                                      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
// The home, while it has no ~/.ssh: for its creation.
constexpr std::uint32_t kHomeMask =
    IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW;

// The homes' parent directories: a home renamed away, removed, or made anew (mkdir, a rename
// onto it, a symlink) under the same name.
constexpr std::uint32_t kParentMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

}  // namespace keepalive::daemon
