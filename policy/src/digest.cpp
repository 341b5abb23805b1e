#include <openssl/evp.h>

#include <cstdio>

#include "keepalive/policy/policy.h"

namespace keepalive::policy {

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
