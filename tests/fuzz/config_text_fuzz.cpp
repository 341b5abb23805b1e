// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for parseConfigText (daemon/core/config_text.cpp): sshd_config and ssh_config
// text as the daemon reads it to find who shadows its values, and as the user-block helper's
// output is checked against.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - one directive per line that is neither blank (" \t\r") nor a comment, in line order, with
//    the 1-based line number of that line;
//  - the keyword as written has no blank and no '=', and is the line's first word; the keyword is
//    it in lower case;
//  - the value has no newline and no surrounding blanks, and is the end of its line;
//  - no argument holds a double quote or a newline, and the arguments are no longer in total
//    than the value (quotes are removed, nothing is added);
//  - CRLF line endings parse exactly as LF ones (a config edited on Windows means the same);
//  - parsing is deterministic.
// The same bytes as sshd -t's stderr (locateConfigError, missingPrivsepDir):
//  - a place has a file: line > 0 only with a file, and neither file nor message holds a line
//    break or a CR;
//  - a privilege separation directory is "" or an absolute path the input holds.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_text.h"
#include "fuzz_check.h"

namespace {

constexpr const char* kFuzzTarget = "config_text_fuzz";
namespace kd = keepalive::daemon;

bool sameDirectives(const std::vector<kd::Directive>& a, const std::vector<kd::Directive>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].line != b[i].line || a[i].keyword != b[i].keyword ||
        a[i].keyword_as_written != b[i].keyword_as_written || a[i].value != b[i].value ||
        a[i].arguments != b[i].arguments)
      return false;
  return true;
}

bool isBlank(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(keepalive::fuzz::asText(data, size));
  const auto dirs = kd::parseConfigText(text);

  std::vector<std::string_view> lines;
  keepalive::fuzz::forEachLine(text, [&](std::string_view l) { lines.push_back(l); });

  std::size_t next = 0;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string_view line = lines[n];
    const auto i = line.find_first_not_of(" \t\r");
    if (i == std::string_view::npos || line[i] == '#')
      continue;
    FUZZ_CHECK(next < dirs.size(), line);
    const kd::Directive& d = dirs[next++];
    FUZZ_CHECK(d.line == static_cast<int>(n + 1), line);
    FUZZ_CHECK(line.substr(i).starts_with(d.keyword_as_written), line);
    FUZZ_CHECK(d.keyword.size() == d.keyword_as_written.size(), line);
    for (std::size_t k = 0; k < d.keyword.size(); ++k) {
      const char c = d.keyword_as_written[k];
      FUZZ_CHECK(!isBlank(c) && c != '=', line);
      FUZZ_CHECK(d.keyword[k] == static_cast<char>(std::tolower(static_cast<unsigned char>(c))),
                 line);
    }
    // npos + 1 == 0: a line of blanks after the keyword has an empty value.
    FUZZ_CHECK(line.substr(0, line.find_last_not_of(" \t\r\f\v") + 1).ends_with(d.value), line);
    FUZZ_CHECK(d.value.find('\n') == std::string::npos, line);
    FUZZ_CHECK(d.value.empty() || (!isBlank(d.value.front()) && !isBlank(d.value.back())), line);
    std::size_t total = 0;
    for (const auto& a : d.arguments) {
      FUZZ_CHECK(a.find('"') == std::string::npos, line);
      FUZZ_CHECK(a.find('\n') == std::string::npos, line);
      total += a.size();
    }
    FUZZ_CHECK(total <= d.value.size(), line);
  }
  FUZZ_CHECK(next == dirs.size(), "directives for lines that are blank or comments");

  FUZZ_CHECK(sameDirectives(dirs, kd::parseConfigText(text)), "not deterministic");

  std::string crlf;
  crlf.reserve(text.size() * 2);
  for (char c : text) {
    if (c == '\n')
      crlf += '\r';
    crlf += c;
  }
  FUZZ_CHECK(sameDirectives(dirs, kd::parseConfigText(crlf)), "CRLF parses differently");

  const auto where = kd::locateConfigError(text);
  FUZZ_CHECK(where.line >= 0 && (where.line == 0 || !where.file.empty()), where.message);
  FUZZ_CHECK(where.file.find_first_of("\r\n") == std::string::npos, where.file);
  FUZZ_CHECK(where.message.find_first_of("\r\n") == std::string::npos, where.message);
  const std::string privsep = kd::missingPrivsepDir(text);
  FUZZ_CHECK(privsep.empty() || (privsep[0] == '/' && text.find(privsep) != std::string::npos),
             privsep);
  return 0;
}
