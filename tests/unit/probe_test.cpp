// SPDX-License-Identifier: GPL-2.0-or-later
// keepalivectl probe's pure part (cli/probe.h): the ladder, ssh's command line, what ssh's
// stderr says, the verdict and its text and JSON. The sessions themselves run against a real
// sshd in tests/integration/probe_test.cpp and through a NAT in tests/e2e/probe_e2e_test.sh.
#include <catch2/catch.hpp>

#include "command_line.h"
#include "probe.h"
#include "verbs.h"

using namespace keepalive::cli;
using namespace keepalive::cli::probe;
using V = std::vector<std::int64_t>;

namespace {

RungOutcome rung(std::int64_t s, Result r, std::vector<std::int64_t> keepalives = {}) {
  RungOutcome o;
  o.seconds = s;
  o.result = r;
  if (r == Result::kSurvived)
    o.doneMillis = s * 1000 + 20;
  o.serverKeepaliveMillis = std::move(keepalives);
  return o;
}

const VerbSpec& probeVerb() {
  for (const auto& v : verbTable())
    if (std::string(v.name) == "probe")
      return v;
  FAIL("no probe verb");
  throw;
}

}  // namespace

TEST_CASE("probe: the default ladder runs up to --max, --max included") {
  CHECK(defaultLadder(20) == V{5, 10, 15, 20});
  CHECK(defaultLadder(6) == V{5, 6});
  CHECK(defaultLadder(3) == V{3});
  const V full = defaultLadder(kDefaultMaxSeconds);
  CHECK(full.front() == 5);
  CHECK(full.back() == 1800);
  CHECK(full.size() == 20);
  CHECK(std::is_sorted(full.begin(), full.end()));
  CHECK(defaultLadder(400) == V{5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 360, 400});
  CHECK(defaultLadder(kMaxMaxSeconds).back() == 7200);
}

TEST_CASE("probe: --ladder takes durations, sorted and distinct, within --max") {
  auto l = parseLadder("4s,2s,6,2s", 10);
  CHECK(l.error.empty());
  CHECK(l.rungs == V{2, 4, 6});
  CHECK(parseLadder("1m30s", 7200).rungs == V{90});
  CHECK(parseLadder("1s,x", 10).error.starts_with("--ladder: 'x' is not a duration; write"));
  CHECK(parseLadder("1s,,2s", 10).error.starts_with("--ladder: ''"));
  CHECK(parseLadder("0s", 10).error == "--ladder: a rung of 0s measures nothing; give 1s or more");
  CHECK(parseLadder("5s,30s", 20).error == "--ladder: rung 30s is above --max 20s");
  CHECK(parseLadder("3h", kMaxMaxSeconds, false).error ==
        "--ladder: rung 3h is above 2h, the longest probe tries");
  std::string many;
  for (int i = 1; i <= 41; ++i)
    many += (i > 1 ? "," : "") + std::to_string(i);
  CHECK(parseLadder(many, 100).error.find("at most 40 rungs") != std::string::npos);
}

TEST_CASE("probe: ssh's command line puts ours first, the user's next, then the destination") {
  const auto argv = sshArgv("kpo@host", {"-p", "2222", "-o", "ServerAliveInterval=5"}, 30);
  REQUIRE(argv.size() > 6);
  CHECK(argv.front() == "ssh");
  auto at = [&](const std::string& a) {
    return std::find(argv.begin(), argv.end(), a) - argv.begin();
  };
  // ssh keeps the first value: ours turn keepalives off whatever the user's options say.
  CHECK(at("ServerAliveInterval=0") < at("ServerAliveInterval=5"));
  CHECK(at("TCPKeepAlive=no") < at("-p"));
  CHECK(at("BatchMode=yes") < at("-p"));
  CHECK(at("ControlMaster=no") < at("-p"));
  CHECK(at("ControlPath=none") < at("-p"));
  CHECK(at("-T") < at("-p"));
  CHECK(at("-v") < at("-p"));
  CHECK(argv[argv.size() - 3] == "--");
  CHECK(argv[argv.size() - 2] == "kpo@host");
  CHECK(argv.back() == "echo keepalive-probe-ready; sleep 30; echo keepalive-probe-done");
  CHECK(graceMillis(10) == 6000);
  CHECK(graceMillis(1800) == 185000);
}

