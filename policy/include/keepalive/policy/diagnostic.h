// SPDX-License-Identifier: GPL-2.0-or-later
// Diagnostics are values, not exceptions: a policy problem is an expected outcome that the caller
// prints (CLI), logs (daemon) or exposes (D-Bus), always as FILE:LINE:COL: severity: message.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

namespace keepalive::policy {

// A place in a policy file. line and column are 1-based; 0 means "the file as a whole".
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;

  bool known() const { return !file.empty(); }
  // "FILE:LINE:COL", or "FILE" when the position within it is unknown.
  std::string str() const;
  friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

enum class Severity { kWarning, kError };

struct Diagnostic {
  SourcePos pos;
  Severity severity = Severity::kError;
  std::string message;

  std::string str() const;  // FILE:LINE:COL: error|warning: message
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

// Every message and file name a Diagnostics holds is printable ASCII on one line: they reach
// terminals, the journal and D-Bus (which needs valid UTF-8), and policy bytes must not carry
// escape sequences or line breaks there. Other bytes are written as \xNN.
std::string printable(const std::string& text);

class Diagnostics {
 public:
  // A hostile or broken file can produce thousands of diagnostics; past this many only the
  // counts grow, and one last diagnostic says so.
  static constexpr std::size_t kMaxItems = 100;

  void error(const SourcePos& pos, std::string message);
  void warning(const SourcePos& pos, std::string message);
  void add(Diagnostic d);
  void append(const Diagnostics& other);

  bool hasErrors() const { return errors_ > 0; }
  int errorCount() const { return errors_; }
  int warningCount() const { return warnings_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  // Sorted by file, line, column; identical entries (the same rule found through several host
  // overrides) appear once.
  std::vector<Diagnostic> sorted() const;

 private:
  std::vector<Diagnostic> items_;
  std::unordered_set<std::string> seen_;
  int errors_ = 0;
  int warnings_ = 0;
  bool truncated_ = false;
};

}  // namespace keepalive::policy
