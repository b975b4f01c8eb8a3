// `perfgate profile …`: pprof profiles captured during runs: list, top, diff, download.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/hash/sha256.h"
#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {
namespace {

struct ProfileFlags {
  int64_t run_id = 0, profile_id = 0, other_id = 0;
  std::string sample_type, out_file;
  int top_n = 20;
};

// Fetches the profile's bytes, checks their size and hash, and writes them atomically.
int Download(Client& c, const ProfileFlags& f) {
  v1::DownloadProfileRequest req;
  req.set_profile_id(f.profile_id);
  auto ctx = c.Ctx(absl::Minutes(10));
  auto reader = c.stub().DownloadProfile(ctx.get(), req);
  v1::DownloadProfileChunk chunk;
  std::string bytes, sha;
  int64_t size = -1;
  while (reader->Read(&chunk)) {
    if (size < 0) {
      size = chunk.size();
      sha = chunk.sha256();
    }
    bytes += chunk.data();
  }
  if (auto s = reader->Finish(); !s.ok()) return Fail(s);
  if (static_cast<int64_t>(bytes.size()) != size) {
    std::cerr << "perfgate: got " << bytes.size() << " of " << size << " bytes\n";
    return 4;
  }
  if (common::Sha256Hex(bytes) != sha) {
    std::cerr << "perfgate: the bytes received do not hash to " << sha << "\n";
    return 4;
  }
  const std::string tmp = f.out_file + ".part";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return Usage("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), f.out_file.c_str()) != 0)
    return Usage("cannot rename " + tmp + " to " + f.out_file);
  std::cerr << "wrote " << bytes.size() << " bytes (sha256 " << sha.substr(0, 12) << ") to "
            << f.out_file << "\n";
  return 0;
}

}  // namespace

void AddProfileCommands(CLI::App& app, Commands& cmds) {
  auto f = std::make_shared<ProfileFlags>();
  auto* profile = app.add_subcommand("profile", "pprof profiles captured during runs");
  profile->require_subcommand(1);

  auto* list = profile->add_subcommand("list", "a run's profiles");
  list->add_option("RUN", f->run_id, "run id")->required();
  cmds.Add(list, [f](Client* c, const Globals&) {
    v1::ListProfilesRequest req;
    req.set_run_id(f->run_id);
    return CallAndShow<v1::ListProfilesRequest, v1::ListProfilesResponse>(
        *c, &v1::Controller::Stub::ListProfiles, req,
        [](const v1::ListProfilesResponse& r) { RenderProfiles(std::cout, r); });
  });

  auto* top = profile->add_subcommand(
      "top", "the functions with the largest flat values (flat: own; cum: with callees)");
  top->add_option("ID", f->profile_id, "profile id (from profile list)")->required();
  top->add_option("--sample-type", f->sample_type,
                  "e.g. cpu, inuse_space, alloc_objects (default: the profile's default)");
  top->add_option("-n,--limit", f->top_n, "functions to show")->capture_default_str();
  cmds.Add(top, [f](Client* c, const Globals&) {
    v1::GetProfileTopRequest req;
    req.set_profile_id(f->profile_id);
    req.set_sample_type(f->sample_type);
    req.set_limit(f->top_n);
    return CallAndShow<v1::GetProfileTopRequest, v1::ProfileTop>(
        *c, &v1::Controller::Stub::GetProfileTop, req,
        [](const v1::ProfileTop& r) { RenderProfileTop(std::cout, r); });
  });

  auto* diff = profile->add_subcommand(
      "diff",
      "what changed from profile A to B by function (baseline vs candidate, or a "
      "run's first and last heap profile: growth = leak suspects)");
  diff->add_option("A", f->profile_id, "base profile id")->required();
  diff->add_option("B", f->other_id, "candidate profile id")->required();
  diff->add_option("--sample-type", f->sample_type, "as for top (default: A's default)");
  diff->add_option("-n,--limit", f->top_n, "functions to show")->capture_default_str();
  cmds.Add(diff, [f](Client* c, const Globals&) {
    v1::DiffProfilesRequest req;
    req.set_base_id(f->profile_id);
    req.set_candidate_id(f->other_id);
    req.set_sample_type(f->sample_type);
    req.set_limit(f->top_n);
    return CallAndShow<v1::DiffProfilesRequest, v1::ProfileDiff>(
        *c, &v1::Controller::Stub::DiffProfiles, req,
        [](const v1::ProfileDiff& r) { RenderProfileDiff(std::cout, r); });
  });

  auto* down = profile->add_subcommand(
      "download", "write the profile as captured (opens unchanged in go tool pprof)");
  down->add_option("ID", f->profile_id, "profile id")->required();
  down->add_option("-o,--file", f->out_file, "where to write it")->required();
  cmds.Add(down, [f](Client* c, const Globals&) { return Download(*c, *f); });
}

}  // namespace perfgate::cli
