// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl's one table of verbs and options. Parsing, --help, the usage lines, the list of
// verbs and the did-you-mean suggestions all come from it; keepalivectl(1)'s SYNOPSIS and the
// README's table are checked against it (tests/unit/cli_table_test.cpp).
#include <cstdio>

#include "bus_errors.h"
#include "command_line.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

constexpr const char* kProgram = "keepalivectl";

// --root serves the offline verbs; the online verbs recognise it only to say so.
const OptionSpec kRootRefused{
    "root", 0, "DIR",
    "--root serves the offline verbs (validate, render); online verbs ask keepalive-policyd on "
    "the system bus (DBUS_SYSTEM_BUS_ADDRESS)",
    kRefused};

int runHelp(const Args& args);

// The online verbs' --verbose: also accepted before the verb (kGlobal).
const OptionSpec kVerboseOption{"verbose", 0, nullptr,
                                "on an error, also print the D-Bus error's name and message"};
// The long lists' pager (pager.h).
const OptionSpec kNoPagerOption{
    "no-pager", 0, nullptr, "do not pipe the output into a pager ($SYSTEMD_PAGER, $PAGER, less)"};

// The offline verbs' version context (versionContext in common.cpp).
const OptionSpec kOpensshOption{
    "openssh", 0, "VERSION",
    "compute for this OpenSSH version (9.2, 9.6p1); default: the installed "
    "sshd's (sshd -V, else ssh -V), else the worst case over 7.4 to 10.5"};

