// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>

#include "keepalive/io/openssh_version.h"
#include "keepalive/io/policy_files.h"
#include "keepalive/policy/duration.h"
#include "verbs.h"

namespace keepalive::cli {

LoadedPolicy loadPolicyFrom(const std::vector<std::string>& files, const std::string& root,
                            const policy::ModelContext& ctx) {
  LoadedPolicy out;
  if (files.empty()) {
    out.files = io::readSystemPolicy(root, out.diags);
  } else {
    for (const auto& f : files) {
      policy::PolicyFile pf;
      if (io::readPolicyFile(f, pf, out.diags))
        out.files.push_back(std::move(pf));
    }
  }
  if (!out.diags.hasErrors())
    out.policy = policy::loadPolicy(out.files, out.diags, ctx);
  return out;
}

std::optional<policy::ModelContext> versionContext(const Args& args, const char* verb) {
  if (args.has("openssh")) {
    const std::string text = args.value("openssh");
    auto v = policy::OpensshVersion::parse(text);
    if (!v) {
      usageError(verb, "--openssh '" + policy::printable(text) +
                           "' names no version; write it as ssh -V prints it, e.g. 9.2 or 9.6p1");
      return std::nullopt;
    }
    return policy::ModelContext{v, "--openssh"};
  }
  return io::detectOpensshVersion();
}

std::string describeContext(const policy::ModelContext& ctx) {
  if (!ctx.openssh)
    return policy::describe(ctx) + " (give --openssh VERSION)";
  return policy::describe(ctx);
}

std::string figuresText(const policy::ModelInput& in, const policy::Figures& f,
                        const std::string& indent) {
  using policy::formatDuration;
  auto dur = [](const std::optional<std::int64_t>& v) {
    return v ? formatDuration(*v) : std::string("never");
  };
  auto against = [&](bool below) {
    if (!in.idle_timeout)
      return std::string();
    return std::string(below ? ", below" : ", NOT below") + " the idle timeout " +
           formatDuration(*in.idle_timeout);
  };
  std::string out;
  const auto& s = f.server;
  const auto& c = f.client;
  const std::string pad(indent.size() + 6, ' ');
  if (s.interval > 0) {
    out += indent + "sshd: probes a silent client after " + formatDuration(s.max_idle_gap) + " (" +
           (s.k == 2 ? "2 x " : "") + "ClientAliveInterval " + formatDuration(s.interval) + ")" +
           against(s.gap_below_idle_timeout) + "\n";
    out += pad + "cuts a dead client after " + dur(s.dead_client);
    if (s.dead_client)
      out += " (" + std::string(s.k == 2 ? "2 x " : "") + formatDuration(s.interval) + " x (" +
             std::to_string(s.count_max) + " + 1))";
    out += "\n" + pad + "survives a connectivity break of up to " + dur(s.break_survived) + "\n";
  } else {
    out += indent +
           "sshd: sends no probes (ClientAliveInterval 0): dead clients stay until TCP "
           "gives up\n";
  }
  if (c.interval > 0) {
    out += indent + "ssh:  probes a silent server after " + formatDuration(c.max_idle_gap) +
           against(c.gap_below_idle_timeout) + "\n";
    out += pad + "drops a dead server after " + dur(c.dead_server) + " (" +
           formatDuration(c.interval) + " x (" + std::to_string(c.count_max) + " + 1))\n";
    out += pad + "survives a connectivity break of up to " + dur(c.break_survived) + "\n";
  } else {
    out += indent + "ssh:  sends no probes (ServerAliveInterval 0)\n";
  }
  if (f.break_survived)
    out += indent + "A session survives a connectivity break of up to " +
           formatDuration(*f.break_survived) + ".\n";
  for (const auto& w : f.warnings)
    out += indent + (w.fact ? "Note: " : "Warning: ") + w.text + "\n";
  out += indent +
         "Keepalives keep a live idle session open and cut dead ones; they never log out a live "
         "idle user (server.idle_logout does, on sshd 9.2 and newer).\n";
  return out;
}

void printDiagnostics(const policy::Diagnostics& diags) {
  for (const auto& d : diags.sorted())
    std::fprintf(stderr, "%s\n", d.str().c_str());
}

int usageError(const char* verb, const std::string& message) {
  std::fprintf(stderr, "keepalivectl %s: %s\nTry 'keepalivectl %s --help'.\n", verb,
               message.c_str(), verb);
  return kExitUsage;
}

}  // namespace keepalive::cli
