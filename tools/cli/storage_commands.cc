// `perfgate storage` and `perfgate gc`: what the store holds per kind, and retention run now
// (logs and profiles of runs finished longer ago than the policy, or than the ages given).
#include <iostream>

#include "absl/strings/str_format.h"
#include "controller/report/render.h"
#include "tools/cli/command.h"

namespace perfgate::cli {
namespace {

std::string Bytes(int64_t n) { return controller::FormatProfileValue(n, "bytes"); }

std::string Policy(int days) { return days > 0 ? absl::StrFormat("%d days", days) : "kept"; }

}  // namespace

void AddStorageCommands(CLI::App& app, Commands& cmds) {
  auto* storage = app.add_subcommand(
      "storage", "the store's disk use per kind of data, and the retention policy");
  cmds.Add(storage, [](Client* c, const Globals&) {
    return CallAndShow<v1::GetStorageRequest, v1::Storage>(
        *c, &v1::Controller::Stub::GetStorage, v1::GetStorageRequest(), [](const v1::Storage& s) {
          std::cout << absl::StrFormat("%-14s %12s  %s\n", "KIND", "SIZE", "REMOVED AFTER");
          for (const auto& k : s.kinds()) {
            std::string after = "kept";
            if (k.kind() == "logs") after = Policy(s.logs_retention_days());
            if (k.kind() == "profiles") after = Policy(s.profiles_retention_days());
            std::cout << absl::StrFormat("%-14s %12s  %s\n", k.kind(), Bytes(k.bytes()), after);
          }
          std::cout << absl::StrFormat("%-14s %12s\n", "total", Bytes(s.total_bytes()));
        });
  });

  auto req = std::make_shared<v1::CollectGarbageRequest>();
  auto* gc = app.add_subcommand(
      "gc",
      "remove the logs and profiles of runs finished longer ago than the controller's retention "
      "policy (or the ages given) now; runs, measurements and verdicts are kept. Admin token.");
  gc->add_flag(
      "--dry-run", [req](int64_t n) { req->set_dry_run(n > 0); },
      "say what would be removed; remove nothing");
  gc->add_option_function<int32_t>(
        "--logs-older-than-days", [req](int32_t d) { req->set_logs_older_than_days(d); },
        "remove logs of runs finished more than this many days ago (default: the policy's)")
      ->check(CLI::Range(1, 3650));
  gc->add_option_function<int32_t>(
        "--profiles-older-than-days", [req](int32_t d) { req->set_profiles_older_than_days(d); },
        "remove profiles of runs finished more than this many days ago (default: the policy's)")
      ->check(CLI::Range(1, 3650));
  cmds.Add(gc, [req](Client* c, const Globals&) {
    return CallAndShow<v1::CollectGarbageRequest, v1::CollectGarbageResponse>(
        *c, &v1::Controller::Stub::CollectGarbage, *req, [](const v1::CollectGarbageResponse& r) {
          const char* verb = r.dry_run() ? "would remove" : "removed";
          for (const auto& k : r.kinds()) {
            if (k.older_than_days() == 0) {
              std::cout << k.kind() << ": kept (the retention policy keeps them)\n";
              continue;
            }
            std::cout << absl::StrFormat("%s: %s %d %s of %d runs finished over %d days ago, %s\n",
                                         k.kind(), verb, k.items(),
                                         k.kind() == "logs" ? "log chunks" : "profiles", k.runs(),
                                         k.older_than_days(), Bytes(k.bytes()));
          }
          if (r.more()) std::cout << "more remains: run it again\n";
        });
  });
}

}  // namespace perfgate::cli
