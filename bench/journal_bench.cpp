// SPDX-License-Identifier: GPL-2.0-or-later
// What classifying sshd's journal costs (issue 17; docs/performance.md, "Issue 17: classifying
// sshd's journal"): N synthetic sshd entries (default 1M) in memory, fed through one
// SessionTracker (daemon/core/disconnects.h) on one core, as the daemon's journal follower does
// after sd_journal_get_data. The mix, modelled on a host under a brute-force attack:
//   ~80% pre-auth noise: Invalid user, Failed password, PAM auth failures, "Connection closed by
//        ... [preauth]", "Disconnected from invalid user ... [preauth]",
//        kex_exchange_identification, banner exchange, Unable to negotiate, "Connection from ..."
//        (VERBOSE);
//   ~20% the lines of sessions (9.2 at VERBOSE with UsePAM: Accepted key, Postponed, Accepted,
//        pam opened, User child, Starting session, an end, pam closed), up to 2000 open at once,
//        interleaved, from IPv4 and IPv6 clients, each of the seven causes.
// Reports entries/s over the whole feed, the events by cause (a check that the mix classifies as
// generated), the process's peak RSS (getrusage ru_maxrss) and its RSS before and after filling
// the open table to its cap with sessions that never end.
//
// Usage: journal_bench [ENTRIES [CAP]]   (bench/journal_bench.sh pins it to one CPU)
//        journal_bench --print [ENTRIES]   the synthetic messages, one a line (to write them into a
//                                          journal with systemd-cat -t sshd)
//        journal_bench --journal           reads every SYSLOG_IDENTIFIER=sshd|sshd-session entry
//                                          of the local journal through sd-journal as the daemon
//                                          does (realtime, boot id, _PID, MESSAGE) into a tracker:
//                                          what reading costs on top of classifying
#include <sys/resource.h>
#include <systemd/sd-journal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/disconnects.h"

namespace kd = keepalive::daemon;

namespace {

struct Entry {
  std::uint64_t usec;
  std::uint64_t pid;
  std::string message;
};

long rssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

long peakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

std::string v4(std::mt19937_64& rng) {
  return std::to_string(rng() % 223 + 1) + "." + std::to_string(rng() % 256) + "." +
         std::to_string(rng() % 256) + "." + std::to_string(rng() % 254 + 1);
}
std::string v6(std::mt19937_64& rng) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::%x", static_cast<unsigned>(rng() % 65536),
                static_cast<unsigned>(rng() % 65536), static_cast<unsigned>(rng() % 65536 + 1));
  return buf;
}

const char* kKey = "ED25519 SHA256:0XwkHbxkYlNNvKF/5yV6hDZciFl5xOAptoCBU6Xi+Kg";
const char* kUsers[] = {"admin", "test", "oracle", "ubuntu", "user", "postgres", "git", "pi"};

void noise(std::vector<Entry>& out, std::uint64_t& t, std::uint64_t& nextPid,
           std::mt19937_64& rng) {
  const std::string a = rng() % 10 == 0 ? v6(rng) : v4(rng);
  const std::string p = std::to_string(rng() % 60000 + 1024);
  const std::string u = kUsers[rng() % 8];
  const std::uint64_t pid = nextPid++;
  auto add = [&](std::string m) { out.push_back({t += 50, pid, std::move(m)}); };
  switch (rng() % 6) {
    case 0:
      add("Connection from " + a + " port " + p + " on 10.0.0.1 port 22 rdomain \"\"");
      add("Invalid user " + u + " from " + a + " port " + p);
      add("pam_unix(sshd:auth): check pass; user unknown");
      add("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
          "rhost=" +
          a);
      add("Failed password for invalid user " + u + " from " + a + " port " + p + " ssh2");
      add("Received disconnect from " + a + " port " + p + ":11: Bye Bye [preauth]");
      add("Disconnected from invalid user " + u + " " + a + " port " + p + " [preauth]");
      break;
    case 1:
      add("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
          "rhost=" +
          a + "  user=root");
      add("Failed password for root from " + a + " port " + p + " ssh2");
      add("Connection closed by authenticating user root " + a + " port " + p + " [preauth]");
      break;
    case 2:
      add("error: kex_exchange_identification: Connection closed by remote host");
      add("error: kex_exchange_identification: read: Connection reset by peer");
      break;
    case 3:
      add("banner exchange: Connection from " + a + " port " + p + ": invalid format");
      break;
    case 4:
      add("Unable to negotiate with " + a + " port " + p +
          ": no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]");
      break;
    default:
      add("Connection reset by " + a + " port " + p + " [preauth]");
      break;
  }
}

struct Open {
  std::uint64_t mon, child;
  std::string user, addr, port;
};

