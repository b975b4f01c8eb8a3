#include "controller/store/embedded_postgres.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"
#include "controller/store/pg_pool.h"

namespace fs = std::filesystem;

namespace perfgate::controller {
namespace {

constexpr int kPort = 5432;  // socket-only, so the port never collides with anything

std::string FindBinDir() {
  std::string best;
  int best_ver = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int ver = atoi(e.path().filename().c_str());
    if (ver > best_ver && fs::exists(e.path() / "bin" / "pg_ctl")) {
      best_ver = ver;
      best = (e.path() / "bin").string();
    }
  }
  return best;
}

// Every ancestor of `path` must be searchable by the server's user.
absl::Status CheckReachable(const fs::path& path, uint32_t uid, uint32_t gid) {
  for (fs::path p = path; !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0) {
      bool ok = (st.st_uid == uid && (st.st_mode & S_IXUSR)) ||
                (st.st_gid == gid && (st.st_mode & S_IXGRP)) || (st.st_mode & S_IXOTH);
      if (!ok) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--data-dir ", path.string(), ": PostgreSQL runs as uid ", uid, " and cannot enter ",
            p.string(), " (mode ", absl::StrFormat("%04o", st.st_mode & 07777),
            "); choose a data directory outside it, e.g. "
            "/var/lib/perfgate"));
      }
    }
    if (p == p.root_path()) break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    EmbeddedPostgresOptions opts) {
  if (opts.bin_dir.empty()) opts.bin_dir = FindBinDir();
  if (opts.bin_dir.empty() || !fs::exists(fs::path(opts.bin_dir) / "pg_ctl")) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin); install "
        "postgresql-15 "
        "or pass --postgres-dsn");
  }
  std::error_code ec;
  fs::create_directories(opts.data_dir, ec);
  if (ec) return absl::FailedPreconditionError("--data-dir " + opts.data_dir + ": " + ec.message());
  opts.data_dir = fs::canonical(opts.data_dir).string();
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres(opts));
  pg->cluster_dir_ = opts.data_dir + "/pg";
  pg->socket_dir_ = opts.data_dir + "/run";
  if (pg->socket_dir_.size() + 20 > 107) {
    return absl::FailedPreconditionError("--data-dir " + opts.data_dir +
                                         ": path too long for a unix socket; choose a shorter one");
  }
  if (geteuid() == 0) {
    std::string user = opts.run_as_user;
    if (user.empty()) user = getpwnam("postgres") ? "postgres" : "nobody";
    struct passwd* pw = getpwnam(user.c_str());
    if (!pw) return absl::FailedPreconditionError("no such user to run PostgreSQL as: " + user);
    pg->uid_ = pw->pw_uid;
    pg->gid_ = pw->pw_gid;
    if (auto s = CheckReachable(opts.data_dir, pw->pw_uid, pw->pw_gid); !s.ok()) return s;
  }
  for (const auto& dir : {pg->cluster_dir_, pg->socket_dir_}) {
    fs::create_directories(dir, ec);
    chmod(dir.c_str(), 0700);
    if (pg->uid_ && chown(dir.c_str(), *pg->uid_, *pg->gid_) != 0) {
      return absl::FailedPreconditionError("cannot chown " + dir);
    }
  }
  if (!fs::exists(pg->cluster_dir_ + "/PG_VERSION")) {
    if (auto s = pg->Init(); !s.ok()) return s;
  }
  if (auto s = pg->StartServer(); !s.ok()) return s;
  if (auto s = pg->EnsureDatabase(); !s.ok()) return s;
  return pg;
}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (running_ && State() != ServerState::kGone) {
    if (auto s = Stop(); !s.ok())
      spdlog::warn("msg=\"stopping embedded postgres\" error=\"{}\"", s.message());
  }
}

std::string EmbeddedPostgres::DsnFor(const std::string& database) const {
  return absl::StrCat("host=", socket_dir_, " port=", kPort, " dbname=", database,
                      " user=perfgate");
}

