// SPDX-License-Identifier: GPL-2.0-or-later
#include "fs_store.h"

#include <nlohmann/json.hpp>

#include "sys/unique_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "keepalive/io/policy_files.h"
#include "keepalive/policy/render.h"

namespace keepalive::daemon {
namespace {

std::string err(const std::string& what, const std::string& path, int e) {
  return what + ": \"" + path + "\": " + std::strerror(e);
}

std::string randomSuffix() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char buf[8];
  if (::getrandom(buf, sizeof buf, 0) != sizeof buf) {
    for (auto& b : buf)
      b = static_cast<unsigned char>(::rand());
  }
  std::string s;
  for (unsigned char b : buf)
    s += kChars[b % (sizeof kChars - 1)];
  return s;
}

bool writeAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

Status writeFileAtomic(const std::string& dir, const std::string& name, const std::string& bytes,
                       mode_t mode, uid_t uid, gid_t gid, bool durable) {
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0)
    return Status::failure(err("cannot open directory", dir, errno));
  return writeFileAtomicAt(dfd.get(), dir, name, bytes, mode, uid, gid, durable);
}

Status writeFileAtomicAt(int dfd, const std::string& dir, const std::string& name,
                         const std::string& bytes, mode_t mode, uid_t uid, gid_t gid, bool durable,
                         struct stat* written) {
  std::string tmp;
  Fd fd;
  for (int attempt = 0; attempt < 16 && fd.get() < 0; ++attempt) {
    tmp = "." + name + "." + randomSuffix();
    fd.reset(
        ::openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0 && errno != EEXIST)
      return Status::failure(err("cannot create temporary file", dir + "/" + tmp, errno));
  }
  if (fd.get() < 0)
    return Status::failure(err("cannot create temporary file", dir + "/" + tmp, EEXIST));
  auto fail = [&](const std::string& what) {
    int e = errno;
    fd.reset();
    ::unlinkat(dfd, tmp.c_str(), 0);
    return Status::failure(err(what, dir + "/" + tmp, e));
  };
  if (!writeAll(fd.get(), bytes))
    return fail("cannot write");
  // Owner and mode before the file becomes visible under its real name. The unit bounds out
  // CAP_CHOWN: root's own new file (the usual case) already has the owner wanted, and only a
  // change would need the capability.
  struct stat created {};
  if (::fstat(fd.get(), &created) != 0)
    return fail("cannot stat");
  if (::geteuid() == 0 && (created.st_uid != uid || created.st_gid != gid) &&
      ::fchown(fd.get(), uid, gid) != 0)
    return fail("cannot set owner of");
  if (::fchmod(fd.get(), mode) != 0)
    return fail("cannot set mode of");
  if (durable && ::fsync(fd.get()) != 0)
    return fail("cannot fsync");
  if (written && ::fstat(fd.get(), written) != 0)
    return fail("cannot stat");
  if (::close(fd.release()) != 0) {
    int e = errno;
    ::unlinkat(dfd, tmp.c_str(), 0);
    return Status::failure(err("cannot close", dir + "/" + tmp, e));
  }
  // renameat replaces whatever has the name, a symlink included, and never follows it.
  if (::renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0) {
    int e = errno;
    ::unlinkat(dfd, tmp.c_str(), 0);
    return Status::failure("cannot rename into \"" + dir + "/" + name + "\": " + std::strerror(e));
  }
  if (durable && ::fsync(dfd) != 0)
    return Status::failure(err("cannot fsync directory", dir, errno));
  return Status::success();
}

std::optional<std::string> readFileNoFollow(const std::string& dir, const std::string& name,
                                            Status& st, std::size_t maxBytes,
                                            struct stat* statOut) {
  st = Status::success();
  const std::string path = dir + "/" + name;
  Fd dfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) {
    if (errno == ENOENT)
      return std::nullopt;
    st = Status::failure(err("cannot open directory", dir, errno));
    return std::nullopt;
  }
  Fd fd(
      ::openat(dfd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT)
      return std::nullopt;
    st = Status::failure(errno == ELOOP ? "refusing \"" + path + "\": it is a symlink"
                                        : err("cannot open", path, errno));
    return std::nullopt;
  }
  struct stat sb {};
  if (::fstat(fd.get(), &sb) != 0) {
    st = Status::failure(err("cannot stat", path, errno));
    return std::nullopt;
  }
  if (!S_ISREG(sb.st_mode)) {
    st = Status::failure("refusing \"" + path + "\": not a regular file");
    return std::nullopt;
  }
  if (statOut)
    *statOut = sb;
  if (static_cast<std::size_t>(sb.st_size) > maxBytes) {
    st = Status::failure("refusing \"" + path + "\": larger than " + std::to_string(maxBytes) +
                         " bytes");
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      st = Status::failure(err("cannot read", path, errno));
      return std::nullopt;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > maxBytes) {
      st = Status::failure("refusing \"" + path + "\": grew past " + std::to_string(maxBytes) +
                           " bytes while read");
      return std::nullopt;
    }
  }
  return out;
}

