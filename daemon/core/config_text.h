// SPDX-License-Identifier: GPL-2.0-or-later
// sshd_config / ssh_config syntax, as far as we need it: keyword, arguments, Match/Host blocks and
// Include. Pure: the adapter reads the files and expands Include globs.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace keepalive::daemon {

struct Directive {
  int line = 0;
  std::string keyword;  // lower case
  std::string keyword_as_written;
  std::string value;                   // the arguments as written, trimmed
  std::vector<std::string> arguments;  // split on blanks, double quotes removed
};

// Comments and blank lines are dropped; "Keyword=value" and "Keyword value" are both understood.
std::vector<Directive> parseConfigText(const std::string& text);

// `sshd -T` and `ssh -G` output: "keyword value" lines, split at the first blank; a line without
// one is skipped. Here rather than in the runner so that it is pure and fuzzed with the rest.
std::vector<std::pair<std::string, std::string>> parseDumpText(const std::string& text);

// Where `sshd -t` (or `ssh -G`) says its configuration is wrong, from its stderr (sshd 9.2's
// servconf.c/readconf.c forms "PATH line N: ..." and "PATH: line N: ..."): the first located
// line that is an error (INFO "Deprecated option" / "Unsupported option" lines are skipped; a
// bad keyword's line, not the "terminating" line after it), with the unlocated line before it
// as the reason (a Match's "Unsupported Match attribute X"). Unlocated: file "" and line 0, the
// message's last line, plus the failing host key's reason when sshd had none it could load;
// a perror() from sshd ("PATH: No such file or directory") names the file, line 0.
struct ConfigErrorLocation {
  std::string file;
  int line = 0;
  std::string message;  // the line that names it, or the message's first line
};
ConfigErrorLocation locateConfigError(const std::string& message);

// The directory when sshd's message says that all that is wrong is its missing privilege
// separation directory ("Missing privilege separation directory: /run/sshd", sshd.c 9.2 line
// 1970, fatal as its last line); "" otherwise. Only an absolute path below / is returned.
std::string missingPrivsepDir(const std::string& message);

}  // namespace keepalive::daemon
