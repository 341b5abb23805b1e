// SPDX-License-Identifier: GPL-2.0-or-later
// The one escaper (keepalive/escape.h): what reaches a log line, the journal, D-Bus, JSON or a
// metric label from outside the program can neither forge a line nor break a consumer.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "keepalive/escape.h"

using keepalive::escape;
using keepalive::EscapeOptions;

namespace {

// Valid UTF-8 with no control character: what sd-bus, nlohmann::json and a terminal accept.
bool safe(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f)
      return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
        return false;
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)
      return false;  // C1
    i += n;
  }
  return true;
}

}  // namespace

TEST_CASE("escape: printable text and valid UTF-8 pass as they are") {
  CHECK(escape("/home/alice/.ssh/config") == "/home/alice/.ssh/config");
  CHECK(escape("j\xc3\xbcrgen \xe2\x9c\x93") == "j\xc3\xbcrgen \xe2\x9c\x93");
  CHECK(escape(R"(C:\path)") == R"(C:\path)");
}

TEST_CASE("escape: line breaks, terminal escapes and invalid UTF-8 become \\xNN") {
  CHECK(escape("a\nkeepalive-policyd: critical: forged") ==
        "a\\x0akeepalive-policyd: critical: forged");
  CHECK(escape("\r\t") == "\\x0d\\x09");
  CHECK(escape("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
  CHECK(escape(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(escape("\x7f") == "\\x7f");
  CHECK(escape("bad\xff\xfe") == "bad\\xff\\xfe");
  CHECK(escape("\xc3") == "\\xc3");                    // cut sequence
  CHECK(escape("\xc0\xaf") == "\\xc0\\xaf");           // overlong '/'
  CHECK(escape("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
  CHECK(escape("\xc2\x9b"
               "31m") == "\\xc2\\x9b31m");             // C1 CSI
  CHECK(escape("\xe2\x80\xa8") == "\\xe2\\x80\\xa8");  // line separator
  CHECK(escape("\xe2\x80\xae"
               "fdp.exe") == "\\xe2\\x80\\xaefdp.exe");         // right-to-left override
  CHECK(escape("\xe2\x81\xa6") == "\\xe2\\x81\\xa6");           // isolate
  CHECK(escape("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST_CASE("escape: options: ASCII only, a quoting format's own characters, a length cap") {
  CHECK(escape("j\xc3\xbcrgen", {SIZE_MAX, true}) == "j\\xc3\\xbcrgen");
  CHECK(escape("it's", {SIZE_MAX, false, "'"}) == "it\\x27s");
  const std::string mega(1 << 20, 'a');
  const std::string cut = escape(mega, {4096});
  CHECK(cut.size() == 4096 + 3);
  CHECK(cut.ends_with("..."));
  CHECK(escape(std::string(4096, 'b'), {4096}) == std::string(4096, 'b'));
}

TEST_CASE("escape: the output is always safe and its own fixed point") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng() % 3 == 0 ? rng() % 0x20 : rng() % 256);
    const std::string e = escape(s);
    INFO(e);
    REQUIRE(safe(e));
    REQUIRE(escape(e) == e);
  }
}
