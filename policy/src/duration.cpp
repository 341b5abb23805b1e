// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/policy/duration.h"

#include <cctype>

namespace keepalive::policy {
namespace {

bool allDigits(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

}  // namespace

NumberParse parseWholeNumber(std::string_view t, std::int64_t max) {
  if (t.empty())
    return {std::nullopt, "is empty"};
  if (t[0] == '-')
    return {std::nullopt, "is negative; only zero or more is allowed"};
  if (t[0] == '+')
    return {std::nullopt, "has a sign; write the number without '+'"};
  if (t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
    return {std::nullopt, "is hexadecimal; write the decimal number"};
  if (t.size() > 1 && t[0] == '0' && (t[1] == 'o' || t[1] == 'O' || allDigits(t.substr(1))))
    return {std::nullopt,
            "has a leading zero, which YAML 1.1 reads as octal; write the decimal number without "
            "leading zeros"};
  if (!allDigits(t)) {
    for (char c : t)
      if (c == '.' || c == 'e' || c == 'E')
        return {std::nullopt, "is not a whole number; write whole units such as 3"};
    return {std::nullopt, "is not a number"};
  }
  // Compare digit counts first: anything longer than max cannot be smaller than it.
  std::string maxText = std::to_string(max);
  if (t.size() > maxText.size() || (t.size() == maxText.size() && t > std::string_view(maxText)))
    return {std::nullopt, "is too large; the most allowed is " + maxText};
  std::int64_t v = 0;
  for (char c : t)
    v = v * 10 + (c - '0');
  return {v, {}};
}

NumberParse parseDuration(std::string_view t) {
  static const char* kHow = "write a duration such as 30s, 5m, 1h, 1h30m or whole seconds";
  if (t.empty())
    return {std::nullopt, std::string("is empty; ") + kHow};
  if (allDigits(t) || t[0] == '-' || t[0] == '+' ||
      (t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))) {
    auto n = parseWholeNumber(t, kMaxDurationSeconds);
    if (!n.value && n.error.starts_with("is too large"))
      n.error = "is too large; the most allowed is " + formatDuration(kMaxDurationSeconds);
    return n;
  }
  if (t.find(':') != std::string_view::npos)
    return {std::nullopt,
            std::string("looks like YAML 1.1 sexagesimal (1:30 reads as 90); ") + kHow};
  std::int64_t total = 0;
  std::size_t i = 0;
  int lastRank = 5;
  while (i < t.size()) {
    std::size_t start = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])))
      ++i;
    if (start == i)
      return {std::nullopt, std::string("is not a duration; ") + kHow};
    std::string_view digits = t.substr(start, i - start);
    if (i == t.size())
      return {std::nullopt, "has a number without a unit at the end; " + std::string(kHow)};
    char unit = t[i++];
    std::int64_t mult = 0;
    int rank = 0;
    switch (unit) {
      case 'd':
        mult = 86400;
        rank = 4;
        break;
      case 'h':
        mult = 3600;
        rank = 3;
        break;
      case 'm':
        mult = 60;
        rank = 2;
        break;
      case 's':
        mult = 1;
        rank = 1;
        break;
      default:
        return {std::nullopt, std::string("has an unknown unit '") + unit + "'; use s, m, h or d"};
    }
    if (rank >= lastRank)
      return {std::nullopt, "repeats or misorders its units; write them largest first, as 1h30m"};
    lastRank = rank;
    auto n = parseWholeNumber(digits, kMaxDurationSeconds);
    if (!n.value)
      return {std::nullopt, "has a part that " + n.error};
    if (*n.value > kMaxDurationSeconds / mult || total + *n.value * mult > kMaxDurationSeconds)
      return {std::nullopt,
              "is too large; the most allowed is " + formatDuration(kMaxDurationSeconds)};
    total += *n.value * mult;
  }
  return {total, {}};
}

std::string formatDuration(std::int64_t s) {
  if (s <= 0)
    return "0s";
  std::string out;
  const std::pair<std::int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [size, name] : units) {
    if (s >= size) {
      out += std::to_string(s / size) + name;
      s %= size;
    }
  }
  return out;
}

}  // namespace keepalive::policy
