#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keepalive::policy {

struct Advice {
  std::string product;  // "sshd", "OpenSSH client", "PuTTY", "policy"
  std::string setting;
  std::string value;
  std::string reason;
};

// Recommended settings for a path whose shortest NAT or firewall idle timeout is idle_timeout
// seconds (at least 3).
std::vector<Advice> advise(std::int64_t idle_timeout);

}  // namespace keepalive::policy
