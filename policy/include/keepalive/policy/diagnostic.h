// Diagnostics are values, not exceptions: a policy problem is an expected outcome that the caller
// prints (CLI), logs (daemon) or exposes (D-Bus), always as FILE:LINE:COL: severity: message.
#pragma once

#include <string>
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

class Diagnostics {
 public:
  void error(const SourcePos& pos, std::string message);
  void warning(const SourcePos& pos, std::string message);
  void add(Diagnostic d);
  void append(const Diagnostics& other);

  bool hasErrors() const { return errors_ > 0; }
  int errorCount() const { return errors_; }
  int warningCount() const { return static_cast<int>(items_.size()) - errors_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  // Sorted by file, line, column; identical entries (the same rule found through several host
  // overrides) appear once.
  std::vector<Diagnostic> sorted() const;

 private:
  std::vector<Diagnostic> items_;
  int errors_ = 0;
};

}  // namespace keepalive::policy
