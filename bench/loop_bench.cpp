// SPDX-License-Identifier: GPL-2.0-or-later
// Whether keepalive-policyd's loop stays free while it works (docs/performance.md, issue 14):
// the latency of a status read through the bus (one GetAll on org.keepalivepolicy1, as
// `keepalivectl status` makes) while the daemon waits for something slow.
//
//   loop_bench reads SECONDS PERIOD_MS   GetAll every PERIOD_MS for SECONDS; prints
//                                        "reads N p50 X p99 Y max Z" in milliseconds
//   loop_bench flood SECONDS             Check as fast as answered (errors such as
//                                        LimitExceeded count too); prints "checks N errors E"
//
// bench/loop_bench.sh sets up the bus, the test root and the daemons.
#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

int reads(double seconds, int periodMs) {
  auto bus = sdbus::createSystemBusConnection();
  auto proxy = sdbus::createProxy(*bus, "org.keepalivepolicy1", "/org/keepalivepolicy1");
  proxy->finishRegistration();
  std::vector<double> lat;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  int errors = 0;
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    try {
      std::map<std::string, sdbus::Variant> props;
      proxy->callMethod("GetAll")
          .onInterface("org.freedesktop.DBus.Properties")
          .withArguments(std::string("org.keepalivepolicy1.Manager"))
          .withTimeout(std::chrono::seconds(30))
          .storeResultsTo(props);
    } catch (const sdbus::Error&) {
      ++errors;
    }
    lat.push_back(ms(Clock::now() - t0));
    // A client's pace, not a flood of reads: the bench measures the loop, not the bus.
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(periodMs));
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0
                       : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
  };
  std::printf("reads %zu p50 %.2f p99 %.2f max %.2f errors %d\n", lat.size(), pct(0.5), pct(0.99),
              lat.empty() ? 0.0 : lat.back(), errors);
  return 0;
}

int flood(double seconds) {
  auto bus = sdbus::createSystemBusConnection();
  auto proxy = sdbus::createProxy(*bus, "org.keepalivepolicy1", "/org/keepalivepolicy1");
  proxy->finishRegistration();
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  long n = 0, errors = 0;
  while (Clock::now() < end) {
    try {
      std::vector<std::string> findings;
      bool restricted = false;
      proxy->callMethod("Check")
          .onInterface("org.keepalivepolicy1.Manager")
          .withTimeout(std::chrono::seconds(60))
          .storeResultsTo(findings, restricted);
    } catch (const sdbus::Error&) {
      ++errors;
    }
    ++n;
  }
  std::printf("checks %ld errors %ld\n", n, errors);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "reads" && argc == 4)
    return reads(std::atof(argv[2]), std::atoi(argv[3]));
  if (mode == "flood" && argc == 3)
    return flood(std::atof(argv[2]));
  std::fprintf(stderr, "usage: loop_bench reads SECONDS PERIOD_MS | flood SECONDS\n");
  return 2;
}
