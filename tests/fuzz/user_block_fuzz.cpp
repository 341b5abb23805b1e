// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for the per-user block of ~/.ssh/config (daemon/user_block/user_block.cpp):
// mergeUserBlock finds the marker-delimited block in a file the user wrote and puts the policy's
// block at the end; checkBlockSettings is the gate that keeps anything but letters and digits
// out of it; sanitizeLine is how the helper's text reaches root's journal.
//
// Input: the file, optionally followed by kSeparator and "Keyword value" lines that become the
// settings (so that the gate is fuzzed too). Without a separator the settings are one of three
// fixed sets, chosen by the first byte: none (remove the block), the three client keywords, one.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - refused: the text is the file's bytes, unchanged, and the refusal is one printable line;
//  - accepted: changed says whether the bytes differ; the settings passed the gate only if every
//    keyword is letters and every value letters and digits, each 1..64 bytes;
//  - with settings, the result ends with exactly the rendered block (in LF or CRLF), holds one
//    BEGIN and one END marker, and read as ssh_config (parseConfigText) its last directives are
//    "Host *" and the settings, in order: the block means what the policy says;
//  - merge(merge(x)) == merge(x), unchanged (the daemon rewrites only when bytes differ);
//  - outside the block, the file is kept byte for byte: removing the block leaves the file minus
//    one contiguous range, and adding then removing gives the file back, plus at most the line
//    ending added to an unterminated last line;
//  - sanitizeLine gives printable ASCII, one line, at most max input bytes (4 output bytes each)
//    plus "...".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_text.h"
#include "fuzz_check.h"
#include "user_block/user_block.h"

namespace {

constexpr const char* kFuzzTarget = "user_block_fuzz";
constexpr std::string_view kSeparator = "\n%%settings%%\n";
namespace kd = keepalive::daemon;

bool isLetter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool isAlnum(char c) {
  return isLetter(c) || (c >= '0' && c <= '9');
}

bool printableLine(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x7f)
      return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::size_t countMarkers(std::string_view text, std::string_view marker) {
  std::size_t n = 0;
  keepalive::fuzz::forEachLine(text, [&](std::string_view line) {
    // A marker as the header defines it: the text, then the end or a byte no name continues with.
    const auto i = line.find_first_not_of(" \t\r\f\v");
    if (i == std::string_view::npos || !line.substr(i).starts_with(marker))
      return;
    const auto rest = line.substr(i + marker.size());
    if (rest.empty() || !(isAlnum(rest[0]) || rest[0] == '-' || rest[0] == '_' || rest[0] == '.'))
      ++n;
  });
  return n;
}

kd::BlockSettings parseSettings(std::string_view text) {
  kd::BlockSettings s;
  keepalive::fuzz::forEachLine(text, [&](std::string_view line) {
    const auto sp = line.find(' ');
    s.emplace_back(std::string(line.substr(0, sp)),
                   sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1)));
  });
  return s;
}

