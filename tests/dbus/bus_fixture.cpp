// SPDX-License-Identifier: GPL-2.0-or-later
#include "bus_fixture.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace keepalive::test {
namespace {

std::string readOr(const std::string& path) {
  try {
    return readFile(path);
  } catch (...) {
    return {};
  }
}

}  // namespace

std::string driverPath() {
  return DBUS_SERVICE_DRIVER_PATH;
}
std::string probePath() {
  return BUS_PROBE_PATH;
}

Background::Background(const std::vector<std::string>& argv, const std::vector<std::string>& env)
    : dir_("keepalive-dbus-bg") {
  // The child may run as nobody and open nothing here itself, but keep the files readable.
  ::chmod(dir_.path().c_str(), 0755);
  const int out = ::open((dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open((dir_ / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0)
    throw std::runtime_error("cannot create the output files of " + argv.at(0));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  std::vector<std::string> a = argv, e;
  for (char** p = environ; *p; ++p)
    if (std::strncmp(*p, "DBUS_SYSTEM_BUS_ADDRESS=", 24) != 0)
      e.emplace_back(*p);
  e.insert(e.end(), env.begin(), env.end());
  std::vector<char*> av, ev;
  for (auto& s : a)
    av.push_back(s.data());
  av.push_back(nullptr);
  for (auto& s : e)
    ev.push_back(s.data());
  ev.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, av[0], &fa, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out);
  ::close(err);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv.at(0) + ": " + std::strerror(rc));
  }
}

Background::~Background() {
  if (pid_ < 0)
    return;
  ::kill(pid_, SIGTERM);
  if (!waitExit(std::chrono::seconds(5)) && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
  }
}

std::string Background::out() const {
  return readOr(dir_ / "out");
}
std::string Background::err() const {
  return readOr(dir_ / "err");
}

bool Background::waitForOut(const std::string& text, std::chrono::milliseconds timeout) const {
  return waitFor([&] { return out().find(text) != std::string::npos; }, timeout);
}

std::optional<int> Background::waitExit(std::chrono::milliseconds timeout) {
  if (pid_ > 0) {
    const bool done = waitFor([&] { return ::waitpid(pid_, &status_, WNOHANG) == pid_; }, timeout);
    if (!done)
      return std::nullopt;
    pid_ = -1;
  }
  if (WIFEXITED(status_))
    return WEXITSTATUS(status_);
  return std::nullopt;
}

