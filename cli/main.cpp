// keepalivectl: inspect and control keepalive-policy. Offline verbs need no daemon and no root;
// online verbs ask keepalive-policyd on the system bus.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "verbs.h"

namespace keepalive::cli {
namespace {

const Verb kVerbs[] = {
    {"validate", "[FILE...]", "check policy files; no FILE means the system policy", runValidate},
    {"render", "[FILE...]", "print the sshd and ssh drop-ins the policy gives this host",
     runRender},
    {"advise", "--idle-timeout DURATION", "recommend keepalive settings for a NAT idle timeout",
     runAdvise},
    {"status", "[--json]", "whether the policy is in force, since when, and what is wrong",
     runStatus},
    {"users", "[--noncompliant] [--json] [NAME]", "each covered user's compliance", runUsers},
    {"reload", "", "re-read and apply the policy now (root)", runReload},
    {"check", "[--json]", "verify everything now; exit 1 when not compliant", runCheck},
    {"show", "[-p NAME] [--value]", "print properties of the daemon", runShow},
};

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: keepalivectl [--help] [--version] VERB [OPTIONS] [ARGS]\n\n"
               "Keep SSH sessions alive behind NAT and firewalls, as fleet policy.\n\nVerbs:\n");
  for (const auto& v : kVerbs)
    std::fprintf(out, "  %-9s %-33s %s\n", v.name, v.args, v.summary);
  std::fprintf(out,
               "\nRun 'keepalivectl VERB --help' for a verb's options.\n"
               "Exit status: 0 ok, 1 policy or compliance problem, 2 usage, 3 daemon "
               "unreachable.\n");
}

}  // namespace
}  // namespace keepalive::cli

int main(int argc, char** argv) {
  using namespace keepalive::cli;
  if (argc < 2) {
    usage(stderr);
    return kExitUsage;
  }
  std::string_view first = argv[1];
  if (first == "-h" || first == "--help" || first == "help") {
    if (first == "help" && argc > 2) {
      for (const auto& v : kVerbs) {
        if (std::strcmp(v.name, argv[2]) == 0) {
          char help[] = "--help";
          char* args[] = {argv[2], help, nullptr};
          return v.run(2, args);
        }
      }
    }
    if (first == "help" && argc > 2) {
      std::fprintf(stderr, "keepalivectl: unknown verb '%s'.\n", argv[2]);
      usage(stderr);
      return kExitUsage;
    }
    usage(stdout);
    return kExitOk;
  }
  if (first == "--version") {
    std::printf("keepalivectl %s\n", KEEPALIVE_VERSION);
    return kExitOk;
  }
  for (const auto& v : kVerbs)
    if (first == v.name)
      return v.run(argc - 1, argv + 1);
  std::fprintf(stderr, "keepalivectl: unknown verb '%s'.\n", argv[1]);
  usage(stderr);
  return kExitUsage;
}
