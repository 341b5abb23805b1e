// SPDX-License-Identifier: GPL-2.0-or-later
#include "mounts.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <sstream>
#include <string_view>
#include <utility>

namespace keepalive::daemon {
namespace {

std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool startsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

}  // namespace

std::vector<Mount> parseMountinfo(const std::string& text) {
  // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
  // The kernel separates fields with one space and escapes only space, tab, newline and backslash
  // in paths: any other byte, \v \f \r included, is part of a field. Splitting on isspace (as
  // >> does) would let a mount point that a user names, a FUSE mount in their home, shift the
  // fields and be recorded at another path.
  std::vector<Mount> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string_view> f;
    std::string_view rest = line;
    for (;;) {
      const auto sp = rest.find(' ');
      f.push_back(rest.substr(0, sp));
      if (sp == std::string_view::npos)
        break;
      rest.remove_prefix(sp + 1);
    }
    // id parent major:minor root point options [optional fields...] - fstype source super-options
    if (f.size() < 8)
      continue;
    std::size_t sep = 6;
    while (sep < f.size() && f[sep] != "-")
      ++sep;
    if (sep + 1 >= f.size())
      continue;
    const std::string_view point = f[4], fstype = f[sep + 1];
    if (point.empty() || point[0] != '/' || fstype.empty())
      continue;
    unsigned long id = 0;
    std::from_chars(f[0].data(), f[0].data() + f[0].size(), id);
    out.push_back({unescape(point), std::string(fstype), id});
  }
  return out;
}

std::vector<std::string> changedMountPoints(const std::vector<Mount>& before,
                                            const std::vector<Mount>& after) {
  using Key = std::pair<unsigned long, const std::string*>;
  auto keys = [](const std::vector<Mount>& ms) {
    std::vector<Key> k;
    k.reserve(ms.size());
    for (const auto& m : ms)
      k.emplace_back(m.id, &m.point);
    std::sort(k.begin(), k.end(), [](const Key& a, const Key& b) {
      return a.first != b.first ? a.first < b.first : *a.second < *b.second;
    });
    return k;
  };
  const auto a = keys(before), b = keys(after);
  std::vector<Key> diff;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff),
                                [](const Key& x, const Key& y) {
                                  return x.first != y.first ? x.first < y.first
                                                            : *x.second < *y.second;
                                });
  std::vector<std::string> out;
  out.reserve(diff.size());
  for (const auto& d : diff)
    out.push_back(*d.second);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool mayHang(const std::string& fstype) {
  static constexpr std::array<std::string_view, 16> kExact = {
      "nfs", "nfs4", "cifs",   "smb3", "smbfs",  "ncpfs",  "ceph",  "glusterfs",
      "afs", "9p",   "lustre", "gpfs", "beegfs", "autofs", "davfs", "orangefs"};
  for (auto t : kExact)
    if (fstype == t)
      return true;
  // fuse, fuseblk, fuse.sshfs, fuse.glusterfs, ...: a user-space process answers every access.
  return startsWith(fstype, "fuse");
}

MountTable::MountTable(std::vector<Mount> mounts) : mounts_(std::move(mounts)) {}

bool MountTable::anyMayHang() const {
  for (const auto& m : mounts_)
    if (daemon::mayHang(m.fstype))
      return true;
  return false;
}

const std::string& MountTable::fstypeOf(const std::string& path) const {
  static const std::string kNone;
  const std::string* best = &kNone;
  std::size_t bestLen = 0;
  for (const auto& m : mounts_) {
    const std::string& p = m.point;
    const bool holds = p == "/" || path == p ||
                       (path.size() > p.size() && startsWith(path, p) && path[p.size()] == '/');
    // >=: of two mounts at one point, the later one (on top) wins.
    if (holds && p.size() >= bestLen) {
      best = &m.fstype;
      bestLen = p.size();
    }
  }
  return *best;
}

}  // namespace keepalive::daemon
