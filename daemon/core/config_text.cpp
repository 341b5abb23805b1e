// SPDX-License-Identifier: GPL-2.0-or-later
#include "config_text.h"

#include <cctype>
#include <sstream>
#include <string>
#include <vector>

namespace keepalive::daemon {

std::vector<Directive> parseConfigText(const std::string& text) {
  std::vector<Directive> out;
  std::istringstream in(text);
  std::string raw;
  int n = 0;
  while (std::getline(in, raw)) {
    ++n;
    std::size_t i = raw.find_first_not_of(" \t\r");
    if (i == std::string::npos || raw[i] == '#')
      continue;
    std::size_t k = i;
    while (k < raw.size() && !std::isspace(static_cast<unsigned char>(raw[k])) && raw[k] != '=')
      ++k;
    Directive d;
    d.line = n;
    d.keyword_as_written = raw.substr(i, k - i);
    for (char c : d.keyword_as_written)
      d.keyword += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Skip blanks and at most one '='.
    while (k < raw.size() && std::isspace(static_cast<unsigned char>(raw[k])))
      ++k;
    if (k < raw.size() && raw[k] == '=')
      ++k;
    while (k < raw.size() && std::isspace(static_cast<unsigned char>(raw[k])))
      ++k;
    std::string rest = raw.substr(k);
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
      rest.pop_back();
    d.value = rest;
    std::string cur;
    bool quoted = false, any = false;
    for (char c : rest) {
      if (c == '"') {
        quoted = !quoted;
        any = true;
      } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
        if (any || !cur.empty())
          d.arguments.push_back(cur);
        cur.clear();
        any = false;
      } else {
        cur += c;
      }
    }
    if (any || !cur.empty())
      d.arguments.push_back(cur);
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parseDumpText(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp == std::string::npos)
      continue;
    // sshd -T prints keywords in lower case up to 10.3 and as sshd_config(5) spells them from
    // 10.4 (bebc855fd, f6acdce69: "ClientAliveInterval 298"); ssh -G in lower case. One key.
    std::string key = line.substr(0, sp);
    for (auto& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace_back(std::move(key), line.substr(sp + 1));
  }
  return out;
}

namespace {

// "PATH line N: ..." (fatal and most errors of servconf.c/readconf.c) or "PATH: line N: ..."
// (their "Bad configuration option"): the path and the number, or false.
bool locatedLine(const std::string& line, std::string& file, int& number) {
  for (auto at = line.find(" line "); at != std::string::npos; at = line.find(" line ", at + 1)) {
    std::size_t i = at + 6, start = i;
    while (i < line.size() && i - start < 9 && line[i] >= '0' && line[i] <= '9')
      ++i;
    if (i == start || i >= line.size() || line[i] != ':')
      continue;
    std::size_t end = at;
    if (end > 0 && line[end - 1] == ':')
      --end;
    if (end == 0)
      continue;
    file = line.substr(0, end);
    number = std::stoi(line.substr(start, i - start));
    return true;
  }
  return false;
}

// Located lines that are no error: sshd logs them at INFO and goes on.
bool onlyWarning(const std::string& line) {
  return line.find(": Deprecated option ") != std::string::npos ||
         line.find(": Unsupported option ") != std::string::npos;
}

}  // namespace

ConfigErrorLocation locateConfigError(const std::string& message) {
  std::vector<std::string> lines;
  {
    std::istringstream in(message);
    std::string line;
    while (std::getline(in, line)) {
      std::erase(line, '\r');
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      if (!line.empty())
        lines.push_back(line);
    }
  }
  ConfigErrorLocation out;
  if (lines.empty())
    return out;
  // The first located error: error() lines (a bad keyword, a missing argument) come before the
  // fatal "PATH: terminating, N bad configuration options" that ends the run; a fatal() with a
  // place is the last line. Lines before it without a place say why (a Match's attribute).
  std::string detail;
  for (const auto& line : lines) {
    std::string file;
    int number = 0;
    if (locatedLine(line, file, number)) {
      if (onlyWarning(line))
        continue;
      out.file = file;
      out.line = number;
      out.message = detail.empty() ? line : line + ": " + detail;
      return out;
    }
    if (detail.empty() && line[0] != '@' && !line.starts_with("Unable to load host key"))
      detail = line;
  }
  const std::string& last = lines.back();
  out.message = last;
  // "PATH: terminating, ..." without the line (cut off), or perror(PATH) when sshd cannot open
  // a file it reads ("PATH: No such file or directory", "PATH: Permission denied").
  if (last[0] == '/') {
    const auto colon = last.rfind(": ");
    if (colon != std::string::npos)
      out.file = last.substr(0, colon);
    return out;
  }
  // "sshd: no hostkeys available -- exiting.": which key and why is said before it; the key's
  // own reason ("Unable to load host key \"K\": bad permissions") is the first such line.
  for (const auto& line : lines)
    if (line.starts_with("Unable to load host key")) {
      out.message = last + " (" + line + ")";
      break;
    }
  return out;
}

std::string missingPrivsepDir(const std::string& message) {
  static const std::string kPrefix = "Missing privilege separation directory: ";
  // The last line: sshd's fatal() ends it, and lines before it were only logged.
  std::string text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  const auto nl = text.rfind('\n');
  std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
  if (!last.starts_with(kPrefix))
    return {};
  std::string path = last.substr(kPrefix.size());
  const auto slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == 0 || slash + 1 == path.size() ||
      path.find("/../") != std::string::npos || path.ends_with("/..") ||
      path.find('\r') != std::string::npos)
    return {};
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return {};
  return path;
}

}  // namespace keepalive::daemon
