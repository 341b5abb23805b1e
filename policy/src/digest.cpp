// SPDX-License-Identifier: GPL-2.0-or-later
// The policy digest: a stable text of the policy's meaning (not its spelling), written from the
// declared settings, and its SHA-256.
#include <openssl/evp.h>

#include <cstdio>

#include "keepalive/policy/policy.h"
#include "keepalive/policy/schema.h"
#include "settings_ops.h"

namespace keepalive::policy {

namespace {

template <class T>
void write(std::string& out, const std::string& key, const Opt<T>& v) {
  if (!v)
    return;
  if constexpr (std::is_same_v<T, bool>) {
    out += key + "=" + (v->value ? "true" : "false") + "\n";
  } else if constexpr (std::is_same_v<T, UserAction> || kIsEnum<T>) {
    out += key + "=" + toString(v->value) + "\n";
  } else if constexpr (detail::kIsList<T>) {
    out += key + "=" + std::to_string(v->value.size()) + "\n";
    for (const auto& e : v->value)
      out += std::to_string(e.value.size()) + ":" + e.value + "\n";
  } else {
    out += key + "=" + std::to_string(v->value) + "\n";
  }
}

void writeSettings(std::string& out, const std::string& prefix, const Settings& s) {
  for (const auto& decl : settings())
    if (!decl.topLevel())
      detail::withSlot(
          decl, [&](const auto& slot) { write(out, prefix + std::string(decl.key), slot.get(s)); });
}

// Networks keep their order: it decides which block wins where they overlap.
void writeNetworks(std::string& out, const std::string& prefix,
                   const Opt<std::vector<NetworkEntry>>& nets) {
  if (!nets)
    return;
  out += prefix + "networks=" + std::to_string(nets->value.size()) + "\n";
  for (std::size_t i = 0; i < nets->value.size(); ++i) {
    const auto& e = nets->value[i];
    const std::string p = prefix + "networks[" + std::to_string(i) + "].";
    out += p + "name=" + std::to_string(e.name.value.size()) + ":" + e.name.value + "\n";
    for (const auto* list : {&e.addresses, &e.destinations}) {
      out += p + (list == &e.addresses ? "addresses=" : "destinations=") +
             std::to_string(list->size()) + "\n";
      for (const auto& a : *list)
        out += std::to_string(a.value.size()) + ":" + a.value + "\n";
    }
    writeSettings(out, p, e.settings);
  }
}

}  // namespace

std::string canonicalText(const Policy& p) {
  std::string out = "keepalive-policy canonical 1\n";
  for (const auto& decl : settings())
    if (decl.topLevel())
      detail::withSlot(decl,
                       [&](const auto& slot) { write(out, std::string(decl.key), slot.get(p)); });
  writeSettings(out, "", p.base);
  writeNetworks(out, "", p.networks);
  if (p.hosts) {
    for (std::size_t i = 0; i < p.hosts->value.size(); ++i) {
      const auto& o = p.hosts->value[i];
      std::string prefix = "hosts[" + std::to_string(i) + "].";
      out += prefix + "match=" + std::to_string(o.match.size()) + "\n";
      for (const auto& m : o.match)
        out += std::to_string(m.value.size()) + ":" + m.value + "\n";
      writeSettings(out, prefix, o.settings);
      writeNetworks(out, prefix, o.networks);
    }
  }
  return out;
}

std::string policyDigest(const Policy& p) {
  const std::string text = canonicalText(p);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
    return "sha256:unavailable";
  std::string out = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

}  // namespace keepalive::policy
