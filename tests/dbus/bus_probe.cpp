// SPDX-License-Identifier: GPL-2.0-or-later
// A D-Bus client for the tests that keepalivectl is not: it watches signals, floods, sends
// malformed calls and changes its identity after connecting. Plain sd-bus, so that what it sends
// is exactly what the test asks for. Talks to the system bus (DBUS_SYSTEM_BUS_ADDRESS).
//
//   bus_probe watch                 print each signal of org.keepalivepolicy1, one per line
//   bus_probe reload-after-drop     connect, drop to nobody, then call Reload
//   bus_probe flood N               N ListUsers calls at once; prints "sent", then the tally
//   bus_probe bad-calls             malformed calls; one "CASE RESULT" line each
#include <grp.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <systemd/sd-bus.h>

namespace {

const char* const kDest = "org.keepalivepolicy1";
const char* const kPath = "/org/keepalivepolicy1";
const char* const kIface = "org.keepalivepolicy1.Manager";

sd_bus* openBus() {
  // One connection per run, given back at exit so that LeakSanitizer (scripts/sanitize.sh) has
  // nothing to report.
  struct Owner {
    sd_bus* bus = nullptr;
    ~Owner() { sd_bus_flush_close_unref(bus); }
  };
  static Owner owner;
  const int r = sd_bus_open_system(&owner.bus);
  if (r < 0) {
    std::fprintf(stderr, "bus_probe: cannot connect: %s\n", std::strerror(-r));
    std::exit(3);
  }
  return owner.bus;
}

void line(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

int onSignal(sd_bus_message* m, void*, sd_bus_error*) {
  const std::string member = sd_bus_message_get_member(m);
  std::string out = member;
  if (member == "PropertiesChanged") {
    const char* iface = nullptr;
    sd_bus_message_read(m, "s", &iface);
    sd_bus_message_enter_container(m, 'a', "{sv}");
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
      const char* name = nullptr;
      sd_bus_message_read(m, "s", &name);
      out += std::string(" ") + name;
      sd_bus_message_skip(m, "v");
      sd_bus_message_exit_container(m);
    }
  } else if (member == "Applied") {
    std::uint64_t gen = 0;
    const char* result = nullptr;
    sd_bus_message_read(m, "ts", &gen, &result);
    out += " " + std::to_string(gen) + " " + result;
  } else if (member == "Repaired") {
    const char *u = nullptr, *p = nullptr, *w = nullptr;
    sd_bus_message_read(m, "sss", &u, &p, &w);
    out += std::string(" ") + u + " " + p + " " + w;
  } else if (member == "Drift") {
    const char *p = nullptr, *w = nullptr;
    sd_bus_message_read(m, "ss", &p, &w);
    out += std::string(" ") + p + " " + w;
  }
  line(out);
  return 0;
}

int watch() {
  sd_bus* bus = openBus();
  // Signals from whoever owns the name (sd-bus resolves it to the unique name).
  int r = sd_bus_match_signal(bus, nullptr, kDest, kPath, nullptr, nullptr, onSignal, nullptr);
  if (r < 0) {
    std::fprintf(stderr, "bus_probe: match: %s\n", std::strerror(-r));
    return 1;
  }
  line("watching");
  for (;;) {
    r = sd_bus_process(bus, nullptr);
    if (r < 0)
      return 1;
    if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
      return 1;
  }
}

std::string callResult(int r, sd_bus_error& err) {
  if (r >= 0)
    return "ok";
  std::string s = err.name ? err.name : ("errno:" + std::string(std::strerror(-r)));
  if (err.message)
    s += std::string(": ") + err.message;
  sd_bus_error_free(&err);
  return s;
}

int reloadAfterDrop() {
  sd_bus* bus = openBus();
  // Hello is done: dbus-daemon has recorded this connection's credentials as they are now.
  if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
      setresuid(65534, 65534, 65534) != 0) {
    std::fprintf(stderr, "bus_probe: cannot drop to nobody: %s\n", std::strerror(errno));
    return 1;
  }
  line("euid " + std::to_string(geteuid()) + " uid " + std::to_string(getuid()));
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus, kDest, kPath, kIface, "Reload", &err, &reply, "");
  if (r < 0) {
    line("error " + callResult(r, err));
    return 0;
  }
  std::uint64_t gen = 0;
  const char* result = nullptr;
  sd_bus_message_read(reply, "ts", &gen, &result);
  line("ok " + std::to_string(gen) + " " + result);
  sd_bus_message_unref(reply);
  return 0;
}

struct Tally {
  int replies = 0, ok = 0, limited = 0, other = 0;
  std::string firstOther;
};

int onReply(sd_bus_message* m, void* p, sd_bus_error*) {
  auto* t = static_cast<Tally*>(p);
  ++t->replies;
  const sd_bus_error* e = sd_bus_message_get_error(m);
  if (!e)
    ++t->ok;
  else if (std::strcmp(e->name, "org.keepalivepolicy1.Error.LimitExceeded") == 0)
    ++t->limited;
  else if (++t->other == 1)
    t->firstOther = std::string(e->name) + ": " + (e->message ? e->message : "");
  return 0;
}

int flood(int n) {
  sd_bus* bus = openBus();
  Tally t;
  for (int i = 0; i < n; ++i) {
    const int r = sd_bus_call_method_async(bus, nullptr, kDest, kPath, kIface, "ListUsers", onReply,
                                           &t, "s", "");
    if (r < 0) {
      std::fprintf(stderr, "bus_probe: call %d: %s\n", i, std::strerror(-r));
      return 1;
    }
  }
  sd_bus_flush(bus);
  line("sent");
  while (t.replies < n) {
    const int r = sd_bus_process(bus, nullptr);
    if (r < 0)
      return 1;
    if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
      return 1;
  }
  line("ok=" + std::to_string(t.ok) + " limited=" + std::to_string(t.limited) +
       " other=" + std::to_string(t.other) + (t.other ? " first: " + t.firstOther : ""));
  return 0;
}

int badCalls() {
  sd_bus* bus = openBus();
  auto call = [&](const char* name, const char* iface, const char* member, const char* types,
                  auto... args) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const int r =
        sd_bus_call_method(bus, kDest, kPath, iface, member, &err, &reply, types, args...);
    line(std::string(name) + " " + callResult(r, err));
    sd_bus_message_unref(reply);
  };
  call("listusers-int", kIface, "ListUsers", "i", 5);
  call("listusers-two", kIface, "ListUsers", "ss", "", "");
  call("reload-arg", kIface, "Reload", "s", "now");
  call("unknown-method", kIface, "Frobnicate", "");
  call("unknown-interface", "org.example.Nope", "Check", "");
  call("set-state", "org.freedesktop.DBus.Properties", "Set", "ssv", kIface, "State", "s", "ok");
  call("get-unknown", "org.freedesktop.DBus.Properties", "Get", "ss", kIface, "Nope");
  call("bad-filter", kIface, "ListUsers", "s", "frobnicate");
  const std::string huge(1 << 20, 'x');
  call("huge-filter", kIface, "ListUsers", "s", huge.c_str());
  call("huge-user", kIface, "ListUsers", "s", ("user:" + huge).c_str());
  call("ping", "org.freedesktop.DBus.Peer", "Ping", "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "watch")
    return watch();
  if (mode == "reload-after-drop")
    return reloadAfterDrop();
  if (mode == "flood" && argc > 2)
    return flood(std::atoi(argv[2]));
  if (mode == "bad-calls")
    return badCalls();
  std::fprintf(stderr, "usage: bus_probe watch|reload-after-drop|flood N|bad-calls\n");
  return 2;
}
