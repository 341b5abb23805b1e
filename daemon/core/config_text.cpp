#include "config_text.h"

#include <cctype>
#include <sstream>

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
    out.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return out;
}

ConfigErrorLocation locateConfigError(const std::string& message) {
  ConfigErrorLocation out;
  std::istringstream in(message);
  std::string line;
  while (std::getline(in, line)) {
    if (out.message.empty())
      out.message = line;
    // "PATH line N: ..." (servconf.c and readconf.c report this way).
    const auto at = line.find(" line ");
    if (at == std::string::npos || at == 0)
      continue;
    std::size_t i = at + 6, start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9')
      ++i;
    if (i == start || i >= line.size() || line[i] != ':')
      continue;
    out.file = line.substr(0, at);
    out.line = std::stoi(line.substr(start, i - start));
    out.message = line;
    break;
  }
  return out;
}

}  // namespace keepalive::daemon
