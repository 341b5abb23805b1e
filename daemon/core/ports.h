// SPDX-License-Identifier: GPL-2.0-or-later
// The side effects the engine needs, behind small interfaces: adapters do them for real, fakes
// stand in for them in unit tests. Nothing here includes sdbus-c++ or libsystemd.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "task.h"
#include "unit_state.h"

namespace keepalive::daemon {

// Success, or the reason for a failure as "context: object: reason".
struct Status {
  bool ok = true;
  std::string error;
  static Status success() { return {}; }
  static Status failure(std::string why) { return {false, std::move(why)}; }
  explicit operator bool() const { return ok; }
};

enum class Target { kSshd, kClient };
const char* toString(Target t);

struct ServedValues {
  std::int64_t read_usec = 0;
  std::vector<std::pair<std::string, std::string>> values;  // sshd -T keyword, value
  friend bool operator==(const ServedValues&, const ServedValues&) = default;
};

// The last good policy, kept across restarts: its files' text, digest, the drop-ins it rendered
// and when it took effect. A daemon started with an invalid policy keeps it in force.
struct GoodPolicy {
  std::string digest;
  std::int64_t since_usec = 0;                             // CLOCK_REALTIME
  std::vector<std::pair<std::string, std::string>> files;  // path, text, in merge order
  std::string sshd;
  std::string client;
  friend bool operator==(const GoodPolicy&, const GoodPolicy&) = default;
};

// Our two drop-ins, written atomically (temp file beside the target, mode set before rename,
// fsync, rename, fsync of the directory), and the last-known-good copies kept outside the
// drop-in directories.
class DropInStore {
 public:
  virtual ~DropInStore() = default;
  // The installed bytes; nullopt when there is no file. A file we must not trust (a symlink, not
  // regular, over the size cap) is an error.
  virtual std::optional<std::string> read(Target t, Status& st) = 0;
  virtual Status write(Target t, const std::string& bytes) = 0;
  virtual Status remove(Target t) = 0;
  virtual Status saveLastGood(Target t, const std::optional<std::string>& bytes) = 0;
  // A durable mark that sshd may run something other than what is on disk: set before a write
  // that needs a reload, cleared once sshd was reloaded with it. A daemon killed in between
  // finds it at start and reloads, instead of trusting bytes sshd never read.
  virtual bool reloadPending() = 0;
  virtual Status setReloadPending(bool pending) = 0;
  // nullopt when none was kept. A record that cannot be read is set aside: st says so (a
  // warning, never fatal) and nullopt is returned.
  virtual std::optional<GoodPolicy> loadGoodPolicy(Status& st) = 0;
  virtual Status saveGoodPolicy(const GoodPolicy& p) = 0;
  // The keepalive values the running sshd was known to serve, and when it had read its files
  // (CLOCK_REALTIME usec): a restarted daemon trusts them while sshd has not started or reloaded
  // since. A record that cannot be read is nullopt (the daemon then says it does not know).
  virtual std::optional<ServedValues> loadServed() = 0;
  virtual void saveServed(const ServedValues& v) = 0;
  virtual std::string path(Target t) const = 0;
};

// One line of sshd_config or ssh_config, in the order the program reads them (Includes expanded).
struct ConfigLine {
  std::string file;
  int line = 0;
  std::string keyword;  // lower case
  std::string keyword_as_written;
  std::string value;
  std::string condition;  // enclosing "Match ..." or "Host ..." block; "" at top level
};

struct ConfigScan {
  Status status;
  std::vector<std::string> files_read;  // every file read, in order
  std::vector<ConfigLine> lines;
  // The directories whose entries decide what is read: the directory of every file read and of
  // every Include glob (a drop-in added or removed there changes the tree).
  std::vector<std::string> dirs;
  // The newest change (ctime, CLOCK_REALTIME microseconds) among files_read and the Include
  // patterns' directories: a file edited, added or removed after sshd last read its
  // configuration is newer than that.
  std::int64_t newest_change_usec = 0;
};

struct CheckResult {
  bool ok = false;
  bool timed_out = false;
  std::string message;  // stderr of the check, trimmed
};

// `sshd -T` or `ssh -G` output: keyword (lower case) and value, in the order printed.
struct Dump {
  Status status;
  std::vector<std::pair<std::string, std::string>> entries;
  std::string first(const std::string& keyword) const {
    for (const auto& [k, v] : entries)
      if (k == keyword)
        return v;
    return {};
  }
  std::vector<std::string> all(const std::string& keyword) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : entries)
      if (k == keyword)
        out.push_back(v);
    return out;
  }
};

