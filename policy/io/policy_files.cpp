#include "keepalive/io/policy_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "keepalive/policy/render.h"

namespace keepalive::io {

using policy::Diagnostics;
using policy::PolicyFile;
using policy::SourcePos;

namespace {
constexpr off_t kMaxPolicyBytes = 1 << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};
}  // namespace

std::string underRoot(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/")
    return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/')
    r.pop_back();
  return r + path;
}

bool readPolicyFile(const std::string& path, PolicyFile& out, Diagnostics& diags) {
  SourcePos where{path, 0, 0};
  Fd f;
  // O_NONBLOCK: a FIFO planted in place of the policy must not hang us.
  f.fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (f.fd < 0) {
    int e = errno;
    diags.error(where, std::string("cannot open: ") + std::strerror(e) +
                           (e == ENOENT ? "; check the path" : ""));
    return false;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    diags.error(where, std::string("cannot stat: ") + std::strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    diags.error(where, "not a regular file; a policy is a plain YAML file");
    return false;
  }
  if (st.st_size > kMaxPolicyBytes) {
    diags.error(where, "the file is " + std::to_string(st.st_size) +
                           " bytes, over the limit of 1048576; a policy needs a few hundred bytes");
    return false;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      diags.error(where, std::string("cannot read: ") + std::strerror(errno));
      return false;
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxPolicyBytes)) {
      diags.error(where, "the file grew past 1048576 bytes while being read");
      return false;
    }
  }
  out.path = path;
  out.text = std::move(text);
  return true;
}

std::vector<PolicyFile> readSystemPolicy(const std::string& root, Diagnostics& diags) {
  std::vector<PolicyFile> files;
  const std::string dir = underRoot(root, policy::kPolicyDir);
  const std::string main = dir + "/policy.yaml";
  bool mainExists = ::access(main.c_str(), F_OK) == 0;
  if (mainExists) {
    PolicyFile f;
    if (readPolicyFile(main, f, diags))
      files.push_back(std::move(f));
  }
  const std::string fragDir = dir + "/policy.d";
  std::vector<std::string> names;
  if (DIR* d = ::opendir(fragDir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.empty() || n[0] == '.')
        continue;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".yaml") == 0)
        names.push_back(n);
      else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".yml") == 0)
        diags.warning({fragDir + "/" + n, 0, 0},
                      "ignored: only *.yaml files are read from policy.d; rename it to .yaml");
    }
    ::closedir(d);
  } else if (errno != ENOENT) {
    diags.error({fragDir, 0, 0}, std::string("cannot list: ") + std::strerror(errno));
  }
  std::sort(names.begin(), names.end());  // byte order, like run-parts and systemd
  for (const auto& n : names) {
    PolicyFile f;
    if (readPolicyFile(fragDir + "/" + n, f, diags))
      files.push_back(std::move(f));
  }
  if (!mainExists && names.empty() && !diags.hasErrors())
    diags.error({main, 0, 0},
                "no policy: neither this file nor policy.d/*.yaml exists; write one starting with "
                "'version: 1' (keepalivectl advise suggests values)");
  return files;
}

}  // namespace keepalive::io
