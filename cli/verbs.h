// keepalivectl's verbs. Each lives in its own file; their options are declared in one table
// (verb_table.cpp), and each verb's run function receives them parsed.
#pragma once

#include <span>
#include <string>
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
// Online verbs: they ask keepalive-policyd on the system bus (online.h).
int runStatus(const Args& args);
int runUsers(const Args& args);
int runReload(const Args& args);
int runCheck(const Args& args);
int runShow(const Args& args);

// Shared by the offline verbs.
struct LoadedPolicy {
  policy::Policy policy;
  policy::Diagnostics diags;
  std::vector<policy::PolicyFile> files;
};
// Files given on the command line in that order, or the system policy under root.
LoadedPolicy loadPolicyFrom(const std::vector<std::string>& files, const std::string& root);
void printDiagnostics(const policy::Diagnostics& diags);
int usageError(const char* verb, const std::string& message);

}  // namespace keepalive::cli
