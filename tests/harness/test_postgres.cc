#include "tests/harness/test_postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <pqxx/pqxx>

namespace perfgate::testing {

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  char* d = mkdtemp(tmpl.data());
  if (!d) {
    std::cerr << "mkdtemp failed\n";
    std::abort();
  }
  chmod(d, 0755);
  return d;
}

TestPostgres& TestPostgres::Get() {
  static TestPostgres* pg = new TestPostgres();
  return *pg;
}

TestPostgres::TestPostgres() {
  dir_ = MakeTempDir("perfgate-testpg");
  controller::EmbeddedPostgresOptions o;
  o.data_dir = dir_;
  o.database = "postgres";
  o.durable = false;  // a real server; only fsync is off, for speed
  auto pg = controller::EmbeddedPostgres::Start(o);
  if (!pg.ok()) {
    std::cerr << "cannot start test PostgreSQL: " << pg.status() << "\n";
    std::abort();
  }
  pg_ = *std::move(pg);
  std::atexit([] {
    TestPostgres& self = Get();
    self.pg_.reset();
    std::error_code ec;
    std::filesystem::remove_all(self.dir_, ec);
  });
}

std::string TestPostgres::NewDatabase() {
  std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(next_++);
  pqxx::connection c(pg_->DsnFor("postgres"));
  pqxx::nontransaction nt(c);
  nt.exec("CREATE DATABASE " + nt.quote_name(name));
  return pg_->DsnFor(name);
}

}  // namespace perfgate::testing
