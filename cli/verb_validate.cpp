#include <getopt.h>

#include <cstdio>

#include "verbs.h"

namespace keepalive::cli {

int runValidate(int argc, char** argv) {
  static const option kOpts[] = {{"strict", no_argument, nullptr, 's'},
                                 {"quiet", no_argument, nullptr, 'q'},
                                 {"root", required_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  bool strict = false, quiet = false;
  std::string root;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":qh", kOpts, nullptr)) != -1;) {
    switch (c) {
      case 's':
        strict = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'r':
        root = optarg;
        if (root.empty())
          return usageError("validate", "--root needs a non-empty path");
        break;
      case 'h':
        std::printf(
            "Usage: keepalivectl validate [--strict] [--quiet] [--root DIR] [FILE...]\n\n"
            "Check policy files without applying them. With no FILE, checks the system policy:\n"
            "/etc/keepalive-policy/policy.yaml, then policy.d/*.yaml, merged in that order,\n"
            "refused unless root alone can change them (no symlinks, root's, not group- or\n"
            "other-writable), as keepalive-policyd refuses them. Several FILEs are merged in\n"
            "the order given; a single fragment validates alone; their owner and mode are not\n"
            "checked (Ansible's temporary copy).\n"
            "Diagnostics go to stderr as FILE:LINE:COL: error|warning: message.\n\n"
            "  --strict    warnings fail validation too\n"
            "  -q, --quiet no summary line on success (diagnostics are still printed)\n"
            "  --root DIR  read the system policy under DIR instead of /\n\n"
            "Exit status: 0 valid, 1 invalid (or warnings with --strict), 2 usage.\n"
            "Ansible: template: ... validate: 'keepalivectl validate %%s'\n");
        return kExitOk;
      case ':':
        return usageError("validate",
                          std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        return usageError("validate", std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  std::vector<std::string> files(argv + optind, argv + argc);
  LoadedPolicy lp = loadPolicyFrom(files, root);
  printDiagnostics(lp.diags);
  const int errors = lp.diags.errorCount(), warnings = lp.diags.warningCount();
  const bool ok = errors == 0 && !(strict && warnings > 0);
  if (!quiet || !ok) {
    std::string what = files.empty() ? "system policy"
                                     : (files.size() == 1 ? policy::printable(files[0]) : "policy");
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
