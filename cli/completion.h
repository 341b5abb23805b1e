// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's bash and zsh completion, generated from the one table of verbs and options
// (verb_table.cpp) at build time by keepalivectl-completion (completion_main.cpp), so that the
// scripts cannot name a verb or an option the table does not have, nor miss one.
// What an operand or an option's value completes to comes from its name in the table: FILE a
// policy file (*.yaml), DIR a directory, a user's NAME (users' operand, --user) the host's users,
// CAUSE the disconnect causes, VERB the verbs, a|b|c those words, -p the daemon's properties,
// DESTINATION host names; anything else nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace keepalive::cli {

enum class CompletionKind { kNone, kPolicyFiles, kDirectories, kUsers, kHosts, kWords };

struct Completion {
  CompletionKind kind = CompletionKind::kNone;
  std::vector<std::string> words;  // kWords
};

// What an option's value (option = its long name) or a verb's operands (option = nullptr)
// complete to.
Completion completionFor(std::string_view verb, const char* option);

// The script for "bash" or "zsh"; "" for another shell.
std::string completionScript(std::string_view shell);

}  // namespace keepalive::cli
