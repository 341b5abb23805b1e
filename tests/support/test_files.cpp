// SPDX-License-Identifier: GPL-2.0-or-later
#include "test_files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace keepalive::test {

void writeFile(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
      throw std::runtime_error("cannot write " + path);
    f << text;
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void makeDirs(const std::string& path, int mode) {
  std::filesystem::create_directories(path);
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string dataDir() {
  return KEEPALIVE_TEST_DATA;
}

}  // namespace keepalive::test
