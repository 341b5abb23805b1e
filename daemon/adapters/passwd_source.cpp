#include "passwd_source.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "adapters/unique_fd.h"
#include "keepalive/io/policy_files.h"

namespace keepalive::daemon {
namespace {

// The whole file in one string, sized by fstat: 100k lines are about 6 MB, read at every passwd
// change and on every inotify overflow, so no stream and no second copy. An unreadable file
// reads as empty, as before.
std::string readAll(const std::string& path) {
  std::string text;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return text;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0)
    text.reserve(static_cast<std::size_t>(st.st_size) + 1);
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

std::vector<UserEntry> loadUsers(const std::string& root) {
  if (!root.empty())
    return parsePasswd(readAll(io::underRoot(root, "/etc/passwd")));
  std::vector<UserEntry> out;
  setpwent();
  while (passwd* pw = getpwent())
    out.push_back({pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""});
  endpwent();
  return out;
}

}  // namespace keepalive::daemon