absl::Status EmbeddedPostgres::PgCtl(const std::vector<std::string>& args, std::string* output) {
  common::SpawnOptions o;
  o.argv = args;
  o.uid = uid_;
  o.gid = gid_;
  o.working_dir = cluster_dir_;  // the server's user can enter it; the caller's cwd maybe not
  o.env_add["LC_ALL"] = "C";
  int code = 0;
  auto out = common::RunAndCapture(o, &code);
  if (!out.ok()) return out.status();
  *output = *out;
  if (code != 0) {
    return absl::InternalError(
        absl::StrCat(fs::path(args[0]).filename().string(), " exited with ", code, ": ", *out));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::Init() {
  spdlog::info("msg=\"initialising private PostgreSQL cluster\" dir={}", cluster_dir_);
  std::string out;
  std::vector<std::string> args = {opts_.bin_dir + "/initdb",
                                   "-D",
                                   cluster_dir_,
                                   "-U",
                                   "perfgate",
                                   "--auth=trust",
                                   "-E",
                                   "UTF8",
                                   "--locale=C"};
  if (!opts_.durable) args.push_back("--no-sync");
  if (auto s = PgCtl(args, &out); !s.ok()) return s;
  std::ofstream conf(cluster_dir_ + "/postgresql.conf", std::ios::app);
  conf << "\n# perfgate embedded defaults: unix socket only, inside the data directory\n"
       << "listen_addresses = ''\n"
       << "unix_socket_directories = '" << socket_dir_ << "'\n"
       << "unix_socket_permissions = 0700\n"
       << "port = " << kPort << "\n"
       << "max_connections = 200\n"
       << "shared_buffers = 128MB\n";
  if (!opts_.durable) conf << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
  for (const auto& [k, v] : opts_.settings) conf << k << " = " << v << "\n";
  if (!conf) return absl::InternalError("cannot write postgresql.conf");
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::StartServer() {
  std::string out;
  // (A postmaster killed a moment ago can linger as a zombie that pg_ctl takes for alive.)
  if (PgCtl({opts_.bin_dir + "/pg_ctl", "status", "-D", cluster_dir_}, &out).ok() &&
      ServerAlive()) {
    spdlog::info("msg=\"adopting running private PostgreSQL\" dir={}", cluster_dir_);
    running_ = true;
    return absl::OkStatus();
  }
  std::string log = opts_.data_dir + "/postgres.log";
  if (uid_) {
    std::ofstream(log, std::ios::app).close();
    if (chown(log.c_str(), *uid_, *gid_) != 0) return absl::InternalError("cannot chown " + log);
  }
  auto s = PgCtl(
      {opts_.bin_dir + "/pg_ctl", "start", "-D", cluster_dir_, "-w", "-t", "120", "-l", log}, &out);
  if (!s.ok()) return absl::InternalError(std::string(s.message()) + " (see " + log + ")");
  running_ = true;
  spdlog::info("msg=\"private PostgreSQL started\" socket_dir={}", socket_dir_);
  return absl::OkStatus();
}

EmbeddedPostgres::ServerState EmbeddedPostgres::State() const {
  std::ifstream in(cluster_dir_ + "/postmaster.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return ServerState::kGone;
  if (kill(pid, 0) != 0 && errno != EPERM) return ServerState::kGone;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  const bool zombie =
      paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
  return zombie ? ServerState::kUnreaped : ServerState::kAlive;
}

absl::Status EmbeddedPostgres::Stop() {
  std::string out;
  running_ = false;
  return PgCtl(
      {opts_.bin_dir + "/pg_ctl", "stop", "-D", cluster_dir_, "-m", "fast", "-w", "-t", "60"},
      &out);
}

absl::Status EmbeddedPostgres::Restart() {
  std::string out;
  return PgCtl({opts_.bin_dir + "/pg_ctl", "restart", "-D", cluster_dir_, "-m", "fast", "-w", "-t",
                "120", "-l", opts_.data_dir + "/postgres.log"},
               &out);
}

absl::Status EmbeddedPostgres::EnsureDatabase() {
  try {
    pqxx::connection c(DsnFor("postgres"));
    pqxx::nontransaction nt(c);
    if (nt.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", opts_.database).empty()) {
      nt.exec("CREATE DATABASE " + nt.quote_name(opts_.database));
    }
  } catch (...) {
    return PgPool::StatusFromCurrentException();
  }
  return absl::OkStatus();
}

}  // namespace perfgate::controller
