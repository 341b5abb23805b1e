// SPDX-License-Identifier: GPL-2.0-or-later
// The OpenSSH version installed here, for the model's figures (model.h): `sshd -V`, else `ssh -V`.
// Synchronous: keepalivectl runs it once; keepalive-policyd runs the same commands as child
// processes of its event loop and parses their output with parseOpensshVersionOutput.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keepalive/policy/model.h"

namespace keepalive::io {

// The commands tried, in order, and the source each names ("sshd -V"): /usr/sbin/sshd, sshd on
// PATH, ssh on PATH.
struct VersionCommand {
  std::vector<std::string> argv;
  std::string source;
};
const std::vector<VersionCommand>& opensshVersionCommands();

// The version in the first line of a command's output ("OpenSSH_9.2, OpenSSL 3.0.19 ...",
// "OpenSSH_9.2p1 Debian-2+deb12u10, ..."); nullopt when the line names none (an sshd before 9.2
// answers -V with "unknown option -- V" and its usage).
std::optional<policy::OpensshVersion> parseOpensshVersionOutput(std::string_view output);

// Runs the commands in order (each with a 5 s deadline) and returns the first version found with
// its source; no version (the worst case) when none answers. Never throws.
policy::ModelContext detectOpensshVersion();

}  // namespace keepalive::io
