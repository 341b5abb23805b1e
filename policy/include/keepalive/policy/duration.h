// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keepalive::policy {

// The largest duration a policy may hold: a week covers the longest conntrack timeouts (Linux's
// established-TCP default is five days), and a bound keeps every product of interval and count
// well inside 64 bits.
inline constexpr std::int64_t kMaxDurationSeconds = std::int64_t{7} * 24 * 3600;

// Result of reading a non-negative whole number as written in a policy.
struct NumberParse {
  std::optional<std::int64_t> value;
  std::string error;  // why not, phrased to follow "value 'X' "
};

// Decimal only: no sign, no leading zero, no 0x, no fraction, at most max.
NumberParse parseWholeNumber(std::string_view text, std::int64_t max);

// "90", "30s", "5m", "1h", "1h30m", "2d": whole seconds, at most kMaxDurationSeconds.
NumberParse parseDuration(std::string_view text);

// 600 -> "10m", 90 -> "1m30s", 0 -> "0s".
std::string formatDuration(std::int64_t seconds);

}  // namespace keepalive::policy
