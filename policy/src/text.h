// SPDX-License-Identifier: GPL-2.0-or-later
// Small text helpers shared inside the policy library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace keepalive::policy::detail {

// Quotes user-supplied text for a message: 'text', with control and non-ASCII bytes escaped (a
// policy must not be able to send terminal escapes through our diagnostics) and long text cut.
std::string quote(std::string_view text);

// YAML 1.1 reads these as booleans; YAML 1.2 reads most of them as strings.
bool isYaml11Bool(std::string_view s);
// PyYAML (what Ansible templates with) resolves these plain scalars to int, float or null.
bool isYaml11Number(std::string_view s);
// YAML 1.2 core schema booleans.
bool isYaml12Bool(std::string_view s, bool* value = nullptr);

// ASCII letters changed in case, other bytes kept: "DEBUG" -> "debug", "verbose" -> "VERBOSE".
std::string lowerAscii(std::string_view s);
std::string upperAscii(std::string_view s);

// A mode as chmod takes it and messages print it: "0600".
std::string octal(long long mode);

// Damerau-less Levenshtein distance, enough for typo suggestions.
int editDistance(std::string_view a, std::string_view b);

// " did you mean 'x'?" or " known keys here: a, b, c" (leading space included) for an unknown key.
std::string suggestKey(std::string_view key, const std::vector<std::string_view>& known);

}  // namespace keepalive::policy::detail