void checkSanitize(std::string_view in, std::size_t max) {
  const std::string out = kd::sanitizeLine(in, max);
  FUZZ_CHECK(printableLine(out), out);
  // Every input byte becomes at most 4 (\xNN), and "..." marks a cut.
  FUZZ_CHECK(out.size() <= 4 * max + 3, out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keepalive::fuzz::asText(data, size);
  kd::BlockSettings settings;
  if (const auto at = in.find(kSeparator); at != std::string_view::npos) {
    settings = parseSettings(in.substr(at + kSeparator.size()));
    in = in.substr(0, at);
  } else if (!in.empty()) {
    switch (static_cast<unsigned char>(in[0]) % 3) {
      case 0:
        break;
      case 1:
        settings = {
            {"ServerAliveInterval", "60"}, {"ServerAliveCountMax", "3"}, {"TCPKeepAlive", "no"}};
        break;
      default:
        settings = {{"ServerAliveInterval", "15"}};
    }
  }
  const std::string existing(in);

  checkSanitize(existing, 300);
  checkSanitize(existing, size % 8);

  const std::string bad = kd::checkBlockSettings(settings);
  FUZZ_CHECK(printableLine(bad), bad);
  if (bad.empty())
    for (const auto& [k, v] : settings) {
      if (k == kd::kHostKeyword) {
        for (char c : v)
          FUZZ_CHECK(isAlnum(c) || std::string_view(" .-_:*?!").find(c) != std::string_view::npos,
                     v);
        continue;
      }
      FUZZ_CHECK(!k.empty() && k.size() <= 64 && !v.empty() && v.size() <= 64, k + " " + v);
      for (char c : k)
        FUZZ_CHECK(isLetter(c), k);
      for (char c : v)
        FUZZ_CHECK(isAlnum(c), v);
    }

  const kd::BlockMerge m = kd::mergeUserBlock(existing, settings);
  if (m.refused()) {
    FUZZ_CHECK(m.text == existing && !m.changed, m.refusal);
    FUZZ_CHECK(printableLine(m.refusal), m.refusal);
    return 0;
  }
  FUZZ_CHECK(bad.empty(), "accepted settings that checkBlockSettings refuses: " + bad);
  FUZZ_CHECK(m.changed == (m.text != existing), m.text);

  const kd::BlockMerge removed = kd::mergeUserBlock(existing, {});
  FUZZ_CHECK(!removed.refused(), removed.refusal);
  FUZZ_CHECK(countMarkers(removed.text, kd::kBlockBegin) == 0, removed.text);
  {
    // existing minus one contiguous range (the block), or existing itself.
    const std::string& r = removed.text;
    FUZZ_CHECK(r.size() <= existing.size(), r);
    std::size_t p = 0, q = 0;
    while (p < r.size() && r[p] == existing[p])
      ++p;
    while (q < r.size() - p && r[r.size() - 1 - q] == existing[existing.size() - 1 - q])
      ++q;
    FUZZ_CHECK(p + q == r.size(), r);
  }

  if (settings.empty()) {
    FUZZ_CHECK(m.text == removed.text, m.text);
  } else {
    const std::string lf = kd::renderUserBlock(settings, "\n");
    const std::string crlf = kd::renderUserBlock(settings, "\r\n");
    FUZZ_CHECK(m.text.ends_with(lf) || m.text.ends_with(crlf), m.text);
    FUZZ_CHECK(countMarkers(m.text, kd::kBlockBegin) == 1, m.text);
    FUZZ_CHECK(countMarkers(m.text, kd::kBlockEnd) == 1, m.text);
    // What ssh reads: the block's directives come last, and say exactly the settings.
    // Settings that start with a Host entry (networks' blocks) get no "Host *" line of ours first.
    const auto dirs = kd::parseConfigText(m.text);
    const std::size_t extra = settings.front().first == kd::kHostKeyword ? 0 : 1;
    FUZZ_CHECK(dirs.size() >= settings.size() + extra, m.text);
    const std::size_t first = dirs.size() - settings.size() - extra;
    FUZZ_CHECK(extra == 0 || (dirs[first].keyword == "host" &&
                              dirs[first].arguments == std::vector<std::string>{"*"}),
               m.text);
    for (std::size_t i = 0; i < settings.size(); ++i) {
      const auto& d = dirs[first + extra + i];
      FUZZ_CHECK(d.keyword == lower(settings[i].first), d.keyword);
      std::vector<std::string> want;
      if (settings[i].first == kd::kHostKeyword) {
        std::string_view v = settings[i].second;
        for (auto sp = v.find(' '); sp != std::string_view::npos; sp = v.find(' ')) {
          want.emplace_back(v.substr(0, sp));
          v.remove_prefix(sp + 1);
        }
        want.emplace_back(v);
      } else {
        want = {settings[i].second};
      }
      FUZZ_CHECK(d.arguments == want, d.value);
    }
    // Adding then removing: the file back, plus at most the line ending of its last line.
    const kd::BlockMerge back = kd::mergeUserBlock(m.text, {});
    FUZZ_CHECK(!back.refused(), back.refusal);
    FUZZ_CHECK(back.text == removed.text || back.text == removed.text + "\n" ||
                   back.text == removed.text + "\r\n",
               back.text);
  }

  const kd::BlockMerge twice = kd::mergeUserBlock(m.text, settings);
  FUZZ_CHECK(!twice.refused(), twice.refusal);
  FUZZ_CHECK(!twice.changed && twice.text == m.text, twice.text);
  return 0;
}
