// SPDX-License-Identifier: GPL-2.0-or-later
#include "passwd_source.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "keepalive/io/policy_files.h"
#include "sys/unique_fd.h"

namespace keepalive::daemon {
namespace {

// Calls f with each chunk of whole lines of the file (the last one may lack its '\n'). 100k
// lines are about 6 MB, read at every passwd change and on every inotify overflow, when the
// entries and the records are in memory too: never the whole text at once. An unreadable file
// reads as empty, as before.
template <typename F>
void forEachChunk(int fd, F&& f) {
  std::string buf;
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    buf.append(chunk, static_cast<std::size_t>(n));
    const std::size_t end = buf.rfind('\n');
    if (end == std::string::npos)
      continue;  // a line longer than what was read so far
    f(std::string_view(buf).substr(0, end + 1));
    buf.erase(0, end + 1);
  }
  if (!buf.empty())
    f(std::string_view(buf));
}

std::vector<UserEntry> readPasswd(const std::string& path) {
  std::vector<UserEntry> out;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return out;
  // Twice through the page cache: once to count the lines, so that the vector is allocated
  // once (growing it by doubling held the old and the new array at once), then to parse.
  std::size_t lines = 1;
  forEachChunk(fd.get(), [&](std::string_view s) {
    lines += static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  });
  out.reserve(lines);
  if (::lseek(fd.get(), 0, SEEK_SET) != 0)
    return out;
  forEachChunk(fd.get(), [&](std::string_view s) { parsePasswdInto(s, out); });
  return out;
}

}  // namespace

std::vector<UserEntry> loadUsers(const std::string& root) {
  if (!root.empty())
    return readPasswd(io::underRoot(root, "/etc/passwd"));
  std::vector<UserEntry> out;
  setpwent();
  while (passwd* pw = getpwent())
    out.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""});
  endpwent();
  return out;
}

}  // namespace keepalive::daemon
