// SPDX-License-Identifier: GPL-2.0-or-later
#include <netdb.h>
#include <sys/utsname.h>

#include <cstring>

#include "keepalive/io/policy_files.h"

namespace keepalive::io {

policy::HostIdentity localHostIdentity(const std::string& hostOverride) {
  if (!hostOverride.empty())
    return policy::HostIdentity::fromName(hostOverride);
  struct utsname u {};
  ::uname(&u);
  std::string name = u.nodename;
  std::string fqdn;
  if (name.find('.') == std::string::npos) {
    // What `hostname -f` does: NSS (normally /etc/hosts first) knows the canonical name.
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    if (::getaddrinfo(name.c_str(), nullptr, &hints, &res) == 0 && res) {
      if (res->ai_canonname)
        fqdn = res->ai_canonname;
      ::freeaddrinfo(res);
    }
  }
  return policy::HostIdentity::fromName(name, fqdn);
}

}  // namespace keepalive::io