// The connection sshd -T -C evaluates its Match blocks for. Empty fields are filled in by the
// adapter: user with a user the policy covers (root when there is none), host with
// "keepalive-policy.invalid", laddr with the loopback address of addr's family, lport with 22.
struct ConnectionSpec {
  std::string addr;  // the client's address, as sshd sees it
  std::string user;
  std::string host;
  std::string laddr;  // the address the connection came in on
  std::string lport;
  friend bool operator==(const ConnectionSpec&, const ConnectionSpec&) = default;
};

// What the installed OpenSSH says its version is: the "OpenSSH_..." line of `sshd -V` (an sshd
// without -V prints it in its usage message), else of `ssh -V`. status fails when neither
// printed one.
struct VersionText {
  Status status;
  std::string source;  // "sshd -V" or "ssh -V"
  std::string text;    // its first line: "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 ..."
};

// The checks run sshd or ssh as child processes: they answer through Done when the child ended
// (or its deadline passed), never by blocking the caller.
class Sshd {
 public:
  virtual ~Sshd() = default;
  virtual void test(Done<CheckResult> done) = 0;  // sshd -t -f MAIN
  // sshd -T -f MAIN -C addr=...,user=...,host=...,laddr=...,lport=...
  virtual void serverDump(const ConnectionSpec& conn, Done<Dump> done) = 0;
  // ssh -G -F SSH_CONFIG HOST, as nobody
  virtual void clientDump(const std::string& host, Done<Dump> done) = 0;
  // sshd -V, else ssh -V: once, when the daemon starts.
  virtual void version(Done<VersionText> done) = 0;
  virtual ConfigScan scanServer() = 0;  // sshd_config with its Includes
  virtual ConfigScan scanClient() = 0;  // ssh_config with its Includes
  // Include sshd_config.d/*.conf at the top of sshd_config; undone when sshd -t rejects it.
  virtual void insertInclude(Done<Status> done) = 0;
  virtual std::string mainConfigPath() const = 0;
};

struct ReloadOutcome {
  bool ok = false;
  bool attempted = false;  // false when reloads are off (--unit none) or the unit is inactive
  std::string detail;      // job result, or why it failed
};

class ServiceManager {
 public:
  virtual ~ServiceManager() = default;
  virtual std::string unit() const = 0;  // "" when reloads are off
  // Reloads sshd and answers once the job ended (JobRemoved) and the unit was seen active with
  // the same main PID, or the deadline passed.
  virtual void reload(Done<ReloadOutcome> done) = 0;
  // The units' state as last seen (no call: kept current by signals).
  virtual UnitState unitState() const = 0;
};

// What the check of sshd's listening sockets after a reload found.
struct ListenCheck {
  Status status;       // failed: sshd does not listen (the reason says where it does not)
  std::string detail;  // "ssh.service's main PID 812 listens on 0.0.0.0:22, [::]:22"
  // Passed with addresses missing: sshd listens, but not on all of sshd -T's (a warning).
  bool partial = false;
};

// Confirms that sshd listens again after a reload, by its sockets: never by connecting to it
// (a connection that says nothing is a failed pre-auth connection in sshd's log, and in
// fail2ban's or sshguard's view).
class Probe {
 public:
  virtual ~Probe() = default;
  // Every listen address of sshdDump (sshd -T) has a listening TCP socket owned by the unit's
  // main PID (a socket-activated sshd without a main process: its socket unit listens).
  virtual void listening(const Dump& sshdDump, const UnitState& unit, Done<ListenCheck> done) = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t realtimeUsec() = 0;
  virtual std::int64_t monotonicUsec() = 0;
};

}  // namespace keepalive::daemon
