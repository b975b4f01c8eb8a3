// Security end to end (docs/security.md): TLS and mutual TLS on the gRPC port with certificates
// made here by tools/pki.sh and Debian's openssl; agents bound to their attempts by certificate
// or by named token; API roles; secrets kept off command lines and out of readable files.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <sys/stat.h>

#include <fstream>
#include <future>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/api/api_roles.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

// Runs a shell command; fails the test (returning false) when it exits non-zero.
bool Sh(const std::string& cmd, std::string* out = nullptr) {
  common::SpawnOptions o;
  o.argv = {"bash", "-c", cmd + " 2>&1"};
  int code = -1;
  auto r = common::RunAndCapture(o, &code);
  if (out) *out = r.ok() ? *r : "";
  EXPECT_EQ(code, 0) << cmd << "\n" << (r.ok() ? *r : std::string(r.status().message()));
  return code == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteSecret(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  chmod(path.c_str(), 0600);
}

const std::string kPki = std::string(PERFGATE_SOURCE_DIR) + "/tools/pki.sh";

// A lab CA with agents a and b; a foreign CA that also issued an "a"; and an "a" from the lab
// CA that expired in 2020.
struct Pki {
  std::string lab, foreign, expired_cert, expired_key;
};

Pki MakePki(const std::string& dir) {
  Pki p{dir + "/lab", dir + "/foreign", dir + "/expired-a.pem", dir + "/expired-a.key"};
  Sh(absl::StrCat(kPki, " init ", p.lab, " && ", kPki, " issue-agent ", p.lab, " a && ", kPki,
                  " issue-agent ", p.lab, " b && ", kPki, " init ", p.foreign, " && ", kPki,
                  " issue-agent ", p.foreign, " a"));
  // `openssl ca` sets the validity dates that `openssl x509` cannot.
  const std::string ca = dir + "/expired-ca";
  Sh(absl::StrCat("mkdir -p ", ca, " && cd ", ca, " && touch index.txt && echo 01 > serial && ",
                  "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\n",
                  "serial=serial\\npolicy=p\\ndefault_md=sha256\\n[p]\\ncommonName=supplied\\n' ",
                  "> ca.cnf && (umask 077; openssl ecparam -name prime256v1 -genkey -noout ",
                  "| openssl pkcs8 -topk8 -nocrypt -out ", p.expired_key, ") && ",
                  "openssl req -new -key ", p.expired_key, " -subj /CN=a -out a.csr && ",
                  "openssl ca -batch -config ca.cnf -cert ", p.lab, "/ca.pem -keyfile ", p.lab,
                  "/ca.key -in a.csr -out ", p.expired_cert,
                  " -startdate 20200101000000Z -enddate 20200102000000Z -notext"));
  return p;
}

std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca, const std::string& cert = "",
                                              const std::string& key = "") {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ReadFile(ca);
  if (!cert.empty()) {
    o.pem_cert_chain = ReadFile(cert);
    o.pem_private_key = ReadFile(key);
  }
  return grpc::SslCredentials(o);
}

