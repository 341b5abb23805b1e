// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "keepalive/policy/policy.h"

namespace keepalive::test {

struct Loaded {
  policy::Policy policy;
  policy::Diagnostics diags;
  std::string dump() const {
    std::string out;
    for (const auto& d : diags.sorted())
      out += d.str() + "\n";
    return out;
  }
  // True when some diagnostic of that severity contains text (and sits at line:col when given).
  bool has(policy::Severity sev, const std::string& text, int line = 0, int col = 0) const {
    for (const auto& d : diags.items()) {
      if (d.severity != sev || d.message.find(text) == std::string::npos)
        continue;
      if (line && d.pos.line != line)
        continue;
      if (col && d.pos.column != col)
        continue;
      return true;
    }
    return false;
  }
  bool error(const std::string& text, int line = 0, int col = 0) const {
    return has(policy::Severity::kError, text, line, col);
  }
  bool warning(const std::string& text, int line = 0, int col = 0) const {
    return has(policy::Severity::kWarning, text, line, col);
  }
};

inline Loaded load(const std::string& text, const std::string& file = "policy.yaml") {
  Loaded l;
  l.policy = policy::loadPolicy({{file, text}}, l.diags);
  return l;
}

inline Loaded loadMany(const std::vector<policy::PolicyFile>& files) {
  Loaded l;
  l.policy = policy::loadPolicy(files, l.diags);
  return l;
}

}  // namespace keepalive::test

#define CHECK_VALID(l)                  \
  do {                                  \
    INFO((l).dump());                   \
    CHECK_FALSE((l).diags.hasErrors()); \
  } while (0)
