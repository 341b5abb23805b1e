// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for parseMountinfo and MountTable (daemon/core/mounts.cpp): /proc/self/
// mountinfo, which decides which homes are checked on workers with a deadline (NFS, FUSE) and
// which inline. Mount points come from users too: FUSE and automounts let them choose the path,
// and the kernel only octal-escapes blanks and backslashes in it.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - at most one mount per line, every point absolute and every fstype a non-empty word;
//  - re-escaping a parsed mount as the kernel does (\040 \011 \012 \134) and parsing that line
//    gives the same mount back: unescaping is exact;
//  - MountTable: the fstype of a mount point is that of the last mount at that very point; any
//    path's fstype is that of the longest mount point that is the path or a parent of it (a
//    sibling such as /home2 for /home never counts); mayHang agrees with the fstype;
//  - parsing a concatenation of two tables gives the mounts of both, in order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/mounts.h"
#include "fuzz_check.h"

namespace {

constexpr const char* kFuzzTarget = "mountinfo_fuzz";
namespace kd = keepalive::daemon;

std::string escapeLikeKernel(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ')
      out += "\\040";
    else if (c == '\t')
      out += "\\011";
    else if (c == '\n')
      out += "\\012";
    else if (c == '\\')
      out += "\\134";
    else
      out += c;
  }
  return out;
}

bool sameMounts(const std::vector<kd::Mount>& a, const std::vector<kd::Mount>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].point != b[i].point || a[i].fstype != b[i].fstype)
      return false;
  return true;
}

bool holds(const std::string& point, const std::string& path) {
  return point == "/" || path == point ||
         (path.size() > point.size() && path.starts_with(point) && path[point.size()] == '/');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(keepalive::fuzz::asText(data, size));
  const auto mounts = kd::parseMountinfo(text);

  std::size_t lines = 0;
  keepalive::fuzz::forEachLine(text, [&](std::string_view) { ++lines; });
  FUZZ_CHECK(mounts.size() <= lines, "more mounts than lines");

  for (const auto& m : mounts) {
    FUZZ_CHECK(!m.point.empty() && m.point[0] == '/', m.point);
    FUZZ_CHECK(!m.fstype.empty(), m.point);
    for (char c : m.fstype)
      FUZZ_CHECK(c != ' ' && c != '\n', m.fstype);
    const std::string line = "36 35 98:0 / " + escapeLikeKernel(m.point) +
                             " rw,noatime master:1 - " + m.fstype + " x rw";
    const auto again = kd::parseMountinfo(line);
    FUZZ_CHECK(again.size() == 1 && again[0].point == m.point && again[0].fstype == m.fstype, line);
  }

  const kd::MountTable table(mounts);
  // Paths to ask about: each point, a child and a sibling-by-prefix of each, and "/".
  std::vector<std::string> paths = {"/", "/home", "/home/alice"};
  for (std::size_t i = 0; i < mounts.size() && i < 64; ++i) {
    paths.push_back(mounts[i].point);
    paths.push_back(mounts[i].point + "/x");
    paths.push_back(mounts[i].point + "x");
  }
  for (const auto& path : paths) {
    const std::string* want = nullptr;
    std::size_t wantLen = 0;
    for (const auto& m : mounts)
      if (holds(m.point, path) && m.point.size() >= wantLen) {
        want = &m.fstype;
        wantLen = m.point.size();
      }
    const std::string& got = table.fstypeOf(path);
    FUZZ_CHECK(got == (want ? *want : std::string()), path);
    FUZZ_CHECK(table.mayHang(path) == kd::mayHang(got), path);
  }

  const auto mid = text.find('\n', text.size() / 2);
  if (mid != std::string::npos) {
    auto joined = kd::parseMountinfo(text.substr(0, mid));
    const auto tail = kd::parseMountinfo(text.substr(mid + 1));
    joined.insert(joined.end(), tail.begin(), tail.end());
    FUZZ_CHECK(sameMounts(joined, mounts), "a split at a line break changed the mounts");
  }
  return 0;
}
