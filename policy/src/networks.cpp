// Per-network policy: parsing helpers, address and pattern checks, and the proof samples.
#include "keepalive/policy/networks.h"

namespace keepalive::policy {

bool validCidr(std::string_view, std::string* why) {
  if (why)
    *why = "not implemented";
  return false;
}

std::optional<std::string> sampleAddress(const Resolved&, const ResolvedNetwork&) {
  return std::nullopt;
}

std::string outsideAddress(const Resolved&, bool v6) {
  return v6 ? "2001:db8::1" : "192.0.2.1";
}

std::optional<std::string> sampleDestination(const Resolved&, const ResolvedNetwork&) {
  return std::nullopt;
}

std::string outsideDestination(const Resolved&) {
  return "keepalive-policy.invalid";
}

}  // namespace keepalive::policy
