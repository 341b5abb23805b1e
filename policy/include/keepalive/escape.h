// SPDX-License-Identifier: GPL-2.0-or-later
// The one escaper. Every byte that reaches a log line, the journal, D-Bus, status text or JSON, or
// a metric label from outside the program (file names, passwd fields, lines of users' configs,
// sshd's and ssh's messages, strings from the bus) goes through escape() at that edge, so that
// no newline, terminal escape, invalid UTF-8 or megabyte string can forge a line or break a
// consumer (sd-bus and nlohmann::json reject invalid UTF-8; a terminal runs ESC sequences).
//
// Kept as they are: printable ASCII (0x20-0x7e) and, unless asciiOnly, valid UTF-8 characters
// other than the C1 controls (U+0080-U+009F, 0x9b is a CSI), the line and paragraph separators
// (U+2028, U+2029) and the bidirectional controls (U+200E, U+200F, U+202A-U+202E,
// U+2066-U+2069, which reorder what a terminal shows). Every other byte becomes \xNN, lower case.
// A backslash is kept: the output of escape() is its own fixed point (escaping twice changes
// nothing), so each edge can escape without knowing whether an inner layer already did.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace keepalive {

struct EscapeOptions {
  // Input bytes looked at; past them "..." ends the text. Caps megabyte strings.
  std::size_t max = 4096;
  bool asciiOnly = false;  // escape every non-ASCII byte too
  // Further printable characters to escape as \xNN (a quoting format's own quote, say).
  std::string_view alsoEscape = {};
};

std::string escape(std::string_view s, const EscapeOptions& o = {});

// Per edge: how much of one string each may carry.
inline constexpr std::size_t kEscapeLogMax = 16384;  // one log line or journal field
inline constexpr std::size_t kEscapeBusMax = 65536;  // one D-Bus string

}  // namespace keepalive
