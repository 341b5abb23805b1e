// SPDX-License-Identifier: GPL-2.0-or-later
// What the library's files share about the declared settings: typed access and the few operations
// more than one job needs. Internal to libkeepalive-policy.
#pragma once

#include <string>
#include <type_traits>
#include <variant>

#include "keepalive/policy/diagnostic.h"
#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"

namespace keepalive::policy::detail {

// Calls f with the setting's typed slot (a Slot<T>).
template <class F>
decltype(auto) withSlot(const Setting& s, F&& f) {
  return std::visit(std::forward<F>(f), s.slot);
}

template <class T>
inline constexpr bool kIsList = std::is_same_v<T, NameList>;

// A later value replaces an earlier one, key by key; a list that replaces another is warned about
// when warn is given (files are merged; host overrides replace lists silently).
void mergeSettings(Settings& into, const Settings& from, Diagnostics* warn);
void mergeTopLevel(Policy& into, const Policy& from);

// The range check of a number or duration: false, with an error at v, when v is below the
// setting's least allowed value.
bool checkRange(const Setting& s, const Value<std::int64_t>& v, Diagnostics& d);

// The semantic rules over a merged policy: the top-level settings, then the fleet-wide settings
// alone, each host override and each pair of overrides.
void checkPolicy(const Policy& merged, Diagnostics& diags, const ModelContext& ctx);

}  // namespace keepalive::policy::detail