TEST_CASE("probe: ssh -v's lines for the server's keepalive requests (clientloop.c, 7.4-10.5)") {
  CHECK(isServerKeepaliveLine(
      "debug1: client_input_channel_req: channel 0 rtype keepalive@openssh.com reply 1"));
  CHECK(isServerKeepaliveLine(
      "debug1: client_input_global_request: rtype keepalive@openssh.com want_reply 1"));
  CHECK_FALSE(isServerKeepaliveLine(
      "debug1: client_input_global_request: rtype hostkeys-00@openssh.com want_reply 0"));
  CHECK_FALSE(isServerKeepaliveLine(
      "debug1: client_input_channel_req: channel 0 rtype exit-status reply 0"));
  // Only ssh's own debug output: a remote line cannot pretend to be one.
  CHECK_FALSE(isServerKeepaliveLine("client_input_channel_req: rtype keepalive@openssh.com"));
  CHECK(isConnectedLine("debug1: Connection established."));
  CHECK(isDebugLine("debug1: Reading configuration data /etc/ssh/ssh_config"));
  CHECK_FALSE(isDebugLine("Permission denied (publickey)."));
}

TEST_CASE("probe: ssh's failures in plain words") {
  using L = std::vector<std::string>;
  auto c = classifyStartFailure(
      {"debug1: Connection established.", "kpo@h: Permission denied (publickey)."}, 255, true,
      "kpo@h");
  CHECK(c.failure == Failure::kAuthentication);
  CHECK(c.message.starts_with("authentication failed: kpo@h: Permission denied (publickey)."));
  for (const char* line :
       {"ssh: Could not resolve hostname nowhere.invalid: Name or service not known",
        "ssh: connect to host 192.0.2.9 port 22: No route to host",
        "ssh: connect to host 127.0.0.1 port 1: Connection refused",
        "ssh: connect to host 192.0.2.9 port 22: Connection timed out",
        "ssh: connect to host 192.0.2.9 port 22: Network is unreachable"}) {
    INFO(line);
    c = classifyStartFailure(L{line}, 255, false, "h");
    CHECK(c.failure == Failure::kUnreachable);
    CHECK(c.message == std::string("host unreachable: ") + line);
  }
  c = classifyStartFailure({"No ED25519 host key is known for h and you have requested strict "
                            "checking.",
                            "Host key verification failed."},
                           255, true, "h");
  CHECK(c.failure == Failure::kHostKey);
  CHECK(c.message.starts_with("host key problem: No ED25519 host key is known for h"));
  c = classifyStartFailure({"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
                            "Host key verification failed."},
                           255, true, "h");
  CHECK(c.message.starts_with("host key problem: the host key of h has changed"));
  c = classifyStartFailure({"kex_exchange_identification: Connection closed by remote host",
                            "Connection closed by 127.0.0.1 port 22"},
                           255, true, "h");
  CHECK(c.failure == Failure::kClosedEarly);
  // Killed at the start deadline: whether TCP got through decides which.
  CHECK(classifyStartFailure({}, -1, false, "h").failure == Failure::kUnreachable);
  CHECK(classifyStartFailure({}, -1, false, "h").message ==
        "host unreachable: no connection to h within 30s");
  CHECK(classifyStartFailure({}, -1, true, "h").failure == Failure::kStartTimeout);
  c = classifyStartFailure({"bash: sleep: command not found"}, 127, true, "h");
  CHECK(c.failure == Failure::kOther);
  CHECK(c.message == "ssh h failed (exit status 127): bash: sleep: command not found");

  CHECK(isPathBreak({"Connection reset by 198.51.100.2 port 22"}));
  CHECK(isPathBreak({"client_loop: send disconnect: Broken pipe"}));
  CHECK_FALSE(isPathBreak({"Connection to h closed by remote host."}));
  CHECK_FALSE(isPathBreak({"debug1: Connection reset by peer"}));
}

