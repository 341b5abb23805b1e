#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "online.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

const char* dotColor(const std::string& state) {
  if (state == "ok")
    return "\x1b[0;1;32m";
  if (state == "policy-error" || state == "rolled-back")
    return "\x1b[0;1;31m";
  return "\x1b[0;1;33m";  // starting, degraded, shadowed, and states added later
}

// "     Label: first" then continuation lines aligned under the first value, as systemctl does.
void field(const char* label, const std::vector<std::string>& lines) {
  std::printf("%12s: %s\n", label, lines.empty() ? "none" : lines.front().c_str());
  for (std::size_t i = 1; i < lines.size(); ++i)
    std::printf("%12s  %s\n", "", lines[i].c_str());
}
void field(const char* label, const std::string& value) {
  field(label, std::vector<std::string>{value.empty() ? "none" : value});
}

std::vector<std::string> settings(const Properties& p, const std::string& name) {
  auto rows = propSettings(p, name);
  std::size_t wk = 0, wv = 0;
  for (const auto& [k, v, s] : rows) {
    wk = std::max(wk, printable(k).size());
    wv = std::max(wv, printable(v).size());
  }
  std::vector<std::string> out;
  for (const auto& [k, v, s] : rows) {
    std::string line = printable(k);
    line.resize(wk + 1, ' ');
    std::string value = printable(v);
    value.resize(wv + 2, ' ');
    out.push_back(line + value + printable(s));
  }
  return out;
}

std::vector<std::string> printableList(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& s : v)
    out.push_back(printable(s));
  return out;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

void printHuman(const Properties& p) {
  const std::string state = propString(p, "State");
  const bool color = useColor();
  std::printf("%s\u25cf%s keepalive-policyd: %s\n", color ? dotColor(state) : "",
              color ? "\x1b[0m" : "", printable(state).c_str());
  field("Reason", printable(propString(p, "StateReason")));
  field("Policy", printableList(propList(p, "PolicyFiles")));
  field("Digest", printable(propString(p, "PolicyDigest")));
  const std::uint64_t at = propNumber(p, "LastApplyTime");
  std::string applied = formatTimestamp(at);
  if (at) {
    const std::string ago = formatAgo(at);
    applied += (ago.empty() ? "" : "; " + ago) + ": " +
               printable(propString(p, "LastApplyResult")) + " (generation " +
               std::to_string(propNumber(p, "Generation")) + ")";
  }
  field("Last apply", applied);
  field("sshd unit", printable(propString(p, "SshdUnit")));
  field("Drop-ins", printableList(propList(p, "DropIns")));
  field("Server", settings(p, "EffectiveServer"));
  field("Client", settings(p, "EffectiveClient"));
  field("Shadowed", printableList(propList(p, "Shadowed")));
  field("Users", std::to_string(propNumber(p, "UsersCovered")) + " covered, " +
                     std::to_string(propNumber(p, "UsersNonCompliant")) + " non-compliant, " +
                     std::to_string(propNumber(p, "UsersUnwatched")) + " unwatched (" +
                     plural(propNumber(p, "WatchesUsed"), "inotify watch", "inotify watches") +
                     ")");
  field("Counts", plural(propNumber(p, "ReloadsTotal"), "reload", "reloads") + ", " +
                      plural(propNumber(p, "RepairsTotal"), "repair", "repairs") + ", " +
                      plural(propNumber(p, "RefusalsTotal"), "refusal", "refusals") + ", " +
                      plural(propNumber(p, "RollbacksTotal"), "rollback", "rollbacks"));
  field("Last error", printable(propString(p, "LastError")));
  field("Version", printable(propString(p, "Version")));
}

// std::map's order: the properties by name, as before.
nlohmann::ordered_json toJson(const Properties& p) {
  auto out = nlohmann::ordered_json::object();
  for (const auto& [name, value] : p)
    out[name] = jsonValue(value);
  return out;
}

}  // namespace

int runStatus(const Args& args) {
  const bool json = args.has("json");
  return withDaemon("status", [&] {
    ManagerClient client;
    const Properties p = client.getAll();
    if (json)
      printJson(toJson(p));
    else
      printHuman(p);
    return kExitOk;
  });
}

}  // namespace keepalive::cli
