// The keepalive model (model.h). Each fact is cited in docs/policy.md §7.
#include "keepalive/policy/model.h"

#include <algorithm>
#include <cctype>

namespace keepalive::policy {

std::string OpensshVersion::str() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::optional<OpensshVersion> OpensshVersion::parse(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])) ||
        (i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1]))))
      continue;
    std::size_t j = i;
    int major = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && major < 1000)
      major = major * 10 + (text[j++] - '0');
    if (j + 1 >= text.size() || text[j] != '.' ||
        !std::isdigit(static_cast<unsigned char>(text[j + 1])))
      continue;
    ++j;
    int minor = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && minor < 1000)
      minor = minor * 10 + (text[j++] - '0');
    return OpensshVersion{major, minor};
  }
  return std::nullopt;
}

const char* toString(OpensshTiming t) {
  switch (t) {
    case OpensshTiming::kOnce:
      return "1x";
    case OpensshTiming::kTwice:
      return "2x";
    case OpensshTiming::kAuto:
      break;
  }
  return "auto";
}

const char* toString(Baseline b) {
  switch (b) {
    case Baseline::kStig:
      return "stig";
    case Baseline::kCis:
      return "cis";
    case Baseline::kLynis:
      return "lynis";
    case Baseline::kNone:
      break;
  }
  return "none";
}

int probeFactor(const ModelContext& ctx, OpensshTiming timing) {
  if (timing == OpensshTiming::kOnce)
    return 1;
  if (timing == OpensshTiming::kTwice || !ctx.openssh)
    return 2;
  const OpensshVersion v = *ctx.openssh;
  return v >= OpensshVersion{9, 2} && v < OpensshVersion{9, 5} ? 2 : 1;
}

}  // namespace keepalive::policy
