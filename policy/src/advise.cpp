#include "keepalive/policy/advise.h"

#include <algorithm>

#include "keepalive/policy/duration.h"
#include "keepalive/policy/policy.h"

namespace keepalive::policy {

std::vector<Advice> advise(std::int64_t t) {
  const std::int64_t server = derivedServerInterval(t);
  const std::int64_t client = derivedClientInterval(t);
  const std::string idle = formatDuration(t);
  std::vector<Advice> out;
  out.push_back({"sshd", "ClientAliveInterval", std::to_string(server),
                 "idle_timeout/3 (at most 20m). While the client is silent sshd 9.x sends its "
                 "probe only every "
                 "second interval, so the path sees a gap of " +
                     formatDuration(2 * server) + ", which must stay below the " + idle +
                     " timeout"});
  out.push_back(
      {"sshd", "ClientAliveCountMax", "3",
       "a dead client is disconnected after about " + formatDuration(3 * server) +
           "; 1 would drop sessions on a short outage, 0 never disconnects (OpenSSH 8.2+)"});
  out.push_back(
      {"sshd", "TCPKeepAlive", "yes (leave the default)",
       "TCP keepalives start after net.ipv4.tcp_keepalive_time (2 hours by default), far "
       "too late for a NAT; the encrypted ClientAlive probes are what keep the flow open"});
  out.push_back({"OpenSSH client", "ServerAliveInterval", std::to_string(client),
                 "idle_timeout/2 (at most 20m): ssh probes after this long without data from the "
                 "server, which "
                 "keeps the NAT mapping fresh even against servers this policy does not manage"});
  out.push_back({"OpenSSH client", "ServerAliveCountMax", "3",
                 "ssh gives up on a dead server after about " + formatDuration(3 * client) +
                     "; 0 would end every idle session at the first probe"});
  out.push_back({"PuTTY", "Connection > Seconds between keepalives (0 to turn off)",
                 std::to_string(client),
                 "idle_timeout/2 (at most 20m), as PuTTY's manual advises (\"if the firewall times "
                 "out after ten "
                 "minutes, use 300 seconds\")"});
  out.push_back({"PuTTY", "Connection > Enable TCP keepalives (SO_KEEPALIVE option)",
                 "off (the default)",
                 "the operating system sends the first TCP keepalive only after hours (2 hours on "
                 "Windows), long after the NAT has forgotten the flow"});
  out.push_back({"policy", "network.idle_timeout", idle,
                 "write this and nothing else: keepalive-policyd derives the intervals above and "
                 "rejects any that the timeout would defeat"});
  return out;
}

}  // namespace keepalive::policy