class SecurityTest : public ClusterTest {
 protected:
  // The controller's API over TLS (verified with the lab CA).
  void UseTlsStub(const std::string& ca) {
    stub_ = v1::Controller::NewStub(grpc::CreateChannel(controller_->address(), Tls(ca)));
  }
  std::unique_ptr<v1::AgentGateway::Stub> Gateway(std::shared_ptr<grpc::ChannelCredentials> c) {
    return v1::AgentGateway::NewStub(grpc::CreateChannel(controller_->address(), c));
  }
  // Waits for the run's first attempt to run; returns it.
  v1::Attempt RunningAttempt(int64_t run_id, const std::string& token = "") {
    v1::Attempt out;
    EXPECT_TRUE(WaitUntil(
        [&] {
          v1::Run r = GetRun(*stub_, run_id, token);
          if (r.jobs_size() == 0 || r.jobs(0).attempts_size() == 0) return false;
          out = r.jobs(0).attempts(0);
          return out.state() == "RUNNING";
        },
        absl::Seconds(30)));
    return out;
  }
  // Every unary call an agent makes for an attempt, as another agent: each refused with
  // `code`. Returns the messages.
  std::vector<std::string> ForgeCalls(v1::AgentGateway::Stub& gw, const v1::Attempt& at,
                                      grpc::StatusCode code, const std::string& token = "") {
    std::vector<std::string> messages;
    auto expect = [&](const char* what, const grpc::Status& s) {
      EXPECT_EQ(s.error_code(), code) << what << ": " << s.error_message();
      messages.push_back(s.error_message());
    };
    {
      v1::AcceptAttemptRequest r;
      r.set_attempt_id(at.id());
      r.set_epoch(at.epoch());
      r.set_agent("a");
      v1::AcceptAttemptResponse resp;
      expect("AcceptAttempt", gw.AcceptAttempt(Ctx(token).get(), r, &resp));
    }
    {
      v1::UploadLogRequest r;
      r.set_attempt_id(at.id());
      r.set_epoch(at.epoch());
      auto* c = r.add_chunks();
      c->set_seq(0);
      c->set_stream(v1::LOG_STREAM_STDOUT);
      c->set_data("FORGED LOG LINE\n");
      v1::UploadLogResponse resp;
      expect("UploadLog", gw.UploadLog(Ctx(token).get(), r, &resp));
    }
    {
      v1::UploadResultsRequest r;
      r.set_attempt_id(at.id());
      r.set_epoch(at.epoch());
      auto* rep = r.add_results();
      rep->set_repetition(1);
      rep->set_valid(true);
      v1::UploadResultsResponse resp;
      expect("UploadResults", gw.UploadResults(Ctx(token).get(), r, &resp));
    }
    {
      v1::UploadBlobChunkRequest r;
      r.set_attempt_id(at.id());
      r.set_epoch(at.epoch());
      r.set_sha256(std::string(64, '0'));
      r.set_size(4);
      r.set_data("fake");
      v1::UploadBlobChunkResponse resp;
      expect("UploadBlobChunk", gw.UploadBlobChunk(Ctx(token).get(), r, &resp));
    }
    {
      v1::CompleteAttemptRequest r;
      r.set_attempt_id(at.id());
      r.set_epoch(at.epoch());
      r.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
      v1::CompleteAttemptResponse resp;
      expect("CompleteAttempt", gw.CompleteAttempt(Ctx(token).get(), r, &resp));
    }
    return messages;
  }
  // A session whose hello names `name`: OK once the controller acknowledges it, else the
  // status the stream ends with.
  grpc::Status HelloAs(v1::AgentGateway::Stub& gw, const std::string& name,
                       const std::string& token = "") {
    auto ctx = Ctx(token, absl::Seconds(10));
    auto stream = gw.Session(ctx.get());
    v1::AgentMessage m;
    m.mutable_hello()->set_name(name);
    stream->Write(m);
    v1::ControllerMessage in;
    while (stream->Read(&in)) {
      if (in.has_hello_ack()) {
        ctx->TryCancel();
        stream->Finish();
        return grpc::Status::OK;
      }
    }
    return stream->Finish();
  }
  // The run ends as cancelled by us, with none of the forged log or results stored.
  void ExpectUntouched(int64_t run_id, const std::string& token = "") {
    v1::CancelRunRequest c;
    c.set_id(run_id);
    v1::Run r;
    ASSERT_TRUE(stub_->CancelRun(Ctx(token).get(), c, &r).ok());
    EXPECT_TRUE(WaitUntil([&] { return IsTerminal(GetRun(*stub_, run_id, token).state()); },
                          absl::Seconds(30)));
    EXPECT_EQ(GetRun(*stub_, run_id, token).state(), v1::RUN_STATE_CANCELLED);
    v1::GetRunLogsRequest lr;
    lr.set_run_id(run_id);
    v1::GetRunLogsResponse logs;
    ASSERT_TRUE(stub_->GetRunLogs(Ctx(token).get(), lr, &logs).ok());
    for (const auto& ch : logs.chunks())
      EXPECT_EQ(ch.data().find("FORGED"), std::string::npos) << "a forged log line was stored";
    v1::GetRunResultsRequest rr;
    rr.set_run_id(run_id);
    v1::RunResults res;
    ASSERT_TRUE(stub_->GetRunResults(Ctx(token).get(), rr, &res).ok());
    for (const auto& j : res.jobs())
      EXPECT_EQ(j.repetitions_size(), 0) << "forged results were stored";
  }
};

