// SPDX-License-Identifier: GPL-2.0-or-later
#include "user_block/user_block.h"

#include "keepalive/escape.h"
#include "keepalive/policy/render.h"

#include <optional>

namespace keepalive::daemon {
namespace {

bool isLetter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trimmed(std::string_view s) {
  // '\r' too: a CRLF file's markers are still markers (ssh itself strips it).
  constexpr std::string_view kBlank = " \t\r\f\v";
  const auto first = s.find_first_not_of(kBlank);
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
}

bool isMarker(std::string_view line, std::string_view marker) {
  const auto t = trimmed(line);
  if (!t.starts_with(marker))
    return false;
  if (t.size() == marker.size())
    return true;
  const char next = t[marker.size()];
  return !(isLetter(next) || isDigit(next) || next == '-' || next == '_' || next == '.');
}

BlockMerge refuse(std::string_view existing, std::size_t line, std::string why) {
  BlockMerge m;
  m.text = std::string(existing);
  m.line = line;
  m.refusal = std::move(why);
  return m;
}

}  // namespace

BlockSettings userBlockSettings(const policy::Resolved& r) {
  if (!r.per_user_block.value)
    return {};
  // The client drop-in's own directives, so that a user reading both files sees the same lines.
  BlockSettings global = policy::renderedDirectives(r, policy::Side::kSsh);
  // ~/.ssh/config is read before /etc/ssh/ssh_config and ssh keeps the first value it obtains:
  // a "Host *" block here would beat the drop-in's network Host blocks. So the block carries
  // them too, before its "Host *" part, as in the drop-in.
  BlockSettings out;
  for (const auto& n : r.networks) {
    auto d = policy::renderedDirectives(n, policy::Side::kSsh);
    if (n.destinations.empty() || d.empty())
      continue;
    std::string patterns;
    for (const auto& p : n.destinations)
      patterns += (patterns.empty() ? "" : " ") + p;
    out.emplace_back(kHostKeyword, patterns);
    out.insert(out.end(), d.begin(), d.end());
  }
  if (out.empty())
    return global;
  if (!global.empty()) {
    out.emplace_back(kHostKeyword, "*");
    out.insert(out.end(), global.begin(), global.end());
  }
  return out;
}

namespace {

// A "Host" value: ssh_config Host patterns separated by single spaces, each letters, digits and
// ".-_:*?" with an optional leading '!' (what the policy library accepts in destinations).
bool validHostPatterns(std::string_view v) {
  if (v.empty() || v.size() > 65536 || v.front() == ' ' || v.back() == ' ' ||
      v.find("  ") != std::string_view::npos)
    return false;
  bool start = true;
  for (char c : v) {
    if (c == ' ') {
      start = true;
      continue;
    }
    const bool ok = isLetter(c) || isDigit(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
                    c == '*' || c == '?' || (start && c == '!');
    if (!ok)
      return false;
    start = false;
  }
  return v.find("! ") == std::string_view::npos && v.back() != '!';
}

}  // namespace

std::string checkBlockSettings(const BlockSettings& s) {
  for (const auto& [key, value] : s) {
    if (key == kHostKeyword) {
      if (!validHostPatterns(value))
        return "Host: \"" + sanitizeLine(value, 64) +
               "\" is not host name patterns separated by single spaces";
      continue;
    }
    if (key.empty() || key.size() > 64)
      return "keyword \"" + sanitizeLine(key, 64) + "\" is empty or too long";
    for (char c : key)
      if (!isLetter(c))
        return "keyword \"" + sanitizeLine(key, 64) + "\" is not letters only";
    if (value.empty() || value.size() > 64)
      return key + ": value \"" + sanitizeLine(value, 64) + "\" is empty or too long";
    for (char c : value)
      if (!isLetter(c) && !isDigit(c))
        return key + ": value \"" + sanitizeLine(value, 64) + "\" is not letters and digits only";
  }
  return {};
}

std::string renderUserBlock(const BlockSettings& s, std::string_view eol) {
  const std::string e(eol);
  std::string out = std::string(kBlockBegin) + ": the client keepalive values of the policy" + e;
  out += "# (client.per_user_block). keepalive-policyd rewrites the lines between the markers;" + e;
  out += "# your own settings above win, because ssh keeps the first value it reads." + e;
  if (s.empty() || s.front().first != kHostKeyword)
    out += "Host *" + e;
  for (const auto& [key, value] : s)
    out += key == kHostKeyword ? "Host " + value + e : "  " + key + " " + value + e;
  out += std::string(kBlockEnd) + e;
  return out;
}

BlockMerge mergeUserBlock(std::string_view existing, const BlockSettings& settings) {
  // Byte ranges of the block, markers and the END line's newline included.
  std::optional<std::size_t> blockStart, blockEnd;
  std::size_t beginLine = 0, blockLine = 0;
  bool inBlock = false;
  std::size_t lineNo = 0;
  for (std::size_t pos = 0; pos < existing.size();) {
    const auto nl = existing.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? existing.size() : nl;
    const std::size_t next = nl == std::string_view::npos ? existing.size() : nl + 1;
    const auto line = existing.substr(pos, end - pos);
    ++lineNo;
    if (isMarker(line, kBlockBegin)) {
      if (inBlock)
        return refuse(existing, lineNo,
                      "a second \"" + std::string(kBlockBegin) +
                          "\" before the END of the block begun at line " +
                          std::to_string(beginLine) + "; remove one of them");
      if (blockStart)
        return refuse(existing, lineNo,
                      "a second keepalive-policy block (the first begins at line " +
                          std::to_string(blockLine) + "); remove one of them");
      inBlock = true;
      beginLine = lineNo;
      blockStart = pos;
    } else if (isMarker(line, kBlockEnd)) {
      if (!inBlock)
        return refuse(existing, lineNo,
                      "\"" + std::string(kBlockEnd) + "\" without a BEGIN marker before it");
      inBlock = false;
      blockLine = beginLine;
      blockEnd = next;
    }
    pos = next;
  }
  if (inBlock)
    return refuse(existing, beginLine,
                  "\"" + std::string(kBlockBegin) + "\" without an END marker after it");
  if (auto bad = checkBlockSettings(settings); !bad.empty())
    return refuse(existing, 0, "invalid setting: " + bad);

  std::string text;
  if (blockStart) {
    text.reserve(existing.size());
    text.append(existing.substr(0, *blockStart));
    text.append(existing.substr(*blockEnd));
  } else {
    text = std::string(existing);
  }
  if (!settings.empty()) {
    auto eolOf = [](const std::string& t) -> std::string_view {
      const auto firstNl = t.find('\n');
      return firstNl != std::string::npos && firstNl > 0 && t[firstNl - 1] == '\r' ? "\r\n" : "\n";
    };
    if (!text.empty() && text.back() != '\n')
      text += eolOf(text);
    // Asked again after the newline is added: a one-line file "Host x\r" has just become CRLF,
    // and the next merge would see it so and rewrite the block; merge(merge(x)) == merge(x).
    text += renderUserBlock(settings, eolOf(text));
  }
  BlockMerge m;
  m.changed = text != existing;
  m.text = std::move(text);
  return m;
}

std::string sanitizeLine(std::string_view s, std::size_t max) {
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return keepalive::escape(s, {max, /*asciiOnly=*/true});
}

}  // namespace keepalive::daemon
