#include "agent/recovery.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/bench/stack.h"
#include "agent/spool/attempt_journal.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

// Kills what is left of the attempt's process groups; returns what it did, for the log.
std::string KillOrphans(const AttemptJournal& journal) {
  std::string note;
  for (const ProcessRecord& p : journal.processes()) {
    if (!common::GroupAlive(p.pgid)) continue;
    auto ticks = common::ProcessStartTicks(p.pgid);
    // Only our own process: a recycled pid belongs to somebody else.
    if (ticks.ok() && *ticks != p.start_ticks) continue;
    spdlog::warn("msg=\"killing orphaned process group\" attempt={} pgid={}", journal.attempt_id(),
                 p.pgid);
    common::SignalGroup(p.pgid, SIGKILL).IgnoreError();
    for (int i = 0; i < 200 && common::GroupAlive(p.pgid); ++i) usleep(50'000);
    absl::StrAppend(&note, "; killed its orphaned process group ", p.pgid);
  }
  return note;
}

}  // namespace

absl::Status RecoverAttempts(const std::string& attempts_dir, const std::string& agent_prefix,
                             Uploader& uploader) {
  for (const auto& e : fs::directory_iterator(attempts_dir)) {
    auto j = AttemptJournal::Open(e.path().string());
    if (!j.ok()) {
      spdlog::error("msg=\"unreadable attempt journal; moving it aside\" dir={} error=\"{}\"",
                    e.path().string(), j.status().message());
      std::error_code ec;
      fs::rename(e.path(), e.path().string() + ".corrupt", ec);
      continue;
    }
    std::shared_ptr<AttemptJournal> journal = *std::move(j);
    if (!journal->result()) {
      std::string note =
          "perfgate-agent: the agent restarted while this attempt ran" + KillOrphans(*journal);
      if (std::string compose =
              RemoveLeftoverComposeProject(agent_prefix, std::to_string(journal->attempt_id()));
          !compose.empty())
        absl::StrAppend(&note, "; ", compose);
      journal->AppendLog(v1::LOG_STREAM_AGENT, note + "\n").IgnoreError();
      v1::CompleteAttemptRequest r;
      r.set_outcome(v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
      r.set_message("agent restarted while the attempt ran");
      if (auto s = journal->Finish(r); !s.ok()) return s;
    }
    spdlog::info("msg=\"recovered attempt journal\" attempt={} unacked_chunks={}",
                 journal->attempt_id(), journal->chunk_count() - journal->acked());
    uploader.Add(std::move(journal));
  }
  return absl::OkStatus();
}

}  // namespace perfgate::agent
