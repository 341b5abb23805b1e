// SPDX-License-Identifier: GPL-2.0-or-later
// Policy files are trusted only when root says so (issue 13 §5): each rule attacked against the
// real keepalive-policyd on a test root and the real keepalivectl. Every attack offers a valid
// policy that differs from the one in force, so that accepting it would be visible in the drop-in.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "keepalive/io/policy_files.h"
#include "test_support.h"

using namespace keepalive::test;
namespace fs = std::filesystem;

namespace {

const char* kPolicyA =
    "version: 1\nserver: {client_alive_interval: 2m, client_alive_count_max: 3}\n"
    "client: {server_alive_interval: 4m}\n";
// A fragment over A: applied, sshd's interval becomes 60.
const char* kFragmentB =
    "version: 1\nserver: {client_alive_interval: 1m, client_alive_count_max: 2}\n";
const char* kPolicyB =
    "version: 1\nserver: {client_alive_interval: 1m, client_alive_count_max: 2}\n"
    "client: {server_alive_interval: 4m}\n";

constexpr uid_t kUser = 41000;

struct TrustRoot {
  TempDir dir{"keepalive-trust"};
  SshRoot ssh;
  TrustRoot() { ssh = makeDaemonRoot(dir.path(), kPolicyA); }
  std::string policyDir() const { return dir / "etc/keepalive-policy"; }
  std::string policy() const { return policyDir() + "/policy.yaml"; }
  std::string fragment(const std::string& name = "50-x.yaml") const {
    return policyDir() + "/policy.d/" + name;
  }
  std::string dropIn() const {
    try {
      return readFile(ssh.sshdDropIn());
    } catch (...) {
      return "<absent>";
    }
  }
  // A file beside the target, prepared and then renamed into place: the attack arrives in one
  // event, as Ansible's pushes do.
  std::string staging(const std::string& text, int mode = 0644) const {
    const std::string p = dir / ("staged-" + std::to_string(++stagedCount));
    writeFile(p, text, mode);
    return p;
  }
  mutable int stagedCount = 0;
};

bool inA(const TrustRoot& r) {
  return r.dropIn().find("ClientAliveInterval 120\n") != std::string::npos;
}
bool inB(const TrustRoot& r) {
  return r.dropIn().find("ClientAliveInterval 60\n") != std::string::npos;
}

void moveInto(const std::string& from, const std::string& to) {
  REQUIRE(::rename(from.c_str(), to.c_str()) == 0);
}

// The daemon refused the policy because of `file` for `reason`, and A stays in force.
void requireRefused(const DaemonProcess& d, const TrustRoot& r, const std::string& before,
                    const std::string& file, const std::string& reason) {
  INFO(d.log());
  CHECK(d.waitForLog("state policy-invalid: policy rejected (1 error, first: " + file +
                     ": error: " + reason));
  CHECK_THAT(d.log(), Catch::Contains("the last good policy stays in force"));
  // The refusal is logged after the read: the drop-in was never touched for the refused state.
  CHECK(r.dropIn() == before);
  CHECK(inA(r));
}

struct Running {
  TrustRoot r;
  DaemonProcess d{r.dir.path()};
  std::string before;
  Running() {
    REQUIRE(d.waitForLog("state ok:"));
    before = r.dropIn();
    REQUIRE(inA(r));
  }
};

RunResult validateRoot(const TrustRoot& r) {
  return run({keepalivectlPath(), "validate", "--root", r.dir.path()});
}

}  // namespace

TEST_CASE("policy trust: a symlinked policy.yaml is refused, its target never read") {
  if (!isRoot())
    return;
  Running t;
  const std::string target = t.r.staging(kPolicyB);
  const std::string link = t.r.dir / "link";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  moveInto(link, t.r.policy());
  requireRefused(t.d, t.r, t.before, t.r.policy(), "a symbolic link");
  auto v = validateRoot(t.r);
  CHECK(v.exitCode == 1);
  CHECK_THAT(v.err, Catch::Contains(t.r.policy() + ": error: a symbolic link"));
  // Root puts the file itself there: trusted again.
  moveInto(t.r.staging(kPolicyB), t.r.policy());
  CHECK(waitFor([&] { return inB(t.r); }));
}

TEST_CASE("policy trust: a symlinked fragment is refused") {
  if (!isRoot())
    return;
  Running t;
  const std::string target = t.r.staging(kFragmentB);
  REQUIRE(::symlink(target.c_str(), t.r.fragment().c_str()) == 0);
  requireRefused(t.d, t.r, t.before, t.r.fragment(), "a symbolic link");
  CHECK(validateRoot(t.r).exitCode == 1);
}

