#include "keepalive/policy/policy.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <unordered_set>

#include "keepalive/policy/duration.h"
#include "keepalive/policy/yaml_tree.h"
#include "text.h"

namespace keepalive::policy {

using detail::quote;

const char* toString(UserAction a) {
  switch (a) {
    case UserAction::kEnforce:
      return "enforce";
    case UserAction::kReport:
      return "report";
    case UserAction::kOff:
      return "off";
  }
  return "?";
}

namespace {

constexpr std::int64_t kMaxCountMax = 1000;
constexpr std::int64_t kMaxUid = 4294967294;  // (uid_t)-1 is "no user"
constexpr std::int64_t kMinIdleTimeout = 3;
constexpr std::int64_t kMinReconcile = 10;
constexpr std::int64_t kDeadSessionWarn = 3600;
// Pairs grow with the square of the overrides: 64 overrides are 2016 pairs, milliseconds of work.
// Beyond that, each host still checks its own combination (checkForHost).
constexpr std::size_t kMaxPairChecks = 64;
// A policy is read by root on every host of a fleet: bound what one value can cost in memory,
// fnmatch time and diagnostics. Linux user names have at most 32 bytes, host names 253.
constexpr std::size_t kMaxStringBytes = 256;
constexpr std::size_t kMaxListEntries = 10000;

using Keys = std::vector<std::string_view>;
const Keys kTopKeys = {"version", "reconcile_interval", "network", "server", "client", "users",
                       "hosts"};
const Keys kNetworkKeys = {"idle_timeout"};
const Keys kServerKeys = {"client_alive_interval", "client_alive_count_max", "tcp_keepalive",
                          "ensure_include"};
const Keys kClientKeys = {"server_alive_interval", "server_alive_count_max", "tcp_keepalive",
                          "per_user_block"};
const Keys kUsersKeys = {"action", "min_uid", "exclude", "config_mode", "ssh_dir_mode"};
const Keys kHostKeys = {"match", "network", "server", "client", "users"};

// Reads one file's tree into a Policy, reporting every problem with its position.
class FileReader {
 public:
  explicit FileReader(Diagnostics& d) : d_(d) {}

  Policy read(const YamlNode& root, const std::string& file) {
    Policy p;
    p.files.push_back(file);
    if (root.kind != YamlNode::Kind::kMap) {
      d_.error(root.pos, std::string("a policy is a mapping that starts with 'version: 1', not ") +
                             root.kindName());
      return p;
    }
    for (const auto& [k, v] : root.map) {
      const std::string& key = k.scalar;
      if (key == "version") {
        p.version = number(v, "version", 1000000);
        if (p.version && p.version->value != kSupportedVersion) {
          d_.error(v.pos, "unsupported policy version " + std::to_string(p.version->value) +
                              ": this keepalive-policy reads version 1; write 'version: 1' or "
                              "upgrade keepalive-policy on this host");
          p.version.reset();
        }
      } else if (key == "reconcile_interval") {
        p.reconcile_interval = duration(v, "reconcile_interval");
      } else if (key == "hosts") {
        p.hosts = hosts(v);
      } else if (!section(key, k, v, p.base, "")) {
        unknown(k, "at the top level", kTopKeys);
      }
    }
    if (!p.version && !versionSeen(root))
      d_.error(
          {file, 1, 1},
          "missing 'version: 1'; every policy file, fragments in policy.d too, starts with it");
    return p;
  }

 private:
  static bool versionSeen(const YamlNode& root) {
    for (const auto& [k, v] : root.map)
      if (k.scalar == "version")
        return true;
    return false;
  }

  void unknown(const YamlNode& k, const std::string& where, const Keys& known) {
    // A key that is valid elsewhere is most likely misplaced, not misspelled.
    struct Home {
      const Keys* keys;
      const char* name;
    };
    const Home homes[] = {{&kNetworkKeys, "network"},
                          {&kServerKeys, "server"},
                          {&kClientKeys, "client"},
                          {&kUsersKeys, "users"},
                          {&kTopKeys, "the top level"}};
    for (const auto& h : homes) {
      if (h.keys == &known)
        continue;
      if (std::find(h.keys->begin(), h.keys->end(), k.scalar) != h.keys->end() &&
          std::find(known.begin(), known.end(), k.scalar) == known.end()) {
        d_.error(k.pos, "key " + quote(k.scalar) + " does not belong " + where +
                            "; it belongs in " + h.name +
                            (std::string(h.name) == "the top level" ? "" : ":"));
        return;
      }
    }
    d_.error(k.pos, "unknown key " + quote(k.scalar) + " " + where + ";" +
                        detail::suggestKey(k.scalar, known));
  }

