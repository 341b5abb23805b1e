// SPDX-License-Identifier: GPL-2.0-or-later
// What every fuzz target uses to state an invariant: a violation prints the condition and the
// offending text (escaped, so control bytes stay visible) and aborts, so libFuzzer saves the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace keepalive::fuzz {

[[noreturn]] inline void fail(const char* target, const char* what, std::string_view detail) {
  std::fprintf(stderr, "\n*** %s invariant violated: %s\n*** detail: ", target, what);
  for (unsigned char c : detail.substr(0, 4096)) {
    if (c == '\n')
      std::fputs("\\n", stderr);
    else if (c < 0x20 || c >= 0x7f)
      std::fprintf(stderr, "\\x%02x", c);
    else
      std::fputc(c, stderr);
  }
  std::fputc('\n', stderr);
  std::abort();
}

inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Lines as std::getline splits them: on '\n', a last line without one counts, and nothing
// follows a final '\n'. The parsers under test read this way; the harnesses check against it.
template <typename F>
void forEachLine(std::string_view text, F&& f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
  }
}

}  // namespace keepalive::fuzz

// kFuzzTarget: the target's name, defined by each harness before it uses FUZZ_CHECK.
#define FUZZ_CHECK(cond, detail)                             \
  do {                                                       \
    if (!(cond))                                             \
      ::keepalive::fuzz::fail(kFuzzTarget, #cond, (detail)); \
  } while (0)
