// Force-included into the policy library's sources in the fuzz build only, and only when the
// configure check in CMakeLists.txt shows it is needed (clang++ 14 with libstdc++ 12 in C++20).
//
// Why: YamlNode holds std::vector<std::pair<YamlNode, YamlNode>> and has default member
// initializers. Instantiating that pair makes clang evaluate the explicit(...) condition of
// pair's default constructor, __is_implicitly_default_constructible<YamlNode>, which needs the
// implicit default constructor of YamlNode, which needs the destructor of the vector of that very
// pair: a cycle that clang reports as "arithmetic on a pointer to an incomplete type
// 'std::pair<YamlNode, YamlNode>'". GCC accepts the same code.
//
// The answer to the trait is true (YamlNode is implicitly default constructible), so giving it
// up front changes no behaviour; it only breaks the cycle. The real fix belongs in
// policy/include/keepalive/policy/yaml_tree.h: a user-provided default constructor,
// `YamlNode() {}`, makes clang++ accept it, after which this file is no longer used.
#pragma once

#include <type_traits>

namespace keepalive::policy {
struct YamlNode;
}

template <>
struct std::__is_implicitly_default_constructible<keepalive::policy::YamlNode> : std::true_type {};
