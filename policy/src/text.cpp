// SPDX-License-Identifier: GPL-2.0-or-later
#include "text.h"

#include "keepalive/escape.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <regex>

namespace keepalive::policy::detail {

std::string quote(std::string_view text) {
  return "'" + keepalive::escape(text, {60, /*asciiOnly=*/true, "'\\"}) + "'";
}

std::string octal(long long mode) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04llo", mode);
  return buf;
}

bool isYaml11Bool(std::string_view s) {
  static constexpr std::array<std::string_view, 22> kWords = {
      "y",    "Y",    "yes",   "Yes",   "YES",   "n",  "N",  "no", "No",  "NO",  "true",
      "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
  return std::find(kWords.begin(), kWords.end(), s) != kWords.end();
}

bool isYaml11Number(std::string_view s) {
  // PyYAML's implicit resolvers for int, float and null (resolver.py), anchored.
  static const std::regex kInt(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|"
      "[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
  static const std::regex kFloat(
      "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|"
      "[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");
  // YAML 1.2's core schema reads these as numbers too (08, 0o17, 1e3 are strings to PyYAML).
  static const std::regex kCore12(
      "[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  const std::string t(s);
  return t == "~" || std::regex_match(t, kCore12) || t == "null" || t == "Null" || t == "NULL" ||
         std::regex_match(t, kInt) || std::regex_match(t, kFloat);
}

bool isYaml12Bool(std::string_view s, bool* value) {
  bool t = s == "true" || s == "True" || s == "TRUE";
  bool f = s == "false" || s == "False" || s == "FALSE";
  if (value)
    *value = t;
  return t || f;
}

int editDistance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = static_cast<int>(j);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {
std::string normalize(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-' && c != ' ')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::string suggestKey(std::string_view key, const std::vector<std::string_view>& known) {
  // The same words in another spelling (ClientAliveInterval, client-alive-interval).
  for (auto k : known)
    if (normalize(k) == normalize(key))
      return " did you mean '" + std::string(k) + "'?";
  std::string_view best;
  int bestDist = 1 << 30;
  for (auto k : known) {
    int d = editDistance(normalize(key), normalize(k));
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  int allowed = std::max<int>(2, static_cast<int>(key.size()) / 3);
  if (!best.empty() && bestDist <= allowed)
    return " did you mean '" + std::string(best) + "'?";
  std::string list;
  for (auto k : known)
    list += (list.empty() ? "" : ", ") + std::string(k);
  return " the keys allowed here are: " + list;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace keepalive::policy::detail