TEST_CASE("policy trust: a symlinked policy.d or policy directory is refused") {
  if (!isRoot())
    return;
  SECTION("policy.d") {
    Running t;
    const std::string real = t.r.dir / "elsewhere.d";
    makeDirs(real);
    writeFile(real + "/50-x.yaml", kFragmentB);
    fs::remove_all(t.r.policyDir() + "/policy.d");
    REQUIRE(::symlink(real.c_str(), (t.r.policyDir() + "/policy.d").c_str()) == 0);
    requireRefused(t.d, t.r, t.before, t.r.policyDir() + "/policy.d", "a symbolic link");
    auto v = validateRoot(t.r);
    CHECK(v.exitCode == 1);
    CHECK_THAT(v.err, Catch::Contains("/policy.d: error: a symbolic link"));
  }
  SECTION("/etc/keepalive-policy, checked by validate") {
    TrustRoot r;
    const std::string real = r.dir / "elsewhere";
    fs::rename(r.policyDir(), real);
    REQUIRE(::symlink(real.c_str(), r.policyDir().c_str()) == 0);
    auto v = validateRoot(r);
    CHECK(v.exitCode == 1);
    CHECK_THAT(v.err, Catch::Contains(r.policyDir() + ": error: a symbolic link"));
  }
}

TEST_CASE("policy trust: a FIFO or a directory named like a fragment is refused") {
  if (!isRoot())
    return;
  SECTION("FIFO") {
    Running t;
    REQUIRE(::mkfifo(t.r.fragment().c_str(), 0644) == 0);
    requireRefused(t.d, t.r, t.before, t.r.fragment(), "a FIFO, not a regular file");
    auto v =
        run({keepalivectlPath(), "validate", "--root", t.r.dir.path()}, std::chrono::seconds(5));
    CHECK_FALSE(v.timedOut);
    CHECK(v.exitCode == 1);
  }
  SECTION("directory") {
    Running t;
    makeDirs(t.r.fragment());
    requireRefused(t.d, t.r, t.before, t.r.fragment(), "a directory, not a regular file");
  }
}

TEST_CASE("policy trust: a fragment owned by a user is refused until root owns it") {
  if (!isRoot())
    return;
  Running t;
  const std::string staged = t.r.staging(kFragmentB);
  REQUIRE(::chown(staged.c_str(), kUser, kUser) == 0);
  moveInto(staged, t.r.fragment());
  requireRefused(t.d, t.r, t.before, t.r.fragment(), "owned by uid 41000, not root");
  CHECK_THAT(t.d.log(), Catch::Contains("chown root:root \"" + t.r.fragment() + "\""));
  auto v = validateRoot(t.r);
  CHECK(v.exitCode == 1);
  CHECK_THAT(v.err, Catch::Contains(t.r.fragment() + ": error: owned by uid 41000, not root"));
  // The owner changing is an event too: once root owns it, it applies.
  REQUIRE(::chown(t.r.fragment().c_str(), 0, 0) == 0);
  CHECK(waitFor([&] { return inB(t.r); }));
}

TEST_CASE("policy trust: a group- or world-writable policy file is refused") {
  if (!isRoot())
    return;
  SECTION("group-writable fragment") {
    Running t;
    moveInto(t.r.staging(kFragmentB, 0664), t.r.fragment());
    requireRefused(t.d, t.r, t.before, t.r.fragment(), "mode 0664 lets its group write it");
    CHECK(validateRoot(t.r).exitCode == 1);
    REQUIRE(::chmod(t.r.fragment().c_str(), 0644) == 0);
    CHECK(waitFor([&] { return inB(t.r); }));
  }
  SECTION("world-writable policy.yaml") {
    Running t;
    moveInto(t.r.staging(kPolicyB, 0666), t.r.policy());
    requireRefused(t.d, t.r, t.before, t.r.policy(), "mode 0666 lets every user write it");
  }
}

TEST_CASE("policy trust: a directory others can write into refuses the whole policy") {
  if (!isRoot())
    return;
  SECTION("policy.d world-writable") {
    Running t;
    REQUIRE(::chmod((t.r.policyDir() + "/policy.d").c_str(), 0777) == 0);
    // What a user could then do: drop their own fragment in.
    moveInto(t.r.staging(kFragmentB), t.r.fragment());
    requireRefused(t.d, t.r, t.before, t.r.policyDir() + "/policy.d",
                   "mode 0777 lets every user write into it");
    auto v = validateRoot(t.r);
    CHECK(v.exitCode == 1);
    CHECK_THAT(v.err, Catch::Contains("policy.d: error: mode 0777 lets every user write into it"));
    REQUIRE(::chmod((t.r.policyDir() + "/policy.d").c_str(), 0755) == 0);
    CHECK(waitFor([&] { return inB(t.r); }));
  }
  SECTION("/etc/keepalive-policy group-writable, owned by a user") {
    Running t;
    REQUIRE(::chmod(t.r.policyDir().c_str(), 0775) == 0);
    requireRefused(t.d, t.r, t.before, t.r.policyDir(), "mode 0775 lets its group write into it");
    REQUIRE(::chmod(t.r.policyDir().c_str(), 0755) == 0);
    REQUIRE(::chown(t.r.policyDir().c_str(), kUser, kUser) == 0);
    CHECK(t.d.waitForLog("first: " + t.r.policyDir() + ": error: owned by uid 41000, not root"));
    CHECK(inA(t.r));
  }
}

