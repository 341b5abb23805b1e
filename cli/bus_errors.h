// SPDX-License-Identifier: GPL-2.0-or-later
// How keepalivectl words a failure to talk to keepalive-policyd: one table from D-Bus error names
// to a sentence that says what happened and what to do next, and the exit code. The D-Bus name
// and the raw message are shown only with --verbose. Pure (no I/O, no sdbus), so that every row
// is unit-tested (tests/unit/cli_errors_test.cpp); online.cpp's withDaemon() prints what it says.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace keepalive::cli {

struct BusErrorContext {
  std::string_view verb;           // "reload"
  std::chrono::seconds timeout{};  // the call's timeout, for "did not answer within 5s"
  std::string_view busAddress;     // DBUS_SYSTEM_BUS_ADDRESS, "" when unset
  bool connecting = false;         // the error came from opening the bus, not from a call
  bool verbose = false;            // --verbose: append "(NAME: MESSAGE)"
};

struct BusErrorText {
  int exitCode;      // kExitNoDaemon (3) when keepalive-policyd was not reached, else kExitPolicy
  std::string line;  // "keepalivectl VERB: SENTENCE", one line, no newline, terminal-safe
};

// name: the D-Bus error name ("org.freedesktop.DBus.Error.ServiceUnknown", "System.Error.ENOENT");
// message: its text.
BusErrorText explainBusError(std::string_view name, std::string_view message,
                             const BusErrorContext& ctx);

// --verbose, as the global option (before the verb) or a verb's option set it.
void setVerbose(bool verbose);
bool verbose();

}  // namespace keepalive::cli
