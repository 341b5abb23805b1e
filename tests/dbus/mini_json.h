// A strict JSON reader for the tests (RFC 8259: no trailing commas, no comments, no leading
// zeros, escapes checked, nothing after the value), so that keepalivectl's --json is checked by
// something other than the code that wrote it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace keepalive::test {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  std::string number;  // as written, so that 64-bit integers stay exact
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json& operator[](const std::string& key) const {
    auto it = object.find(key);
    if (type != Type::kObject || it == object.end())
      throw std::out_of_range("no key '" + key + "'");
    return it->second;
  }
  bool has(const std::string& key) const { return object.count(key) != 0; }
  std::uint64_t u64() const {
    if (type != Type::kNumber)
      throw std::invalid_argument("not a number");
    return std::stoull(number);
  }
  const std::string& str() const {
    if (type != Type::kString)
      throw std::invalid_argument("not a string");
    return string;
  }
};

// Throws std::invalid_argument with the offset of the first problem.
Json parseJson(const std::string& text);

}  // namespace keepalive::test
