// SPDX-License-Identifier: GPL-2.0-or-later
// Text that leaves on the bus. D-Bus strings must be valid UTF-8 without NUL; file names and
// passwd fields need not be, and keepalivectl prints them on terminals: keepalive::escape()
// (controls, invalid UTF-8 and terminal escapes as \xNN, at most kEscapeBusMax bytes) at this
// edge, for every string sent.
#pragma once

#include <string>

#include "core/status.h"

namespace keepalive::daemon {

std::string busSafe(std::string s);
// Every string of s made bus-safe, keywords of the effective settings included.
DaemonStatus busSafe(const DaemonStatus& s);

}  // namespace keepalive::daemon