  // Returns false when key is not a section name.
  bool section(const std::string& key, const YamlNode& k, const YamlNode& v, Settings& s,
               const std::string& prefix) {
    (void)k;
    if (key == "network") {
      forEachKey(
          v, prefix + "network", kNetworkKeys, [&](const std::string& name, const YamlNode& n) {
            if (name == "idle_timeout") {
              s.network.idle_timeout = duration(n, prefix + "network.idle_timeout");
              if (s.network.idle_timeout && s.network.idle_timeout->value < kMinIdleTimeout) {
                d_.error(n.pos,
                         "network.idle_timeout " + formatDuration(s.network.idle_timeout->value) +
                             " is too short for keepalives to outrun; the least allowed is 3s "
                             "(a real NAT keeps idle TCP flows for minutes)");
                s.network.idle_timeout.reset();
              }
            }
          });
      return true;
    }
    if (key == "server") {
      std::string sp = prefix + "server.";
      forEachKey(v, prefix + "server", kServerKeys,
                 [&](const std::string& name, const YamlNode& n) {
                   if (name == "client_alive_interval")
                     s.server.client_alive_interval = duration(n, sp + name);
                   else if (name == "client_alive_count_max")
                     s.server.client_alive_count_max = number(n, sp + name, kMaxCountMax);
                   else if (name == "tcp_keepalive")
                     s.server.tcp_keepalive = boolean(n, sp + name);
                   else if (name == "ensure_include")
                     s.server.ensure_include = boolean(n, sp + name);
                 });
      return true;
    }
    if (key == "client") {
      std::string cp = prefix + "client.";
      forEachKey(v, prefix + "client", kClientKeys,
                 [&](const std::string& name, const YamlNode& n) {
                   if (name == "server_alive_interval")
                     s.client.server_alive_interval = duration(n, cp + name);
                   else if (name == "server_alive_count_max")
                     s.client.server_alive_count_max = number(n, cp + name, kMaxCountMax);
                   else if (name == "tcp_keepalive")
                     s.client.tcp_keepalive = boolean(n, cp + name);
                   else if (name == "per_user_block")
                     s.client.per_user_block = boolean(n, cp + name);
                 });
      return true;
    }
    if (key == "users") {
      std::string up = prefix + "users.";
      forEachKey(v, prefix + "users", kUsersKeys, [&](const std::string& name, const YamlNode& n) {
        if (name == "action")
          s.users.action = action(n, up + name);
        else if (name == "min_uid")
          s.users.min_uid = number(n, up + name, kMaxUid);
        else if (name == "exclude")
          s.users.exclude = stringList(n, up + name, "a user name or glob");
        else if (name == "config_mode")
          s.users.config_mode = mode(n, up + name, "0600");
        else if (name == "ssh_dir_mode")
          s.users.ssh_dir_mode = mode(n, up + name, "0700");
      });
      return true;
    }
    return false;
  }

  using KeyFn = std::function<void(const std::string&, const YamlNode&)>;
  void forEachKey(const YamlNode& v, const std::string& path, const Keys& known, const KeyFn& fn) {
    if (v.kind == YamlNode::Kind::kNull)
      return;  // "server:" with nothing under it
    if (v.kind != YamlNode::Kind::kMap) {
      d_.error(v.pos, path + " must be a mapping of settings, not " + v.kindName() +
                          "; write each setting on its own indented line under '" + path + ":'");
      return;
    }
    for (const auto& [k, n] : v.map) {
      if (std::find(known.begin(), known.end(), k.scalar) == known.end()) {
        unknown(k, "in " + path, known);
        continue;
      }
      fn(k.scalar, n);
    }
  }

  bool scalar(const YamlNode& n, const std::string& path, const char* want) {
    if (n.kind == YamlNode::Kind::kScalar)
      return true;
    if (n.kind == YamlNode::Kind::kNull && path == "version")
      d_.error(n.pos, "version has no value; write 'version: 1'");
    else if (n.kind == YamlNode::Kind::kNull && path.ends_with(" item"))
      d_.error(n.pos, path + " is empty; remove the '-' or write " + want);
    else if (n.kind == YamlNode::Kind::kNull)
      d_.error(n.pos,
               path + " has no value; write " + want + " or remove the key to use the default");
    else
      d_.error(n.pos, path + " needs " + want + ", not " + n.kindName());
    return false;
  }

  Opt<std::int64_t> number(const YamlNode& n, const std::string& path, std::int64_t max) {
    if (!scalar(n, path, "a whole number"))
      return std::nullopt;
    if (detail::isYaml11Bool(n.scalar)) {
      d_.error(n.pos,
               path + ": " + quote(n.scalar) +
                   " is a YAML boolean where a number belongs; write a whole number such as 3");
      return std::nullopt;
    }
    if (n.quoted) {
      d_.error(n.pos, path +
                          " is a quoted string where a number belongs; write the number without "
                          "quotes");
      return std::nullopt;
    }
    auto r = parseWholeNumber(n.scalar, max);
    if (!r.value) {
      d_.error(n.pos, path + " value " + quote(n.scalar) + " " + r.error);
      return std::nullopt;
    }
    return valueAt(*r.value, n.pos);
  }

