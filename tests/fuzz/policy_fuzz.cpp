// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for the whole pure pipeline: strict YAML parse, per-file checks, merge of
// several files, the semantic rules, per-host resolution and rendering of both drop-ins.
//
// The input is split into up to three policy files on kSeparator, so that merging (later file
// wins, lists replaced, hosts replaced) is fuzzed as well as parsing. The separator is a YAML
// comment line, so an input with more separators than files is still a policy.
//
// Invariants (any violation aborts, so libFuzzer saves the input):
//  - every diagnostic names one of the given files, has line >= 0, column >= 0 and a message;
//  - every message is printable ASCII on one line: policy text reaches messages only through
//    detail::quote(), which escapes control bytes and bytes >= 0x7f (messages go to terminals,
//    the journal and D-Bus, which needs valid UTF-8);
//  - with no errors, both rendered drop-ins hold no NUL and only comment lines ('#...') or
//    "Keyword N" lines from the fixed set (N decimal digits, TCPKeepAlive yes|no), each ending
//    in '\n'; and for networks, "Match Address" lines of address characters (sshd), "Host" lines
//    of host pattern characters (ssh), and the network's lines indented by two spaces;
//  - a policy that loads without errors has no errors for any one host either (checkForHost):
//    every rule involves two values at most, and loadPolicy checks each override and each pair;
//  - load + resolve + render is deterministic: rendering twice, and loading again from scratch,
//    give the same bytes and the same digest.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/render.h"

namespace kp = keepalive::policy;

namespace {

constexpr std::string_view kSeparator = "\n#%%file%%\n";
constexpr std::size_t kMaxFiles = 3;
const char* const kPaths[kMaxFiles] = {"/etc/keepalive-policy/policy.yaml",
                                       "/etc/keepalive-policy/policy.d/10-site.yaml",
                                       "/etc/keepalive-policy/policy.d/20-local.yaml"};

constexpr const char* kFuzzTarget = "policy_fuzz";

std::vector<kp::PolicyFile> split(std::string_view in) {
  std::vector<kp::PolicyFile> files;
  while (files.size() + 1 < kMaxFiles) {
    auto at = in.find(kSeparator);
    if (at == std::string_view::npos)
      break;
    files.push_back({kPaths[files.size()], std::string(in.substr(0, at))});
    in.remove_prefix(at + kSeparator.size());
  }
  files.push_back({kPaths[files.size()], std::string(in)});
  return files;
}

void checkDiagnostics(const kp::Diagnostics& diags, const std::vector<kp::PolicyFile>& files) {
  int errors = 0;
  for (const auto& d : diags.items()) {
    const std::string text = d.str();
    FUZZ_CHECK(!d.pos.file.empty(), text);
    bool known = false;
    for (const auto& f : files)
      known = known || f.path == d.pos.file;
    FUZZ_CHECK(known, text);
    FUZZ_CHECK(d.pos.line >= 0, text);
    FUZZ_CHECK(d.pos.column >= 0, text);
    FUZZ_CHECK(!d.message.empty(), text);
    bool printable = true;
    for (unsigned char c : d.message)
      printable = printable && c >= 0x20 && c < 0x7f;
    FUZZ_CHECK(printable, text);
    if (d.severity == kp::Severity::kError)
      ++errors;
  }
  // Past Diagnostics::kMaxItems only the counts grow (and one note is listed).
  if (diags.items().size() <= kp::Diagnostics::kMaxItems)
    FUZZ_CHECK(errors == diags.errorCount(), "error count disagrees with the items");
  else
    FUZZ_CHECK(
        errors <= diags.errorCount() && diags.items().size() == kp::Diagnostics::kMaxItems + 1,
        "capped diagnostics disagree with the counts");
  FUZZ_CHECK(diags.sorted().size() == diags.items().size(), "sorted() lost or added items");
}

std::string describe(const kp::Diagnostics& diags) {
  std::string out;
  for (const auto& d : diags.sorted())
    out += d.str() + "\n";
  return out;
}

bool isDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return s.size() == 1 || s[0] != '0';
}

