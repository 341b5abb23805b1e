// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's verbs. Each lives in its own file; their options are declared in one table
// (verb_table.cpp), and each verb's run function receives them parsed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.h"
#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"

namespace keepalive::cli {

// Exit codes, documented in keepalivectl(1) and the README.
inline constexpr int kExitOk = 0;
inline constexpr int kExitPolicy = 1;    // policy invalid, or host not compliant
inline constexpr int kExitUsage = 2;     // bad command line
inline constexpr int kExitNoDaemon = 3;  // keepalive-policyd unreachable

// The table of verbs and options (verb_table.cpp) and what runs it.
std::span<const VerbSpec> verbTable();
// The options before the verb (-h|--help, --version), as a VerbSpec of their own.
const VerbSpec& globalOptions();
// "[-h|--help] [--version] [VERB [OPTIONS] [ARGS]]", one item each.
std::vector<std::string> globalSynopsisItems();
std::string globalHelp();
// argv without the program's name. No verb runs `status`.
int runCommandLine(std::span<const std::string> argv);

// Each verb gets its command line parsed against its row of the table.
int runValidate(const Args& args);
int runRender(const Args& args);
int runAdvise(const Args& args);
// probe: measures a path's idle timeout with ssh sessions (verb_probe.cpp, probe.h).
int runProbe(const Args& args);
// Online verbs: they ask keepalive-policyd on the system bus (online.h).
int runStatus(const Args& args);
int runUsers(const Args& args);
int runReload(const Args& args);
int runCheck(const Args& args);
int runShow(const Args& args);
// disconnects (issue 17): ListDisconnects as a table or --json.
int runDisconnects(const Args& args);
// --since: a duration back from now (1h, 30m, 7d) or a date (2026-12-07, "2026-12-07 10:11:12",
// 2026-12-07T10:11:12Z, local time unless Z or +HH:MM), as CLOCK_REALTIME usec.
std::optional<std::uint64_t> parseSince(std::string_view text, std::uint64_t nowUsec,
                                        std::string* why);
// "2026-12-07T10:11:12Z": disconnects --json's time.
std::string isoUtc(std::uint64_t usec);

// Shared by the offline verbs.
struct LoadedPolicy {
  policy::Policy policy;
  policy::Diagnostics diags;
  std::vector<policy::PolicyFile> files;
};
// Files given on the command line in that order, or the system policy under root; the rules judge
// the values for ctx's OpenSSH version.
LoadedPolicy loadPolicyFrom(const std::vector<std::string>& files, const std::string& root,
                            const policy::ModelContext& ctx = {});
// The OpenSSH version the offline verbs compute their figures for: --openssh VERSION, else the
// installed sshd's (sshd -V, else ssh -V: io::detectOpensshVersion), else none, the worst case.
// nullopt after a usage error (a --openssh that names no version).
std::optional<policy::ModelContext> versionContext(const Args& args, const char* verb);
// "OpenSSH 9.2 (sshd -V)", or "the worst case over OpenSSH 7.4 to 10.5 (give --openssh VERSION)".
std::string describeContext(const policy::ModelContext& ctx);
void printDiagnostics(const policy::Diagnostics& diags);
// The keepalive model's figures as lines of text, each starting with indent: the probe gaps
// against the idle timeout, the dead-peer times, the break survived, and the version's facts.
std::string figuresText(const policy::ModelInput& in, const policy::Figures& f,
                        const std::string& indent);
int usageError(const char* verb, const std::string& message);

}  // namespace keepalive::cli