  Opt<std::int64_t> duration(const YamlNode& n, const std::string& path) {
    if (!scalar(n, path, "a duration (30s, 5m, 1h or whole seconds)"))
      return std::nullopt;
    if (detail::isYaml11Bool(n.scalar)) {
      d_.error(n.pos, path + ": " + quote(n.scalar) +
                          " is a YAML boolean where a duration belongs; write 30s, 5m, 1h or whole "
                          "seconds" +
                          (path.ends_with("idle_timeout") ? "" : " (0 disables)"));
      return std::nullopt;
    }
    if (n.quoted && !n.scalar.empty() &&
        n.scalar.find_first_not_of("0123456789") == std::string::npos) {
      d_.error(n.pos, path + " is a quoted number; write seconds without quotes, or a unit: " +
                          n.scalar + "s");
      return std::nullopt;
    }
    auto r = parseDuration(n.scalar);
    if (!r.value) {
      d_.error(n.pos, path + " value " + quote(n.scalar) + " " + r.error);
      return std::nullopt;
    }
    return valueAt(*r.value, n.pos);
  }

  Opt<bool> boolean(const YamlNode& n, const std::string& path) {
    if (!scalar(n, path, "true or false"))
      return std::nullopt;
    bool v = false;
    if (!n.quoted && detail::isYaml12Bool(n.scalar, &v))
      return valueAt(v, n.pos);
    if (n.quoted)
      d_.error(n.pos, path +
                          " is a quoted string where a boolean belongs; write true or false "
                          "without quotes");
    else if (detail::isYaml11Bool(n.scalar))
      d_.error(n.pos, path + ": " + quote(n.scalar) +
                          " is a YAML 1.1 boolean that other YAML readers take as a string; write "
                          "true or false");
    else
      d_.error(n.pos,
               path + " value " + quote(n.scalar) + " is not a boolean; write true or false");
    return std::nullopt;
  }

  Opt<UserAction> action(const YamlNode& n, const std::string& path) {
    if (!scalar(n, path, "enforce, report or off"))
      return std::nullopt;
    if (n.scalar == "enforce")
      return valueAt(UserAction::kEnforce, n.pos);
    if (n.scalar == "report")
      return valueAt(UserAction::kReport, n.pos);
    if (n.scalar == "off" && !n.quoted) {
      // Plain "off" is also a YAML 1.1 boolean; here the enum reading is the only sensible one and
      // the value is spelled out, so accept it.
      return valueAt(UserAction::kOff, n.pos);
    }
    if (n.scalar == "off")
      return valueAt(UserAction::kOff, n.pos);
    d_.error(n.pos, path + " value " + quote(n.scalar) + " is not one of enforce, report, off;" +
                        detail::suggestKey(n.scalar, {"enforce", "report", "off"}));
    return std::nullopt;
  }

  // Strings never reach sshd or ssh config verbatim (we render numbers), but they do reach logs,
  // D-Bus and terminals: keep them to printable, single-line text.
  Opt<std::string> string(const YamlNode& n, const std::string& path, const char* what) {
    if (!scalar(n, path, what))
      return std::nullopt;
    const std::string& s = n.scalar;
    if (s.empty()) {
      d_.error(n.pos, path + " is an empty string; write " + what);
      return std::nullopt;
    }
    if (s.size() > kMaxStringBytes) {
      d_.error(n.pos, path + " value " + quote(s) + " is " + std::to_string(s.size()) +
                          " bytes long, over the limit of " + std::to_string(kMaxStringBytes) +
                          "; user and host names are far shorter: write " + what);
      return std::nullopt;
    }
    if (!n.quoted) {
      if (detail::isYaml11Bool(s) || detail::isYaml11Number(s)) {
        d_.error(n.pos,
                 path + ": " + quote(s) +
                     " would be read as a boolean or number by some YAML readers; quote it: \"" +
                     s + "\"");
        return std::nullopt;
      }
    }
    for (unsigned char c : s) {
      if (c == '\n' || c == '\r') {
        d_.error(n.pos, path + " holds a line break; write one value per list item");
        return std::nullopt;
      }
      if (c < 0x20 || c == 0x7f) {
        d_.error(n.pos, path + " holds a control character; remove it");
        return std::nullopt;
      }
      if (c >= 0x80) {
        // Host names are ASCII (IDNA) and user names are in practice; anything else here is
        // invisible or misleading in a terminal (U+2028, bidi overrides, C1 controls).
        d_.error(n.pos, path + " value " + quote(s) +
                            " holds a non-ASCII byte; user and host name patterns are ASCII");
        return std::nullopt;
      }
    }
    if (s.find('#') != std::string::npos) {
      d_.error(n.pos, path +
                          " holds '#', which starts a comment in sshd and ssh config and never "
                          "appears in user or host names; remove it (was a comment quoted by "
                          "mistake?)");
      return std::nullopt;
    }
    if (s.find_first_of(" \t") != std::string::npos) {
      d_.error(n.pos, path + " value " + quote(s) +
                          " holds a space; user and host names have none: write one pattern per "
                          "list item");
      return std::nullopt;
    }
    return valueAt(s, n.pos);
  }

