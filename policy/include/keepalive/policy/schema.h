// SPDX-License-Identifier: GPL-2.0-or-later
// Every policy setting, declared once: its key, type, default, range, the sshd or ssh directive it
// renders to and its documentation line. Parsing (unknown keys and their did-you-mean included),
// type and range checks, merging files, host overrides, resolution, the drop-ins, the digest and
// the reference table in docs/policy.md all derive from this one table, so a new setting is one
// more row (plus its semantic rules, if any, in rules.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "keepalive/policy/policy.h"

namespace keepalive::policy {

// The two programs the drop-ins configure.
enum class Side { kSshd, kSsh };
const char* toString(Side s);  // "sshd", "ssh"

// How a value is written in a policy (docs/policy.md section 5).
enum class Kind {
  kWholeNumber,  // unquoted decimal digits, at most Range::max
  kDuration,     // 30s, 5m, 1h30m or whole seconds, at most kMaxDurationSeconds
  kBoolean,      // true or false
  kUserAction,   // enforce, report or off
  kMode,         // a quoted octal mode, "0600"
  kNameList,     // a list of user or host name globs
  kEnum,  // one word of a fixed set (EnumWords): auto, 1x or 2x; stig, cis or lynis; verbose or
          // info
};

// The words of the enums a policy spells out with Kind::kEnum, in documentation order; toString()
// of each value is its word.
template <class E>
struct EnumWords;
template <>
struct EnumWords<OpensshTiming> {
  static constexpr std::array kAll{OpensshTiming::kAuto, OpensshTiming::kOnce,
                                   OpensshTiming::kTwice};
};
template <>
struct EnumWords<Baseline> {
  static constexpr std::array kAll{Baseline::kNone, Baseline::kStig, Baseline::kCis,
                                   Baseline::kLynis};
};
// A word an enum refuses with its reason rather than a did-you-mean, matched in any case.
struct RefusedWord {
  std::string_view word;
  std::string_view why;  // follows "server.log_level value 'debug' is refused: "
};
template <>
struct EnumWords<SshdLogLevel> {
  static constexpr std::array kAll{SshdLogLevel::kVerbose, SshdLogLevel::kInfo};
  // sshd_config(5)'s other levels (log.c log_levels[]). At QUIET, FATAL and ERROR sshd writes no
  // "Accepted ... for USER" line (auth.c auth_log logs it at INFO), so no session is seen at all.
  static constexpr std::string_view kHides =
      "sshd then logs no \"Accepted ... for USER\" line (INFO, auth.c), so logins go unrecorded "
      "and no session can be paired with how it ended; CIS and the STIG require INFO or VERBOSE "
      "(sshd_set_loglevel_info, sshd_set_loglevel_verbose); write verbose or info";
  static constexpr std::string_view kDebug =
      "sshd_config(5): \"Logging with a DEBUG level violates the privacy of users and is not "
      "recommended\", and the STIG and CIS accept only VERBOSE or INFO "
      "(sshd_set_loglevel_verbose, sshd_set_loglevel_info); write verbose, which logs how "
      "each session ended";
  static constexpr std::array kRefused{RefusedWord{"quiet", kHides},  RefusedWord{"fatal", kHides},
                                       RefusedWord{"error", kHides},  RefusedWord{"debug", kDebug},
                                       RefusedWord{"debug1", kDebug}, RefusedWord{"debug2", kDebug},
                                       RefusedWord{"debug3", kDebug}};
};
template <class T>
inline constexpr bool kIsEnum = requires {
  EnumWords<T>::kAll;
};

using NameList = std::vector<Value<std::string>>;

// When a range is checked: as each file is read, or once on the merged policy, where a later
// file may still have replaced a value out of range.
enum class RangeStage { kEachFile, kMerged };

struct Range {
  std::int64_t min = 0;
  std::int64_t max = 0;  // the bound the parser enforces
  bool zeroOff = false;  // 0 turns the setting off and is allowed below min
  RangeStage stage = RangeStage::kEachFile;
  // Follows "KEY VALUE" in the error for a value below min.
  std::string_view tooShort;
};

struct Directive {
  Side side;
  std::string_view keyword;         // as sshd_config(5) and ssh_config(5) spell it
  std::string_view opensshDefault;  // what sshd or ssh use when the drop-in leaves it out
  // Written before the number: "session=" renders ChannelTimeout session=1800 (sshd -T prints
  // it back as written).
  std::string_view valuePrefix = {};
};

// Where a setting's value lives in the typed model. T is the value type its Kind parses to.
template <class T>
struct ResolvedSlot {
  using type = Value<T>;
};
template <>
struct ResolvedSlot<NameList> {
  using type = NameList;
};
template <class T>
struct Slot {
  Opt<T>& (*in)(Settings&) = nullptr;  // section settings: also set by host overrides
  Opt<T>& (*top)(Policy&) = nullptr;   // top-level settings: the whole fleet only
  // Where resolve() puts it with the default filled in, for the settings the daemon itself uses.
  typename ResolvedSlot<T>::type& (*resolved)(Resolved&) = nullptr;
  std::optional<T> fallback;  // the default; none when the setting is left to sshd and ssh

  // Read access; the accessors are the same for both.
  const Opt<T>& get(const Settings& s) const { return in(const_cast<Settings&>(s)); }
  const Opt<T>& get(const Policy& p) const { return top(const_cast<Policy&>(p)); }
  const typename ResolvedSlot<T>::type& get(const Resolved& r) const {
    return resolved(const_cast<Resolved&>(r));
  }
};
using AnySlot = std::variant<Slot<std::int64_t>, Slot<bool>, Slot<UserAction>, Slot<NameList>,
                             Slot<OpensshTiming>, Slot<Baseline>, Slot<SshdLogLevel>>;

struct Setting {
  std::string_view key;  // "server.client_alive_interval", "reconcile_interval"
  AnySlot slot;
  Kind kind;
  Range range;
  std::optional<Directive> directive;
  std::string_view doc;  // one line for the reference table
  // What "unset" means, when the setting has no default and renders no directive.
  std::string_view unset;
  // kNameList: what one item is ("a user name or glob").
  std::string_view item;
  // The reference table's "default" and "allowed" cells when they say more than the declaration
  // (a derived default, a pointer to the rules).
  std::string_view docDefault;
  std::string_view docAllowed;

  bool topLevel() const { return key.find('.') == std::string_view::npos; }
  std::string_view section() const;  // "server"; empty at the top level
  std::string_view name() const;     // "client_alive_interval"
};

// Every setting, in the order the reference table, the digest and explain() list them.
const std::vector<Setting>& settings();
const Setting* findSetting(std::string_view key);

// The sections a host override may also set, in order: network, server, client, users.
const std::vector<std::string_view>& sections();

// The keys allowed at one place in a policy file, in declaration order: "" is the top level,
// "hosts[]" an item of hosts, otherwise a section name.
std::vector<std::string_view> keysAt(std::string_view where);

// The reference table of docs/policy.md section 6, rendered from the declarations (Markdown, one
// row per key, trailing newline).
std::string referenceTable();

}  // namespace keepalive::policy
