// Where CI integration keeps its state: projects with their registered suites, the webhook
// deliveries handled, the pull requests seen, which run reports to which pull request, and the
// outbox of reports to send. Implementations make each method one transaction and are safe for
// concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/forge/forge_event.h"
#include "controller/forge/planner.h"
#include "controller/queue/job_store.h"
#include "perfgate/v1/forge.pb.h"

namespace perfgate::controller {

struct DeliveryResult {
  bool duplicate = false;     // this delivery id was handled before: nothing was done now
  std::string outcome;        // what was done (or, for a duplicate, what was done the first time)
  std::vector<v1::Run> runs;  // submitted
  std::vector<StopOrder> stops;  // attempts of superseded runs to stop
};

// Decides what to do once the store knows the pull request (planner.h's PlanForgeEvent).
using DeliveryPlanner =
    std::function<absl::StatusOr<ForgePlan>(const std::optional<PullRequestRecord>& known)>;
// The reply to post once the runs exist (it links to them).
using ReplyFormatter =
    std::function<std::string(const ForgePlan& plan, const std::vector<v1::Run>& runs)>;

// One outbox row claimed for sending, with what its report needs.
struct OutboxItem {
  int64_t id = 0;
  std::string project, forge, repository;
  std::string kind;  // check_run, commit_status, pr_comment, reply
  std::string target;
  int64_t run_id = 0;  // check_run, commit_status
  int pr_number = 0;
  int64_t installation_id = 0;
  std::string body;  // reply
  std::string remote_id;
  int64_t version = 0;
  int attempts = 0;
  int64_t superseded_by = 0;
  // pr_comment: the pull request's head and the latest run of each suite there.
  std::string head_sha;
  std::vector<int64_t> head_runs;
  std::string comment_mode;  // the project's: always, on_change, never
};

struct SendOutcome {
  enum class Kind { kSent, kRetry, kRefused };
  Kind kind = Kind::kSent;
  std::string remote_id;  // kSent: the object created (kept for updates)
  int http_status = 0;
  std::string error;
  absl::Time retry_at;  // kRetry
};

// The outbox kinds.
inline constexpr char kCheckRun[] = "check_run";
inline constexpr char kCommitStatus[] = "commit_status";
inline constexpr char kPrComment[] = "pr_comment";
inline constexpr char kReply[] = "reply";

class ForgeStore {
 public:
  virtual ~ForgeStore() = default;

  // `p` validated. create: ALREADY_EXISTS for a taken name; update: NOT_FOUND for an unknown
  // one. A suite whose text changed gets the next version; ALREADY_EXISTS when another project
  // has the same repository.
  virtual absl::StatusOr<v1::Project> PutProject(const v1::Project& p, bool create) = 0;
  virtual absl::StatusOr<v1::Project> GetProject(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<v1::Project>> ListProjects() = 0;
  // Removes the project and its suites (runs and their history stay; its pending reports become
  // failed, "project removed"). NOT_FOUND if unknown.
  virtual absl::StatusOr<v1::Project> RemoveProject(const std::string& name) = 0;
  // The project for a forge's repository (GitLab: its path or its numeric id), if any.
  virtual absl::StatusOr<std::optional<v1::Project>> FindProject(const std::string& forge,
                                                                 const ForgeEvent& e) = 0;

  // Handles one delivery exactly once: records its id (a redelivery returns duplicate and does
  // nothing), plans with what is known of the pull request, stores the pull request, cancels
  // superseded runs, submits the planned runs with their reports' outbox rows, and queues the
  // reply. `project` may be null (an event for no project: recorded and ignored).
  virtual absl::StatusOr<DeliveryResult> ApplyDelivery(
      const std::string& forge, const std::string& delivery_id, const ForgeEvent& e,
      const v1::Project* project, const DeliveryPlanner& plan, const ReplyFormatter& reply) = 0;

  // Claims up to `limit` due rows for `lease` (another sender, or this one after a crash, takes
  // them again after it).
  virtual absl::StatusOr<std::vector<OutboxItem>> ClaimOutbox(int limit, absl::Duration lease) = 0;
  // Records what became of sending `item` at its version. A row whose content changed meanwhile
  // stays due.
  virtual absl::Status FinishOutbox(const OutboxItem& item, const SendOutcome& out) = 0;
  virtual absl::StatusOr<std::vector<v1::OutboxEntry>> ListOutbox(const std::string& project,
                                                                  const std::string& state,
                                                                  int limit) = 0;
};

}  // namespace perfgate::controller
