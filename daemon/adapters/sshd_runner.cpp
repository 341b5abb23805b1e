// SPDX-License-Identifier: GPL-2.0-or-later
#include "sshd_runner.h"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/config_text.h"
#include "fs_store.h"
#include "keepalive/io/openssh_version.h"
#include "keepalive/io/policy_files.h"
#include "keepalive/policy/model.h"
#include "sys/process.h"

namespace keepalive::daemon {
namespace {

// sshd and ssh end their messages with "\r\n" on stderr; a state reason and a D-Bus property are
// one line of printable text: drop the CRs, and show any other control byte as '?'.
std::string cleanErr(std::string s) {
  std::erase(s, '\r');
  for (auto& c : s)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f)
      c = '?';
  return s;
}

Dump parseDump(const ProcessResult& r, const std::string& what) {
  Dump d;
  if (r.exit_code != 0) {
    std::string why = !r.spawn_error.empty() ? r.spawn_error
                      : r.timed_out          ? what + " timed out"
                                             : what + " failed: " + cleanErr(r.err);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
      why.pop_back();
    d.status = Status::failure(why);
    return d;
  }
  d.entries = parseDumpText(r.out);
  return d;
}

std::int64_t ctimeUsec(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000 + st.st_ctim.tv_nsec / 1000;
}

// A file's or directory's change, into the scan's newest: the name itself (lstat: a symlink
// pointed elsewhere) and what sshd reads through it (stat, as sshd's fopen and glob follow).
void noteChange(const std::string& path, ConfigScan& out) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0)
    out.newest_change_usec = std::max(out.newest_change_usec, ctimeUsec(st));
  if (::stat(path.c_str(), &st) == 0)
    out.newest_change_usec = std::max(out.newest_change_usec, ctimeUsec(st));
}

// listed: an Include pattern's directory, whose entries decide what is read; its change counts.
// The directory of a file named directly (sshd_config in /etc/ssh) is watched but its change does
// not count: a host key or ssh_config replaced there changes nothing sshd reads (the file's own
// ctime covers it being replaced).
void noteDir(std::string dir, ConfigScan& out, bool listed) {
  if (dir.empty())
    dir = "/";
  if (listed)
    noteChange(dir, out);
  if (std::find(out.dirs.begin(), out.dirs.end(), dir) == out.dirs.end())
    out.dirs.push_back(dir);
}

std::string dirOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The directory an Include pattern lists: its deepest component without glob characters
// ("/etc/ssh/*/x.conf" lists /etc/ssh; a new directory there adds files).
std::string patternDir(const std::string& pattern) {
  const auto magic = pattern.find_first_of("*?[");
  return dirOf(magic == std::string::npos ? pattern : pattern.substr(0, magic));
}

void scanInto(const std::string& path, const std::string& baseDir, bool hostBlocks,
              const std::string& condition, int depth, ConfigScan& out) {
  if (depth > 16) {
    out.status = Status::failure("Include nesting deeper than 16 at \"" + path + "\"");
    return;
  }
  // Read as sshd reads it: root's own configuration, symlinks followed; without blocking on a
  // FIFO and with a size cap, like a policy file.
  policy::Diagnostics diags;
  policy::PolicyFile file;
  if (!io::readPolicyFile(path, file, diags)) {
    if (::access(path.c_str(), F_OK) != 0)
      return;  // an Include glob that matched a file which vanished
    out.status = Status::failure(diags.items().empty() ? "cannot read \"" + path + "\""
                                                       : diags.items().front().str());
    return;
  }
  out.files_read.push_back(path);
  noteChange(path, out);
  noteDir(dirOf(path), out, false);
  std::string cond = condition;
  for (const auto& d : parseConfigText(file.text)) {
    if (d.keyword == "match" || (hostBlocks && d.keyword == "host")) {
      // "Host *" and "Match all" apply to everything: they are the top level again.
      bool all = d.value == "*" || d.value == "all";
      cond = all ? condition : d.keyword_as_written + " " + d.value;
      continue;
    }
    if (d.keyword == "include") {
      for (const auto& arg : d.arguments) {
        std::string pattern = arg.empty() || arg[0] == '/' ? arg : baseDir + "/" + arg;
        noteDir(patternDir(pattern), out, true);  // even when it matches nothing yet
        glob_t g{};
        if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
          std::vector<std::string> names(g.gl_pathv, g.gl_pathv + g.gl_pathc);
          std::sort(names.begin(), names.end());
          for (const auto& n : names)
            scanInto(n, baseDir, hostBlocks, cond, depth + 1, out);
        }
        ::globfree(&g);
      }
      continue;
    }
    out.lines.push_back({path, d.line, d.keyword, d.keyword_as_written, d.value, cond});
  }
}

}  // namespace

