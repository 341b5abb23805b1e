// SPDX-License-Identifier: GPL-2.0-or-later
#include "bus_errors.h"

#include <cstdio>
#include <iterator>

#include "keepalive/escape.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

bool gVerbose = false;

// What went wrong, in the words of the table below.
enum class Kind {
  kNoBus,       // the system bus itself: no socket, refused
  kLost,        // the connection to the bus went during the call (dbus restarted)
  kNotRunning,  // the bus has no keepalive-policyd
  kTimeout,     // keepalive-policyd did not answer in time
  kDenied,      // the bus policy or the daemon refused the caller
  kBusy,        // the daemon's per-caller limits (org.keepalivepolicy1.Error.LimitExceeded)
  kInvalid,     // the daemon rejected an argument
  kFailed,      // the daemon failed to do it
  kOlder,       // the daemon does not know the method or property: an older keepalive-policyd
};

struct Row {
  const char* name;
  Kind kind;
};

// One row per D-Bus error name keepalivectl words. Any other name is "answered with an error".
const Row kRows[] = {
    {"org.freedesktop.DBus.Error.ServiceUnknown", Kind::kNotRunning},
    {"org.freedesktop.DBus.Error.NameHasNoOwner", Kind::kNotRunning},
    {"org.freedesktop.DBus.Error.NoReply", Kind::kTimeout},
    {"org.freedesktop.DBus.Error.Timeout", Kind::kTimeout},
    {"org.freedesktop.DBus.Error.TimedOut", Kind::kTimeout},
    {"System.Error.ETIMEDOUT", Kind::kTimeout},
    {"org.freedesktop.DBus.Error.Disconnected", Kind::kLost},
    {"org.freedesktop.DBus.Error.NoServer", Kind::kNoBus},
    {"org.freedesktop.DBus.Error.NoNetwork", Kind::kNoBus},
    {"org.freedesktop.DBus.Error.FileNotFound", Kind::kNoBus},
    {"org.freedesktop.DBus.Error.BadAddress", Kind::kNoBus},
    {"System.Error.ECONNRESET", Kind::kLost},
    {"System.Error.ENOTCONN", Kind::kLost},
    {"System.Error.ECONNREFUSED", Kind::kNoBus},
    {"System.Error.ENOENT", Kind::kNoBus},
    {"System.Error.EPIPE", Kind::kLost},
    {"System.Error.EACCES", Kind::kNoBus},
    {"System.Error.EPERM", Kind::kNoBus},
    {"System.Error.EINVAL", Kind::kNoBus},
    {"org.freedesktop.DBus.Error.AccessDenied", Kind::kDenied},
    {"org.freedesktop.DBus.Error.AuthFailed", Kind::kDenied},
    {"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", Kind::kDenied},
    {"org.keepalivepolicy1.Error.AccessDenied", Kind::kDenied},
    {"org.keepalivepolicy1.Error.LimitExceeded", Kind::kBusy},
    {"org.freedesktop.DBus.Error.LimitsExceeded", Kind::kBusy},
    {"org.keepalivepolicy1.Error.InvalidArgument", Kind::kInvalid},
    {"org.freedesktop.DBus.Error.InvalidArgs", Kind::kInvalid},
    {"org.keepalivepolicy1.Error.Failed", Kind::kFailed},
    {"org.freedesktop.DBus.Error.Failed", Kind::kFailed},
    {"org.freedesktop.DBus.Error.UnknownMethod", Kind::kOlder},
    {"org.freedesktop.DBus.Error.UnknownInterface", Kind::kOlder},
    {"org.freedesktop.DBus.Error.UnknownObject", Kind::kOlder},
    {"org.freedesktop.DBus.Error.UnknownProperty", Kind::kOlder},
};

std::string oneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\n' || c == '\r')
      c = ' ';
  return keepalive::escape(out, {keepalive::kEscapeBusMax});
}