const std::vector<VerbSpec> kVerbs = {
    {"validate",
     "check policy files; no FILE means the system policy",
     {"FILE", kMany},
     {{"strict", 0, nullptr, "warnings fail validation too"},
      {"quiet", 'q', nullptr, "no summary line on success (diagnostics are still printed)"},
      {"root", 0, "DIR", "read the system policy under DIR instead of /"},
      kOpensshOption},
     "Check policy files without applying them, for the OpenSSH version in use (see\n"
     "--openssh; the summary names it). With no FILE, checks the system\n"
     "policy: /etc/keepalive-policy/policy.yaml, then policy.d/*.yaml, merged in that\n"
     "order, refused unless root alone can change them (no symlinks, root's, not\n"
     "group- or other-writable), as keepalive-policyd refuses them. Several FILEs are\n"
     "merged in the order given; a single fragment validates alone; their owner and\n"
     "mode are not checked (Ansible's temporary copy).\n"
     "Diagnostics go to stderr as FILE:LINE:COL: error|warning: message.",
     "Exit status: 0 valid, 1 invalid (or warnings with --strict), 2 usage.\n"
     "Ansible: template: ... validate: 'keepalivectl validate %s'",
     runValidate},
    {"render",
     "print the sshd and ssh drop-ins the policy gives this host",
     {"FILE", kMany},
     {{"host", 0, "NAME",
       "render for this host name (default: this host); host overrides\n"
       "match its short and fully qualified forms"},
      {"root", 0, "DIR", "read the system policy under DIR instead of /"},
      {"explain", 0, nullptr,
       "show each effective value and the file:line that set it, then the "
       "keepalive model's figures: probe gaps, dead-peer times, the break survived"},
      kOpensshOption,
      {"sshd", 0, nullptr, "print only the sshd drop-in's text", 0, 1},
      {"client", 0, nullptr, "print only the ssh client drop-in's text", 0, 1}},
     "Print the drop-ins keepalive-policyd would install on a host, changing nothing:\n"
     "  /etc/ssh/sshd_config.d/00-keepalive-policy.conf\n"
     "  /etc/ssh/ssh_config.d/00-keepalive-policy.conf\n"
     "With no FILE, renders the system policy (policy.yaml and policy.d/*.yaml).",
     "Exit status: 0 rendered, 1 policy invalid (nothing printed on stdout), 2 usage.",
     runRender},
    {"advise",
     "recommend keepalive settings for a NAT idle timeout",
     {},
     {{"idle-timeout", 0, "DURATION",
       "the shortest NAT or firewall idle timeout on the path; at least 3s", kRequired},
      {"outage-tolerance", 0, "DURATION",
       "the connectivity break sessions must survive (Wi-Fi roaming, a VPN "
       "reconnect); the counts are chosen to cover it"},
      {"baseline", 0, "stig|cis|lynis", "also meet this security baseline's keepalive limits"},
      kOpensshOption,
      {"json", 0, nullptr,
       "{\"openssh\", \"worst_case\", \"server\": {\"client_alive_interval\", "
       "\"client_alive_count_max\", \"max_idle_gap_seconds\", \"dead_client_seconds\", "
       "...}, \"client\": {\"server_alive_interval\", \"server_alive_count_max\", "
       "\"dead_server_seconds\", ...}, \"putty\": {...}, \"warnings\": [...]}; "
       "times in seconds, null for never"}},
     "Recommend keepalive settings for sshd, the OpenSSH client and PuTTY, with the\n"
     "reason for each, for a path whose shortest NAT or firewall idle timeout is\n"
     "DURATION (30s, 5m, 1h, 1h30m or whole seconds): the values a policy with\n"
     "network.idle_timeout DURATION derives, with the figures of the keepalive model\n"
     "for the OpenSSH version in use (probe gap, dead-peer times, the longest\n"
     "connectivity break a session survives).",
     "Exit status: 0 advised, 2 usage.",
     runAdvise},
    {"probe",
     "measure the idle timeout of the path to an SSH server",
     {"DESTINATION", 1, true, "what ssh connects to: [USER@]HOST, or a Host of your ssh_config",
      "SSH_OPTIONS"},
     {{"max", 0, "DURATION",
       "the longest silence to try (default 30m, at most 2h); the run takes about as long"},
      {"ladder", 0, "DURATION[,DURATION...]",
       "the silences to try instead of the default ladder (5s, 10s, 15s, 20s, 30s, 45s,\n"
       "1m, 1m30s, 2m, 3m, ... up to --max), e.g. 1s,2s,3s,4s when every session dropped"},
      {"json", 0, nullptr,
       "{\"survived_seconds\", \"dropped_seconds\", \"recommended_idle_timeout_seconds\", "
       "\"server_keepalive_seconds\", \"measurement_holds_up_to_seconds\", \"ladder\": "
       "[{\"seconds\", \"result\": survived|dropped|error|stopped, \"detail\", "
       "\"server_keepalives\"}], \"error\", \"notes\"}; null for none"}},
     "Measure how long the path to an SSH server keeps an idle TCP flow: the number\n"
     "network.idle_timeout needs. Opens one ssh session per rung of a ladder of\n"
     "silences, all at once (started one after another), with the server alive\n"
     "probes and TCP keepalives off; each far end prints a line, stays silent for\n"
     "its rung, then prints a second line. A session whose second line comes\n"
     "survived; one whose line does not come within 5s plus a tenth of the rung was\n"
     "dropped by the path. Longer rungs stop once a shorter one dropped. Prints the\n"
     "longest silence survived, the shortest dropped, and the policy to write.\n"
     "Runs as any user, with your ssh configuration and keys (BatchMode: no\n"
     "prompts); SSH_OPTIONS after -- are passed to ssh after probe's own options.\n"
     "The server's keepalive probes (ClientAliveInterval) refresh the path: when\n"
     "they are seen, the result says up to which silence the measurement holds.",
     "Exit status: 0 measured, 1 nothing measured (every session dropped, the login\n"
     "failed, the host is unreachable), 2 usage.\n"
     "Example: keepalivectl probe --max 20m kpo@bastion.example.com -- -p 2222",
     runProbe},
    {"status",
     "whether the policy is in force, since when, what is wrong",
     {},
     {{"json", 0, nullptr,
       "every property of org.keepalivepolicy1.Manager as one JSON object,\n"
       "keyed by property name"},
      kVerboseOption,
      kRootRefused},
     "Show whether the policy is in force, since when, and what is wrong: the state,\n"
     "the policy files and digest, the last apply and its result, the effective sshd\n"
     "and ssh keepalive settings with the file and line behind each, the users\n"
     "covered, non-compliant and unwatched, the counts of reloads and repairs, and\n"
     "the last error. Asks keepalive-policyd on the system bus (one GetAll); anyone\n"
     "may run it. 'keepalivectl' with no verb runs it.",
     "Exit status: 0 the daemon answered, 2 usage, 3 keepalive-policyd unreachable.",
     runStatus},
    {"users",
     "each covered user's compliance",
     {"NAME", 1, false, "only this user (yourself, unless run as root)"},
     {{"noncompliant", 0, nullptr, "only users whose state is neither ok nor repaired"},
      {"json", 0, nullptr,
       "{\"matched\": N, \"restricted\": true|false, [\"note\": \"...\",] "
       "\"users\": [{\"name\", \"uid\", \"home\", \"state\", \"detail\", \"action\", "
       "\"watched\", \"last_change\" (microseconds since the epoch, 0 = never), "
       "\"last_change_iso\", \"last_change_unix\", \"repairs\", \"refusals\"}]}; "
       "restricted: not run as root, so only your own entry"},
      {"full", 'l', nullptr, "do not cut the DETAIL column to the terminal's width"},
      kNoPagerOption,
      kVerboseOption,
      kRootRefused},
     "List the users whose ~/.ssh/config the policy covers, with each one's state\n"
     "(ok, repaired, non-compliant, refused, error or unresponsive) and beside it\n"
     "what is true now and what was done or enforce would do. On a terminal the\n"
     "DETAIL column is cut to its width (--full: never) and long lists are paged.\n"
     "Asks keepalive-policyd on the system bus; anyone may run it, but only root sees\n"
     "every user: anyone else sees their own entry alone.",
     "A reply holds at most 16 MiB of records (about 200000 users); fewer users than\n"
     "matched means the list was cut.\n\n"
     "Exit status: 0 listed, 1 no such user or the daemon refused, 2 usage,\n"
     "3 keepalive-policyd unreachable.",
     runUsers},
    {"reload",
     "re-read and apply the policy now (root)",
     {},
     {kVerboseOption, kRootRefused},
     "Have keepalive-policyd re-read the policy and apply it now, as SIGHUP does, and\n"
     "wait for the transaction (sshd -t, reload of sshd, verification; at most 25 s).\n"
     "Root only.",
     "Exit status: 0 the new policy is in force (applied, or unchanged), 1 it is not\n"
     "(policy-error or rolled-back: the last good policy stays in force; see\n"
     "keepalivectl status) or the daemon refused, 2 usage, 3 keepalive-policyd\n"
     "unreachable or no answer in time.",
     runReload},
    {"check",
     "verify everything now; exit 1 when not compliant",
     {},
     {{"json", 0, nullptr,
       "{\"compliant\": true|false, \"restricted\": true|false,\n"
       "[\"note\": \"...\",] \"findings\": [...]}; restricted: not run as root,\n"
       "so only the host's and your own user's findings"},
      kVerboseOption,
      kRootRefused},
     "Have keepalive-policyd verify everything now, changing nothing: the effective\n"
     "sshd and ssh values, the drop-ins and every user's ~/.ssh/config. Prints one\n"
     "line per finding. Anyone may run it; only root sees every user's findings,\n"
     "anyone else the host's and their own.",
     "Exit status: 0 compliant, 1 not compliant (or the daemon refused), 2 usage,\n"
     "3 keepalive-policyd unreachable.",
     runCheck},
    // disconnects (issue 17)
    {"disconnects",
     "how SSH sessions ended: keepalive-timeout, reset, logout, ...",
     {},
     {{"since", 0, "DURATION|DATE",
       "only sessions that ended since then: 1h, 30m, 7d back from now, or "
       "2026-12-07, \"2026-12-07 10:11:12\", 2026-12-07T10:11:12Z"},
      {"cause", 0, "CAUSE",
       "only this cause: keepalive-timeout, reset, timed-out, broken-pipe, "
       "closed, logout or unknown"},
      {"network", 0, "NAME", "only sessions from this policy network (default: outside all)"},
      {"user", 0, "NAME", "only this user's sessions"},
      {"json", 0, nullptr,
       "[{\"time\" (ISO 8601 UTC), \"user\", \"address\", \"port\", \"network\", "
       "\"cause\", \"duration_seconds\" (null = unknown)}], newest first"},
      kNoPagerOption,
      kVerboseOption,
      kRootRefused},
     "List the SSH sessions that ended, newest first, with how they ended, as\n"
     "keepalive-policyd read it from sshd's journal lines (kept 7 days, at most\n"
     "100000): keepalive-timeout (ClientAlive probes unanswered: the client or the\n"
     "path vanished), reset, timed-out, broken-pipe (a NAT or firewall forgot the\n"
     "flow, or TCP gave up), closed (the client closed TCP without a word), logout, or\n"
     "unknown. Anyone may run it; only root sees every user's sessions, anyone else\n"
     "their own.",
     "Exit status: 0 listed (also when none matched), 1 the daemon refused, 2 usage,\n"
     "3 keepalive-policyd unreachable.",
     runDisconnects},
    {"show",
     "print properties of the daemon",
     {},
     {{"property", 'p', "NAME[,NAME...]",
       "only these properties; repeat it or separate names by commas", kRepeatable},
      {"value", 0, nullptr, "print only the values"},
      kVerboseOption,
      kRootRefused},
     "Print properties of keepalive-policyd's org.keepalivepolicy1.Manager as\n"
     "NAME=VALUE lines, all of them sorted by name, or those given with -p in that\n"
     "order. Lists are space-separated; EffectiveServer and EffectiveClient are\n"
     "KEYWORD=VALUE (SOURCE), comma-separated; LastApplyTime is microseconds since the\n"
     "epoch. Anyone may run it.",
     "Exit status: 0 shown, 2 usage (also an unknown property), 3 keepalive-policyd\n"
     "unreachable.",
     runShow},
    {"help",
     "print this help, or a verb's usage and options",
     {"VERB", 1},
     {},
     "Print the verbs, or with VERB, that verb's usage and options as\n"
     "'keepalivectl VERB --help' does.",
     "Exit status: 0 printed, 2 usage (also an unknown VERB).",
     runHelp},
};