ConfigScan scanConfigFile(const std::string& path, const std::string& baseDir, bool hostBlocks) {
  ConfigScan out;
  scanInto(path, baseDir, hostBlocks, "", 0, out);
  return out;
}

SshdRunner::SshdRunner(SshdRunnerOptions o, ChildRunner& children)
    : o_(std::move(o)), children_(children) {}

std::string SshdRunner::mainConfigPath() const {
  return io::underRoot(o_.root, "/etc/ssh/sshd_config");
}

std::string SshdRunner::clientConfigPath() const {
  return io::underRoot(o_.root, "/etc/ssh/ssh_config");
}

namespace {

// sshd's one line, and why it could not be checked past it.
ProcessResult notCheckedAgain(ProcessResult first, const std::string& why) {
  std::string said = cleanErr(first.err);
  while (!said.empty() && (said.back() == '\n' || said.back() == ' '))
    said.pop_back();
  first.err = said +
              " (checking again with a private privilege separation directory failed: " + why +
              ")\n";
  return first;
}

// The retry's answer, as if sshd had been our child.
ProcessResult fromRetry(ProcessResult first, PrivsepRetryResult a) {
  if (!a.ran)
    return notCheckedAgain(std::move(first), a.detail);
  ProcessResult r;
  r.timed_out = a.timed_out;
  r.out = std::move(a.out);
  r.err = std::move(a.err);
  if (a.ok && a.truncated)
    return notCheckedAgain(std::move(first), "its output was longer than the runner keeps");
  // Only "exited 0 or not" comes back, which is all that is asked of sshd's status.
  r.exit_code = a.ok ? 0 : a.timed_out ? -1 : 1;
  std::string said = cleanErr(r.err);
  if (!a.ok && !a.timed_out && said.find_first_not_of(" \n") == std::string::npos) {
    // Failed without a word from sshd (the unit could not be set up, or sh could not create
    // the directory in it): never an empty reason.
    return notCheckedAgain(std::move(first), a.detail + ", without a message");
  }
  return r;
}

}  // namespace

void SshdRunner::runSshd(std::vector<std::string> argv, Done<ProcessResult> done) {
  // The second run gets a deadline of its own: at worst twice o_.timeout in all.
  auto first = [children = &children_, retry = privsepRetry_, timeout = o_.timeout, argv,
                done = std::move(done)](ProcessResult r) mutable {
    const std::string dir = r.exit_code == 0 ? "" : missingPrivsepDir(r.err);
    if (dir.empty())
      return done(std::move(r));
    // sshd checks the directory only as root and only after the whole configuration was read
    // (sshd.c, main): everything else it had to say was said. Check again where it exists.
    if (retry) {
      retry(argv, dir, timeout,
            [done = std::move(done), first = std::move(r)](PrivsepRetryResult a) mutable {
              done(fromRetry(std::move(first), std::move(a)));
            });
      return;
    }
    children->run(
        argv, timeout, std::nullopt,
        [done = std::move(done), first = std::move(r)](ProcessResult again) mutable {
          if (!again.spawn_error.empty()) {
            // No private mount namespace for us (no CAP_SYS_ADMIN, a seccomp filter): say
            // what sshd said, and why it was not checked past that, on sshd's one line.
            return done(notCheckedAgain(std::move(first), again.spawn_error));
          }
          done(std::move(again));
        },
        dir);
  };
  children_.run(argv, o_.timeout, std::nullopt, std::move(first));
}

void SshdRunner::test(Done<CheckResult> done) {
  runSshd({o_.sshd, "-t", "-f", mainConfigPath()}, [done = std::move(done)](ProcessResult r) {
    CheckResult c;
    c.ok = r.exit_code == 0;
    c.timed_out = r.timed_out;
    c.message = !r.spawn_error.empty() ? r.spawn_error : cleanErr(r.err);
    while (!c.message.empty() && c.message.back() == '\n')
      c.message.pop_back();
    done(std::move(c));
  });
}

std::string SshdRunner::connectionSpec(const ConnectionSpec& c) const {
  const bool v6 = c.addr.find(':') != std::string::npos;
  const std::string laddr = !c.laddr.empty() ? c.laddr : v6 ? "::1" : "127.0.0.1";
  return "addr=" + c.addr + ",user=" + (c.user.empty() ? o_.user : c.user) +
         ",host=" + (c.host.empty() ? std::string("keepalive-policy.invalid") : c.host) +
         ",laddr=" + laddr + ",lport=" + (c.lport.empty() ? std::string("22") : c.lport);
}

