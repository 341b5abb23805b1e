// SPDX-License-Identifier: GPL-2.0-or-later
// A strict YAML reader. yaml-cpp's node API resolves anchors, aliases and tags silently and keeps
// duplicate keys; a policy must never be misread, so we build our own small tree from the parser's
// events and refuse everything a policy has no use for: several documents, anchors, aliases, tags,
// duplicate keys, complex keys, deep nesting and oversized input.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keepalive/policy/diagnostic.h"

namespace keepalive::policy {

struct YamlNode {
  // User-provided so that clang (with libstdc++ 12) does not need the pair of this still
  // incomplete type to be complete when it checks the implicit one.
  YamlNode() {}
  enum class Kind { kNull, kScalar, kMap, kSequence };
  Kind kind = Kind::kNull;
  SourcePos pos;
  std::string scalar;   // kScalar: the text as written (after YAML unescaping)
  bool quoted = false;  // kScalar: single- or double-quoted, or a block scalar
  std::vector<std::pair<YamlNode, YamlNode>> map;  // kMap: key (always a scalar) -> value
  std::vector<YamlNode> sequence;                  // kSequence

  const char* kindName() const;
};

struct YamlLimits {
  std::size_t max_bytes = 1 << 20;  // a policy is a few hundred bytes; 1 MiB is generous
  int max_depth = 32;               // the schema is five levels deep
  std::size_t max_nodes = 100000;
};

// Parses one file. Returns the document's root, or nullptr with at least one error in diags.
std::unique_ptr<YamlNode> parseYaml(std::string_view text, const std::string& file,
                                    Diagnostics& diags, const YamlLimits& limits = {});

}  // namespace keepalive::policy