// keywords: the numeric keywords this drop-in may hold (TCPKeepAlive is allowed in both).
void checkDropIn(const std::string& text, std::string_view kw1, std::string_view kw2) {
  FUZZ_CHECK(text.find('\0') == std::string::npos, text);
  FUZZ_CHECK(!text.empty() && text.back() == '\n', text);
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (!line.empty() && line[0] == '#') {
      FUZZ_CHECK(line.find('\r') == std::string_view::npos, line);
      continue;
    }
    if (line.empty())  // between a network's blocks
      continue;
    if (line.starts_with("  ")) {  // inside a network's Match or Host block, or under Host *
      line.remove_prefix(2);
      if (!line.empty() && line[0] == '#')
        continue;
    } else if (kw1 == "ClientAliveInterval" && line.starts_with("Match Address ")) {
      const auto list = line.substr(14);
      FUZZ_CHECK(
          !list.empty() && list.find_first_not_of("0123456789abcdef.:/,") == std::string_view::npos,
          line);
      continue;
    } else if (kw1 == "ServerAliveInterval" && line.starts_with("Host ")) {
      for (char c : line.substr(5))
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view(" .-_:*?!").find(c) != std::string_view::npos,
                   line);
      continue;
    }
    if (line == "TCPKeepAlive yes" || line == "TCPKeepAlive no")
      continue;
    auto sp = line.find(' ');
    FUZZ_CHECK(sp != std::string_view::npos, line);
    std::string_view key = line.substr(0, sp);
    FUZZ_CHECK(key == kw1 || key == kw2, line);
    FUZZ_CHECK(isDecimal(line.substr(sp + 1)), line);
  }
}

struct Rendered {
  std::string digest;
  std::vector<std::string> texts;
};

Rendered renderAll(const kp::Policy& p, const std::vector<kp::PolicyFile>& files) {
  static const kp::HostIdentity kHosts[] = {
      kp::HostIdentity::fromName("db-01", "db-01.dmz.example.com"),
      kp::HostIdentity::fromName("web-7.example.org"),
  };
  Rendered out;
  out.digest = kp::policyDigest(p);
  for (const auto& host : kHosts) {
    kp::Diagnostics hostDiags = kp::checkForHost(p, host);
    checkDiagnostics(hostDiags, files);
    // loadPolicy checks pairs only up to kMaxPairChecks (rules.cpp) overrides.
    if (!p.hosts || p.hosts->value.size() <= 200)
      FUZZ_CHECK(!hostDiags.hasErrors(), describe(hostDiags));
    kp::Resolved r = kp::resolve(p, host);
    std::string sshd = kp::renderSshd(r, out.digest);
    std::string client = kp::renderClient(r, out.digest);
    checkDropIn(sshd, "ClientAliveInterval", "ClientAliveCountMax");
    checkDropIn(client, "ServerAliveInterval", "ServerAliveCountMax");
    FUZZ_CHECK(sshd == kp::renderSshd(r, out.digest), sshd);
    FUZZ_CHECK(client == kp::renderClient(r, out.digest), client);
    for (const auto& e : kp::explain(r)) {
      FUZZ_CHECK(!e.keyword.empty(), e.target);
      FUZZ_CHECK(!e.value.empty(), e.keyword);
    }
    out.texts.push_back(std::move(sshd));
    out.texts.push_back(std::move(client));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<kp::PolicyFile> files =
      split(std::string_view(reinterpret_cast<const char*>(data), size));

  kp::Diagnostics diags;
  kp::Policy policy = kp::loadPolicy(files, diags);
  checkDiagnostics(diags, files);
  if (diags.hasErrors())
    return 0;

  Rendered first = renderAll(policy, files);
  FUZZ_CHECK(first.digest == kp::policyDigest(policy), first.digest);

  // Validate-then-render again from scratch: same diagnostics, same bytes.
  kp::Diagnostics again;
  kp::Policy policy2 = kp::loadPolicy(files, again);
  FUZZ_CHECK(again.items() == diags.items(), "second load gave other diagnostics");
  Rendered second = renderAll(policy2, files);
  FUZZ_CHECK(second.digest == first.digest, second.digest);
  FUZZ_CHECK(second.texts == first.texts, "second load rendered other bytes");
  FUZZ_CHECK(kp::canonicalText(policy2) == kp::canonicalText(policy), "canonical text differs");
  return 0;
}
