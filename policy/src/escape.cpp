// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/escape.h"

namespace keepalive {
namespace {

// The length of the valid UTF-8 sequence at p (shortest form, no surrogates, at most U+10FFFF)
// that is safe to show, else 0.
std::size_t safeUtf8(const unsigned char* p, std::size_t left) {
  const unsigned char c = p[0];
  std::size_t n = 0;
  char32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (left < n)
    return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  const bool c1 = cp >= 0x80 && cp <= 0x9F;
  const bool separator = cp == 0x2028 || cp == 0x2029;
  const bool bidi = cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
                    (cp >= 0x2066 && cp <= 0x2069);
  if (overlong || surrogate || c1 || separator || bidi || cp > 0x10FFFF)
    return 0;
  return n;
}

}  // namespace

std::string escape(std::string_view s, const EscapeOptions& o) {
  static const char kHex[] = "0123456789abcdef";
  const bool cut = s.size() > o.max;
  if (cut)
    s = s.substr(0, o.max);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f &&
        o.alsoEscape.find(static_cast<char>(c)) == std::string_view::npos) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80 && !o.asciiOnly) {
      if (const std::size_t n = safeUtf8(p + i, s.size() - i)) {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
    ++i;
  }
  if (cut)
    out += "...";
  return out;
}

}  // namespace keepalive