// The options before the verb: -h|--help, --version and --verbose (which the online verbs also
// take after the verb); every other option follows the verb.
const VerbSpec kGlobal = {kProgram,
                          "",
                          {},
                          {{"help", 'h', nullptr, "print this help and exit"},
                           {"version", 0, nullptr, "print the version and exit"},
                           kVerboseOption},
                          "",
                          "",
                          nullptr};

const char* const kDefaultVerb = "status";

const VerbSpec* findVerb(std::string_view name) {
  for (const auto& v : kVerbs)
    if (name == v.name)
      return &v;
  return nullptr;
}

int unknownCommand(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& v : kVerbs)
    names.push_back(v.name);
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", kProgram,
               withSuggestion("unknown command '" + name + "'", suggest(name, names)).c_str(),
               kProgram);
  return kExitUsage;
}

int runHelp(const Args& args) {
  if (args.operands().empty()) {
    std::fputs(globalHelp().c_str(), stdout);
    return kExitOk;
  }
  const VerbSpec* v = findVerb(args.operands().front());
  if (!v)
    return unknownCommand(args.operands().front());
  std::fputs(verbHelp(kProgram, *v).c_str(), stdout);
  return kExitOk;
}

int runVerb(const VerbSpec& verb, std::span<const std::string> argv) {
  const Parsed p = parseVerb(verb, argv);
  if (p.help) {
    std::fputs(verbHelp(kProgram, verb).c_str(), stdout);
    return kExitOk;
  }
  if (!p.error.empty())
    return usageError(verb.name, p.error);
  for (const auto& o : verb.options)
    if (std::string_view(o.name) == "verbose" && p.args.has("verbose"))
      setVerbose(true);
  return verb.run(p.args);
}

}  // namespace

