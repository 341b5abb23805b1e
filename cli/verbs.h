// keepalivectl's verbs. Each lives in its own file and parses its own options.
#pragma once

#include <string>
#include <vector>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"

namespace keepalive::cli {

// Exit codes, documented in keepalivectl(1) and the README.
inline constexpr int kExitOk = 0;
inline constexpr int kExitPolicy = 1;    // policy invalid, or host not compliant
inline constexpr int kExitUsage = 2;     // bad command line
inline constexpr int kExitNoDaemon = 3;  // keepalive-policyd unreachable

struct Verb {
  const char* name;
  const char* args;
  const char* summary;
  int (*run)(int argc, char** argv);
};

int runValidate(int argc, char** argv);
int runRender(int argc, char** argv);
int runAdvise(int argc, char** argv);
// Online verbs: they ask keepalive-policyd on the system bus (online.h).
int runStatus(int argc, char** argv);
int runUsers(int argc, char** argv);
int runReload(int argc, char** argv);
int runCheck(int argc, char** argv);
int runShow(int argc, char** argv);

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