void sessionStart(std::vector<Entry>& out, std::uint64_t& t, std::uint64_t& nextPid,
                  std::mt19937_64& rng, std::vector<Open>& open) {
  Open o{nextPid, nextPid + 1, "u" + std::to_string(rng() % 500),
         rng() % 4 == 0 ? v6(rng) : v4(rng), std::to_string(rng() % 60000 + 1024)};
  nextPid += 2;
  auto add = [&](std::uint64_t pid, std::string m) { out.push_back({t += 50, pid, std::move(m)}); };
  add(o.mon, std::string("Accepted key ") + kKey + " found at /home/" + o.user +
                 "/.ssh/authorized_keys:1");
  add(o.mon, "Postponed publickey for " + o.user + " from " + o.addr + " port " + o.port +
                 " ssh2 [preauth]");
  add(o.mon, "Accepted publickey for " + o.user + " from " + o.addr + " port " + o.port +
                 " ssh2: " + kKey);
  add(o.mon, "pam_unix(sshd:session): session opened for user " + o.user + "(uid=1001) by (uid=0)");
  add(o.mon, "User child is on pid " + std::to_string(o.child));
  add(o.child, "Starting session: shell on pts/0 for " + o.user + " from " + o.addr + " port " +
                   o.port + " id 0");
  open.push_back(std::move(o));
}

const char* kCauseOfCase[] = {
    "logout", "keepalive-timeout", "reset", "timed-out", "broken-pipe", "closed", "unknown"};

// Ends a random open session with a random cause; returns the cause it generated.
const char* sessionEnd(std::vector<Entry>& out, std::uint64_t& t, std::mt19937_64& rng,
                       std::vector<Open>& open) {
  const std::size_t i = rng() % open.size();
  Open o = std::move(open[i]);
  open[i] = std::move(open.back());
  open.pop_back();
  auto add = [&](std::uint64_t pid, std::string m) { out.push_back({t += 50, pid, std::move(m)}); };
  const std::string rid = o.addr + " port " + o.port;
  const auto which = rng() % 7;
  switch (which) {
    case 0:
      add(o.child, "Received disconnect from " + rid + ":11: disconnected by user");
      add(o.child, "Disconnected from user " + o.user + " " + rid);
      break;
    case 1:
      add(o.child, "Timeout, client not responding from user " + o.user + " " + rid);
      break;
    case 2:
      add(o.child, "Read error from remote host " + rid + ": Connection reset by peer");
      break;
    case 3:
      add(o.child, "Read error from remote host " + rid + ": Connection timed out");
      break;
    case 4:
      add(o.child, "process_output: ssh_packet_write_poll: Connection from user " + o.user + " " +
                       rid + ": Broken pipe");
      break;
    case 5:
      add(o.child, "Connection closed by " + rid);
      add(o.child, "Close session: user " + o.user + " from " + rid + " id 0");
      add(o.child, "Transferred: sent 3788, received 3460 bytes");
      add(o.child, "Closing connection to " + rid);
      break;
    default:
      break;  // nothing at INFO: PAM's close alone (unknown)
  }
  add(o.mon, "pam_unix(sshd:session): session closed for user " + o.user);
  return kCauseOfCase[which];
}

}  // namespace

// The value of FIELD=value from sd_journal_get_data, or empty.
std::string_view field(sd_journal* j, const char* name) {
  const void* d = nullptr;
  std::size_t len = 0;
  if (sd_journal_get_data(j, name, &d, &len) < 0)
    return {};
  std::string_view v(static_cast<const char*>(d), len);
  const std::size_t eq = v.find('=');
  return eq == std::string_view::npos ? std::string_view() : v.substr(eq + 1);
}

