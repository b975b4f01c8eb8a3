#include "agent/bench/fixtures.h"

#include <zlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/hosts/ssh_hosts.h"  // ShellQuote

namespace perfgate::agent {
namespace {

// Drops "ALTER ... OWNER TO ...;", "GRANT ...;" and "REVOKE ...;" lines outside COPY blocks.
constexpr char kNoOwnerFilter[] =
    R"(awk '/^COPY .* FROM stdin;$/ {c = 1} c && /^\\.$/ {c = 0; print; next} )"
    R"(!c && (/^ALTER .* OWNER TO .*;$/ || /^(GRANT|REVOKE) .*;$/) {next} {print}')";

}  // namespace

absl::StatusOr<DumpFormat> DetectDumpFormat(const std::string& path, bool* gzipped) {
  *gzipped = false;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    if (std::filesystem::exists(path + "/toc.dat", ec)) return DumpFormat::kDirectory;
    return absl::FailedPreconditionError(path + " is a directory without toc.dat");
  }
  FILE* raw = fopen(path.c_str(), "rb");
  if (!raw) return absl::NotFoundError(path + ": " + strerror(errno));
  unsigned char magic[2] = {0, 0};
  *gzipped = fread(magic, 1, 2, raw) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  fclose(raw);
  // gzread reads plain files unchanged too.
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return absl::NotFoundError(path + ": cannot be opened");
  char head[512] = {0};
  int n = gzread(gz, head, sizeof head);
  gzclose(gz);
  if (n < 0) return absl::FailedPreconditionError(path + ": corrupt gzip data");
  if (n >= 5 && std::string(head, 5) == "PGDMP") return DumpFormat::kCustom;
  if (n >= 262 && std::string(head + 257, 5) == "ustar") return DumpFormat::kTar;
  return DumpFormat::kPlainSql;
}

absl::Status LoadFixture(const v1::FixtureSpec& f, int index, BenchContext& ctx) {
  std::string name = f.name().empty() ? absl::StrCat("fixtures[", index, "]") : f.name();
  auto fail = [&](const std::string& m) {
    return absl::FailedPreconditionError("fixture " + name + ": " + m);
  };
  std::string dsn, path, cmd;
  if (!f.dsn().empty()) {
    auto d = ctx.Expand(f.dsn());
    if (!d.ok()) return fail(std::string(d.status().message()));
    dsn = *d;
  }
  std::string what;
  if (f.has_command()) {
    auto c = ctx.Expand(f.command());
    if (!c.ok()) return fail(std::string(c.status().message()));
    cmd = *c;
    what = "command";
  } else {
    auto p = ctx.Expand(f.has_pg_dump() ? f.pg_dump() : f.sql());
    if (!p.ok()) return fail(std::string(p.status().message()));
    path = *p;
    bool gz = false;
    auto format = DetectDumpFormat(path, &gz);
    if (!format.ok()) return fail(std::string(format.status().message()));
    if (f.has_sql() && *format != DumpFormat::kPlainSql)
      return fail(path + " is a pg_dump archive, not SQL: use pg_dump: instead of sql:");
    std::string src = gz ? "gzip -dc " + ShellQuote(path) + " | " : "";
    std::string file_arg = gz ? "" : " " + ShellQuote(path);
    switch (*format) {
      case DumpFormat::kPlainSql:
        what = gz ? "plain SQL (gzip)" : "plain SQL";
        if (f.has_pg_dump()) {
          // A plain pg_dump: drop its ownership and privilege statements (top-level lines,
          // never inside COPY data), as pg_restore --no-owner --no-privileges would.
          cmd = (gz ? "gzip -dc " : "cat ") + ShellQuote(path) + " | " + kNoOwnerFilter +
                " | psql -X -q -v ON_ERROR_STOP=1 -d " + ShellQuote(dsn) + " -f - > /dev/null";
        } else {
          cmd = src + "psql -X -q -v ON_ERROR_STOP=1 -d " + ShellQuote(dsn) +
                (gz ? " -f -" : " -f" + file_arg) + " > /dev/null";
        }
        break;
      case DumpFormat::kCustom:
      case DumpFormat::kTar:
        what = std::string(*format == DumpFormat::kCustom ? "custom" : "tar") + "-format dump" +
               (gz ? " (gzip)" : "");
        cmd = src + "pg_restore --no-owner --no-privileges --exit-on-error -d " + ShellQuote(dsn) +
              file_arg;
        break;
      case DumpFormat::kDirectory:
        what = "directory-format dump";
        cmd = "pg_restore --no-owner --no-privileges --exit-on-error -j 2 -d " + ShellQuote(dsn) +
              " " + ShellQuote(path);
        break;
    }
  }
  ctx.steps.Note("fixture " + name + ": loading " + what + (path.empty() ? "" : " from " + path) +
                 (dsn.empty() ? "" : " into " + dsn));
  StepOptions o;
  // pipefail: a broken gzip stream must fail the fixture even when the reader succeeds.
  o.spawn.argv = {"/bin/bash", "-o", "pipefail", "-c", cmd};
  o.spawn.working_dir = ctx.workdir;
  o.timeout = absl::Seconds(f.timeout_seconds());
  absl::Time t0 = ctx.clock.Now();
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return fail(DescribeFailure(what, r));
  ctx.steps.Note(
      absl::StrCat("fixture ", name, ": loaded in ",
                   absl::FormatDuration(absl::Trunc(ctx.clock.Now() - t0, absl::Milliseconds(1)))));
  return absl::OkStatus();
}

}  // namespace perfgate::agent
