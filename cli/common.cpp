#include <cstdio>

#include "keepalive/io/policy_files.h"
#include "verbs.h"

namespace keepalive::cli {

LoadedPolicy loadPolicyFrom(const std::vector<std::string>& files, const std::string& root) {
  LoadedPolicy out;
  if (files.empty()) {
    out.files = io::readSystemPolicy(root, out.diags);
  } else {
    for (const auto& f : files) {
      policy::PolicyFile pf;
      if (io::readPolicyFile(f, pf, out.diags))
        out.files.push_back(std::move(pf));
    }
  }
  if (!out.diags.hasErrors())
    out.policy = policy::loadPolicy(out.files, out.diags);
  return out;
}

void printDiagnostics(const policy::Diagnostics& diags) {
  for (const auto& d : diags.sorted())
    std::fprintf(stderr, "%s\n", d.str().c_str());
}

int usageError(const char* verb, const std::string& message) {
  std::fprintf(stderr, "keepalivectl %s: %s\nTry 'keepalivectl %s --help'.\n", verb,
               message.c_str(), verb);
  return kExitUsage;
}

}  // namespace keepalive::cli