std::span<const VerbSpec> verbTable() {
  return kVerbs;
}

const VerbSpec& globalOptions() {
  return kGlobal;
}

std::vector<std::string> globalSynopsisItems() {
  std::vector<std::string> items = synopsisItems(kGlobal.options);
  items.push_back("[VERB [OPTIONS] [ARGS]]");
  return items;
}

std::string globalHelp() {
  std::string out = usageLine(kProgram, globalSynopsisItems());
  out +=
      "\nKeep SSH sessions alive behind NAT and firewalls, as fleet policy.\n"
      "With no VERB, keepalivectl runs 'status'.\n\nVerbs:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& v : kVerbs) {
    const std::string args = operandSynopsis(v);
    rows.emplace_back(args.empty() ? v.name : std::string(v.name) + " " + args, v.summary);
  }
  out += helpRows(rows) + "\nOptions:\n";
  rows.clear();
  for (const auto& o : kGlobal.options)
    rows.emplace_back(optionLabel(o), o.help);
  out += helpRows(rows);
  out +=
      "\nRun 'keepalivectl VERB --help' for a verb's options.\n"
      "Exit status: 0 ok, 1 policy or compliance problem, 2 usage, 3 daemon\n"
      "unreachable.\n";
  return out;
}

int runCommandLine(std::span<const std::string> argv) {
  // The options before the verb, up to the first word that is not one (or past "--").
  std::size_t n = 0;
  while (n < argv.size() && argv[n].size() > 1 && argv[n][0] == '-')
    if (argv[n++] == "--")
      break;
  if (n > 0) {
    const Parsed p = parseVerb(kGlobal, argv.first(n));
    if (!p.error.empty()) {
      std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", kProgram, p.error.c_str(), kProgram);
      return kExitUsage;
    }
    if (p.args.has("version")) {
      std::printf("%s %s\n", kProgram, KEEPALIVE_VERSION);
      return kExitOk;
    }
    if (p.help || p.args.has("help")) {
      std::fputs(globalHelp().c_str(), stdout);
      return kExitOk;
    }
    if (p.args.has("verbose"))
      setVerbose(true);
    argv = argv.subspan(n);
  }
  if (argv.empty())
    return runVerb(*findVerb(kDefaultVerb), argv);
  const VerbSpec* verb = findVerb(argv.front());
  if (!verb)
    return unknownCommand(argv.front());
  return runVerb(*verb, argv.subspan(1));
}

}  // namespace keepalive::cli
