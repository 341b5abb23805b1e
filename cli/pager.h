// SPDX-License-Identifier: GPL-2.0-or-later
// The pager and colours of keepalivectl's long lists, as systemctl has them. When stdout is a
// terminal, users and disconnects pipe their output into $SYSTEMD_PAGER, else $PAGER, else
// `less` (then `more`), with LESS=FRSXMK unless LESS is set; none with --no-pager, or when the
// pager named is "cat" or empty. As with systemctl, --json on a terminal is paged too; a pipe or
// a file never is. Colours: only on a terminal (the one stdout was before the pager), never with
// NO_COLOR set (https://no-color.org), SYSTEMD_COLORS=0 or TERM=dumb.
#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

namespace keepalive::cli {

class Pager {
 public:
  // Starts the pager unless noPager, stdout is not a terminal, or the environment says none.
  explicit Pager(bool noPager);
  // Flushes stdout and waits for the pager (the user quits it), as systemctl does.
  ~Pager();
  Pager(const Pager&) = delete;
  Pager& operator=(const Pager&) = delete;
  bool active() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int savedStdout_ = -1;
};

// What the environment names as the pager: SYSTEMD_PAGER, else PAGER, else "" (less, then
// more). nullptr when it says no pager: set to "" or "cat". Pure: getenv's values as arguments.
const char* pagerCommand(const char* systemdPager, const char* pager);

// Whether stdout was a terminal when keepalivectl started (before any pager took it over).
bool stdoutIsTerminal();
// The width of the terminal stdout was when keepalivectl started: $COLUMNS when set, else the
// terminal's, else 80; 0 when stdout was not a terminal (a pipe or a file: nothing is cut).
std::size_t terminalColumns();
// s cut to width columns with "…" at the end when it is longer (systemctl's ellipsizing); a
// multi-byte UTF-8 character counts as one column and is never cut in two.
std::string ellipsize(std::string_view s, std::size_t width);
// Colours for stdout: a terminal, unless NO_COLOR is set (non-empty), SYSTEMD_COLORS is false
// (0, no, false, off) or TERM is dumb.
bool useColor();
// text, padded with spaces to width, in the colour of a user's or the daemon's state when color:
// ok and repaired green, non-compliant, unwatched and the like yellow, refused and error red.
std::string stateText(std::string_view state, std::size_t width, bool color);

}  // namespace keepalive::cli
