// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl-completion bash|zsh [FILE]: writes the completion script generated from the table
// of verbs and options (completion.h) to FILE, or stdout. Run at build time; not installed.
#include <cstdio>
#include <string>

#include "completion.h"

int main(int argc, char** argv) {
  const std::string script =
      argc == 2 || argc == 3 ? keepalive::cli::completionScript(argv[1]) : "";
  if (script.empty()) {
    std::fputs("usage: keepalivectl-completion bash|zsh [FILE]\n", stderr);
    return 2;
  }
  FILE* out = argc == 3 ? std::fopen(argv[2], "w") : stdout;
  if (!out || std::fputs(script.c_str(), out) < 0 || (argc == 3 && std::fclose(out) != 0)) {
    std::perror("keepalivectl-completion");
    return 1;
  }
  return 0;
}