Status removeFileDurably(const std::string& dir, const std::string& name) {
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0)
    return errno == ENOENT ? Status::success()
                           : Status::failure(err("cannot open directory", dir, errno));
  if (::unlinkat(dfd.get(), name.c_str(), 0) != 0 && errno != ENOENT)
    return Status::failure(err("cannot remove", dir + "/" + name, errno));
  if (::fsync(dfd.get()) != 0)
    return Status::failure(err("cannot fsync directory", dir, errno));
  return Status::success();
}

int removeStaleTemps(const std::string& dir, const std::string& name) {
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return dfd.get() < 0 ? 0 : removeStaleTempsAt(dfd.get(), name);
}

int removeStaleTempsAt(int dfd, const std::string& name) {
  DIR* d = ::fdopendir(::dup(dfd));
  if (!d)
    return 0;
  const std::string prefix = "." + name + ".";
  int removed = 0;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    struct stat st {};
    // Only regular files: a temp file of ours is never anything else.
    if (n.size() > prefix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
        ::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        ::unlinkat(dfd, n.c_str(), 0) == 0)
      ++removed;
  }
  ::closedir(d);
  if (removed)
    ::fsync(dfd);
  return removed;
}

FsDropInStore::FsDropInStore(std::string root, std::string stateDir)
    : root_(std::move(root)), stateDir_(std::move(stateDir)) {}

std::string FsDropInStore::dir(Target t) const {
  const std::string p = t == Target::kSshd ? policy::kSshdDropIn : policy::kClientDropIn;
  return io::underRoot(root_, p.substr(0, p.rfind('/')));
}

std::string FsDropInStore::path(Target t) const {
  return dir(t) + "/" + name();
}

std::optional<std::string> FsDropInStore::read(Target t, Status& st) {
  struct stat sb {};
  auto bytes = readFileNoFollow(dir(t), name(), st, std::size_t{64} * 1024, &sb);
  if (!bytes)
    return bytes;
  // Owner and mode drift is drift too: a group- or world-writable file in sshd_config.d lets
  // anyone rewrite sshd's configuration. Reported as untrusted, it is replaced by ours.
  if (((sb.st_mode & 07777) != mode(t) ||
       (::geteuid() == 0 && (sb.st_uid != 0 || sb.st_gid != 0)))) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "has mode %04o and owner %u:%u, not %04o root:root",
                  static_cast<unsigned>(sb.st_mode & 07777), static_cast<unsigned>(sb.st_uid),
                  static_cast<unsigned>(sb.st_gid), static_cast<unsigned>(mode(t)));
    st = Status::failure("\"" + path(t) + "\" " + buf);
    return std::nullopt;
  }
  return bytes;
}

Status FsDropInStore::write(Target t, const std::string& bytes) {
  return writeFileAtomic(dir(t), name(), bytes, mode(t));
}

Status FsDropInStore::remove(Target t) {
  return removeFileDurably(dir(t), name());
}

Status FsDropInStore::saveLastGood(Target t, const std::optional<std::string>& bytes) {
  const std::string d = stateDir_ + "/last-good";
  // systemd creates the state directory (StateDirectory=); elsewhere, make it ourselves.
  std::error_code ec;
  std::filesystem::create_directories(d, ec);
  if (ec)
    return Status::failure("cannot create state directory: \"" + d + "\": " + ec.message());
  ::chmod(d.c_str(), 0700);
  const std::string base = toString(t);
  // "absent" records that there was no drop-in: rolling back then means removing ours. The
  // rollback itself uses the copy in memory; this one is for the admin, so it needs no fsync.
  if (!bytes) {
    ::unlink((d + "/" + base + ".conf").c_str());
    return writeFileAtomic(d, base + ".absent", "", 0600, 0, 0, false);
  }
  ::unlink((d + "/" + base + ".absent").c_str());
  return writeFileAtomic(d, base + ".conf", *bytes, 0600, 0, 0, false);
}

bool FsDropInStore::reloadPending() {
  return ::access((stateDir_ + "/reload-pending").c_str(), F_OK) == 0;
}

