// SPDX-License-Identifier: GPL-2.0-or-later
// Reading policy files into the typed model: each file's YAML tree is checked against the
// declared settings (keys, types, per-file ranges), then the files are merged in order and the
// semantic rules run over the result.
#include <algorithm>
#include <functional>

#include "keepalive/policy/duration.h"
#include "keepalive/policy/networks.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"
#include "keepalive/policy/yaml_tree.h"
#include "network_ops.h"
#include "settings_ops.h"
#include "text.h"

namespace keepalive::policy {

namespace {

using detail::quote;

// A policy is read by root on every host of a fleet: bound what one value can cost in memory,
// fnmatch time and diagnostics. Linux user names have at most 32 bytes, host names 253.
constexpr std::size_t kMaxStringBytes = 256;
constexpr std::size_t kMaxListEntries = 10000;

using Keys = std::vector<std::string_view>;

bool contains(const Keys& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

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
    for (const auto& entry : root.map) {
      // Named, not a structured binding: clang 14 cannot capture those in the lambda below.
      const YamlNode& k = entry.first;
      const YamlNode& v = entry.second;
      const std::string& key = k.scalar;
      const Setting* s = findSetting(key);
      if (s && s->topLevel()) {
        detail::withSlot(*s,
                         [&]<class T>(const Slot<T>& slot) { slot.top(p) = parse<T>(*s, v, key); });
        if (key == "version" && p.version && p.version->value != kSupportedVersion) {
          d_.error(v.pos, "unsupported policy version " + std::to_string(p.version->value) +
                              ": this keepalive-policy reads version 1; write 'version: 1' or "
                              "upgrade keepalive-policy on this host");
          p.version.reset();
        }
      } else if (key == "hosts") {
        p.hosts = hosts(v);
      } else if (key == "networks") {
        p.networks = networks(v, "networks", false);
      } else if (!section(key, v, p.base, "")) {
        unknown(k, "at the top level", "");
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

  // place is where the key was found, as keysAt() names places.
  void unknown(const YamlNode& k, const std::string& where, std::string_view place) {
    const Keys known = keysAt(place);
    // A key that is valid elsewhere is most likely misplaced, not misspelled.
    std::vector<std::pair<std::string_view, std::string>> homes;
    for (auto section : sections())
      homes.emplace_back(section, std::string(section));
    homes.emplace_back("", "the top level");
    for (const auto& [home, name] : homes) {
      if (home == place)
        continue;
      if (contains(keysAt(home), k.scalar) && !contains(known, k.scalar)) {
        d_.error(k.pos, "key " + quote(k.scalar) + " does not belong " + where +
                            "; it belongs in " + name + (home.empty() ? "" : ":"));
        return;
      }
    }
    d_.error(k.pos, "unknown key " + quote(k.scalar) + " " + where + ";" +
                        detail::suggestKey(k.scalar, known));
  }

  // Returns false when key is not a section name.
  bool section(const std::string& key, const YamlNode& v, Settings& s, const std::string& prefix) {
    if (!contains(sections(), key))
      return false;
    forEachKey(v, prefix + key, key, [&](const std::string& name, const YamlNode& n) {
      const Setting* decl = findSetting(key + "." + name);
      detail::withSlot(*decl, [&]<class T>(const Slot<T>& slot) {
        slot.in(s) = parse<T>(*decl, n, prefix + key + "." + name);
      });
    });
    return true;
  }

  // The value of one setting, checked against its declaration; nothing when it is wrong.
  template <class T>
  Opt<T> parse(const Setting& s, const YamlNode& n, const std::string& path) {
    if constexpr (std::is_same_v<T, bool>) {
      return boolean(n, path);
    } else if constexpr (std::is_same_v<T, UserAction>) {
      return action(n, path);
    } else if constexpr (std::is_same_v<T, NameList>) {
      return stringList(n, path, std::string(s.item).c_str());
    } else if constexpr (kIsEnum<T>) {
      return word<T>(n, path);
    } else {
      Opt<std::int64_t> v;
      if (s.kind == Kind::kDuration)
        v = duration(n, path, s.range.min == 0 || s.range.zeroOff);
      else if (s.kind == Kind::kMode)
        v = mode(n, path, detail::octal(*std::get<Slot<std::int64_t>>(s.slot).fallback).c_str());
      else
        v = number(n, path, s.range.max);
      if (v && s.range.stage == RangeStage::kEachFile && !detail::checkRange(s, *v, d_))
        v.reset();
      return v;
    }
  }

  using KeyFn = std::function<void(const std::string&, const YamlNode&)>;
  void forEachKey(const YamlNode& v, const std::string& path, std::string_view place,
                  const KeyFn& fn) {
    if (v.kind == YamlNode::Kind::kNull)
      return;  // "server:" with nothing under it
    if (v.kind != YamlNode::Kind::kMap) {
      d_.error(v.pos, path + " must be a mapping of settings, not " + v.kindName() +
                          "; write each setting on its own indented line under '" + path + ":'");
      return;
    }
    const Keys known = keysAt(place);
    for (const auto& [k, n] : v.map) {
      if (!contains(known, k.scalar)) {
        unknown(k, "in " + path, place);
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

  Opt<std::int64_t> duration(const YamlNode& n, const std::string& path, bool zeroOff) {
    if (!scalar(n, path, "a duration (30s, 5m, 1h or whole seconds)"))
      return std::nullopt;
    if (detail::isYaml11Bool(n.scalar)) {
      d_.error(n.pos, path + ": " + quote(n.scalar) +
                          " is a YAML boolean where a duration belongs; write 30s, 5m, 1h or whole "
                          "seconds" +
                          (zeroOff ? " (0 disables)" : ""));
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
                        detail::suggestKey(
                            n.scalar, {toString(UserAction::kEnforce),
                                       toString(UserAction::kReport), toString(UserAction::kOff)}));
    return std::nullopt;
  }

  // One word of an enum (Kind::kEnum), quoted or not: "1x" and 1x are the same string to YAML.
  template <class E>
  Opt<E> word(const YamlNode& n, const std::string& path) {
    std::vector<std::string> words;
    for (E e : EnumWords<E>::kAll)
      words.emplace_back(toString(e));
    std::string list;
    for (std::size_t i = 0; i < words.size(); ++i)
      list += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
    if (!scalar(n, path, list.c_str()))
      return std::nullopt;
    for (E e : EnumWords<E>::kAll)
      if (n.scalar == toString(e))
        return valueAt(e, n.pos);
    if constexpr (requires { EnumWords<E>::kRefused; }) {
      for (const RefusedWord& r : EnumWords<E>::kRefused)
        if (detail::lowerAscii(n.scalar) == r.word) {
          d_.error(n.pos,
                   path + " value " + quote(n.scalar) + " is refused: " + std::string(r.why));
          return std::nullopt;
        }
    }
    d_.error(n.pos, path + " value " + quote(n.scalar) + " is not one of " + list + ";" +
                        detail::suggestKey(n.scalar, {words.begin(), words.end()}));
    return std::nullopt;
  }

  // Strings reach sshd or ssh config only as networks' validated addresses and host patterns (see
  // networks.cpp; everything else renders as numbers), but they do reach logs,
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
        } else if (section(k.scalar, v, o.settings, path + ".")) {
          anySetting = true;
        } else if (k.scalar == "networks") {
          o.networks = networks(v, path + ".networks", true);
          anySetting = true;
        } else {
          unknown(k, "in " + path, "hosts[]");
        }
      }
      if (!haveMatch)
        d_.error(item.pos, path +
                               " has no 'match'; add match: [\"host-glob\"] naming the hosts it "
                               "applies to");
      if (!anySetting && d_.errorCount() == errorsBefore)
        d_.warning(item.pos, path +
                                 " sets nothing; add network, server, client or users settings "
                                 "or networks, or remove it");
      out.push_back(std::move(o));
    }
    return valueAt(std::move(out), n.pos);
  }

  // networks: at the top level, or in a hosts[] item (inOverride), where an entry may name a
  // fleet network to change only some of its keys.
  Opt<std::vector<NetworkEntry>> networks(const YamlNode& n, const std::string& path,
                                          bool inOverride) {
    if (n.kind != YamlNode::Kind::kSequence) {
      d_.error(n.pos, path + " must be a list of networks, not " + n.kindName() +
                          "; write each network as a list item: '- name: branch-nat' with its "
                          "addresses, destinations and idle_timeout below");
      return std::nullopt;
    }
    if (n.sequence.size() > detail::kMaxNetworks) {
      d_.error(n.pos, path + " has " + std::to_string(n.sequence.size()) +
                          " networks, over the limit of " + std::to_string(detail::kMaxNetworks) +
                          "; give paths with the same timeouts one network with several "
                          "addresses");
      return std::nullopt;
    }
    std::vector<NetworkEntry> out;
    for (std::size_t i = 0; i < n.sequence.size(); ++i) {
      const YamlNode& item = n.sequence[i];
      const std::string ipath = path + "[" + std::to_string(i) + "]";
      if (item.kind != YamlNode::Kind::kMap) {
        d_.error(item.pos, ipath +
                               " must be a mapping with name, addresses or destinations and "
                               "timeouts, not " +
                               item.kindName());
        continue;
      }
      NetworkEntry e;
      e.pos = item.pos;
      const int errorsBefore = d_.errorCount();
      bool haveName = false;
      for (const auto& [k, v] : item.map) {
        if (k.scalar == "name") {
          haveName = true;
          auto s = string(v, ipath + ".name", "a network name such as branch-nat");
          std::string why;
          if (s && !detail::validNetworkName(s->value, &why))
            d_.error(v.pos, ipath + ".name " + quote(s->value) + " " + why);
          else if (s)
            e.name = *s;
        } else if (k.scalar == "addresses") {
          e.addresses =
              patterns(v, ipath + ".addresses", "an address or CIDR such as 10.20.0.0/16",
                       [](std::string_view t, std::string* why) { return validCidr(t, why); });
        } else if (k.scalar == "destinations") {
          e.destinations =
              patterns(v, ipath + ".destinations", "a host name pattern such as *.example.com",
                       detail::validHostPattern);
          const bool positive =
              std::any_of(e.destinations.begin(), e.destinations.end(),
                          [](const Value<std::string>& d) { return d.value[0] != '!'; });
          if (!e.destinations.empty() && !positive)
            d_.error(v.pos, ipath +
                                ".destinations has only excluding ('!') patterns, which ssh "
                                "never matches on their own; add the names to include, e.g. "
                                "[\"*.example.com\", \"!skip.example.com\"]");
        } else if (!networkKey(k.scalar, v, ipath, e.settings)) {
          unknown(k, "in " + ipath, "networks[]");
        }
      }
      if (!haveName)
        d_.error(item.pos, ipath +
                               " has no name; add name: followed by a unique name such as "
                               "branch-nat");
      if (!inOverride && e.addresses.empty() && e.destinations.empty() &&
          d_.errorCount() == errorsBefore)
        d_.error(item.pos, ipath +
                               " has neither addresses nor destinations, so it applies to "
                               "nothing; add addresses (client CIDRs, for sshd) or destinations "
                               "(host name patterns, for ssh)");
      if (!e.name.value.empty()) {
        auto dup = std::find_if(out.begin(), out.end(), [&](const NetworkEntry& o) {
          return o.name.value == e.name.value;
        });
        if (dup != out.end()) {
          d_.error(e.name.pos, ipath + ".name " + quote(e.name.value) +
                                   " is already the name of the network at " + dup->pos.str() +
                                   "; names must be unique: merge the two or "
                                   "rename one");
          continue;
        }
      }
      out.push_back(std::move(e));
    }
    std::size_t total = 0;
    for (const auto& e : out)
      total += e.addresses.size() + e.destinations.size();
    if (total > detail::kMaxNetworkEntriesTotal) {
      d_.error(n.pos, path + " has " + std::to_string(total) +
                          " addresses and destinations in all, over the limit of " +
                          std::to_string(detail::kMaxNetworkEntriesTotal) +
                          "; use shorter prefixes or wildcards");
      return std::nullopt;
    }
    return valueAt(std::move(out), n.pos);
  }

  // A key of kNetworkKeys into s; false when key is not one.
  bool networkKey(const std::string& key, const YamlNode& v, const std::string& ipath,
                  Settings& s) {
    for (const auto& nk : detail::kNetworkKeys) {
      if (nk.key != key)
        continue;
      const Setting* decl = findSetting(nk.setting);
      if (!decl)
        return false;
      detail::withSlot(*decl, [&]<class T>(const Slot<T>& slot) {
        slot.in(s) = parse<T>(*decl, v, ipath + "." + key);
      });
      return true;
    }
    return false;
  }

  using PatternCheck = std::function<bool(std::string_view, std::string*)>;
  std::vector<Value<std::string>> patterns(const YamlNode& n, const std::string& path,
                                           const char* what, const PatternCheck& valid) {
    if (n.kind != YamlNode::Kind::kSequence) {
      std::string example = n.kind == YamlNode::Kind::kScalar ? quote(n.scalar) : "...";
      d_.error(n.pos, path + " must be a list, not " + n.kindName() + "; write " +
                          path.substr(path.rfind('.') + 1) + ": [" +
                          (example.size() < 40 ? example : "...") + "]");
      return {};
    }
    if (n.sequence.empty()) {
      d_.error(n.pos, path + " is empty; list at least one entry or remove the key");
      return {};
    }
    if (n.sequence.size() > detail::kMaxNetworkPatterns) {
      d_.error(n.pos, path + " has " + std::to_string(n.sequence.size()) +
                          " entries, over the limit of " +
                          std::to_string(detail::kMaxNetworkPatterns) +
                          "; use shorter prefixes or wildcards");
      return {};
    }
    std::vector<Value<std::string>> out;
    for (const auto& item : n.sequence) {
      auto v = string(item, path + " item", what);
      if (!v)
        continue;
      std::string why;
      if (!valid(v->value, &why)) {
        d_.error(item.pos, path + " item " + quote(v->value) + " " + why);
        continue;
      }
      out.push_back(*v);
    }
    return out;
  }

  Diagnostics& d_;
};

}  // namespace

Policy loadPolicy(const std::vector<PolicyFile>& files, Diagnostics& diags,
                  const ModelContext& ctx) {
  Policy merged;
  int errorsBefore = diags.errorCount();
  for (const auto& f : files) {
    merged.files.push_back(f.path);
    auto tree = parseYaml(f.text, f.path, diags);
    if (!tree)
      continue;
    FileReader reader(diags);
    Policy p = reader.read(*tree, f.path);
    detail::mergeTopLevel(merged, p);
    detail::mergeSettings(merged.base, p.base, &diags);
    if (merged.hosts && p.hosts)
      diags.warning(p.hosts->pos, "hosts replaces the list set at " + merged.hosts->pos.str() +
                                      "; lists are replaced, not appended: keep all host "
                                      "overrides in one file");
    if (p.hosts)
      merged.hosts = p.hosts;
    if (merged.networks && p.networks)
      diags.warning(p.networks->pos, "networks replaces the list set at " +
                                         merged.networks->pos.str() +
                                         "; lists are replaced, not appended: keep all networks "
                                         "in one file (a host override's networks merge by "
                                         "name instead)");
    if (p.networks)
      merged.networks = p.networks;
  }
  if (files.empty())
    diags.error({}, "no policy files given");
  if (diags.errorCount() > errorsBefore)
    return merged;
  detail::checkPolicy(merged, diags, ctx);
  detail::checkNetworks(merged, diags, ctx);
  return merged;
}

}  // namespace keepalive::policy
