// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>

#include "verbs.h"

namespace keepalive::cli {

int runValidate(const Args& args) {
  const bool strict = args.has("strict"), quiet = args.has("quiet");
  const std::string root = args.value("root");
  if (args.has("root") && root.empty())
    return usageError("validate", "--root needs a non-empty path");
  const auto ctx = versionContext(args, "validate");
  if (!ctx)
    return kExitUsage;
  const std::vector<std::string>& files = args.operands();
  LoadedPolicy lp = loadPolicyFrom(files, root, *ctx);
  printDiagnostics(lp.diags);
  const int errors = lp.diags.errorCount(), warnings = lp.diags.warningCount();
  const bool ok = errors == 0 && !(strict && warnings > 0);
  if (!quiet || !ok) {
    std::string what = files.empty() ? "system policy"
                                     : (files.size() == 1 ? policy::printable(files[0]) : "policy");
    std::FILE* out = ok ? stdout : stderr;
    std::fprintf(out, "Judged for %s\n", describeContext(*ctx).c_str());
    if (ok)
      std::printf("%s: valid (%zu file%s, %d warning%s)\n", what.c_str(), lp.files.size(),
                  lp.files.size() == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    else
      std::fprintf(stderr, "%s: invalid: %d error%s, %d warning%s%s\n", what.c_str(), errors,
                   errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
                   errors == 0 ? " (--strict)" : "");
  }
  return ok ? kExitOk : kExitPolicy;
}

}  // namespace keepalive::cli