TEST_CASE("policy trust: a file over 1 MiB is refused") {
  if (!isRoot())
    return;
  Running t;
  std::string big = kFragmentB;
  while (big.size() <= 1048576)
    big += "# padding padding padding padding padding padding padding padding padding\n";
  moveInto(t.r.staging(big), t.r.fragment());
  requireRefused(t.d, t.r, t.before, t.r.fragment(),
                 "the file is " + std::to_string(big.size()) + " bytes, over the limit of 1048576");
}

TEST_CASE("policy trust: a hard link to a root-owned file is root's file and applies") {
  if (!isRoot())
    return;
  // Only root can create entries in the root-owned, not group/other-writable policy.d, and the
  // kernel's protected_hardlinks keeps users from linking files they do not own anyway.
  Running t;
  const std::string original = t.r.staging(kFragmentB);
  REQUIRE(::link(original.c_str(), t.r.fragment().c_str()) == 0);
  CHECK(waitFor([&] { return inB(t.r); }));
}

TEST_CASE("policy trust: a policy written in two steps 100 ms apart never applies its first half") {
  if (!isRoot())
    return;
  Running t;
  // The first half is a valid policy of its own (B's server settings, ssh's derived interval);
  // the whole adds ssh's interval. Applying the first half would be an apply of its own.
  const std::string first =
      "version: 1\nserver: {client_alive_interval: 1m, client_alive_count_max: 2}\n";
  const std::string second = "client: {server_alive_interval: 3m}\n";
  REQUIRE(run({keepalivectlPath(), "validate", t.r.staging(first)}).exitCode == 0);
  const auto t0 = std::chrono::steady_clock::now();
  {
    int fd = ::open(t.r.policy().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, first.data(), first.size()) == static_cast<ssize_t>(first.size()));
    ::close(fd);
  }
  // Not a wait for anything: this is the slow writer under test (a script's `echo >>`).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    int fd = ::open(t.r.policy().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, second.data(), second.size()) == static_cast<ssize_t>(second.size()));
    ::close(fd);
  }
  const auto gap = std::chrono::steady_clock::now() - t0;
  // The positive event: the state line of the whole policy in force, logged after its apply.
  INFO(t.d.log());
  REQUIRE(t.d.waitForLog("effective ssh: serveraliveinterval=180"));
  CHECK(inB(t.r));
  if (gap > std::chrono::milliseconds(400)) {
    WARN(
        "the two writes were " << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
                               << " ms apart on a loaded machine; not judging the settle time");
    return;
  }
  // One apply since start, and it was the whole policy: the first half never was.
  CHECK(t.d.countInLog("(policy changed)") == 1);
  CHECK(t.d.countInLog("(policy changed): applied") == 1);
  CHECK(t.d.countInLog("state ok:") == 2);
}

TEST_CASE("policy trust: a file that changes while read is read again, a bounded number of times") {
  // /proc/self/stat is a regular file whose content differs from its stated size (0) at every
  // read: each attempt sees a change, and the reader gives up after its attempts with an error
  // that says how to write a policy instead of looping or taking a half.
  keepalive::policy::Diagnostics diags;
  keepalive::policy::PolicyFile f;
  CHECK_FALSE(keepalive::io::readPolicyFile("/proc/self/stat", f, diags));
  REQUIRE(diags.items().size() == 1);
  CHECK_THAT(diags.items()[0].str(),
             Catch::Contains("/proc/self/stat: error: changed while being read, 5 times in a row; "
                             "write the policy to a temporary file and rename it into place"));
  // A file at rest, even one written a moment ago (read twice to be sure), reads at once.
  TempDir dir;
  writeFile(dir / "p.yaml", kPolicyB);
  keepalive::policy::Diagnostics quiet;
  CHECK(keepalive::io::readPolicyFile(dir / "p.yaml", f, quiet));
  CHECK(f.text == kPolicyB);
  CHECK(quiet.items().empty());
}

TEST_CASE("policy trust: validate FILE checks content, not ownership, for Ansible's temp files") {
  TempDir dir;
  // Ansible's validate runs on a private temporary copy: mode 0600, possibly not root's.
  const std::string tmp = dir / "ansible-tmp";
  writeFile(tmp, kPolicyB, 0600);
  auto v = run({keepalivectlPath(), "validate", "--strict", tmp});
  CHECK(v.exitCode == 0);
  CHECK(v.err.empty());
  if (isRoot()) {
    REQUIRE(::chown(tmp.c_str(), kUser, kUser) == 0);
    REQUIRE(::chmod(tmp.c_str(), 0666) == 0);
    auto u = run({keepalivectlPath(), "validate", "--strict", tmp});
    CHECK(u.exitCode == 0);
  }
  // Still refused: what is not a regular file, or too large.
  const std::string big = dir / "big.yaml";
  writeFile(big, std::string(kPolicyB) + "#" + std::string(1048576, 'x') + "\n");
  auto b = run({keepalivectlPath(), "validate", big});
  CHECK(b.exitCode == 1);
  CHECK_THAT(b.err, Catch::Contains(big + ": error: the file is"));
  CHECK_THAT(run({keepalivectlPath(), "validate", dir.path()}).err,
             Catch::Contains("a directory, not a regular file"));
}