void SshdRunner::serverDump(const ConnectionSpec& conn, Done<Dump> done) {
  // A connection as sshd would evaluate it: the Match blocks for this address and user apply.
  runSshd({o_.sshd, "-T", "-f", mainConfigPath(), "-C", connectionSpec(conn)},
          [done = std::move(done)](ProcessResult r) { done(parseDump(r, "sshd -T")); });
}

void SshdRunner::clientDump(const std::string& host, Done<Dump> done) {
  auto nobody = nobodyCredentials();
  if (!nobody) {
    Dump d;
    d.status = Status::failure("ssh -G: there is no user 'nobody' to run it as");
    done(std::move(d));
    return;
  }
  // "--" first: a host pattern's sample can never be taken for an option.
  children_.run({o_.ssh, "-G", "-F", clientConfigPath(), "--", host}, o_.timeout, nobody,
                [done = std::move(done)](ProcessResult r) { done(parseDump(r, "ssh -G")); });
}

std::optional<std::string> opensshLine(const std::string& text) {
  // One rule with keepalivectl (io::parseOpensshVersionOutput): the first line, "OpenSSH_9.2,
  // OpenSSL ...". An sshd before 9.2 answers -V with "unknown option -- V" first and its usage
  // after it: no version from it, and ssh -V is asked instead.
  if (!io::parseOpensshVersionOutput(text))
    return std::nullopt;
  return cleanErr(text.substr(0, text.find('\n')));
}

namespace {

// Why a -V run printed no version, in one line.
std::string noVersion(const ProcessResult& r) {
  std::string said = !r.spawn_error.empty() ? r.spawn_error
                     : r.timed_out          ? std::string("timed out")
                                            : cleanErr(r.err);
  while (!said.empty() && (said.back() == '\n' || said.back() == ' '))
    said.pop_back();
  return said.empty() ? std::string("no version printed") : said;
}

}  // namespace

void SshdRunner::version(Done<VersionText> done) {
  // sshd's own version is what decides the server's timers; ssh -V (the same OpenSSH on every
  // distribution) only where sshd does not say it. Neither reads a configuration.
  children_.run({o_.sshd, "-V"}, o_.timeout, std::nullopt,
                [children = &children_, ssh = o_.ssh, timeout = o_.timeout,
                 done = std::move(done)](ProcessResult r) mutable {
                  if (auto line = opensshLine(r.err.empty() ? r.out : r.err))
                    return done(VersionText{Status::success(), "sshd -V", *line});
                  children->run(
                      {ssh, "-V"}, timeout, std::nullopt,
                      [done = std::move(done), sshdSaid = noVersion(r)](ProcessResult again) {
                        if (auto line = opensshLine(again.err.empty() ? again.out : again.err))
                          return done(VersionText{Status::success(), "ssh -V", *line});
                        done(VersionText{Status::failure("sshd -V: " + sshdSaid +
                                                         "; ssh -V: " + noVersion(again)),
                                         "", ""});
                      });
                });
}

ConfigScan SshdRunner::scanServer() {
  return scanConfigFile(mainConfigPath(), io::underRoot(o_.root, "/etc/ssh"), false);
}

ConfigScan SshdRunner::scanClient() {
  return scanConfigFile(clientConfigPath(), io::underRoot(o_.root, "/etc/ssh"), true);
}

void SshdRunner::insertInclude(Done<Status> done) {
  const std::string main = mainConfigPath();
  const auto slash = main.rfind('/');
  const std::string dir = main.substr(0, slash), name = main.substr(slash + 1);
  Status st;
  auto before = readFileNoFollow(dir, name, st, 4 << 20);
  if (!st.ok)
    return done(st);
  if (!before)
    return done(Status::failure("cannot add Include: \"" + main + "\" does not exist"));
  struct stat sb {};
  ::stat(main.c_str(), &sb);
  const std::string line = "# Added by keepalive-policyd (server.ensure_include: true)\nInclude " +
                           io::underRoot(o_.root, "/etc/ssh/sshd_config.d") + "/*.conf\n";
  if (Status w =
          writeFileAtomic(dir, name, line + *before, sb.st_mode & 07777, sb.st_uid, sb.st_gid);
      !w)
    return done(w);
  test([done = std::move(done), dir, name, before = *before, sb](CheckResult t) {
    if (!t.ok) {
      writeFileAtomic(dir, name, before, sb.st_mode & 07777, sb.st_uid, sb.st_gid);
      return done(
          Status::failure("sshd -t rejected sshd_config with the Include added: " + t.message));
    }
    done(Status::success());
  });
}

}  // namespace keepalive::daemon
