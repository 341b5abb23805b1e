#include "keepalive/policy/diagnostic.h"

#include <algorithm>
#include <tuple>

namespace keepalive::policy {

std::string SourcePos::str() const {
  if (line <= 0)
    return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::str() const {
  std::string where = pos.known() ? pos.str() : std::string("keepalive-policy");
  return where + (severity == Severity::kError ? ": error: " : ": warning: ") + message;
}

void Diagnostics::error(const SourcePos& pos, std::string message) {
  add({pos, Severity::kError, std::move(message)});
}

void Diagnostics::warning(const SourcePos& pos, std::string message) {
  add({pos, Severity::kWarning, std::move(message)});
}

void Diagnostics::add(Diagnostic d) {
  if (std::find(items_.begin(), items_.end(), d) != items_.end())
    return;
  if (d.severity == Severity::kError)
    ++errors_;
  items_.push_back(std::move(d));
}

void Diagnostics::append(const Diagnostics& other) {
  for (const auto& d : other.items_)
    add(d);
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.pos.file, a.pos.line, a.pos.column) <
           std::tie(b.pos.file, b.pos.line, b.pos.column);
  });
  return out;
}

}  // namespace keepalive::policy
