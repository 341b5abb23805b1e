// The daemon's status as Prometheus metrics, in the text exposition format that node_exporter's
// textfile collector reads. Pure: the adapter (adapters/metrics_writer.h) writes the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace keepalive::daemon {

// What the metrics show, copied from the D-Bus StatusSnapshot (metricsInput() in
// adapters/metrics_writer.h does it). A struct of its own because the snapshot's header pulls in
// sd-event, which the pure core must not see. Comparable, so an unchanged status costs nothing.
struct MetricsInput {
  std::string state =
      "starting";  // starting | ok | degraded | shadowed | policy-error | rolled-back
  std::string version;
  std::string policy_digest;  // "" before any policy was in force
  std::uint64_t generation = 0;
  std::uint64_t last_apply_usec = 0;  // CLOCK_REALTIME; 0 = never
  std::string last_apply_result;      // applied | unchanged | restored | policy-error | ...
  // Effective values, keyword (sshd -T / ssh -G spelling, lower case) -> value.
  std::map<std::string, std::string> effective_server;
  std::map<std::string, std::string> effective_client;
  std::uint64_t shadowed = 0;  // settings another file wins over ours for
  std::uint64_t users_covered = 0;
  std::uint64_t users_noncompliant = 0;
  std::uint64_t users_unwatched = 0;
  std::uint64_t repairs_total = 0;
  std::uint64_t refusals_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t rollbacks_total = 0;
  std::uint64_t watches_used = 0;
  friend bool operator==(const MetricsInput&, const MetricsInput&) = default;
};

// Every metric family with HELP and TYPE, in a fixed order, so equal inputs give equal bytes and
// the writer can skip a rewrite by comparing them. No sample carries a timestamp: the textfile
// collector rejects files that do; node_textfile_mtime_seconds says how fresh the file is.
std::string renderMetrics(const MetricsInput& in);

// A label value as the exposition format wants it: first keepalive::escape() (node_exporter
// drops the whole file over one byte that is not UTF-8; control bytes, newlines included, become
// the text \xNN), then the format's \ and " escaped.
std::string escapeLabelValue(const std::string& v);

}  // namespace keepalive::daemon
