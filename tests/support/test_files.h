// SPDX-License-Identifier: GPL-2.0-or-later
// Files for tests, and nothing else: what the unit tests of the pure core may link (no process
// runner, no libsystemd). test_support.h has the rest.
#pragma once

#include <string>

namespace keepalive::test {

void writeFile(const std::string& path, const std::string& text, int mode = 0644);
std::string readFile(const std::string& path);
void makeDirs(const std::string& path, int mode = 0755);
// The directory holding test data (tests/data), set at build time.
std::string dataDir();

}  // namespace keepalive::test
