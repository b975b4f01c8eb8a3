#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/bench/stack.h"
#include "agent/bench/stack_internal.h"
#include "agent/exec/readiness.h"

namespace perfgate::agent {
namespace {

class ComposeStackImpl : public Stack {
 public:
  ComposeStackImpl(const v1::StackSpec& spec, BenchContext& ctx)
      : spec_(spec), c_(spec.compose()), ctx_(ctx) {
    auto it = ctx.vars.find("attempt_id");
    project_ = ComposeProjectName(ctx.hosts_prefix,
                                  it == ctx.vars.end() ? std::string("x") : it->second);
  }
  ~ComposeStackImpl() override { Stop(); }

  absl::Status Start() override {
    auto file = ctx_.Expand(c_.file());
    if (!file.ok())
      return absl::FailedPreconditionError("compose.file: " + std::string(file.status().message()));
    file_ = *file;
    if (!std::filesystem::exists(file_))
      return absl::FailedPreconditionError("compose.file: " + file_ + " does not exist");
    for (const auto& p : c_.ports()) {
      std::string env = "PERFGATE_PORT_";
      for (char ch : p)
        env += absl::ascii_isalnum(static_cast<unsigned char>(ch)) ? absl::ascii_toupper(ch) : '_';
      env_[env] = ctx_.vars.at("port:" + p);
    }
    for (const auto& [k, v] : c_.env()) {
      auto e = ctx_.Expand(v);
      if (!e.ok())
        return absl::FailedPreconditionError("compose.env." + k + ": " +
                                             std::string(e.status().message()));
      env_[k] = *e;
    }
    started_ = true;
    ctx_.steps.Note("compose project " + project_ + ": up");
    StepResult up = Compose({"up", "-d", "--build"}, absl::Minutes(30), true);
    if (up.cancelled) return absl::CancelledError("cancelled");
    if (!up.ok()) return absl::FailedPreconditionError(DescribeFailure("docker-compose up", up));
    for (int i = 0; i < c_.ready_size(); ++i) {
      absl::Status r = WaitReady(c_.ready(i), ctx_, [this] { return CheckAlive(); });
      if (absl::IsCancelled(r)) return r;
      if (!r.ok())
        return absl::FailedPreconditionError(absl::StrCat("compose.ready[", i, "]: ", r.message()));
    }
    if (auto s = Inspect(); !s.ok()) return s;
    ctx_.steps.Note(absl::StrCat("compose project ", project_, " ready: ", containers_.size(),
                                 " container(s)"));
    return absl::OkStatus();
  }

  void Stop() override {
    if (!started_) return;
    started_ = false;
    StepResult logs =
        Compose({"logs", "--no-color", "--timestamps"}, absl::Minutes(2), false, 8 << 20);
    std::string path = ctx_.workdir + "/logs/compose.log";
    std::error_code ec;
    std::filesystem::create_directories(ctx_.workdir + "/logs", ec);
    std::ofstream(path) << logs.stdout_text;
    ShipLogTail(ctx_, "compose project " + project_, path);
    int grace = static_cast<int>(spec_.stop_grace_seconds());
    ctx_.steps.Note("compose project " + project_ + ": down -v");
    // Teardown must happen even when the attempt was cancelled: run it without the cancel flag.
    static const std::atomic<bool> kNever{false};
    StepRunner uncancellable(ctx_.journal, kNever);
    StepOptions o = Options({"down", "-v", "--remove-orphans", "-t", std::to_string(grace)});
    o.timeout = absl::Minutes(5);
    StepResult down = uncancellable.Run(o);
    if (!down.ok()) ctx_.steps.Note(DescribeFailure("docker-compose down", down));
    containers_.clear();
  }

  std::vector<ServiceProcesses> Processes() override {
    std::map<std::string, ServiceProcesses> by;
    for (const auto& c : containers_) {
      if (!c_.services().empty() &&
          std::find(c_.services().begin(), c_.services().end(), c.service) == c_.services().end())
        continue;
      by[c.service].name = c.service;
      by[c.service].roots.push_back(c.pid);
    }
    std::vector<ServiceProcesses> out;
    for (auto& [_, s] : by) out.push_back(std::move(s));
    return out;
  }

  std::string CheckAlive() override {
    StepResult ps = Compose({"ps", "-q"}, absl::Minutes(1), false, 1 << 16);
    if (!ps.ok()) return "";  // cannot tell; not evidence of a death
    for (absl::string_view id : absl::StrSplit(ps.stdout_text, '\n', absl::SkipWhitespace())) {
      StepResult st = Docker({"inspect", "-f",
                              "{{.State.Running}} {{.State.ExitCode}} {{index .Config.Labels "
                              "\"com.docker.compose.service\"}}",
                              std::string(absl::StripAsciiWhitespace(id))});
      std::vector<std::string> f = absl::StrSplit(absl::StripAsciiWhitespace(st.stdout_text), ' ');
      if (st.ok() && f.size() >= 3 && f[0] == "false")
        return "container of service " + f[2] + " exited (exit code " + f[1] + ")";
    }
    return "";
  }

