// SPDX-License-Identifier: GPL-2.0-or-later
// The session classifier (issue 17). The lines and which process logs them are documented in
// docs/daemon.md ("Disconnect accounting: what sshd logs"), with the OpenSSH source lines they
// come from; tests/data/sshd-logs/ holds what the real sshd 9.2p1 logged.
//
// How a session is followed. sshd's per-connection process (the monitor, "sshd: USER [priv]";
// from 9.8 an sshd-session) logs "Accepted METHOD for USER from ADDR port P ssh2" and, with
// UsePAM, PAM's "session closed for user USER" after the session's end. For a non-root user the
// session itself runs in a child forked after authentication ("sshd: USER@pts/0"), which logs
// with its own pid (monitor_reinit opens no log pipe for it) the lines that say how the session
// ended: those name the client's address and port. So an open session is found by its address
// and port, and by the (boot, pid) of its monitor or of its child once a line of the child's has
// named the session. A line that says how but does not end the session (a client's disconnect
// message before "Disconnected from", a read error before PAM's close) is kept as the session's
// cause until the line that ends it.
//
// Cost: a line is first told apart by its first bytes; pre-auth lines (the bulk of a brute-force
// attack) are rejected by their " [preauth]" suffix or their first word before any lookup; no
// regular expressions, and no allocation for a line that touches no session.
#include "disconnects.h"

#include <algorithm>
#include <charconv>
#include <list>
#include <unordered_map>