// Our daemon's messages start with the method ("ListUsers: ..."): that is D-Bus, not English.
std::string_view withoutMethod(std::string_view m) {
  std::size_t i = 0;
  while (i < m.size() && ((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z')))
    ++i;
  if (i > 0 && m[0] >= 'A' && m[0] <= 'Z' && m.substr(i, 2) == ": ")
    return m.substr(i + 2);
  return m;
}

bool ours(std::string_view name) {
  return name.rfind("org.keepalivepolicy1.Error.", 0) == 0;
}

// "reloading" for reload, "running keepalivectl check" otherwise.
std::string doing(std::string_view verb) {
  if (verb == "reload")
    return "reloading the policy";
  return "keepalivectl " + std::string(verb);
}

}  // namespace

void setVerbose(bool v) {
  gVerbose = v;
}

bool verbose() {
  return gVerbose;
}

BusErrorText explainBusError(std::string_view name, std::string_view message,
                             const BusErrorContext& ctx) {
  // An error opening the bus is the bus's, whatever its name; any other unknown name is the
  // daemon's failure.
  Kind kind = ctx.connecting ? Kind::kNoBus : Kind::kFailed;
  for (const Row& r : kRows)
    if (!ctx.connecting && name == r.name) {
      kind = r.kind;
      break;
    }
  const std::string where =
      ctx.busAddress.empty()
          ? std::string("the system bus (/run/dbus/system_bus_socket)")
          : "the system bus at " + oneLine(ctx.busAddress) + " (DBUS_SYSTEM_BUS_ADDRESS)";
  std::string sentence;
  int code = kExitPolicy;
  switch (kind) {
    case Kind::kNoBus:
      code = kExitNoDaemon;
      sentence = "cannot connect to " + where + ": " +
                 (ctx.busAddress.empty() ? "is D-Bus running? see systemctl status dbus"
                                         : "check DBUS_SYSTEM_BUS_ADDRESS, or unset it");
      break;
    case Kind::kLost:
      code = kExitNoDaemon;
      sentence =
          "the connection to the system bus was lost during the call (was dbus restarted?): see "
          "keepalivectl status for what keepalive-policyd did";
      break;
    case Kind::kNotRunning:
      code = kExitNoDaemon;
      sentence = "keepalive-policyd is not running: see systemctl status keepalive-policyd";
      break;
    case Kind::kTimeout:
      code = kExitNoDaemon;
      sentence = "keepalive-policyd did not answer within " + std::to_string(ctx.timeout.count()) +
                 "s: see journalctl -u keepalive-policyd";
      break;
    case Kind::kDenied:
      if (ctx.verb == "reload")
        sentence = "reloading needs root: run it with sudo";
      else if (ours(name))
        sentence = doing(ctx.verb) + " was refused: " + oneLine(withoutMethod(message));
      else
        sentence = doing(ctx.verb) +
                   " was refused by the bus policy (/usr/share/dbus-1/system.d/"
                   "org.keepalivepolicy1.conf): run it with sudo, or see that file";
      break;
    case Kind::kBusy:
      sentence =
          "keepalive-policyd is busy with your earlier calls: " + oneLine(withoutMethod(message));
      break;
    case Kind::kInvalid:
      sentence = "keepalive-policyd rejected the request: " + oneLine(withoutMethod(message)) +
                 ": see keepalivectl " + std::string(ctx.verb) + " --help";
      break;
    case Kind::kOlder:
      sentence =
          "the running keepalive-policyd is older than this keepalivectl: restart it after the "
          "upgrade (systemctl restart keepalive-policyd)";
      break;
    case Kind::kFailed:
      sentence = "keepalive-policyd failed" +
                 (message.empty() ? std::string() : ": " + oneLine(withoutMethod(message))) +
                 ": see journalctl -u keepalive-policyd";
      break;
  }
  std::string line = "keepalivectl " + std::string(ctx.verb) + ": " + sentence;
  if (ctx.verbose)
    line += " (" + oneLine(name) + ": " + oneLine(message) + ")";
  return {code, line};
}

}  // namespace keepalive::cli