TEST_F(SecurityTest, MutualTlsBindsEachAgentToItsOwnAttempts) {
  Pki pki = MakePki(dir_);
  ControllerOptions o;
  o.extra_args = {"--tls-cert",      pki.lab + "/controller.pem",
                  "--tls-key",       pki.lab + "/controller.key",
                  "--tls-client-ca", pki.lab + "/ca.pem"};
  StartController(o);
  UseTlsStub(pki.lab + "/ca.pem");
  StartAgent("b", {"--tls-ca", pki.lab + "/ca.pem", "--tls-cert", pki.lab + "/agents/b.pem",
                   "--tls-key", pki.lab + "/agents/b.key"});
  v1::Run run = SubmitCommand(*stub_, "echo started; sleep 60");
  v1::Attempt at = RunningAttempt(run.id());
  ASSERT_EQ(at.agent(), "b");

  // Agent a's real certificate, used for b's attempt: every call refused, naming why.
  auto as_a =
      Gateway(Tls(pki.lab + "/ca.pem", pki.lab + "/agents/a.pem", pki.lab + "/agents/a.key"));
  for (const std::string& m : ForgeCalls(*as_a, at, grpc::StatusCode::PERMISSION_DENIED))
    EXPECT_NE(m.find("is not assigned to agent 'a'"), std::string::npos) << m;
  grpc::Status hello = HelloAs(*as_a, "b");
  EXPECT_EQ(hello.error_code(), grpc::StatusCode::PERMISSION_DENIED) << hello.error_message();
  EXPECT_NE(hello.error_message().find("credentials are agent 'a'"), std::string::npos);
  EXPECT_TRUE(HelloAs(*as_a, "a").ok()) << "a may still be itself";

  // No certificate, a foreign CA's, an expired one: refused before any call is served.
  auto no_cert = Gateway(Tls(pki.lab + "/ca.pem"));
  for (const std::string& m : ForgeCalls(*no_cert, at, grpc::StatusCode::UNAUTHENTICATED))
    EXPECT_NE(m.find("need a client certificate"), std::string::npos) << m;
  for (auto [cert, key] : {std::pair{pki.foreign + "/agents/a.pem", pki.foreign + "/agents/a.key"},
                           std::pair{pki.expired_cert, pki.expired_key}}) {
    auto gw = Gateway(Tls(pki.lab + "/ca.pem", cert, key));
    ForgeCalls(*gw, at, grpc::StatusCode::UNAVAILABLE);  // the handshake fails
    EXPECT_EQ(HelloAs(*gw, "a").error_code(), grpc::StatusCode::UNAVAILABLE) << cert;
  }
  // Our agent refuses to start with the expired certificate, saying so.
  std::string out;
  common::SpawnOptions so;
  so.argv = {BinaryPath("perfgate-agent"),
             "--controller",
             controller_->address(),
             "--name",
             "a",
             "--work-dir",
             dir_ + "/agent-expired",
             "--tls-ca",
             pki.lab + "/ca.pem",
             "--tls-cert",
             pki.expired_cert,
             "--tls-key",
             pki.expired_key,
             "--http-listen",
             "127.0.0.1:0"};
  int code = 0;
  auto r = common::RunAndCapture(so, &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(r.value_or("").find("--tls-cert: " + pki.expired_cert + ": certificate 1 has expired"),
            std::string::npos)
      << r.value_or("");

  // Nor with another agent's certificate than its --name says.
  so.argv = {BinaryPath("perfgate-agent"),
             "--controller",
             controller_->address(),
             "--name",
             "b",
             "--work-dir",
             dir_ + "/agent-misnamed",
             "--tls-ca",
             pki.lab + "/ca.pem",
             "--tls-cert",
             pki.lab + "/agents/a.pem",
             "--tls-key",
             pki.lab + "/agents/a.key",
             "--http-listen",
             "127.0.0.1:0"};
  r = common::RunAndCapture(so, &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(r.value_or("").find("--name b: the certificate --tls-cert"), std::string::npos)
      << r.value_or("");

  // A plaintext client on the TLS port: no answer; the CLI says what to do.
  auto plain = v1::Controller::NewStub(
      grpc::CreateChannel(controller_->address(), grpc::InsecureChannelCredentials()));
  v1::ListRunsResponse lr;
  EXPECT_EQ(plain->ListRuns(Ctx().get(), v1::ListRunsRequest(), &lr).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Cli({"run", "list"}, &out), 4) << out;
  EXPECT_NE(out.find("--tls-ca"), std::string::npos) << out;
  EXPECT_EQ(Cli({"--tls-ca", pki.lab + "/ca.pem", "run", "list"}, &out), 0) << out;

  ExpectUntouched(run.id());
  EXPECT_NE(controller_->process().Log().find("another agent's attempt"), std::string::npos)
      << "refusals are logged";
}

// A CA rotation: the controller trusts the old and the new CA at once, so agents move over one
// by one; a certificate from neither is still refused.
TEST_F(SecurityTest, TwoClientCasAreTrustedDuringARotation) {
  Pki pki = MakePki(dir_);
  const std::string bundle = dir_ + "/both-cas.pem";
  std::ofstream(bundle) << ReadFile(pki.lab + "/ca.pem") << ReadFile(pki.foreign + "/ca.pem");
  Sh(absl::StrCat(kPki, " init ", dir_, "/third && ", kPki, " issue-agent ", dir_, "/third c"));
  ControllerOptions o;
  o.extra_args = {"--tls-cert",      pki.lab + "/controller.pem",
                  "--tls-key",       pki.lab + "/controller.key",
                  "--tls-client-ca", bundle};
  StartController(o);
  auto old_ca =
      Gateway(Tls(pki.lab + "/ca.pem", pki.lab + "/agents/b.pem", pki.lab + "/agents/b.key"));
  auto new_ca = Gateway(
      Tls(pki.lab + "/ca.pem", pki.foreign + "/agents/a.pem", pki.foreign + "/agents/a.key"));
  auto neither =
      Gateway(Tls(pki.lab + "/ca.pem", dir_ + "/third/agents/c.pem", dir_ + "/third/agents/c.key"));
  EXPECT_TRUE(HelloAs(*old_ca, "b").ok());
  EXPECT_TRUE(HelloAs(*new_ca, "a").ok());
  EXPECT_EQ(HelloAs(*neither, "c").error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A rotation by replacing the files: the controller serves its new certificate and trusts the
// new client CA within its refresh period, without a restart.
TEST_F(SecurityTest, ReplacedCertificateFilesAreServedWithoutARestart) {
  Pki pki = MakePki(dir_);
  const std::string live = dir_ + "/live";
  auto install = [&](const std::string& cert, const std::string& key, const std::string& cas) {
    // Each file replaced whole (rename), as a deployment tool would.
    Sh(absl::StrCat("mkdir -p ", live, " && cp ", cert, " ", live, "/c.tmp && mv ", live, "/c.tmp ",
                    live, "/server.pem && cp ", key, " ", live, "/k.tmp && chmod 600 ", live,
                    "/k.tmp && mv ", live, "/k.tmp ", live, "/server.key && cat ", cas, " > ", live,
                    "/a.tmp && mv ", live, "/a.tmp ", live, "/client-ca.pem"));
  };
  install(pki.lab + "/controller.pem", pki.lab + "/controller.key", pki.lab + "/ca.pem");
  ControllerOptions o;
  o.extra_args = {"--tls-cert",         live + "/server.pem", "--tls-key",
                  live + "/server.key", "--tls-client-ca",    live + "/client-ca.pem"};
  StartController(o);
  const pid_t pid = controller_->process().pid();
  auto trusts_new = v1::Controller::NewStub(
      grpc::CreateChannel(controller_->address(), Tls(pki.foreign + "/ca.pem")));
  auto new_agent = Gateway(
      Tls(pki.lab + "/ca.pem", pki.foreign + "/agents/a.pem", pki.foreign + "/agents/a.key"));
  v1::ListRunsResponse lr;
  EXPECT_EQ(trusts_new->ListRuns(Ctx().get(), v1::ListRunsRequest(), &lr).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(HelloAs(*new_agent, "a").error_code(), grpc::StatusCode::UNAVAILABLE);

  install(pki.foreign + "/controller.pem", pki.foreign + "/controller.key",
          pki.lab + "/ca.pem " + pki.foreign + "/ca.pem");
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto fresh = v1::Controller::NewStub(
            grpc::CreateChannel(controller_->address(), Tls(pki.foreign + "/ca.pem")));
        return fresh->ListRuns(Ctx("", absl::Seconds(2)).get(), v1::ListRunsRequest(), &lr).ok();
      },
      absl::Seconds(20)))
      << "the new certificate was not served";
  auto agent_now = Gateway(
      Tls(pki.foreign + "/ca.pem", pki.foreign + "/agents/a.pem", pki.foreign + "/agents/a.key"));
  EXPECT_TRUE(HelloAs(*agent_now, "a").ok()) << "the new CA's agent is trusted";
  auto old_agent =
      Gateway(Tls(pki.foreign + "/ca.pem", pki.lab + "/agents/b.pem", pki.lab + "/agents/b.key"));
  EXPECT_TRUE(HelloAs(*old_agent, "b").ok()) << "and the old CA's, during the change";
  EXPECT_EQ(controller_->process().pid(), pid);
  EXPECT_TRUE(controller_->process().Running()) << "no restart";
}

// Tokens rotate by rewriting the file: the controller follows it; a malformed rewrite keeps the
// tokens it had, saying why.
TEST_F(SecurityTest, ARewrittenTokenFileTakesEffectWithoutARestart) {
  const std::string tokens = dir_ + "/api-tokens";
  WriteSecret(tokens, "ops admin old-token-0123456789\n");
  ControllerOptions o;
  o.api_token_file = tokens;
  StartController(o);
  auto works = [&](const std::string& token) {
    v1::ListRunsResponse r;
    return stub_->ListRuns(Ctx(token).get(), v1::ListRunsRequest(), &r).ok();
  };
  EXPECT_TRUE(works("old-token-0123456789"));
  WriteSecret(tokens, "ops admin old-token-0123456789\nops2 admin new-token-0123456789\n");
  EXPECT_TRUE(WaitUntil([&] { return works("new-token-0123456789"); }, absl::Seconds(10)));
  EXPECT_TRUE(works("old-token-0123456789")) << "both during the change";
  WriteSecret(tokens, "ops2 admin new-token-0123456789\n");
  EXPECT_TRUE(WaitUntil([&] { return !works("old-token-0123456789"); }, absl::Seconds(10)));
  WriteSecret(tokens, "ops2 boss new-token-0123456789\n");
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_TRUE(works("new-token-0123456789")) << "a malformed file keeps the last good tokens";
  EXPECT_NE(controller_->process().Log().find("token file changed but is refused"),
            std::string::npos);
}

TEST_F(SecurityTest, NamedAgentTokensBindAgentsWithoutTls) {
  const std::string tokens = dir_ + "/agent-tokens", b_token = dir_ + "/b.token";
  WriteSecret(tokens, "a aaaaaaaaaaaaaaaaaaaaaaaa\nb bbbbbbbbbbbbbbbbbbbbbbbb\n");
  WriteSecret(b_token, "bbbbbbbbbbbbbbbbbbbbbbbb\n");
  ControllerOptions o;
  o.extra_args = {"--agent-token-file", tokens};
  StartController(o);
  StartAgent("b", {"--token-file", b_token});
  v1::Run run = SubmitCommand(*stub_, "sleep 60");
  v1::Attempt at = RunningAttempt(run.id());
  ASSERT_EQ(at.agent(), "b");
  auto gw = controller_->GatewayStub();
  ForgeCalls(*gw, at, grpc::StatusCode::PERMISSION_DENIED, "aaaaaaaaaaaaaaaaaaaaaaaa");
  ForgeCalls(*gw, at, grpc::StatusCode::UNAUTHENTICATED, "not-a-token-at-all-xx");
  EXPECT_EQ(HelloAs(*gw, "b", "aaaaaaaaaaaaaaaaaaaaaaaa").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ExpectUntouched(run.id());
}

// Every call of the Controller API with each role's token: refused exactly when the role table
// says so, and the refusal names the role needed.
TEST_F(SecurityTest, EachRoleAgainstEachCallOfTheApi) {
  const std::string tokens = dir_ + "/api-tokens";
  const std::map<common::Role, std::string> token_of = {
      {common::Role::kViewer, "viewer-token-0123456789"},
      {common::Role::kSubmitter, "submitter-token-0123456789"},
      {common::Role::kAdmin, "admin-token-0123456789"}};
  WriteSecret(tokens,
              "# name role token\ndash viewer viewer-token-0123456789\n"
              "ci submitter submitter-token-0123456789\n"
              "dev submitter dev-token-0123456789\nops admin admin-token-0123456789\n");
  ControllerOptions o;
  o.api_token_file = tokens;
  StartController(o);
  auto channel = grpc::CreateChannel(controller_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      v1::Controller::service_full_name());
  ASSERT_NE(service, nullptr);
  int checked = 0;
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    std::optional<common::Role> need = controller::RequiredRole(m->name());
    ASSERT_TRUE(need.has_value()) << m->name() << " has no role";
    for (const auto& [role, token] : token_of) {
      auto ctx = Ctx(token);
      grpc::Status s;
      if (m->server_streaming()) {
        grpc::CompletionQueue cq;
        auto call = generic.PrepareCall(
            ctx.get(), absl::StrCat("/", service->full_name(), "/", m->name()), &cq);
        void* tag;
        bool ok;
        call->StartCall(reinterpret_cast<void*>(1));
        cq.Next(&tag, &ok);
        grpc::ByteBuffer empty;
        call->Write(empty, reinterpret_cast<void*>(2));
        cq.Next(&tag, &ok);
        call->WritesDone(reinterpret_cast<void*>(3));
        cq.Next(&tag, &ok);
        grpc::ByteBuffer in;
        // Read until the stream ends, then Finish.
        for (;;) {
          call->Read(&in, reinterpret_cast<void*>(4));
          cq.Next(&tag, &ok);
          if (!ok) break;
        }
        call->Finish(&s, reinterpret_cast<void*>(5));
        cq.Next(&tag, &ok);
        cq.Shutdown();
        while (cq.Next(&tag, &ok)) {
        }
      } else {
        std::promise<grpc::Status> done;
        grpc::ByteBuffer req, resp;
        grpc::Slice slice("");
        req = grpc::ByteBuffer(&slice, 1);
        grpc::StubOptions so;
        generic.UnaryCall(ctx.get(), absl::StrCat("/", service->full_name(), "/", m->name()), so,
                          &req, &resp, [&](grpc::Status st) { done.set_value(st); });
        s = done.get_future().get();
      }
      const bool denied = s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
      EXPECT_EQ(denied, role < *need)
          << m->name() << " as " << common::RoleName(role) << ": " << s.error_message();
      EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m->name();
      if (denied) {
        EXPECT_NE(s.error_message().find(absl::StrCat("needs the ", common::RoleName(*need))),
                  std::string::npos)
            << s.error_message();
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3 * service->method_count());

  // Own runs: ci may cancel its run, dev (also a submitter) may not; the actors are recorded.
  v1::Run mine = SubmitCommand(*stub_, "sleep 30", "submitter-token-0123456789");
  EXPECT_EQ(mine.submitted_by(), "ci");
  v1::CancelRunRequest c;
  c.set_id(mine.id());
  v1::Run r;
  grpc::Status s = stub_->CancelRun(Ctx("dev-token-0123456789").get(), c, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("submitted by 'ci'"), std::string::npos) << s.error_message();
  ASSERT_TRUE(stub_->CancelRun(Ctx("submitter-token-0123456789").get(), c, &r).ok());
  EXPECT_EQ(GetRun(*stub_, mine.id(), "viewer-token-0123456789").cancelled_by(), "ci");
  std::string out;
  WriteSecret(dir_ + "/viewer.token", "viewer-token-0123456789\n");
  EXPECT_EQ(
      Cli({"--token-file", dir_ + "/viewer.token", "run", "get", std::to_string(mine.id())}, &out),
      0)
      << out;
  EXPECT_NE(out.find("submitted by: ci"), std::string::npos) << out;
  EXPECT_NE(out.find("cancelled by: ci"), std::string::npos) << out;
  // An admin may cancel anyone's run.
  v1::Run theirs = SubmitCommand(*stub_, "sleep 30", "dev-token-0123456789");
  c.set_id(theirs.id());
  ASSERT_TRUE(stub_->CancelRun(Ctx("admin-token-0123456789").get(), c, &r).ok());
  EXPECT_EQ(GetRun(*stub_, theirs.id(), "viewer-token-0123456789").cancelled_by(), "ops");
}

// --http-auth: pages and /metrics for token holders only (bearer header or login cookie);
// /healthz and the webhook endpoints stay open.
TEST_F(SecurityTest, PagesAndMetricsAnswerViewersOnly) {
  const std::string tokens = dir_ + "/api-tokens";
  WriteSecret(tokens, "dash viewer viewer-token-0123456789\nops admin admin-token-0123456789\n");
  ControllerOptions o;
  o.api_token_file = tokens;
  o.extra_args = {"--http-auth", "on"};
  StartController(o);
  httplib::Client http("127.0.0.1", controller_->http_port());
  EXPECT_EQ(http.Get("/")->status, 401);
  for (const char* path : {"/runs", "/agents", "/metrics", "/alerts"}) {
    auto r = http.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->body.find("perfgate_controller"), std::string::npos) << "no metrics leak";
    r = http.Get(path, {{"Authorization", "Bearer wrong-token-0123456789"}});
    EXPECT_EQ(r->status, 401) << path;
    r = http.Get(path, {{"Authorization", "Bearer viewer-token-0123456789"}});
    EXPECT_EQ(r->status, 200) << path << ": " << r->body.substr(0, 200);
  }
  EXPECT_EQ(http.Get("/healthz")->status, 200);
  auto hook = http.Post("/hooks/github", "{}", "application/json");
  ASSERT_TRUE(hook);
  EXPECT_EQ(hook->body.find("Log in"), std::string::npos) << "webhooks check their own signature";

  // The login form sets a session cookie that holds no token; it opens the pages.
  auto bad = http.Post("/login", "token=nope", "application/x-www-form-urlencoded");
  EXPECT_EQ(bad->status, 401);
  EXPECT_FALSE(bad->has_header("Set-Cookie"));
  auto login =
      http.Post("/login", "token=viewer-token-0123456789", "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 302);
  std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("viewer-token"), std::string::npos) << "the token is not in the cookie";
  cookie = cookie.substr(0, cookie.find(';'));
  auto page = http.Get("/runs", {{"Cookie", cookie}});
  EXPECT_EQ(page->status, 200);
  // A forged session (another name, the same MAC) is refused.
  std::string forged = cookie;
  forged.replace(forged.find("dash"), 4, "ops");
  EXPECT_EQ(http.Get("/runs", {{"Cookie", forged}})->status, 401);
  // Off by default on loopback; a public listener without tokens is refused.
  std::string out;
  common::SpawnOptions so;
  so.argv = {BinaryPath("perfgate-controller"), "--postgres-dsn", dsn_, "--http-listen",
             "0.0.0.0:0"};
  int code = 0;
  auto r = common::RunAndCapture(so, &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(r.value_or("").find("the pages and /metrics need authentication"), std::string::npos)
      << r.value_or("");
}

// Secrets stay off command lines and out of files others can read; a public listener needs TLS.
// The HTTP port over TLS with its own certificate (tools/pki.sh's controller certificate): pages,
// /metrics and the login answer HTTPS, verified against the lab CA; plain HTTP gets nothing;
// the login cookie is Secure; a key that is not the certificate's stops the start, naming it.
TEST_F(SecurityTest, TheHttpPortServesTlsWithItsOwnCertificate) {
  Pki pki = MakePki(dir_);
  const std::string tokens = dir_ + "/api-tokens";
  WriteSecret(tokens, "ops viewer viewer-token-0123456789\n");
  ControllerOptions o;
  o.api_token_file = tokens;
  o.extra_args = {"--http-tls-cert", pki.lab + "/controller.pem",
                  "--http-tls-key",  pki.lab + "/controller.key",
                  "--http-auth",     "on"};
  StartController(o);
  const std::string base = absl::StrCat("https://127.0.0.1:", controller_->http_port());
  EXPECT_EQ(ShOut("curl -sS --cacert " + pki.lab + "/ca.pem " + base + "/healthz"), "ok");
  EXPECT_EQ(ShOut("curl -sS --cacert " + pki.lab + "/ca.pem -o /dev/null -w '%{http_code}' " +
                  base + "/metrics"),
            "401");
  EXPECT_NE(ShOut("curl -sS --cacert " + pki.lab + "/ca.pem -H 'Authorization: Bearer " +
                  "viewer-token-0123456789' " + base + "/metrics")
                .find("perfgate_controller_agents_connected"),
            std::string::npos);
  EXPECT_NE(ShOut("curl -sS --cacert " + pki.lab + "/ca.pem -D - -o /dev/null --data-urlencode " +
                  "token=viewer-token-0123456789 " + base + "/login")
                .find("HttpOnly; SameSite=Strict; Secure;"),
            std::string::npos);
  // Not verified by another CA, and nothing for plain HTTP.
  EXPECT_EQ(
      ShOut("curl -s --cacert " + pki.foreign + "/ca.pem " + base + "/healthz >/dev/null; echo $?"),
      "60");
  EXPECT_NE(ShOut(absl::StrCat("curl -s http://127.0.0.1:", controller_->http_port(),
                               "/healthz; echo \" exit=$?\"")),
            "ok exit=0");
  controller_.reset();

  common::SpawnOptions so;
  so.argv = {BinaryPath("perfgate-controller"),
             "--postgres-dsn",
             dsn_,
             "--grpc-listen",
             "127.0.0.1:0",
             "--http-listen",
             "127.0.0.1:0",
             "--http-tls-cert",
             pki.lab + "/controller.pem",
             "--http-tls-key",
             pki.lab + "/agents/a.key"};
  int code = 0;
  auto out = common::RunAndCapture(so, &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.value_or("").find("--http-tls-key"), std::string::npos) << out.value_or("");
}

TEST_F(SecurityTest, SecretsAndListenersAreCheckedAtStart) {
  auto controller = [&](std::vector<std::string> args) {
    common::SpawnOptions so;
    so.argv = {BinaryPath("perfgate-controller"), "--http-listen", "127.0.0.1:0"};
    if (std::find(args.begin(), args.end(), "--postgres-dsn") == args.end())
      args.insert(args.end(), {"--postgres-dsn", dsn_});
    so.argv.insert(so.argv.end(), args.begin(), args.end());
    int code = 0;
    auto r = common::RunAndCapture(so, &code);
    return std::pair{code, r.value_or(std::string(r.status().message()))};
  };
  const std::string loose = dir_ + "/loose-tokens", tight = dir_ + "/tight-tokens";
  std::ofstream(loose) << "ops admin admin-token-0123456789\n";
  chmod(loose.c_str(), 0644);
  WriteSecret(tight, "ops admin admin-token-0123456789\n");
  auto [code, out] = controller({"--api-token-file", loose});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--api-token-file: " + loose + " is readable by group or others (mode 644)"),
            std::string::npos)
      << out;
  std::tie(code, out) =
      controller({"--grpc-listen", "0.0.0.0:0", "--api-token-file", tight, "--insecure-no-auth"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("is not loopback: pass --tls-cert and --tls-key"), std::string::npos) << out;
  // The agents' own port is held to the same rules: off loopback, agents identified and TLS.
  std::tie(code, out) = controller({"--agent-listen", "0.0.0.0:0"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--agent-listen 0.0.0.0:0 is not loopback: pass --agent-token-file or "
                     "--tls-client-ca"),
            std::string::npos)
      << out;
  std::tie(code, out) = controller({"--agent-listen", "0.0.0.0:0", "--insecure-no-auth"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--agent-listen 0.0.0.0:0 is not loopback: pass --tls-cert and --tls-key"),
            std::string::npos)
      << out;
  std::tie(code, out) = controller({"--agent-listen", "no-port-here"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--agent-listen"), std::string::npos) << out;
  WriteSecret(dir_ + "/short", "ops admin short\n");
  std::tie(code, out) = controller({"--api-token-file", dir_ + "/short"});
  EXPECT_NE(out.find(":1: a token must be at least 16 characters"), std::string::npos) << out;
  std::tie(code, out) = controller({"--api-token-file", tight, "--tls-cert", tight});
  EXPECT_NE(out.find("--tls-cert and --tls-key go together"), std::string::npos) << out;
  // A database password on the command line, in either DSN form.
  for (std::string dsn : {dsn_ + " password=hunter2", std::string("postgresql://u:hunter2@db/x")}) {
    std::tie(code, out) = controller({"--postgres-dsn", dsn});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("--postgres-dsn: holds a password"), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << "the password is not echoed: " << out;
  }

  // The CLI: --token refused; a loose token file refused.
  StartController();
  std::string cli;
  EXPECT_EQ(Cli({"--token", "admin-token-0123456789", "run", "list"}, &cli), 2);
  EXPECT_NE(cli.find("visible to every user"), std::string::npos) << cli;
  EXPECT_EQ(Cli({"--token-file", loose, "run", "list"}, &cli), 2);
  EXPECT_NE(cli.find("chmod 600"), std::string::npos) << cli;
}

}  // namespace
}  // namespace perfgate::testing
