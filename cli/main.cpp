// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl: inspect and control keepalive-policy. Offline verbs need no daemon and no root;
// online verbs ask keepalive-policyd on the system bus. The verbs and their options are one table
// (verb_table.cpp).
#include <string>
#include <vector>

#include "verbs.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return keepalive::cli::runCommandLine(args);
}
