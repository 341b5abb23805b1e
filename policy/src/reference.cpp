// SPDX-License-Identifier: GPL-2.0-or-later
// The reference table of docs/policy.md, written from the declarations so that the documentation
// cannot describe a setting the code does not have (tests/unit/schema_test.cpp compares them).
#include "keepalive/policy/duration.h"
#include "keepalive/policy/schema.h"
#include "settings_ops.h"
#include "text.h"

namespace keepalive::policy {

namespace {

std::string code(std::string_view s) {
  return "`" + std::string(s) + "`";
}

std::string typeCell(const Setting& s) {
  switch (s.kind) {
    case Kind::kWholeNumber:
      return "whole number";
    case Kind::kDuration:
      return "duration";
    case Kind::kBoolean:
      return "boolean";
    case Kind::kUserAction:
      return code(toString(UserAction::kEnforce)) + ", " + code(toString(UserAction::kReport)) +
             ", " + code(toString(UserAction::kOff));
    case Kind::kMode:
      return "mode";
    case Kind::kNameList:
      return "list, each " + std::string(s.item);
    case Kind::kEnum:
      return detail::withSlot(s, []<class T>(const Slot<T>&) -> std::string {
        std::string out;
        if constexpr (kIsEnum<T>)
          for (T e : EnumWords<T>::kAll)
            out += (out.empty() ? "" : ", ") + code(toString(e));
        return out;
      });
  }
  return "?";
}

std::string bound(const Setting& s, std::int64_t v) {
  return s.kind == Kind::kDuration && v > 0 ? formatDuration(v) : std::to_string(v);
}

std::string defaultCell(const Setting& s) {
  if (!s.docDefault.empty())
    return std::string(s.docDefault);
  return detail::withSlot(s, [&]<class T>(const Slot<T>& slot) -> std::string {
    if (!slot.fallback) {
      if (s.directive)
        return "unset (" + std::string(toString(s.directive->side)) + ": " +
               std::string(s.directive->opensshDefault) + ")";
      return "unset: " + std::string(s.unset);
    }
    const T& v = *slot.fallback;
    if constexpr (std::is_same_v<T, bool>)
      return code(v ? "true" : "false");
    else if constexpr (std::is_same_v<T, UserAction> || kIsEnum<T>)
      return code(toString(v));
    else if constexpr (detail::kIsList<T>)
      return v.empty() ? "empty" : "?";
    else if (s.kind == Kind::kMode)
      return code("\"" + detail::octal(v) + "\"");
    else if (s.kind == Kind::kDuration)
      return code(formatDuration(v));
    else
      return code(std::to_string(v));
  });
}

std::string allowedCell(const Setting& s) {
  if (!s.docAllowed.empty())
    return std::string(s.docAllowed);
  if (s.kind != Kind::kWholeNumber && s.kind != Kind::kDuration)
    return "";
  std::string range = bound(s, s.range.min) + "–" + bound(s, s.range.max);
  return s.range.zeroOff ? "`0` (off) or " + range : range;
}

std::string directiveCell(const Setting& s) {
  if (!s.directive)
    return "";
  return code(s.directive->keyword) + " (" + toString(s.directive->side) + ")";
}

std::string row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const auto& c : cells)
    out += c.empty() ? " |" : " " + c + " |";
  return out + "\n";
}

}  // namespace

std::string referenceTable() {
  std::string out = row({"key", "type", "default", "allowed", "renders to", "meaning"});
  out += row({"---", "---", "---", "---", "---", "---"});
  for (const auto& s : settings())
    out += row({code(s.key), typeCell(s), defaultCell(s), allowedCell(s), directiveCell(s),
                std::string(s.doc)});
  // The structure around the settings: host overrides, which may set every section.
  out += row(
      {code("hosts"), "list of overrides", "none", "", "", "settings for some hosts only (§9)"});
  out += row({code("hosts[].match"), "list, each a host name glob", "required", "non-empty", "",
              "the hosts an override applies to"});
  std::string sectionKeys;
  for (auto section : sections())
    sectionKeys += (sectionKeys.empty() ? code("hosts[]." + std::string(section)) + "" : ", ") +
                   (sectionKeys.empty() ? "" : code("." + std::string(section)));
  out += row({sectionKeys, "as the sections above", "inherited", "", "",
              "the override's values; a later matching override wins"});
  return out;
}

}  // namespace keepalive::policy