int readJournal() {
  sd_journal* j = nullptr;
  if (int r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY); r < 0) {
    std::fprintf(stderr, "sd_journal_open: %d\n", r);
    return 1;
  }
  sd_journal_add_match(j, "SYSLOG_IDENTIFIER=sshd", 0);
  sd_journal_add_match(j, "SYSLOG_IDENTIFIER=sshd-session", 0);
  sd_journal_seek_head(j);
  kd::SessionTracker tracker;
  std::size_t n = 0, events = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (sd_journal_next(j) > 0) {
    std::uint64_t rt = 0, mono = 0;
    sd_id128_t boot;
    sd_journal_get_realtime_usec(j, &rt);
    sd_journal_get_monotonic_usec(j, &mono, &boot);
    char bootText[SD_ID128_STRING_MAX];
    sd_id128_to_string(boot, bootText);
    kd::SshdLogEntry e;
    e.realtime_usec = rt;
    e.boot_id = bootText;
    const std::string pid(field(j, "_PID"));
    e.pid = std::strtoull(pid.c_str(), nullptr, 10);
    e.identifier = "sshd";
    e.message = field(j, "MESSAGE");
    ++n;
    if (tracker.feed(e))
      ++events;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "sd-journal: %zu entries read and classified in %.3f s, %.0f entries/s; events %zu, "
      "open %zu; peak RSS %ld kB\n",
      n, secs, static_cast<double>(n) / secs, events, tracker.openCount(), peakRssKb());
  sd_journal_close(j);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--journal")
    return readJournal();
  const bool print = argc > 1 && std::string_view(argv[1]) == "--print";
  if (print) {
    ++argv;
    --argc;
  }
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::size_t cap = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20000;
  const std::string boot = "0123456789abcdef0123456789abcdef";
  std::mt19937_64 rng(17);
  std::vector<Entry> entries;
  entries.reserve(n + 64);
  std::vector<Open> open;
  std::uint64_t t = 1765000000000000ULL, nextPid = 1000;
  std::size_t noiseLines = 0;
  std::vector<std::pair<std::size_t, std::string>> ends;  // (first entry, cause) per session end
  while (entries.size() < n) {
    const std::size_t before = entries.size();
    const auto r = rng() % 100;
    if (r < 87) {
      noise(entries, t, nextPid, rng);
      noiseLines += entries.size() - before;
    } else if (open.size() < 2000 && (r < 94 || open.empty())) {
      sessionStart(entries, t, nextPid, rng, open);
    } else {
      const std::size_t mark = entries.size();
      const char* cause = sessionEnd(entries, t, rng, open);
      ends.emplace_back(mark, cause);
    }
    if (nextPid > 4000000)
      nextPid = 1000;  // pid_max: pids come round again
  }
  entries.resize(n);
  if (print) {
    for (const auto& e : entries)
      std::printf("%s\n", e.message.c_str());
    return 0;
  }

  const long rssBefore = rssKb();
  kd::SessionTracker tracker(cap);
  std::map<std::string, std::size_t> byCause;
  std::size_t events = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& e : entries) {
    kd::SshdLogEntry le;
    le.realtime_usec = e.usec;
    le.boot_id = boot;
    le.pid = e.pid;
    le.identifier = "sshd";
    le.message = e.message;
    if (auto ev = tracker.feed(le)) {
      ++events;
      ++byCause[kd::toString(ev->cause)];
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("entries: %zu (pre-auth noise %.1f%%), events: %zu, open at the end: %zu\n", n,
              100.0 * static_cast<double>(noiseLines) / static_cast<double>(n), events,
              tracker.openCount());
  std::printf("events by cause:");
  for (const auto& [c, k] : byCause)
    std::printf(" %s=%zu", c.c_str(), k);
  std::map<std::string, std::size_t> generated;
  for (const auto& [first, cause] : ends)
    if (first < n)
      ++generated[cause];
  // The last end may be cut by resize(n): allow one session's difference.
  std::size_t off = 0;
  for (const auto& [c, k] : generated)
    off += k > byCause[c] ? k - byCause[c] : byCause[c] - k;
  std::printf("\nas generated: %s (%zu off)", off <= 1 ? "yes" : "NO", off);
  std::printf("\nfeed: %.3f s, %.0f entries/s (goal >= 50000)\n", secs,
              static_cast<double>(n) / secs);

  // The open table at its cap: sessions that never end (e.g. INFO on 9.2 without PAM).
  const long rssMixed = rssKb();
  kd::SessionTracker full(cap);
  for (std::size_t i = 0; i < cap + cap / 10; ++i) {
    const std::string m = "Accepted publickey for user" + std::to_string(i % 1000) + " from " +
                          "2001:db8:" + std::to_string(i % 9000) +
                          "::" + std::to_string(i % 7000 + 1) + " port " +
                          std::to_string(i % 60000 + 1) + " ssh2: " + kKey;
    kd::SshdLogEntry le{t + i, boot, 5000000 + i, "sshd", m, true, std::nullopt};
    (void)full.feed(le);
  }
  const long rssFull = rssKb();
  std::printf(
      "open table: cap %zu, open %zu, evictions %llu; RSS %ld kB -> %ld kB (+%ld kB, "
      "%.0f bytes/session)\n",
      cap, full.openCount(), static_cast<unsigned long long>(full.evictions()), rssMixed, rssFull,
      rssFull - rssMixed,
      1024.0 * static_cast<double>(rssFull - rssMixed) / static_cast<double>(cap));
  std::printf(
      "RSS: %ld kB with the %zu entries in memory (before the feed: %ld kB); peak RSS "
      "(ru_maxrss) %ld kB\n",
      rssFull, n, rssBefore, peakRssKb());
  return 0;
}
