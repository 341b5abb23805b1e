// SPDX-License-Identifier: GPL-2.0-or-later
#include "user_block/scope.h"

#include <signal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>

namespace keepalive::daemon {
namespace {

constexpr const char* kDest = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";

std::atomic<unsigned> gSerial{0};

// One connection per worker thread: sd-bus objects are not thread-safe, and the runs of a
// worker are one after the other. Reopened when it broke.
struct Bus {
  sd_bus* bus = nullptr;
  ~Bus() { sd_bus_flush_close_unref(bus); }
  sd_bus* get(std::string& why) {
    if (bus && sd_bus_is_open(bus) > 0)
      return bus;
    bus = sd_bus_flush_close_unref(bus);
    if (int r = sd_bus_open_system(&bus); r < 0) {
      bus = nullptr;
      why = std::string("cannot connect to the system bus: ") + std::strerror(-r);
      return nullptr;
    }
    return bus;
  }
};
thread_local Bus tBus;

struct JobWait {
  const char* job = nullptr;
  bool done = false;
  std::string result;
};

int onJobRemoved(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* w = static_cast<JobWait*>(userdata);
  uint32_t id = 0;
  const char *path = nullptr, *unit = nullptr, *result = nullptr;
  if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) >= 0 && w->job &&
      std::strcmp(path, w->job) == 0) {
    w->done = true;
    w->result = result;
  }
  return 0;
}

std::string busError(const char* what, const sd_bus_error& e, int r) {
  return std::string(what) + ": " +
         (sd_bus_error_is_set(&e) ? std::string(e.name) + ": " + (e.message ? e.message : "")
                                  : std::string(std::strerror(-r)));
}

// A pids.max beside pid's cgroup, in cgroup2 or in a v1 pids hierarchy: reading it needs no
// write access (ProtectControlGroups= keeps /sys/fs/cgroup readable).
bool pidsControlled(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos)
      continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::string dir;
    if (controllers.empty())
      dir = "/sys/fs/cgroup" + path;
    else if (("," + controllers + ",").find(",pids,") != std::string::npos)
      dir = "/sys/fs/cgroup/pids" + path;
    if (!dir.empty() && ::access((dir + "/pids.max").c_str(), F_OK) == 0)
      return true;
  }
  return false;
}

}  // namespace

bool systemdBooted() {
  return sd_booted() > 0;
}

std::unique_ptr<TransientScope> TransientScope::start(pid_t pid, uid_t uid,
                                                      const ScopeLimits& limits,
                                                      std::chrono::milliseconds timeout,
                                                      std::string& why) {
  sd_bus* bus = tBus.get(why);
  if (!bus)
    return nullptr;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string name = "keepalive-user-block-" + std::to_string(uid) + "-" +
                           std::to_string(pid) + "-" + std::to_string(++gSerial) + ".scope";
  JobWait wait;
  // The match before the call: the job may end before the call's reply is read.
  sd_bus_slot* slot = nullptr;
  if (int r = sd_bus_match_signal(bus, &slot, kDest, kPath, kManager, "JobRemoved", onJobRemoved,
                                  &wait);
      r < 0) {
    why = std::string("cannot watch systemd's jobs: ") + std::strerror(-r);
    tBus.bus = sd_bus_flush_close_unref(tBus.bus);
    return nullptr;
  }
  struct SlotGuard {
    sd_bus_slot* s;
    ~SlotGuard() { sd_bus_slot_unref(s); }
  } guard{slot};

  sd_bus_message* m = nullptr;
  sd_bus_message* reply = nullptr;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r = sd_bus_message_new_method_call(bus, &m, kDest, kPath, kManager, "StartTransientUnit");
  const std::string description =
      "keepalive-policyd: per-user block helper for uid " + std::to_string(uid);
  if (r >= 0)
    r = sd_bus_message_append(m, "ss", name.c_str(), "fail");
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'a', "(sv)");
  if (r >= 0)
    r = sd_bus_message_append(
        m, "(sv)(sv)(sv)(sv)(sv)", "PIDs", "au", 1, static_cast<uint32_t>(pid), "TasksMax", "t",
        static_cast<uint64_t>(limits.tasks), "MemoryMax", "t", static_cast<uint64_t>(limits.memory),
        "Description", "s", description.c_str(), "CollectMode", "s", "inactive-or-failed");
  if (r >= 0)
    r = sd_bus_message_close_container(m);
  if (r >= 0)
    r = sd_bus_message_append(m, "a(sa(sv))", 0);
  if (r < 0) {
    sd_bus_message_unref(m);
    why = std::string("cannot build StartTransientUnit: ") + std::strerror(-r);
    return nullptr;
  }
  const auto usec = [&] {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<uint64_t>(std::max<long long>(left.count(), 1));
  };
  r = sd_bus_call(bus, m, usec(), &e, &reply);
  sd_bus_message_unref(m);
  if (r < 0) {
    why = busError("StartTransientUnit", e, r);
    sd_bus_error_free(&e);
    return nullptr;
  }
  const char* job = nullptr;
  r = sd_bus_message_read(reply, "o", &job);
  wait.job = job;
  // The scope holds the pid only once its start job ran: until JobRemoved, a fork of it would
  // stay in our cgroup.
  while (r >= 0 && !wait.done && std::chrono::steady_clock::now() < deadline) {
    r = sd_bus_process(bus, nullptr);
    if (r > 0)
      continue;
    if (r == 0)
      r = sd_bus_wait(bus, usec());
  }
  wait.job = nullptr;
  sd_bus_message_unref(reply);
  if (r < 0) {
    why = std::string("waiting for the scope's start: ") + std::strerror(-r);
    tBus.bus = sd_bus_flush_close_unref(tBus.bus);
  } else if (!wait.done) {
    why = "the scope did not start within " + std::to_string(timeout.count()) + " ms";
  } else if (wait.result != "done") {
    why = "the scope's start job ended with \"" + wait.result + "\"";
  } else {
    std::unique_ptr<TransientScope> scope(new TransientScope(name));
    scope->boundsTasks_ = pidsControlled(pid);
    return scope;
  }
  // Whatever came of it: nothing of the run has started yet, only the intermediate exists.
  TransientScope dead(name);
  return nullptr;
}

TransientScope::~TransientScope() {
  std::string ignored;
  sd_bus* bus = tBus.get(ignored);
  if (!bus)
    return;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  // NoSuchUnit is the usual answer: the intermediate emptied the scope, and systemd collected it.
  (void)sd_bus_call_method(bus, kDest, kPath, kManager, "KillUnit", &e, nullptr, "ssi",
                           name_.c_str(), "all", static_cast<int32_t>(SIGKILL));
  sd_bus_error_free(&e);
}

}  // namespace keepalive::daemon
