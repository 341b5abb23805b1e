// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's --json read by nlohmann::json, strictly, so that a check cannot pass on the
// wrong shape: parse() is RFC 8259 as it is (no comments, no trailing commas, nothing after the
// value), a key given twice in one object is refused rather than the last one winning, and
// u64() and items() refuse a value of another type instead of converting it (as get<>() does
// with strings and bools already).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace keepalive::test {

using Json = nlohmann::json;

// Throws nlohmann::json::parse_error, or std::invalid_argument for a duplicate key.
inline Json parseJson(const std::string& text) {
  std::vector<std::set<std::string>> keys;  // one set per object being read
  return Json::parse(text, [&keys](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start)
      keys.emplace_back();
    else if (event == Json::parse_event_t::object_end)
      keys.pop_back();
    else if (event == Json::parse_event_t::key &&
             !keys.back().insert(parsed.get<std::string>()).second)
      throw std::invalid_argument("JSON: duplicate key " + parsed.dump());
    return true;
  });
}

// A non-negative integer; a bool, a float, a negative number or a string throws.
inline std::uint64_t u64(const Json& j) {
  return j.get_ref<const Json::number_unsigned_t&>();
}

// The elements of an array; anything else throws (size() would count an object's keys).
inline const Json::array_t& items(const Json& j) {
  return j.get_ref<const Json::array_t&>();
}

}  // namespace keepalive::test
