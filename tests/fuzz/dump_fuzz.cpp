// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for parseDumpText (daemon/core/config_text.cpp): the output of `sshd -T` and
// `ssh -G`, from which the daemon reads the effective keepalive values and sshd's listen
// addresses, through Dump::first and Dump::all (daemon/core/ports.h).
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - one entry per line that holds a blank, in order, and "keyword value" is that line exactly:
//    nothing is lost, added or reordered;
//  - no keyword holds a blank or a newline, no value a newline;
//  - Dump::first(k) is Dump::all(k)'s first element (or empty when there is none), and all(k)
//    lists exactly the entries with that keyword;
//  - parsing a concatenation of two outputs gives the entries of both, in order (no state
//    carried between lines).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_text.h"
#include "core/ports.h"
#include "fuzz_check.h"

namespace {

constexpr const char* kFuzzTarget = "dump_fuzz";
namespace kd = keepalive::daemon;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(keepalive::fuzz::asText(data, size));
  kd::Dump d;
  d.entries = kd::parseDumpText(text);

  std::size_t next = 0;
  keepalive::fuzz::forEachLine(text, [&](std::string_view line) {
    if (line.find(' ') == std::string_view::npos)
      return;
    FUZZ_CHECK(next < d.entries.size(), line);
    const auto& [k, v] = d.entries[next++];
    // The keyword in lower case (sshd 10.4 prints it mixed case), the rest as it stands.
    std::string lowered(line);
    for (std::size_t i = 0; i < lowered.size() && lowered[i] != ' '; ++i)
      lowered[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lowered[i])));
    FUZZ_CHECK(k + " " + v == lowered, line);
    FUZZ_CHECK(std::none_of(k.begin(), k.end(), [](char c) { return c >= 'A' && c <= 'Z'; }), line);
    FUZZ_CHECK(k.find(' ') == std::string::npos && k.find('\n') == std::string::npos, line);
    FUZZ_CHECK(v.find('\n') == std::string::npos, line);
  });
  FUZZ_CHECK(next == d.entries.size(), "entries for lines without a blank");

  // The keywords the daemon asks for, and whatever the input's first entry names.
  std::vector<std::string> keys = {"clientaliveinterval", "clientalivecountmax", "listenaddress",
                                   "serveraliveinterval", "serveralivecountmax", "tcpkeepalive"};
  if (!d.entries.empty())
    keys.push_back(d.entries.front().first);
  for (const auto& key : keys) {
    const auto all = d.all(key);
    std::size_t count = 0;
    for (const auto& [k, v] : d.entries)
      if (k == key)
        FUZZ_CHECK(count < all.size() && all[count++] == v, key);
    FUZZ_CHECK(count == all.size(), key);
    FUZZ_CHECK(d.first(key) == (all.empty() ? std::string() : all.front()), key);
  }

  // Split at the middle line break: the halves' entries, joined, are the whole's.
  const auto mid = text.find('\n', text.size() / 2);
  if (mid != std::string::npos) {
    auto joined = kd::parseDumpText(text.substr(0, mid));
    const auto tail = kd::parseDumpText(text.substr(mid + 1));
    joined.insert(joined.end(), tail.begin(), tail.end());
    FUZZ_CHECK(joined == d.entries, "a split at a line break changed the entries");
  }
  return 0;
}