Status FsDropInStore::setReloadPending(bool pending) {
  std::error_code ec;
  std::filesystem::create_directories(stateDir_, ec);
  if (ec)
    return Status::failure("cannot create state directory: \"" + stateDir_ + "\": " + ec.message());
  if (pending)
    return writeFileAtomic(stateDir_, "reload-pending", "", 0600);
  return removeFileDurably(stateDir_, "reload-pending");
}

namespace {
constexpr const char* kGoodPolicy = "last-good-policy.json";
constexpr int kGoodPolicyFormat = 1;
}  // namespace

std::optional<GoodPolicy> FsDropInStore::loadGoodPolicy(Status& st) {
  st = Status::success();
  Status rs;
  // 16 policy files of up to 1 MiB each, and two drop-ins.
  auto text = readFileNoFollow(stateDir_, kGoodPolicy, rs, std::size_t{20} << 20);
  std::string why;
  if (!rs.ok) {
    why = rs.error;
  } else if (!text) {
    return std::nullopt;
  } else {
    try {
      const auto j = nlohmann::json::parse(*text);
      if (j.at("format").get<int>() != kGoodPolicyFormat)
        throw std::runtime_error("unknown format " + j.at("format").dump());
      GoodPolicy g;
      g.digest = j.at("digest").get<std::string>();
      g.since_usec = j.at("since_usec").get<std::int64_t>();
      for (const auto& f : j.at("files"))
        g.files.emplace_back(f.at("path").get<std::string>(), f.at("text").get<std::string>());
      g.sshd = j.at("sshd_drop_in").get<std::string>();
      g.client = j.at("client_drop_in").get<std::string>();
      return g;
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  // Set aside, never fatal: the drop-ins on disk stay as they are.
  const std::string aside = std::string(kGoodPolicy) + ".corrupt";
  const bool moved = ::renameat(AT_FDCWD, (stateDir_ + "/" + kGoodPolicy).c_str(), AT_FDCWD,
                                (stateDir_ + "/" + aside).c_str()) == 0;
  st = Status::failure("the last good policy \"" + stateDir_ + "/" + kGoodPolicy +
                       "\" cannot be read (" + why + ")" +
                       (moved ? "; set aside as \"" + aside + "\"" : "") +
                       "; the installed drop-ins stay, and the next valid policy replaces it");
  return std::nullopt;
}

Status FsDropInStore::saveGoodPolicy(const GoodPolicy& p) {
  std::error_code ec;
  std::filesystem::create_directories(stateDir_, ec);
  if (ec)
    return Status::failure("cannot create state directory: \"" + stateDir_ + "\": " + ec.message());
  nlohmann::json j;
  j["format"] = kGoodPolicyFormat;
  j["digest"] = p.digest;
  j["since_usec"] = p.since_usec;
  j["files"] = nlohmann::json::array();
  for (const auto& [path, text] : p.files)
    j["files"].push_back({{"path", path}, {"text", text}});
  j["sshd_drop_in"] = p.sshd;
  j["client_drop_in"] = p.client;
  // Invalid UTF-8 in a policy file (a comment) must not make the record unwritable.
  return writeFileAtomic(stateDir_, kGoodPolicy,
                         j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                         0600);
}

std::optional<ServedValues> FsDropInStore::loadServed() {
  Status rs;
  auto text = readFileNoFollow(stateDir_, "served.json", rs, std::size_t{64} * 1024);
  if (!rs.ok || !text)
    return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*text);
    ServedValues v;
    v.read_usec = j.at("read_usec").get<std::int64_t>();
    for (const auto& [k, val] : j.at("values").items())
      v.values.emplace_back(k, val.get<std::string>());
    std::sort(v.values.begin(), v.values.end());
    return v;
  } catch (const std::exception&) {
    return std::nullopt;  // not known: the state says so until sshd is reloaded
  }
}

void FsDropInStore::saveServed(const ServedValues& v) {
  std::error_code ec;
  std::filesystem::create_directories(stateDir_, ec);
  nlohmann::json j;
  j["read_usec"] = v.read_usec;
  j["values"] = nlohmann::json::object();
  for (const auto& [k, val] : v.values)
    j["values"][k] = val;
  // Not fsynced: a record a crash loses only makes the next start say "not known".
  writeFileAtomic(stateDir_, "served.json",
                  j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0600, 0,
                  0, false);
}

int FsDropInStore::cleanStaleTemps() {
  return removeStaleTemps(dir(Target::kSshd), name()) +
         removeStaleTemps(dir(Target::kClient), name());
}

}  // namespace keepalive::daemon
