// SPDX-License-Identifier: GPL-2.0-or-later
// A private system bus for the D-Bus tests: dbus-daemon configured as Debian's system bus
// (method calls denied unless a policy file allows them) with our units/org.keepalivepolicy1.conf
// included, the service driver on it, and keepalivectl run against it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "test_support.h"

namespace keepalive::test {

// A process in the background with stdout and stderr in files; SIGTERM, then SIGKILL, when the
// object dies.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const;
  std::string err() const;
  bool waitForOut(const std::string& text,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // The exit code once it ended; nullopt at the deadline (it keeps running) or when killed.
  std::optional<int> waitExit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool exited() const { return pid_ < 0; }
  void signal(int sig) const;
  // VmHWM (peak resident set) in KiB from /proc, 0 when unknown.
  long peakRssKib() const;

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int status_ = 0;
};

struct BusOptions {
  // Adds a policy that lets anyone own the name and call anything: what the daemon does on its
  // own must still hold.
  bool permissive = false;
  // dbus-daemon's limit on calls awaiting a reply per connection (its default is 128).
  int maxRepliesPerConnection = 0;
};

class PrivateBus {
 public:
  explicit PrivateBus(BusOptions o = {});
  ~PrivateBus();
  const std::string& address() const { return address_; }
  std::string env() const { return "DBUS_SYSTEM_BUS_ADDRESS=" + address_; }
  void stop();
  // A new dbus-daemon at the same address, as when the system's dbus is restarted: the old one
  // stopped (SIGTERM), so every connection to it is gone.
  void restart();

 private:
  void start();
  TempDir dir_;
  std::string address_;
  std::optional<Background> daemon_;
};

// dbus_service_driver on the bus, "ready" (it owns the name) before the constructor returns.
class Driver {
 public:
  Driver(const PrivateBus& bus, const std::vector<std::string>& args = {}, bool asNobody = false);
  Background& process() { return proc_; }

 private:
  Background proc_;
};

// bus_probe watch in the background (as root, or as `uid` with its own gid and no groups),
// subscribed before the constructor returns. Its lines come in the order the bus delivered the
// signals, so a later line proves that an earlier signal would have arrived by then.
class Watcher {
 public:
  explicit Watcher(const PrivateBus& bus, std::optional<uid_t> uid = std::nullopt);
  bool saw(const std::string& line) { return proc_.waitForOut(line + "\n"); }
  std::string out() const { return proc_.out(); }

 private:
  Background proc_;
};

// argv run as uid (and the same gid) with no supplementary groups, as setpriv does: a user who is
// not root.
std::vector<std::string> asUid(uid_t uid, const std::vector<std::string>& argv);

// Two uids the host's NSS knows that are neither root nor nobody (Debian's base-passwd daemon and
// bin, 1 and 2): dbus-daemon drops a connection whose uid it cannot look up, so a test's covered
// user, listed in its test root's passwd, takes one of these.
uid_t knownUid(int which);

// keepalivectl against the bus as uid.
RunResult ctlAs(const PrivateBus& bus, uid_t uid, const std::vector<std::string>& args);

// keepalivectl against the bus, as root or as nobody.
RunResult ctl(const PrivateBus& bus, const std::vector<std::string>& args, bool asNobody = false,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));
// The same, for output past what run() keeps (4 MiB): stdout and stderr go to files.
RunResult ctlUnbounded(const PrivateBus& bus, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
std::string driverPath();
std::string probePath();

}  // namespace keepalive::test