 private:
  struct Container {
    std::string service;
    pid_t pid = 0;
  };

  StepOptions Options(std::vector<std::string> args) {
    StepOptions o;
    o.spawn.argv = {"docker-compose", "--no-ansi", "-p", project_, "-f", file_};
    o.spawn.argv.insert(o.spawn.argv.end(), args.begin(), args.end());
    o.spawn.env_add.insert(env_.begin(), env_.end());
    o.spawn.working_dir = std::filesystem::path(file_).parent_path().string();
    o.agent_tool = true;  // the containers are dockerd's, in their own groups
    return o;
  }

  StepResult Compose(std::vector<std::string> args, absl::Duration timeout, bool stream,
                     size_t capture = 0) {
    StepOptions o = Options(std::move(args));
    o.timeout = timeout;
    o.stream_output = stream;
    o.capture_stdout = capture;
    return ctx_.steps.Run(o);
  }

  StepResult Docker(std::vector<std::string> args) {
    StepOptions o;
    o.spawn.argv = {"docker"};
    o.spawn.argv.insert(o.spawn.argv.end(), args.begin(), args.end());
    o.agent_tool = true;
    o.timeout = absl::Minutes(1);
    o.stream_output = false;
    o.capture_stdout = 1 << 16;
    return ctx_.steps.Run(o);
  }

  // The containers' services and main pids (as the host sees them), for resource sampling.
  absl::Status Inspect() {
    StepResult ps = Compose({"ps", "-q"}, absl::Minutes(1), false, 1 << 16);
    if (!ps.ok()) return absl::FailedPreconditionError(DescribeFailure("docker-compose ps", ps));
    for (absl::string_view id : absl::StrSplit(ps.stdout_text, '\n', absl::SkipWhitespace())) {
      StepResult st =
          Docker({"inspect", "-f",
                  "{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Pid}}",
                  std::string(absl::StripAsciiWhitespace(id))});
      std::vector<std::string> f = absl::StrSplit(absl::StripAsciiWhitespace(st.stdout_text), ' ');
      Container c;
      if (!st.ok() || f.size() != 2 || !absl::SimpleAtoi(f[1], &c.pid)) {
        return absl::FailedPreconditionError("docker inspect " + std::string(id) + ": " +
                                             DescribeFailure("docker inspect", st));
      }
      c.service = f[0];
      if (c.pid > 0) containers_.push_back(c);
    }
    return absl::OkStatus();
  }

  const v1::StackSpec& spec_;
  const v1::ComposeStack& c_;
  BenchContext& ctx_;
  std::string project_, file_;
  std::map<std::string, std::string> env_;
  std::vector<Container> containers_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<Stack> MakeComposeStack(const v1::StackSpec& spec, BenchContext& ctx) {
  return std::make_unique<ComposeStackImpl>(spec, ctx);
}

std::string ComposeProjectName(const std::string& agent_prefix, const std::string& attempt_id) {
  return absl::StrCat("perfgate-", agent_prefix, "-", attempt_id);
}

std::string RemoveLeftoverComposeProject(const std::string& agent_prefix,
                                         const std::string& attempt_id) {
  if (common::FindProgram("docker").empty()) return "";
  const std::string project = ComposeProjectName(agent_prefix, attempt_id);
  const std::string label = "label=com.docker.compose.project=" + project;
  // One docker command's output (empty when it fails: no engine, nothing to do).
  auto docker = [](std::vector<std::string> args) {
    common::SpawnOptions o;
    o.argv = {"docker"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    int code = -1;
    auto out = common::RunAndCapture(o, &code);
    return code == 0 && out.ok() ? *out : std::string();
  };
  // Containers first: a network or volume in use cannot go.
  struct Kind {
    const char* name;
    std::vector<std::string> list, remove;
  };
  const Kind kinds[] = {
      {"container", {"ps", "-aq", "--filter", label}, {"rm", "-f", "-v"}},
      {"network", {"network", "ls", "-q", "--filter", label}, {"network", "rm"}},
      {"volume", {"volume", "ls", "-q", "--filter", label}, {"volume", "rm", "-f"}}};
  std::string note;
  for (const Kind& k : kinds) {
    std::vector<std::string> rm = k.remove;
    const size_t before = rm.size();
    for (absl::string_view id : absl::StrSplit(docker(k.list), '\n', absl::SkipWhitespace()))
      rm.emplace_back(absl::StripAsciiWhitespace(id));
    if (rm.size() == before) continue;
    docker(rm);
    absl::StrAppend(&note, note.empty() ? "" : ", ", rm.size() - before, " ", k.name, "(s)");
  }
  return note.empty()
             ? ""
             : "removed its compose project " + project + " (" + note + ")";
}

}  // namespace perfgate::agent
