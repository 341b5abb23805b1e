// SPDX-License-Identifier: GPL-2.0-or-later
// The per-user client block (client.per_user_block: true): a marker-delimited "Host *" block at
// the end of ~/.ssh/config carrying the client keepalive values. ssh keeps the first value it
// reads, so a block at the end fills in only what the user's own lines leave unset.
//
// Pure: these functions compute bytes. Reading and writing the file is the helper's job, and it
// runs as the user, because root must never read a user's file nor evaluate a user's config.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keepalive/policy/policy.h"

namespace keepalive::daemon {

// ssh_config keyword and value, in the order they are written. A "Host" entry (kHostKeyword, with
// space-separated host patterns as value) starts a Host block; entries before the first one go
// under "Host *".
using BlockSettings = std::vector<std::pair<std::string, std::string>>;
inline constexpr const char* kHostKeyword = "Host";

// A line is a marker when, without surrounding blanks, it starts with one of these, followed by
// nothing or by a character that cannot continue a name (so "# END keepalive-policy-x" is not).
inline constexpr std::string_view kBlockBegin = "# BEGIN keepalive-policy";
inline constexpr std::string_view kBlockEnd = "# END keepalive-policy";

// The keywords and values the client drop-in sets (renderClient), for Host *, preceded by each
// network's Host block when the policy has networks with destinations (the block comes first in
// what ssh reads, so it must carry them: ssh keeps the first value it obtains). Empty when
// per_user_block is off, and when the policy sets no client value (a block would say nothing).
BlockSettings userBlockSettings(const policy::Resolved& r);

// Empty when every keyword is letters only and every value letters and digits only (a "Host"
// entry's value: host patterns, see userBlockSettings), else what is wrong. The block lands in a
// file ssh evaluates, so nothing else may reach it, whoever asks.
std::string checkBlockSettings(const BlockSettings& s);

// The block, markers included, each line ended with eol.
std::string renderUserBlock(const BlockSettings& s, std::string_view eol = "\n");

struct BlockMerge {
  std::string text;  // the file's new bytes; the old ones when unchanged or refused
  bool changed = false;
  // Non-empty: leave the file alone. line is 1-based, 0 when the reason is not about a line.
  std::string refusal;
  std::size_t line = 0;
  bool refused() const { return !refusal.empty(); }
};

// existing: the whole file. settings empty: remove the block; else put the block, with these
// settings, at the end. The text outside the markers is kept byte for byte (a block found
// elsewhere moves to the end); a last line without a newline gets one before the block, in the
// file's own line ending (that of its first line: CRLF files stay CRLF). Broken markers (an END
// without BEGIN, a BEGIN without END, two blocks) are refused: which lines are ours is unknown.
// merge(merge(x)) == merge(x). Removing after adding gives back the original bytes, except the
// newline added to an unterminated last line, which stays: it is part of that line now.
BlockMerge mergeUserBlock(std::string_view existing, const BlockSettings& settings);

// The first line of s, cut to max bytes and escaped as ASCII by keepalive::escape (any other byte
// becomes \xNN): text from a process running as the user reaches root's journal only through
// this.
std::string sanitizeLine(std::string_view s, std::size_t max = 300);

}  // namespace keepalive::daemon
