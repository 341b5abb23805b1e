// SPDX-License-Identifier: GPL-2.0-or-later
#include "metrics.h"

#include "keepalive/escape.h"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace keepalive::daemon {
namespace {

class Exposition {
 public:
  // HELP and TYPE go out with the first sample: a family without samples is left out entirely,
  // so no parser has to cope with an empty one.
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    type_ = type;
    help_ = help;
    headerDone_ = false;
  }
  void sample(const std::vector<std::pair<const char*, std::string>>& labels,
              const std::string& value) {
    if (!headerDone_) {
      out_ += std::string("# HELP ") + name_ + " " + help_ + "\n";
      out_ += std::string("# TYPE ") + name_ + " " + type_ + "\n";
      headerDone_ = true;
    }
    out_ += name_;
    if (!labels.empty()) {
      out_ += '{';
      const char* sep = "";
      for (const auto& [k, v] : labels) {
        out_ += sep;
        out_ += k;
        out_ += "=\"";
        out_ += escapeLabelValue(v);
        out_ += '"';
        sep = ",";
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(const std::string& value) { sample({}, value); }
  std::string take() { return std::move(out_); }

 private:
  const char* name_ = "";
  const char* type_ = "";
  const char* help_ = "";
  bool headerDone_ = false;
  std::string out_;
};

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

// Microseconds as seconds with all six decimals: exact, and the same bytes for the same input.
std::string seconds(std::uint64_t usec) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 ".%06" PRIu64, usec / 1000000, usec % 1000000);
  return buf;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// sshd -T and ssh -G print intervals in seconds and counts as plain integers; anything else
// (an unexpected spelling) is left out rather than shown as a wrong number.
bool parseCount(const std::string& v, std::uint64_t& out) {
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, out);
  return ec == std::errc() && p == end && !v.empty();
}

// The two targets in a fixed order, each with its keywords in byte order (std::map).
template <class F>
void forEachEffective(const DaemonStatus& in, F f) {
  for (const auto& [keyword, setting] : in.effective_server)
    f("sshd", keyword, setting.value);
  for (const auto& [keyword, setting] : in.effective_client)
    f("ssh", keyword, setting.value);
}

void effective(const DaemonStatus& in, Exposition& e) {
  e.family("keepalive_policy_effective_interval_seconds", "gauge",
           "Effective keepalive interval as sshd -T or ssh -G reports it, in seconds; 0 = off.");
  forEachEffective(in, [&](const char* target, const std::string& kw, const std::string& v) {
    std::uint64_t n = 0;
    if (endsWith(kw, "interval") && parseCount(v, n))
      e.sample({{"target", target}, {"keyword", kw}}, num(n));
  });
  e.family("keepalive_policy_effective_count_max", "gauge",
           "Effective number of unanswered keepalive probes before the session is dropped, as "
           "sshd -T or ssh -G reports it.");
  forEachEffective(in, [&](const char* target, const std::string& kw, const std::string& v) {
    std::uint64_t n = 0;
    if (endsWith(kw, "countmax") && parseCount(v, n))
      e.sample({{"target", target}, {"keyword", kw}}, num(n));
  });
  e.family("keepalive_policy_effective_tcp_keepalive", "gauge",
           "Effective TCPKeepAlive as sshd -T or ssh -G reports it: 1 = yes, 0 = no.");
  forEachEffective(in, [&](const char* target, const std::string& kw, const std::string& v) {
    if (kw == "tcpkeepalive" && (v == "yes" || v == "no"))
      e.sample({{"target", target}}, v == "yes" ? "1" : "0");
  });
}

}  // namespace

std::string escapeLabelValue(const std::string& v) {
  // The one escaper first (control bytes, invalid UTF-8, length), then the format's own rule.
  const std::string safe = keepalive::escape(v, {keepalive::kEscapeLogMax});
  std::string out;
  out.reserve(safe.size());
  for (const char c : safe) {
    if (c == '\\' || c == '"')
      out += '\\';
    out += c;
  }
  return out;
}

std::string renderMetrics(const DaemonStatus& in) {
  Exposition e;
  for (const StatusProperty& p : statusProperties()) {
    if (p.metric) {
      e.family(p.metric, p.metric_type, p.metric_help);
      std::visit(
          [&](const auto& v) {
            if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>)
              e.sample(num(v));
          },
          p.get(in));
      continue;
    }
    const std::string_view name = p.name;
    if (name == "Version") {
      e.family("keepalive_policy_info", "gauge",
               "The running keepalive-policyd and the digest of the policy in force (empty "
               "before any); always 1.");
      e.sample({{"version", in.version}, {"digest", in.policy_digest}}, "1");
    } else if (name == "State") {
      // One sample per state, 1 for the current one: alerts can say state!="ok" and dashboards
      // can show every state, including those never reached.
      e.family("keepalive_policy_state", "gauge",
               "keepalive-policyd's state: 1 for the current one, 0 for the others.");
      for (auto k : kAllStates)
        e.sample({{"state", toString(k)}}, k == in.state ? "1" : "0");
    } else if (name == "LastApplyTime") {
      e.family("keepalive_policy_last_apply_timestamp_seconds", "gauge",
               "When the last policy transaction ended, in seconds since the epoch; 0 = none "
               "yet.");
      e.sample(seconds(in.last_apply_usec));
    } else if (name == "LastApplyResult") {
      e.family("keepalive_policy_last_apply_success", "gauge",
               "1 when the last policy transaction left the policy in force (applied, unchanged "
               "or restored), 0 when it failed or none ran yet.");
      e.sample(succeeded(in.last_apply_result) ? "1" : "0");
      e.family("keepalive_policy_last_apply_result", "gauge",
               "The result of the last policy transaction as a label (none = none yet); always "
               "1.");
      e.sample(
          {{"result", in.last_apply_result == ApplyResult::kNone ? std::string("none")
                                                                 : toString(in.last_apply_result)}},
          "1");
    } else if (name == "EffectiveServer") {  // both targets: one family per kind of value
      effective(in, e);
    } else if (name == "DisconnectTotals") {
      // A counter per (cause, network) since accounting began, restored from the store at
      // start: it never goes down, so rate() and increase() see no reset at a restart.
      e.family("keepalive_policy_disconnects_total", "counter",
               "SSH sessions that ended, by cause and network, from sshd's journal lines, since "
               "disconnect accounting began on this host.");
      for (const auto& r : in.disconnect_totals)
        e.sample({{"cause", r.cause}, {"network", r.network}}, num(r.count));
    } else if (name == "Shadowed") {
      e.family("keepalive_policy_shadowed_settings", "gauge",
               "Settings another file or Match block wins over the policy for.");
      e.sample(num(in.shadowed.size()));
    }
  }
  return e.take();
}

}  // namespace keepalive::daemon