TEST_CASE("probe: the verdict brackets the timeout and recommends what survived") {
  auto v = judge({rung(20, Result::kStopped), rung(10, Result::kDropped),
                  rung(5, Result::kSurvived), rung(15, Result::kStopped)});
  CHECK(v.ladder.front().seconds == 5);
  CHECK(v.survived == 5);
  CHECK(v.dropped == 10);
  CHECK(v.recommended == 5);
  CHECK_FALSE(v.serverKeepalive);
  CHECK(v.measured());
  const std::string t = text(v, "kpo@h");
  CHECK(t.find("Longest silence survived: 5s; shortest dropped: 10s.") != std::string::npos);
  CHECK(t.find("The path's idle timeout is between 5s and 10s.") != std::string::npos);
  CHECK(t.find("Recommended network.idle_timeout: 5s.") != std::string::npos);
  CHECK(t.ends_with("\nnetwork:\n  idle_timeout: 5s\n"));
  const auto j = toJson(v, "kpo@h");
  CHECK(j["survived_seconds"] == 5);
  CHECK(j["dropped_seconds"] == 10);
  CHECK(j["recommended_idle_timeout_seconds"] == 5);
  CHECK(j["server_keepalive_seconds"].is_null());
  CHECK(j["measurement_holds_up_to_seconds"].is_null());
  CHECK(j["error"].is_null());
  REQUIRE(j["ladder"].size() == 4);
  CHECK(j["ladder"][1]["seconds"] == 10);
  CHECK(j["ladder"][1]["result"] == "dropped");
  CHECK(j["ladder"][3]["result"] == "stopped");

  // Nothing dropped: the whole ladder survived, dropped_seconds is null.
  v = judge({rung(1, Result::kSurvived), rung(2, Result::kSurvived)});
  CHECK(v.survived == 2);
  CHECK_FALSE(v.dropped);
  CHECK(toJson(v, "h")["dropped_seconds"].is_null());
  CHECK(text(v, "h").find("No session dropped") != std::string::npos);

  // An inconsistent ladder: the bracket stays below the first drop, with a note.
  v = judge({rung(5, Result::kSurvived), rung(10, Result::kDropped), rung(15, Result::kSurvived)});
  CHECK(v.survived == 5);
  CHECK(v.dropped == 10);
  REQUIRE(v.notes.size() == 1);
  CHECK(v.notes[0].starts_with("15s survived though 10s was dropped"));

  // An error on one rung (a MaxStartups drop) does not spoil the others.
  auto err = rung(10, Result::kError);
  err.detail = "the server closed the connection before the login";
  v = judge({rung(5, Result::kSurvived), err, rung(15, Result::kSurvived)});
  CHECK(v.survived == 15);
  CHECK(v.measured());
}

TEST_CASE("probe: nothing measured says why, in plain words") {
  auto v = judge({rung(5, Result::kDropped), rung(10, Result::kStopped)});
  CHECK_FALSE(v.measured());
  CHECK(v.error ==
        "every session dropped: the path's idle timeout is shorter than the first rung (5s): "
        "rerun with --ladder 1s,2s,3s,4s --max 4s");
  CHECK(text(v, "h").find("Nothing measured: every session dropped") != std::string::npos);
  CHECK(toJson(v, "h")["recommended_idle_timeout_seconds"].is_null());
  CHECK(finerLadder(30) == "--ladder 3s,6s,9s,12s,15s,18s,21s,24s,27s --max 29s");

  auto auth = rung(5, Result::kError);
  auth.detail = "authentication failed: Permission denied (publickey)";
  auto stopped = rung(10, Result::kStopped);
  stopped.detail = "not run: authentication failed: ...";
  v = judge({auth, stopped});
  CHECK_FALSE(v.measured());
  CHECK(v.error == "authentication failed: Permission denied (publickey)");
  CHECK(toJson(v, "h")["error"] == v.error);
}

TEST_CASE("probe: the server's keepalives bound what the measurement shows") {
  // ClientAliveInterval 1 on sshd 9.2: a probe every 2 s of silence.
  auto v = judge({rung(5, Result::kSurvived, {1900, 3900}),
                  rung(10, Result::kSurvived, {1900, 3900, 5900, 7900, 9900})});
  REQUIRE(v.serverKeepalive);
  CHECK(*v.serverKeepalive == 2);
  // The longest stretch a survivor was really silent: 2 s between probes.
  CHECK(v.holdsUpTo == 2);
  CHECK(v.survived == 10);
  CHECK(v.recommended == 2);
  const std::string t = text(v, "h");
  CHECK(t.find("The server sends keepalives every ~2s") != std::string::npos);
  CHECK(t.find("the measurement holds only up to 2s") != std::string::npos);
  CHECK(t.find("below 3s") != std::string::npos);
  const auto j = toJson(v, "h");
  CHECK(j["server_keepalive_seconds"] == 2);
  CHECK(j["measurement_holds_up_to_seconds"] == 2);
  CHECK(j["ladder"][0]["server_keepalives"] == 2);

  RungOutcome r = rung(10, Result::kSurvived, {4000});
  CHECK(longestSilenceMillis(r) == 6020);
}

TEST_CASE("probe: the command line passes what follows -- to ssh") {
  auto p = parseVerb(
      probeVerb(), std::vector<std::string>{"--max", "20s", "kpo@h", "--", "-p", "2222", "--json"});
  REQUIRE(p.error.empty());
  CHECK(p.args.operands() == std::vector<std::string>{"kpo@h"});
  CHECK(p.args.passThrough() == std::vector<std::string>{"-p", "2222", "--json"});
  CHECK_FALSE(p.args.has("json"));
  CHECK(parseVerb(probeVerb(), std::vector<std::string>{"a", "b"}).error ==
        "unexpected argument 'b'");
  CHECK(parseVerb(probeVerb(), std::vector<std::string>{}).error == "DESTINATION is required");
  CHECK(synopsis(probeVerb()) ==
        "[--max DURATION] [--ladder DURATION[,DURATION...]] [--json] DESTINATION "
        "[-- SSH_OPTIONS...]");
}