void Background::signal(int sig) const {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

long Background::peakRssKib() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

PrivateBus::PrivateBus(BusOptions o) : dir_("keepalive-dbus-bus") {
  // run() appends to this process's environment: an inherited address would come first.
  ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  // Children run as nobody too: they must reach the socket.
  ::chmod(dir_.path().c_str(), 0755);
  const std::string socket = dir_ / "system_bus_socket";
  std::string conf =
      "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
      " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
      "<busconfig>\n"
      "  <type>system</type>\n"
      "  <auth>EXTERNAL</auth>\n"
      "  <listen>unix:path=" +
      socket +
      "</listen>\n"
      // The default context of Debian's /usr/share/dbus-1/system.conf.
      "  <policy context=\"default\">\n"
      "    <allow user=\"*\"/>\n"
      "    <deny own=\"*\"/>\n"
      "    <deny send_type=\"method_call\"/>\n"
      "    <allow send_type=\"signal\"/>\n"
      "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
      "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
      "    <allow receive_type=\"method_call\"/>\n"
      "    <allow receive_type=\"method_return\"/>\n"
      "    <allow receive_type=\"error\"/>\n"
      "    <allow receive_type=\"signal\"/>\n"
      "    <allow send_destination=\"org.freedesktop.DBus\"\n"
      "           send_interface=\"org.freedesktop.DBus\"/>\n"
      "    <allow send_destination=\"org.freedesktop.DBus\"\n"
      "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
      "    <allow send_destination=\"org.freedesktop.DBus\"\n"
      "           send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
      "  </policy>\n"
      "  <policy user=\"root\">\n"
      "    <allow send_destination=\"org.freedesktop.DBus\"\n"
      "           send_interface=\"org.freedesktop.DBus.Monitoring\"/>\n"
      "  </policy>\n"
      "  <include>" KEEPALIVE_BUS_POLICY "</include>\n";
  if (o.permissive) {
    writeFile(dir_ / "permissive.conf",
              "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
              " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
              "<busconfig>\n"
              "  <policy context=\"default\">\n"
              "    <allow own=\"org.keepalivepolicy1\"/>\n"
              "    <allow send_destination=\"org.keepalivepolicy1\"/>\n"
              "  </policy>\n"
              "</busconfig>\n");
    conf += "  <include>" + (dir_ / "permissive.conf") + "</include>\n";
  }
  if (o.maxRepliesPerConnection > 0)
    conf += "  <limit name=\"max_replies_per_connection\">" +
            std::to_string(o.maxRepliesPerConnection) + "</limit>\n";
  conf += "</busconfig>\n";
  writeFile(dir_ / "bus.conf", conf);
  start();
}

void PrivateBus::start() {
  daemon_.emplace(
      std::vector<std::string>{"dbus-daemon", "--nofork", "--nopidfile",
                               "--config-file=" + (dir_ / "bus.conf"), "--print-address=1"},
      std::vector<std::string>{});
  // It prints its address once it listens.
  if (!daemon_->waitForOut("\n"))
    throw std::runtime_error("dbus-daemon did not start: " + daemon_->err());
  address_ = daemon_->out();
  address_.erase(address_.find('\n'));
  // Without its ",guid=...": a client checks the guid it is given against the server's, and a
  // restarted bus at the same path has a new one.
  if (auto g = address_.find(",guid="); g != std::string::npos)
    address_.erase(g);
}

void PrivateBus::restart() {
  daemon_.reset();
  start();
}

PrivateBus::~PrivateBus() = default;

void PrivateBus::stop() {
  daemon_.reset();
}

Driver::Driver(const PrivateBus& bus, const std::vector<std::string>& args, bool asNobody)
    : proc_(
          [&] {
            std::vector<std::string> argv = {driverPath()};
            argv.insert(argv.end(), args.begin(), args.end());
            return asNobody ? keepalive::test::asNobody(argv) : argv;
          }(),
          {bus.env()}) {
  if (!proc_.waitForOut("ready\n"))
    throw std::runtime_error("the driver did not get ready: " + proc_.err());
}

Watcher::Watcher(const PrivateBus& bus, std::optional<uid_t> uid)
    : proc_(uid ? asUid(*uid, {probePath(), "watch"})
                : std::vector<std::string>{probePath(), "watch"},
            {bus.env()}) {
  if (!proc_.waitForOut("watching\n"))
    throw std::runtime_error("bus_probe watch did not subscribe: " + proc_.err());
}

uid_t knownUid(int which) {
  const char* const names[] = {"daemon", "bin"};
  const passwd* pw = ::getpwnam(names[which]);
  if (!pw || pw->pw_uid == 0)
    throw std::runtime_error(std::string("no user '") + names[which] + "' on this host");
  return pw->pw_uid;
}

std::vector<std::string> asUid(uid_t uid, const std::vector<std::string>& argv) {
  const std::string id = std::to_string(uid);
  std::vector<std::string> out = {"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups",
                                  "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

RunResult ctlAs(const PrivateBus& bus, uid_t uid, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {keepalivectlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(asUid(uid, argv), std::chrono::seconds(30), {bus.env()});
}

RunResult ctl(const PrivateBus& bus, const std::vector<std::string>& args, bool asNobody,
              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {keepalivectlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(asNobody ? keepalive::test::asNobody(argv) : argv, timeout, {bus.env()});
}

RunResult ctlUnbounded(const PrivateBus& bus, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {keepalivectlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  Background p(argv, {bus.env()});
  RunResult r;
  const auto code = p.waitExit(timeout);
  r.timedOut = !p.exited();
  r.exitCode = code.value_or(-1);
  r.out = p.out();
  r.err = p.err();
  return r;
}

}  // namespace keepalive::test
