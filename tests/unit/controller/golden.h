// Golden files under tests/unit/controller/testdata/: a renderer's output compared with its
// checked-in file; PERFGATE_UPDATE_GOLDEN=1 rewrites the files (review the diff, commit them).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace perfgate::controller {

inline void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(PERFGATE_TESTDATA_DIR) + "/" + name;
  if (const char* u = std::getenv("PERFGATE_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path << " is missing; PERFGATE_UPDATE_GOLDEN=1 writes it";
  std::stringstream expected;
  expected << in.rdbuf();
  if (expected.str() == actual) return;
  const std::string got = ::testing::TempDir() + "/" + name;
  std::ofstream(got, std::ios::binary) << actual;
  ADD_FAILURE() << name << " differs from its golden file: diff -u " << path << " " << got
                << "\n(after a deliberate change: PERFGATE_UPDATE_GOLDEN=1, then commit the file)";
}

}  // namespace perfgate::controller