  Opt<std::vector<Value<std::string>>> stringList(const YamlNode& n, const std::string& path,
                                                  const char* what) {
    if (n.kind != YamlNode::Kind::kSequence) {
      std::string example = n.kind == YamlNode::Kind::kScalar ? quote(n.scalar) : "'name'";
      d_.error(n.pos, path + " must be a list, not " + n.kindName() + "; write " +
                          path.substr(path.rfind('.') + 1) + ": [" +
                          (example.size() < 40 ? example : "name") + "]");
      return std::nullopt;
    }
    if (!withinListLimit(n, path, "entries",
                         "use globs such as \"svc-*\" instead of listing "
                         "every name"))
      return std::nullopt;
    std::vector<Value<std::string>> out;
    bool ok = true;
    for (const auto& item : n.sequence) {
      auto v = string(item, path + " item", what);
      if (v)
        out.push_back(*v);
      else
        ok = false;
    }
    if (!ok)
      return std::nullopt;
    return valueAt(std::move(out), n.pos);
  }

  bool withinListLimit(const YamlNode& n, const std::string& path, const char* items,
                       const char* instead) {
    if (n.sequence.size() <= kMaxListEntries)
      return true;
    d_.error(n.pos, path + " has " + std::to_string(n.sequence.size()) + " " + items +
                        ", over the limit of " + std::to_string(kMaxListEntries) + "; " + instead);
    return false;
  }

  Opt<std::int64_t> mode(const YamlNode& n, const std::string& path, const char* example) {
    if (!scalar(n, path, "a quoted octal mode"))
      return std::nullopt;
    const std::string& s = n.scalar;
    if (!n.quoted) {
      d_.error(n.pos,
               path + ": an unquoted " + quote(s) +
                   " is octal to some YAML readers and decimal to others; quote the mode: \"" +
                   example + "\"");
      return std::nullopt;
    }
    bool octal =
        (s.size() == 3 || s.size() == 4) && s.find_first_not_of("01234567") == std::string::npos;
    if (!octal) {
      d_.error(n.pos, path + " value " + quote(s) +
                          " is not an octal mode; write it as chmod does, "
                          "e.g. \"" +
                          example + "\"");
      return std::nullopt;
    }
    if (s.size() == 4 && s[0] != '0') {
      d_.error(n.pos, path + " value " + quote(s) +
                          " sets setuid, setgid or sticky bits, which ssh files never need; write "
                          "\"" +
                          example + "\"");
      return std::nullopt;
    }
    std::int64_t v = std::stoll(s, nullptr, 8);
    return valueAt(v, n.pos);
  }

  Opt<std::vector<HostOverride>> hosts(const YamlNode& n) {
    if (n.kind != YamlNode::Kind::kSequence) {
      d_.error(n.pos, std::string("hosts must be a list of overrides, not ") + n.kindName() +
                          "; write each override as a list item: '- match: [\"db-*\"]' with its "
                          "settings below");
      return std::nullopt;
    }
    if (!withinListLimit(n, "hosts", "overrides",
                         "give hosts with the same settings one override with several globs"))
      return std::nullopt;
    std::vector<HostOverride> out;
    for (std::size_t i = 0; i < n.sequence.size(); ++i) {
      const YamlNode& item = n.sequence[i];
      std::string path = "hosts[" + std::to_string(i) + "]";
      if (item.kind != YamlNode::Kind::kMap) {
        d_.error(item.pos,
                 path + " must be a mapping with 'match' and settings, not " + item.kindName());
        continue;
      }
      HostOverride o;
      o.pos = item.pos;
      const int errorsBefore = d_.errorCount();
      bool haveMatch = false;
      bool anySetting = false;
      for (const auto& [k, v] : item.map) {
        if (k.scalar == "match") {
          haveMatch = true;
          auto globs = stringList(v, path + ".match", "a host name glob");
          if (globs) {
            if (globs->value.empty())
              d_.error(v.pos, path +
                                  ".match is empty, so the override never applies; list host "
                                  "name globs such as [\"db-*\"]");
            o.match = std::move(globs->value);
          }
        } else if (section(k.scalar, k, v, o.settings, path + ".")) {
          anySetting = true;
        } else {
          unknown(k, "in " + path, kHostKeys);
        }
      }
      if (!haveMatch)
        d_.error(item.pos, path +
                               " has no 'match'; add match: [\"host-glob\"] naming the hosts it "
                               "applies to");
      if (!anySetting && d_.errorCount() == errorsBefore)
        d_.warning(item.pos, path +
                                 " sets nothing; add network, server, client or users settings, "
                                 "or remove it");
      out.push_back(std::move(o));
    }
    return valueAt(std::move(out), n.pos);
  }

