// A real PostgreSQL for tests: one private cluster per test binary (started on first use in a
// temp directory, stopped at exit), and a fresh database per test so tests never see each
// other's rows.
#pragma once

#include <string>

#include "controller/store/embedded_postgres.h"

namespace perfgate::testing {

class TestPostgres {
 public:
  // The process-wide cluster (aborts the test binary if PostgreSQL cannot start).
  static TestPostgres& Get();
  // Creates an empty database and returns its DSN.
  std::string NewDatabase();
  controller::EmbeddedPostgres& server() { return *pg_; }

 private:
  TestPostgres();
  std::string dir_;
  std::unique_ptr<controller::EmbeddedPostgres> pg_;
  int next_ = 0;
};

// A fresh temporary directory, world-traversable (the PostgreSQL user must enter it).
std::string MakeTempDir(const std::string& prefix);

}  // namespace perfgate::testing
