// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/policy/diagnostic.h"

#include "keepalive/escape.h"

#include <algorithm>
#include <cstdio>
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

std::string printable(const std::string& text) {
  return keepalive::escape(text, {SIZE_MAX, /*asciiOnly=*/true});
}

void Diagnostics::add(Diagnostic d) {
  d.message = printable(d.message);
  d.pos.file = printable(d.pos.file);
  std::string key = d.str();
  if (!seen_.insert(std::move(key)).second)
    return;
  if (d.severity == Severity::kError)
    ++errors_;
  else
    ++warnings_;
  if (items_.size() >= kMaxItems) {
    if (!truncated_) {
      truncated_ = true;
      // A note, not a finding: the counts above stay those of the real problems.
      items_.push_back({d.pos, Severity::kWarning,
                        "too many problems; only the first " + std::to_string(kMaxItems) +
                            " are listed: fix those first"});
    }
    return;
  }
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