  Diagnostics& d_;
};

template <class T>
void take(Opt<T>& into, const Opt<T>& from) {
  if (from)
    into = from;
}

void mergeSettings(Settings& into, const Settings& from, Diagnostics* warn) {
  take(into.network.idle_timeout, from.network.idle_timeout);
  take(into.server.client_alive_interval, from.server.client_alive_interval);
  take(into.server.client_alive_count_max, from.server.client_alive_count_max);
  take(into.server.tcp_keepalive, from.server.tcp_keepalive);
  take(into.server.ensure_include, from.server.ensure_include);
  take(into.client.server_alive_interval, from.client.server_alive_interval);
  take(into.client.server_alive_count_max, from.client.server_alive_count_max);
  take(into.client.tcp_keepalive, from.client.tcp_keepalive);
  take(into.client.per_user_block, from.client.per_user_block);
  take(into.users.action, from.users.action);
  take(into.users.min_uid, from.users.min_uid);
  if (warn && into.users.exclude && from.users.exclude)
    warn->warning(from.users.exclude->pos,
                  "users.exclude replaces the list set at " + into.users.exclude->pos.str() +
                      "; lists are replaced, not appended: repeat the entries you want to keep");
  take(into.users.exclude, from.users.exclude);
  take(into.users.config_mode, from.users.config_mode);
  take(into.users.ssh_dir_mode, from.users.ssh_dir_mode);
}

std::string hours(std::int64_t seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.1f hours)", static_cast<double>(seconds) / 3600.0);
  return formatDuration(seconds) + buf;
}

std::string at(const SourcePos& p) {
  return p.known() ? " (" + p.str() + ")" : "";
}

// The value as the admin wrote it, or how it was derived.
template <class T>
std::string how(const Value<T>& v) {
  return v.derived ? " (" + v.note + ")" : "";
}

void checkInterval(const Opt<std::int64_t>& interval, const Opt<std::int64_t>& countMax,
                   const Opt<std::int64_t>& idle, bool server, Diagnostics& d) {
  const std::string name = server ? "server.client_alive_interval" : "client.server_alive_interval";
  const std::string countName =
      server ? "server.client_alive_count_max" : "client.server_alive_count_max";
  const std::string prog = server ? "sshd" : "ssh";
  if (countMax) {
    if (countMax->value == 0 && server)
      d.warning(countMax->pos,
                countName +
                    " 0 means sshd never disconnects an unresponsive client on OpenSSH 8.2 "
                    "and later (older versions disconnect at the first unanswered probe): "
                    "dead sessions then linger until TCP gives up; write 3 to close them "
                    "after about three intervals");
    if (countMax->value == 0 && !server)
      d.error(countMax->pos,
              countName +
                  " 0 makes ssh quit at its first probe, so every session that is idle for "
                  "one server_alive_interval ends with 'Timeout, server not responding'; "
                  "write 3");
    if (countMax->value == 1)
      d.warning(countMax->pos,
                countName +
                    " 1 ends a session after a single unanswered probe: on a flaky link "
                    "(Wi-Fi, mobile) keepalives then turn a short outage into a dropped "
                    "session; 3 rides out an outage of about three intervals");
  }
  if (!interval)
    return;
  const std::int64_t s = interval->value;
  if (s == 0) {
    if (idle)
      d.warning(interval->pos,
                name + " 0 turns " + prog +
                    "'s keepalive probes off, so sessions idle for longer "
                    "than network.idle_timeout " +
                    formatDuration(idle->value) + at(idle->pos) +
                    " are dropped by the NAT; remove the key to derive a safe interval");
    return;
  }
  if (idle) {
    const std::int64_t t = idle->value;
    const std::string idleText = "network.idle_timeout " + formatDuration(t) + at(idle->pos);
    if (s >= t) {
      std::string advice =
          server
              ? "write at most " + formatDuration(std::max<std::int64_t>(1, (t - 1) / 2)) + "; " +
                    formatDuration(derivedServerInterval(t)) + " (idle_timeout/3) is recommended"
              : "write " + formatDuration(std::max<std::int64_t>(1, t / 2)) +
                    " (idle_timeout/2) or less";
      d.error(interval->pos, name + " " + formatDuration(s) + how(*interval) + " is not below " +
                                 idleText + ": the NAT or firewall drops an idle session before " +
                                 prog + "'s first probe; " + advice);
    } else if (server && 2 * s > t) {
      d.error(interval->pos,
              name + " " + formatDuration(s) + how(*interval) + " is above half of " + idleText +
                  ": while the client is silent sshd 9.x sends its probe only every second "
                  "interval, so the path stays idle for " +
                  formatDuration(2 * s) + ", longer than the timeout; write at most " +
                  formatDuration(std::max<std::int64_t>(1, (t - 1) / 2)) + ", " +
                  formatDuration(derivedServerInterval(t)) + " (idle_timeout/3) is recommended");
    } else if (server && 2 * s == t) {
      d.warning(interval->pos,
                name + " " + formatDuration(s) + " is exactly half of " + idleText +
                    ": with sshd probing every second interval the path stays idle for the whole "
                    "timeout, racing it; write " +
                    formatDuration(derivedServerInterval(t)) + " (idle_timeout/3)");
    }
  }
  std::int64_t count = countMax ? countMax->value : kOpensshDefaultCountMax;
  if (count > 0 && s * count > kDeadSessionWarn) {
    const SourcePos& where = countMax ? countMax->pos : interval->pos;
    d.warning(
        where,
        name + " " + formatDuration(s) + " x " + countName.substr(countName.find('.') + 1) + " " +
            std::to_string(count) + (countMax ? "" : " (OpenSSH's default)") +
            " keeps a dead session for " + hours(s * count) +
            ", over an hour (the classic 298 x 50 keeps them 4.1 hours); " +
            (count > kOpensshDefaultCountMax ? "lower the count to 3" : "shorten the interval"));
  }
}

void checkMode(const Opt<std::int64_t>& m, const std::string& name, bool dir, Diagnostics& d) {
  if (!m)
    return;
  std::int64_t v = m->value;
  char text[8];
  std::snprintf(text, sizeof text, "%04llo", static_cast<long long>(v));
  if (v & 022)
    d.error(m->pos, name + " \"" + text + "\" lets group or others write; ssh refuses such " +
                        (dir ? "a directory's files" : "a config") +
                        " ('Bad owner or permissions'): write \"" + (dir ? "0700" : "0600") + "\"");
  if (dir && (v & 0700) != 0700)
    d.error(m->pos,
            name + " \"" + text +
                "\" does not give the owner read, write and search on ~/.ssh; write \"0700\"");
  if (!dir && (v & 0400) == 0)
    d.error(m->pos, name + " \"" + text +
                        "\" does not let the owner read the config, so ssh cannot use it; write "
                        "\"0600\"");
}

void writeOpt(std::string& out, const std::string& key, const Opt<std::int64_t>& v) {
  if (v)
    out += key + "=" + std::to_string(v->value) + "\n";
}
void writeOpt(std::string& out, const std::string& key, const Opt<bool>& v) {
  if (v)
    out += key + "=" + (v->value ? "true" : "false") + "\n";
}

void writeSettings(std::string& out, const std::string& p, const Settings& s) {
  writeOpt(out, p + "network.idle_timeout", s.network.idle_timeout);
  writeOpt(out, p + "server.client_alive_interval", s.server.client_alive_interval);
  writeOpt(out, p + "server.client_alive_count_max", s.server.client_alive_count_max);
  writeOpt(out, p + "server.tcp_keepalive", s.server.tcp_keepalive);
  writeOpt(out, p + "server.ensure_include", s.server.ensure_include);
  writeOpt(out, p + "client.server_alive_interval", s.client.server_alive_interval);
  writeOpt(out, p + "client.server_alive_count_max", s.client.server_alive_count_max);
  writeOpt(out, p + "client.tcp_keepalive", s.client.tcp_keepalive);
  writeOpt(out, p + "client.per_user_block", s.client.per_user_block);
  if (s.users.action)
    out += p + "users.action=" + toString(s.users.action->value) + "\n";
  writeOpt(out, p + "users.min_uid", s.users.min_uid);
  if (s.users.exclude) {
    out += p + "users.exclude=" + std::to_string(s.users.exclude->value.size()) + "\n";
    for (const auto& e : s.users.exclude->value)
      out += std::to_string(e.value.size()) + ":" + e.value + "\n";
  }
  writeOpt(out, p + "users.config_mode", s.users.config_mode);
  writeOpt(out, p + "users.ssh_dir_mode", s.users.ssh_dir_mode);
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string HostOverride::describe() const {
  std::string globs;
  for (const auto& m : match)
    globs += (globs.empty() ? "" : ", ") + printable(m.value);
  return "hosts matching " + (globs.empty() ? std::string("nothing") : globs) + " (" + pos.str() +
         ")";
}

Settings overlay(const Settings& base, const Settings& over) {
  Settings out = base;
  mergeSettings(out, over, nullptr);
  return out;
}

std::int64_t derivedServerInterval(std::int64_t t) {
  return std::clamp<std::int64_t>(t / 3, 1, kMaxDerivedInterval);
}
std::int64_t derivedClientInterval(std::int64_t t) {
  return std::clamp<std::int64_t>(t / 2, 1, kMaxDerivedInterval);
}

void deriveIntervals(Settings& s) {
  if (!s.network.idle_timeout)
    return;
  const auto& t = *s.network.idle_timeout;
  auto note = [&t](int divisor, std::int64_t v) {
    std::string n = "derived from network.idle_timeout " + formatDuration(t.value) + " / " +
                    std::to_string(divisor);
    if (v == kMaxDerivedInterval && t.value / divisor > kMaxDerivedInterval)
      n += ", capped at " + formatDuration(kMaxDerivedInterval) +
           " so that 3 unanswered probes close a dead session within the hour";
    return n;
  };
  if (!s.server.client_alive_interval) {
    const auto v = derivedServerInterval(t.value);
    s.server.client_alive_interval = Value<std::int64_t>{v, t.pos, true, note(3, v)};
  }
  if (!s.client.server_alive_interval) {
    const auto v = derivedClientInterval(t.value);
    s.client.server_alive_interval = Value<std::int64_t>{v, t.pos, true, note(2, v)};
  }
}

void checkSettings(const Settings& s, Diagnostics& d) {
  checkInterval(s.server.client_alive_interval, s.server.client_alive_count_max,
                s.network.idle_timeout, true, d);
  checkInterval(s.client.server_alive_interval, s.client.server_alive_count_max,
                s.network.idle_timeout, false, d);
  checkMode(s.users.config_mode, "users.config_mode", false, d);
  checkMode(s.users.ssh_dir_mode, "users.ssh_dir_mode", true, d);
  if (s.users.min_uid && s.users.min_uid->value == 0)
    d.warning(s.users.min_uid->pos,
              "users.min_uid 0 covers root and every system account; 1000 covers people on Debian "
              "and RHEL");
  if (s.client.per_user_block && s.client.per_user_block->value &&
      !s.client.server_alive_interval && !s.client.server_alive_count_max &&
      !s.client.tcp_keepalive)
    d.warning(s.client.per_user_block->pos,
              "client.per_user_block is true but the policy sets no client values to put in the "
              "block; set client.server_alive_interval or network.idle_timeout");
}

Policy loadPolicy(const std::vector<PolicyFile>& files, Diagnostics& diags) {
  Policy merged;
  int errorsBefore = diags.errorCount();
  for (const auto& f : files) {
    merged.files.push_back(f.path);
    auto tree = parseYaml(f.text, f.path, diags);
    if (!tree)
      continue;
    FileReader reader(diags);
    Policy p = reader.read(*tree, f.path);
    take(merged.version, p.version);
    take(merged.reconcile_interval, p.reconcile_interval);
    mergeSettings(merged.base, p.base, &diags);
    if (merged.hosts && p.hosts)
      diags.warning(p.hosts->pos, "hosts replaces the list set at " + merged.hosts->pos.str() +
                                      "; lists are replaced, not appended: keep all host "
                                      "overrides in one file");
    take(merged.hosts, p.hosts);
  }
  if (files.empty())
    diags.error({}, "no policy files given");
  if (diags.errorCount() > errorsBefore)
    return merged;

  if (merged.reconcile_interval) {
    const auto& r = *merged.reconcile_interval;
    if (r.value == 0)
      diags.warning(r.pos,
                    "reconcile_interval 0 turns the periodic re-check off: changes inotify "
                    "cannot see (NFS homes edited on another client) are then never "
                    "repaired; 1h is the default");
    else if (r.value < kMinReconcile)
      diags.error(r.pos, "reconcile_interval " + formatDuration(r.value) +
                             " is too short: each run re-checks every user; write at least 10s "
                             "(1h is the default)");
  }

  // The fleet-wide settings alone, then each override on top of them, so that a rule broken only
  // on some hosts is still found on the machine that validates the policy.
  Settings base = merged.base;
  deriveIntervals(base);
  Diagnostics baseDiags;
  checkSettings(base, baseDiags);
  diags.append(baseDiags);
  if (merged.hosts) {
    // Each override alone, then each pair in order: a host can match several. Larger
    // combinations are checked where they occur, for the host itself (checkForHost).
    const auto& hs = merged.hosts->value;
    std::unordered_set<std::string> seen;
    for (const auto& d : baseDiags.items())
      seen.insert(d.str());
    auto report = [&](const Settings& eff0, const std::string& context) {
      Settings eff = eff0;
      deriveIntervals(eff);
      Diagnostics od;
      checkSettings(eff, od);
      for (auto d : od.items()) {
        if (!seen.insert(d.str()).second)
          continue;
        d.message += " [for " + context + "]";
        diags.add(std::move(d));
      }
    };
    for (const auto& o : hs)
      report(overlay(merged.base, o.settings), o.describe());
    if (hs.size() > kMaxPairChecks)
      diags.warning(merged.hosts->pos,
                    std::to_string(hs.size()) +
                        " host overrides: combinations of two are not "
                        "checked beyond " +
                        std::to_string(kMaxPairChecks) +
                        " (each host still checks its own combination when it applies)");
    if (hs.size() <= kMaxPairChecks) {
      for (std::size_t i = 0; i < hs.size(); ++i)
        for (std::size_t j = i + 1; j < hs.size(); ++j)
          report(overlay(overlay(merged.base, hs[i].settings), hs[j].settings),
                 "a host matching both " + hs[i].describe() + " and " + hs[j].describe());
    }
  }
  return merged;
}

HostIdentity HostIdentity::fromName(const std::string& name, const std::string& fqdn) {
  HostIdentity h;
  auto add = [&h](const std::string& n) {
    std::string l = lower(n);
    while (!l.empty() && l.back() == '.')
      l.pop_back();  // "host.example.com." is the same host
    if (!l.empty() && std::find(h.names.begin(), h.names.end(), l) == h.names.end())
      h.names.push_back(l);
  };
  add(name);
  add(name.substr(0, name.find('.')));
  if (!fqdn.empty()) {
    add(fqdn);
    add(fqdn.substr(0, fqdn.find('.')));
  }
  return h;
}

bool hostMatches(const HostOverride& o, const HostIdentity& host) {
  for (const auto& glob : o.match) {
    std::string g = lower(glob.value);
    for (const auto& name : host.names)
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0)
        return true;
  }
  return false;
}

Resolved resolve(const Policy& p, const HostIdentity& host) {
  Resolved r;
  Settings eff = p.base;
  if (p.hosts) {
    for (const auto& o : p.hosts->value) {
      if (!hostMatches(o, host))
        continue;
      eff = overlay(eff, o.settings);
      r.applied.push_back(&o);
    }
  }
  deriveIntervals(eff);
  r.settings = eff;
  auto dflt = [](auto v) {
    using T = decltype(v);
    return Value<T>{v, {}, false, "default"};
  };
  r.reconcile_interval = p.reconcile_interval ? *p.reconcile_interval : dflt(std::int64_t{3600});
  const auto& u = eff.users;
  r.users_action = u.action ? *u.action : dflt(UserAction::kReport);
  r.users_min_uid = u.min_uid ? *u.min_uid : dflt(std::int64_t{1000});
  if (u.exclude)
    r.users_exclude = u.exclude->value;
  r.users_config_mode = u.config_mode ? *u.config_mode : dflt(std::int64_t{0600});
  r.users_ssh_dir_mode = u.ssh_dir_mode ? *u.ssh_dir_mode : dflt(std::int64_t{0700});
  r.ensure_include = eff.server.ensure_include ? *eff.server.ensure_include : dflt(false);
  r.per_user_block = eff.client.per_user_block ? *eff.client.per_user_block : dflt(false);
  return r;
}

Diagnostics checkForHost(const Policy& p, const HostIdentity& host) {
  Diagnostics d;
  Resolved r = resolve(p, host);
  Diagnostics raw;
  checkSettings(r.settings, raw);
  std::string who = host.names.empty() ? std::string("this host") : host.names.front();
  for (auto item : raw.items()) {
    // Warnings were reported for the fleet-wide settings and every override already.
    if (item.severity != Severity::kError)
      continue;
    item.message +=
        " [for " + who + ", which matches " + std::to_string(r.applied.size()) + " host overrides]";
    d.add(std::move(item));
  }
  return d;
}

std::string canonicalText(const Policy& p) {
  std::string out = "keepalive-policy canonical 1\n";
  writeOpt(out, "version", p.version);
  writeOpt(out, "reconcile_interval", p.reconcile_interval);
  writeSettings(out, "", p.base);
  if (p.hosts) {
    for (std::size_t i = 0; i < p.hosts->value.size(); ++i) {
      const auto& o = p.hosts->value[i];
      std::string prefix = "hosts[" + std::to_string(i) + "].";
      out += prefix + "match=" + std::to_string(o.match.size()) + "\n";
      for (const auto& m : o.match)
        out += std::to_string(m.value.size()) + ":" + m.value + "\n";
      writeSettings(out, prefix, o.settings);
    }
  }
  return out;
}

}  // namespace keepalive::policy