namespace keepalive::daemon {

const char* toString(DisconnectCause c) {
  switch (c) {
    case DisconnectCause::kKeepaliveTimeout:
      return "keepalive-timeout";
    case DisconnectCause::kReset:
      return "reset";
    case DisconnectCause::kTimedOut:
      return "timed-out";
    case DisconnectCause::kBrokenPipe:
      return "broken-pipe";
    case DisconnectCause::kClosed:
      return "closed";
    case DisconnectCause::kLogout:
      return "logout";
    case DisconnectCause::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<DisconnectCause> disconnectCauseFromString(std::string_view s) {
  for (DisconnectCause c : kAllDisconnectCauses)
    if (s == toString(c))
      return c;
  return std::nullopt;
}

namespace {

using std::string_view;

bool startsWith(string_view s, string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}
bool endsWith(string_view s, string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::optional<std::uint16_t> parsePort(string_view digits) {
  if (digits.empty() || digits.size() > 5)
    return std::nullopt;
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || v > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

struct AddrPort {
  string_view addr;
  std::uint16_t port = 0;
};

// "ADDR port P" at the start of s; rest = what follows the port's digits.
std::optional<AddrPort> addrPortAt(string_view s, string_view* rest) {
  const std::size_t sp = s.find(' ');
  if (sp == 0 || sp == string_view::npos)
    return std::nullopt;
  string_view after = s.substr(sp);
  if (!startsWith(after, " port "))
    return std::nullopt;
  after.remove_prefix(6);
  std::size_t n = 0;
  while (n < after.size() && after[n] >= '0' && after[n] <= '9')
    ++n;
  auto port = parsePort(after.substr(0, n));
  if (!port)
    return std::nullopt;
  if (rest != nullptr)
    *rest = after.substr(n);
  return AddrPort{s.substr(0, sp), *port};
}

// "[PREAMBLE ]ADDR port P" that ends s (sshpkt_fmt_connection_id's remote_id; the preamble is
// "user NAME" after authentication).
std::optional<AddrPort> addrPortAtEnd(string_view s) {
  const std::size_t p = s.rfind(" port ");
  if (p == string_view::npos || p == 0)
    return std::nullopt;
  auto port = parsePort(s.substr(p + 6));
  if (!port)
    return std::nullopt;
  const std::size_t sp = s.rfind(' ', p - 1);
  const std::size_t begin = sp == string_view::npos ? 0 : sp + 1;
  if (begin == p)
    return std::nullopt;
  return AddrPort{s.substr(begin, p - begin), *port};
}

// strerror(3)'s text (glibc) of a read or write error -> the cause it shows.
DisconnectCause causeOfErrno(string_view text) {
  if (text == "Connection reset by peer" || text == "Software caused connection abort")
    return DisconnectCause::kReset;
  if (text == "Connection timed out" || text == "No route to host" ||
      text == "Network is unreachable" || text == "Host is unreachable")
    return DisconnectCause::kTimedOut;
  if (text == "Broken pipe")
    return DisconnectCause::kBrokenPipe;
  return DisconnectCause::kUnknown;
}

// What a line says about a session.
enum class Kind {
  kNone,
  kAccepted,      // starts one
  kEnds,          // ends it with `cause`
  kTells,         // tells how it will end (kept until the end)
  kEndsAsTold,    // ends it with what was told before, else unknown
  kNamesSession,  // names the session (addr/port) from the child's pid; nothing else
  kChildPid,      // "User child is on pid N": the monitor names its child
};

struct Parsed {
  Kind kind = Kind::kNone;
  DisconnectCause cause = DisconnectCause::kUnknown;
  bool byPid = false;  // no address in the line: the session is the one of this pid
  AddrPort ap;
  string_view user;
  std::uint64_t childPid = 0;
};

// "Accepted METHOD for USER from ADDR port P ssh2[: ...]" (auth.c auth_log). USER is what the
// client sent (vis-encoded by sshd's log); the first " from ADDR port P ssh2" after " for " ends
// it. "Accepted key ...", "Accepted certificate ..." (VERBOSE) have no " for " after the method.
Parsed parseAccepted(string_view m) {
  Parsed r;
  string_view s = m.substr(9);  // after "Accepted "
  const std::size_t sp = s.find(' ');
  if (sp == 0 || sp == string_view::npos)
    return r;
  s.remove_prefix(sp);
  if (!startsWith(s, " for "))
    return r;
  s.remove_prefix(5);
  for (std::size_t from = s.find(" from "); from != string_view::npos;
       from = s.find(" from ", from + 1)) {
    string_view rest;
    auto ap = addrPortAt(s.substr(from + 6), &rest);
    if (ap && (rest == " ssh2" || startsWith(rest, " ssh2:"))) {
      if (from == 0)
        return r;
      r.kind = Kind::kAccepted;
      r.user = s.substr(0, from);
      r.ap = *ap;
      return r;
    }
  }
  return r;
}

Parsed parse(string_view m) {
  Parsed r;
  if (m.size() < 10)
    return r;
  // Pre-auth lines relayed by the monitor (monitor.c monitor_read_log) end in " [preauth]".
  if (m.back() == ']') {
    if (endsWith(m, " [preauth]"))
      return r;
    if (endsWith(m, " [postauth]"))  // 10.0+: the tag of a relayed post-auth line
      m.remove_suffix(11);
  }
  // sshd prefixes "error: " / "fatal: " to lines of those levels (log.c do_log).
  if (startsWith(m, "error: ") || startsWith(m, "fatal: "))
    m.remove_prefix(7);
  if (m.empty())
    return r;
  switch (m[0]) {
    case 'A':
      if (startsWith(m, "Accepted "))
        return parseAccepted(m);
      return r;
    case 'T':
      // serverloop.c client_alive_check: "Timeout, client not responding from REMOTE_ID"
      // (7.7+); "Timeout, client not responding." before.
      if (startsWith(m, "Timeout, client not responding")) {
        string_view rest = m.substr(30);
        r.kind = Kind::kEnds;
        r.cause = DisconnectCause::kKeepaliveTimeout;
        if (rest == ".") {
          r.byPid = true;
          return r;
        }
        if (startsWith(rest, " from ")) {
          if (auto ap = addrPortAtEnd(rest)) {
            r.ap = *ap;
            return r;
          }
        }
        return Parsed{};
      }
      return r;
    case 'R':
      // serverloop.c process_input: "Read error from remote host ADDR port P: STRERROR"
      if (startsWith(m, "Read error from remote host ")) {
        string_view rest;
        if (auto ap = addrPortAt(m.substr(28), &rest); ap && startsWith(rest, ": ")) {
          r.kind = Kind::kEnds;
          r.cause = causeOfErrno(rest.substr(2));
          r.ap = *ap;
        }
        return r;
      }
      // packet.c ssh_packet_read_poll2: "Received disconnect from ADDR port P:R: MSG"
      if (startsWith(m, "Received disconnect from ")) {
        string_view rest;
        if (auto ap = addrPortAt(m.substr(25), &rest); ap && startsWith(rest, ":")) {
          r.kind = Kind::kTells;
          r.cause = DisconnectCause::kLogout;
          r.ap = *ap;
        }
        return r;
      }
      return r;
    case 'C':
      if (startsWith(m, "Connection ")) {
        string_view rest = m.substr(11);
        // serverloop.c process_input (EOF) or packet.c sshpkt_vfatal SSH_ERR_CONN_CLOSED
        if (startsWith(rest, "closed by ")) {
          if (auto ap = addrPortAtEnd(rest.substr(10))) {
            r.kind = Kind::kEnds;
            r.cause = DisconnectCause::kClosed;
            r.ap = *ap;
          }
          return r;
        }
        // packet.c sshpkt_vfatal: ECONNRESET met by the packet layer (a write, mostly)
        if (startsWith(rest, "reset by ")) {
          if (auto ap = addrPortAtEnd(rest.substr(9))) {
            r.kind = Kind::kEnds;
            r.cause = DisconnectCause::kReset;
            r.ap = *ap;
          }
          return r;
        }
        // packet.c sshpkt_vfatal SSH_ERR_CONN_TIMEOUT: "Connection from REMOTE_ID timed out"
        if (startsWith(rest, "from ") && endsWith(rest, " timed out")) {
          if (auto ap = addrPortAtEnd(rest.substr(5, rest.size() - 5 - 10))) {
            r.kind = Kind::kEnds;
            r.cause = DisconnectCause::kTimedOut;
            r.ap = *ap;
          }
          return r;
        }
        return r;
      }
      // sshd.c / sshd-session.c after the session (VERBOSE): "Closing connection to ADDR port P"
      if (startsWith(m, "Closing connection to ")) {
        if (auto ap = addrPortAtEnd(m.substr(22))) {
          r.kind = Kind::kEndsAsTold;
          r.ap = *ap;
        }
        return r;
      }
      return r;
    case 'D':
      // packet.c sshpkt_vfatal SSH_ERR_DISCONNECTED: "Disconnected from REMOTE_ID"
      if (startsWith(m, "Disconnected from ")) {
        if (auto ap = addrPortAtEnd(m.substr(18))) {
          r.kind = Kind::kEnds;
          r.cause = DisconnectCause::kLogout;
          r.ap = *ap;
        }
      }
      return r;
    case 'p':
      // PAM (UsePAM yes), from the monitor: "pam_unix(sshd:session): session closed for user X"
      if (startsWith(m, "pam_unix(") &&
          m.find("): session closed for user ") != string_view::npos) {
        r.kind = Kind::kEndsAsTold;
        r.byPid = true;
        return r;
      }
      break;
    case 'U':
      // sshd.c / sshd-session.c privsep_postauth (VERBOSE): "User child is on pid N"
      if (startsWith(m, "User child is on pid ")) {
        string_view d = m.substr(21);
        std::uint64_t pid = 0;
        auto [ptr, ec] = std::from_chars(d.data(), d.data() + d.size(), pid);
        if (ec == std::errc() && ptr == d.data() + d.size() && pid > 0) {
          r.kind = Kind::kChildPid;
          r.childPid = pid;
        }
      }
      return r;
    case 'S':
      // session.c do_exec (VERBOSE): "Starting session: ... for USER from ADDR port P id N"
      if (startsWith(m, "Starting session: ")) {
        const std::size_t from = m.rfind(" from ");
        string_view rest;
        if (from != string_view::npos) {
          if (auto ap = addrPortAt(m.substr(from + 6), &rest); ap && startsWith(rest, " id ")) {
            r.kind = Kind::kNamesSession;
            r.ap = *ap;
          }
        }
        return r;
      }
      break;
    case 't':
      // serverloop.c (9.2+, UnusedConnectionTimeout): "terminating inactive connection from
      // REMOTE_ID": sshd's own idle limit, none of the causes
      if (startsWith(m, "terminating inactive connection from ")) {
        if (auto ap = addrPortAtEnd(m.substr(37))) {
          r.kind = Kind::kEnds;
          r.cause = DisconnectCause::kUnknown;
          r.ap = *ap;
        }
        return r;
      }
      break;
    case 'E':
      // serverloop.c server_loop2, a session without privilege separation (root): "Exiting on
      // signal N"
      if (startsWith(m, "Exiting on signal ")) {
        r.kind = Kind::kEnds;
        r.byPid = true;
        return r;
      }
      return r;
    default:
      break;
  }
  // packet.c sshpkt_vfatal's default: "TAG: Connection from REMOTE_ID: ERROR", e.g.
  // "process_output: ssh_packet_write_poll: Connection from user u 10.0.0.1 port 5: Broken pipe"
  const std::size_t c = m.find(": Connection from ");
  if (c == string_view::npos)
    return r;
  string_view rest = m.substr(c + 18);
  const std::size_t p = rest.rfind(" port ");
  if (p == string_view::npos)
    return r;
  const std::size_t colon = rest.find(": ", p);
  if (colon == string_view::npos)
    return r;
  if (auto ap = addrPortAtEnd(rest.substr(0, colon))) {
    r.kind = Kind::kEnds;
    r.cause = causeOfErrno(rest.substr(colon + 2));
    r.ap = *ap;
  }
  return r;
}

}  // namespace

struct SessionTracker::Impl {
  struct Session {
    OpenSession s;
    std::uint64_t childPid = 0;  // 0 = not known
  };
  using List = std::list<Session>;
  List sessions;                                           // oldest first
  std::unordered_map<std::string, List::iterator> byAddr;  // "ADDR PORT"
  std::unordered_map<std::string, List::iterator> byPid;   // "BOOT PID" (monitor, child)
  std::string scratch;
  std::string lastBoot;  // the boot of the last entry read

  const std::string& addrKey(string_view addr, std::uint16_t port) {
    scratch.assign(addr);
    scratch.push_back(' ');
    char buf[8];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, port);
    (void)ec;
    scratch.append(buf, ptr);
    return scratch;
  }
  const std::string& pidKey(string_view boot, std::uint64_t pid) {
    scratch.assign(boot);
    scratch.push_back(' ');
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, pid);
    (void)ec;
    scratch.append(buf, ptr);
    return scratch;
  }

  List::iterator findAddr(string_view addr, std::uint16_t port) {
    auto it = byAddr.find(addrKey(addr, port));
    return it == byAddr.end() ? sessions.end() : it->second;
  }
  List::iterator findPid(string_view boot, std::uint64_t pid) {
    auto it = byPid.find(pidKey(boot, pid));
    return it == byPid.end() ? sessions.end() : it->second;
  }

  void erase(List::iterator it) {
    auto a = byAddr.find(addrKey(it->s.address, it->s.port));
    if (a != byAddr.end() && a->second == it)
      byAddr.erase(a);
    auto p = byPid.find(pidKey(it->s.boot_id, it->s.pid));
    if (p != byPid.end() && p->second == it)
      byPid.erase(p);
    if (it->childPid != 0) {
      auto c = byPid.find(pidKey(it->s.boot_id, it->childPid));
      if (c != byPid.end() && c->second == it)
        byPid.erase(c);
    }
    sessions.erase(it);
  }

  void setChild(List::iterator it, std::uint64_t pid) {
    if (pid == 0 || pid == it->s.pid || pid == it->childPid)
      return;
    // A pid that is another open session's monitor stays that session's (a line of a stale
    // session's address from it says nothing of this one).
    if (auto other = byPid.find(pidKey(it->s.boot_id, pid));
        other != byPid.end() && other->second->s.pid == pid)
      return;
    if (it->childPid != 0) {
      auto c = byPid.find(pidKey(it->s.boot_id, it->childPid));
      if (c != byPid.end() && c->second == it)
        byPid.erase(c);
    }
    it->childPid = pid;
    byPid[pidKey(it->s.boot_id, pid)] = it;
  }

  // Adds a session at the end (newest); an older one under the same pid or address is gone.
  std::optional<DisconnectEvent> add(OpenSession s, std::size_t maxOpen, std::uint64_t& evictions,
                                     std::uint64_t nowUsec) {
    std::optional<DisconnectEvent> replaced;
    // A pid that logs a second "Accepted" is a new process (the old one ended unseen); an
    // address and port in use again likewise.
    for (int round = 0; round < 2; ++round) {
      auto old = round == 0 ? findPid(s.boot_id, s.pid) : findAddr(s.address, s.port);
      if (old == sessions.end())
        continue;
      if (round == 0 && old->s.pid != s.pid) {
        // The pid was that session's child: the child is gone, its monitor may not be.
        byPid.erase(pidKey(s.boot_id, s.pid));
        old->childPid = 0;
        continue;
      }
      if (nowUsec != 0 && !replaced)
        replaced = eventOf(old, old->s.cause.value_or(DisconnectCause::kUnknown), nowUsec);
      erase(old);
    }
    while (maxOpen > 0 && sessions.size() >= maxOpen) {
      erase(sessions.begin());
      ++evictions;
    }
    if (maxOpen == 0) {
      ++evictions;
      return replaced;
    }
    sessions.push_back(Session{std::move(s), 0});
    auto it = std::prev(sessions.end());
    byAddr[addrKey(it->s.address, it->s.port)] = it;
    byPid[pidKey(it->s.boot_id, it->s.pid)] = it;
    return replaced;
  }

  static DisconnectEvent eventOf(List::iterator it, DisconnectCause cause, std::uint64_t endUsec) {
    DisconnectEvent e;
    e.time_usec = endUsec;
    e.user = it->s.user;
    e.address = it->s.address;
    e.port = it->s.port;
    e.cause = cause;
    if (it->s.start_usec != 0 && endUsec >= it->s.start_usec)
      e.duration_seconds = static_cast<std::int64_t>((endUsec - it->s.start_usec) / 1000000);
    return e;
  }
};

SessionTracker::SessionTracker(std::size_t maxOpen)
    : maxOpen_(maxOpen), impl_(std::make_unique<Impl>()) {}
SessionTracker::~SessionTracker() = default;
SessionTracker::SessionTracker(SessionTracker&&) noexcept = default;
SessionTracker& SessionTracker::operator=(SessionTracker&&) noexcept = default;

std::optional<DisconnectEvent> SessionTracker::feed(const SshdLogEntry& e) {
  Impl& im = *impl_;
  // A line of a new boot: the sessions of earlier boots ended with it, unseen. They are dropped
  // (counted with the evictions), not counted as disconnects: nothing says when or how.
  if (!e.boot_id.empty() && e.boot_id != im.lastBoot) {
    im.lastBoot.assign(e.boot_id);
    for (auto it = im.sessions.begin(); it != im.sessions.end();) {
      auto next = std::next(it);
      if (it->s.boot_id != e.boot_id) {
        im.erase(it);
        ++evictions_;
      }
      it = next;
    }
  }
  const Parsed p = parse(e.message);
  if (p.kind == Kind::kNone)
    return std::nullopt;
  if (p.kind == Kind::kAccepted) {
    if (!e.from_root)
      return std::nullopt;  // forged: sshd's monitor, which logs it, is root's
    OpenSession s;
    s.boot_id.assign(e.boot_id);
    s.pid = e.pid;
    s.user.assign(p.user);
    s.address.assign(p.ap.addr);
    s.port = p.ap.port;
    s.start_usec = e.realtime_usec;
    return im.add(std::move(s), maxOpen_, evictions_, e.realtime_usec);
  }
  if (p.kind == Kind::kChildPid) {
    auto it = im.findPid(e.boot_id, e.pid);
    if (it != im.sessions.end() && it->s.pid == e.pid)
      im.setChild(it, p.childPid);
    return std::nullopt;
  }
  Impl::List::iterator it;
  // A line written by another user than the session's is not sshd's (forged, or a stale pid).
  auto foreign = [&](Impl::List::iterator s) {
    return !e.from_root && e.sender_user && *e.sender_user != s->s.user;
  };
  if (p.byPid) {
    it = im.findPid(e.boot_id, e.pid);
    if (it != im.sessions.end() && foreign(it))
      it = im.sessions.end();
  } else {
    it = im.findAddr(p.ap.addr, p.ap.port);
    // A line of another boot, or of another user, is not this session's.
    if (it != im.sessions.end() && (it->s.boot_id != e.boot_id || foreign(it)))
      it = im.sessions.end();
    if (it != im.sessions.end())
      im.setChild(it, e.pid);  // the child's pid, for its lines that name no address
  }
  if (it == im.sessions.end())
    return std::nullopt;
  switch (p.kind) {
    case Kind::kNamesSession:
      return std::nullopt;
    case Kind::kTells:
      if (!it->s.cause)
        it->s.cause = p.cause;
      return std::nullopt;
    case Kind::kEnds: {
      // A cause told before wins over the generic end: "Received disconnect" then "Exiting on
      // signal" is still a logout; an unknown end keeps what was told.
      DisconnectCause c = p.cause;
      if (c == DisconnectCause::kUnknown && it->s.cause)
        c = *it->s.cause;
      DisconnectEvent ev = Impl::eventOf(it, c, e.realtime_usec);
      im.erase(it);
      return ev;
    }
    case Kind::kEndsAsTold: {
      DisconnectEvent ev =
          Impl::eventOf(it, it->s.cause.value_or(DisconnectCause::kUnknown), e.realtime_usec);
      im.erase(it);
      return ev;
    }
    default:
      return std::nullopt;
  }
}

std::vector<OpenSession> SessionTracker::openSessions() const {
  std::vector<OpenSession> out;
  out.reserve(impl_->sessions.size());
  for (const auto& s : impl_->sessions)
    out.push_back(s.s);
  return out;
}

void SessionTracker::restore(const std::vector<OpenSession>& sessions) {
  impl_->sessions.clear();
  impl_->byAddr.clear();
  impl_->byPid.clear();
  for (const auto& s : sessions)
    (void)impl_->add(s, maxOpen_, evictions_, 0);
}

std::size_t SessionTracker::openCount() const {
  return impl_->sessions.size();
}

std::uint64_t SessionTracker::evictions() const {
  return evictions_;
}

}  // namespace keepalive::daemon

namespace keepalive::daemon {

namespace {

// sshd's LogLevel names (log.c log_levels) -> rank; nullopt when not one of them.
std::optional<int> logLevelRank(std::string_view level) {
  std::string l(level);
  for (char& ch : l)
    if (ch >= 'a' && ch <= 'z')
      ch = static_cast<char>(ch - 'a' + 'A');
  static constexpr std::pair<std::string_view, int> kLevels[] = {
      {"QUIET", 0}, {"FATAL", 1},  {"ERROR", 2},  {"INFO", 3},   {"VERBOSE", 4},
      {"DEBUG", 5}, {"DEBUG1", 5}, {"DEBUG2", 6}, {"DEBUG3", 7},
  };
  for (const auto& [name, rank] : kLevels)
    if (l == name)
      return rank;
  return std::nullopt;
}

constexpr int kInfo = 3;
constexpr int kVerbose = 4;

}  // namespace

// The facts (docs/daemon.md, "Disconnect accounting: what sshd logs"): every line below is
// logged at INFO (logit, or logdie, which logs at INFO: log.c sshlogdie) except "Read error from
// remote host" and "Connection closed by" of serverloop.c process_input, VERBOSE before 9.8
// (commit 5603befe1, "promote connection-closed messages from verbose to info"), and the
// keepalive timeout, which names no session before 7.7 ("Timeout, client not responding.").
CauseVisibility causeVisibility(DisconnectCause c,
                                const std::optional<policy::OpensshVersion>& version,
                                std::string_view logLevel) {
  // Unknown version: the worst case, the oldest known. Unknown level: sshd's default, INFO.
  const policy::OpensshVersion v = version.value_or(policy::kOldestKnown);
  const int level = logLevelRank(logLevel).value_or(kInfo);
  const bool readSideAtInfo = v >= policy::OpensshVersion{9, 8};
  switch (c) {
    case DisconnectCause::kKeepaliveTimeout:
      if (level < kInfo)
        return CauseVisibility::kHidden;
      if (v >= policy::OpensshVersion{7, 7} || level >= kVerbose)
        return CauseVisibility::kVisible;
      // Before 7.7 the line names no address: only a session whose child's pid is known (a
      // root session, in one process) is found at INFO.
      return CauseVisibility::kPartly;
    case DisconnectCause::kReset:
    case DisconnectCause::kTimedOut:
      // Met while writing: packet.c sshpkt_vfatal (INFO); while reading: process_input.
      if (level < kInfo)
        return CauseVisibility::kHidden;
      if (readSideAtInfo || level >= kVerbose)
        return CauseVisibility::kVisible;
      return CauseVisibility::kPartly;
    case DisconnectCause::kBrokenPipe:
      // Only a write meets EPIPE (a read's EOF is "closed"): sshpkt_vfatal's default, INFO.
      return level >= kInfo ? CauseVisibility::kVisible : CauseVisibility::kHidden;
    case DisconnectCause::kClosed:
      if (level >= kVerbose || (readSideAtInfo && level >= kInfo))
        return CauseVisibility::kVisible;
      return CauseVisibility::kHidden;
    case DisconnectCause::kLogout:
      return level >= kInfo ? CauseVisibility::kVisible : CauseVisibility::kHidden;
    case DisconnectCause::kUnknown:
      // The end of a session that said nothing else: PAM's "session closed" (UsePAM, logged
      // whatever sshd's LogLevel) or "Closing connection to" (VERBOSE).
      return level >= kVerbose ? CauseVisibility::kVisible : CauseVisibility::kPartly;
  }
  return CauseVisibility::kHidden;
}

}  // namespace keepalive::daemon
