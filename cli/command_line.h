// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's command line as data: each verb with its operands and options is declared once
// (verb_table.cpp), and parsing, --help, the synopsis and the did-you-mean suggestions all come
// from that declaration, as timedatectl's verb table does. Nothing here does I/O: errors and help
// are returned as text, so that the parser can be tested without running keepalivectl.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keepalive::cli {

enum OptionFlag : unsigned {
  kRequired = 1u << 0,           // shown without brackets; parsing fails without it
  kRepeatable = 1u << 1,         // "[...]..." in the synopsis; Args::values() returns every one
  kHidden = 1u << 2,             // parsed, but in neither the synopsis nor the help
  kRefused = 1u << 3 | kHidden,  // recognised only to refuse it, with `help` as the reason
};

struct OptionSpec {
  const char* name;             // long name without "--"
  char shortName = 0;           // 0: none
  const char* value = nullptr;  // the value's name in help ("DIR"); nullptr: a flag
  const char* help = "";        // '\n' breaks the line; lines wrap at 80 columns in --help
  unsigned flags = 0;           // OptionFlag
  int exclusiveGroup = 0;       // options with the same nonzero group exclude each other
};

struct OperandSpec {
  const char* name = nullptr;  // "FILE"; nullptr: the verb takes no operands
  std::size_t max = 0;         // how many at most; kMany for any number
  bool required = false;
  const char* help = nullptr;  // a row after the options in --help; nullptr: none
  // Non-null: what follows "--" is passed through to another program, not taken as operands
  // (probe's "[-- SSH_OPTIONS...]"); Args::passThrough() holds it.
  const char* passThrough = nullptr;
};
inline constexpr std::size_t kMany = static_cast<std::size_t>(-1);

class Args;

struct VerbSpec {
  const char* name;
  const char* summary;  // one line in `keepalivectl --help`
  OperandSpec operands;
  std::vector<OptionSpec> options;
  const char* description;  // --help: the paragraphs between the usage line and the options
  const char* epilogue;     // --help: after the options (exit status, examples); may be ""
  int (*run)(const Args& args);
};

// What a verb's run function receives: the options and operands of its command line, parsed
// against its VerbSpec.
class Args {
 public:
  Args() = default;
  explicit Args(const VerbSpec& verb) : verb_(&verb) {}

  // Whether the option (by long name) was given. A name the verb does not declare is a bug in the
  // table or in the verb, and throws std::logic_error.
  bool has(std::string_view name) const;
  // The value given last, or "" when the option was not given.
  std::string value(std::string_view name) const;
  // Every value given, in order.
  std::vector<std::string> values(std::string_view name) const;
  const std::vector<std::string>& operands() const { return operands_; }
  // What followed "--" for a verb whose operands declare passThrough.
  const std::vector<std::string>& passThrough() const { return passThrough_; }

  void add(const OptionSpec& option, std::string value);
  void addOperand(std::string operand) { operands_.push_back(std::move(operand)); }
  void addPassThrough(std::string arg) { passThrough_.push_back(std::move(arg)); }

 private:
  const OptionSpec& find(std::string_view name) const;

  const VerbSpec* verb_ = nullptr;
  std::vector<std::pair<const OptionSpec*, std::string>> given_;
  std::vector<std::string> operands_;
  std::vector<std::string> passThrough_;
};

struct Parsed {
  Args args;
  bool help = false;  // -h or --help came before any error: print verbHelp() instead of running
  std::string error;  // non-empty: a usage error, "unknown option '--jsn'; did you mean '--json'?"
};

// getopt_long's rules: options and operands in any order, "--" ends the options, "--name=VALUE"
// or "--name VALUE", long names abbreviated to a unique prefix, "-qh" and "-pVALUE". -h and
// --help are implicit in every verb.
Parsed parseVerb(const VerbSpec& verb, std::span<const std::string> argv);

// The candidate nearest to `typo` by edit distance (a transposition counts as one edit), or ""
// when none is near enough to be what was meant.
std::string suggest(std::string_view typo, std::span<const std::string> candidates);
// ...; did you mean 'x'?" or "...".
std::string withSuggestion(std::string message, const std::string& suggestion);

// "[--strict] [-q|--quiet] [--root DIR] [FILE...]": the visible options and the operands.
std::string synopsis(const VerbSpec& verb);
// "[FILE...]": the operands only (without "[-- SSH_OPTIONS...]"), for the list of verbs.
std::string operandSynopsis(const VerbSpec& verb);
// One item per option (or group of exclusive options) and one for the operands.
std::vector<std::string> synopsisItems(const VerbSpec& verb);
std::vector<std::string> synopsisItems(std::span<const OptionSpec> options);
// "Usage: keepalivectl VERB SYNOPSIS", wrapped at 80 columns, the description, a row for each
// visible option and for the operands, and the epilogue.
std::string verbHelp(const std::string& program, const VerbSpec& verb);
// Rows of "  LABEL  help", the help aligned in one column and its continuation lines under it.
std::string helpRows(const std::vector<std::pair<std::string, std::string>>& rows);
// "-q, --quiet" or "--root DIR".
std::string optionLabel(const OptionSpec& option);
// The usage line, wrapped at 80 columns under its first item.
std::string usageLine(const std::string& command, const std::vector<std::string>& items);

}  // namespace keepalive::cli
