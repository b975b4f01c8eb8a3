#include "agent/observe/observer.h"

#include "absl/strings/str_cat.h"

namespace perfgate::agent {

Observer::Observer(const v1::ObserveSpec& spec, BenchContext& ctx, ObserveConfig cfg)
    : spec_(spec), ctx_(ctx), cfg_(std::move(cfg)) {}

Observer::~Observer() { Stop(); }

absl::Status Observer::Start() {
  if (spec_.prometheus().queries_size() > 0) {
    std::string url = cfg_.prometheus_url;
    if (url.empty()) {
      private_prom_ = std::make_unique<PrivatePrometheus>(ctx_);
      if (auto s = private_prom_->Start(cfg_.prometheus_bin, ctx_.workdir + "/prometheus",
                                        spec_.prometheus().scrape());
          !s.ok())
        return s;
      url = private_prom_->url();
    } else {
      ctx_.steps.Note("prometheus queries go to " + url);
    }
    prom_ = std::make_unique<PromClient>(url);
  }
  if (spec_.profiles_size() > 0)
    profiles_ = std::make_unique<ProfileCapture>(spec_.profiles(), ctx_);
  if (spec_.has_postgres()) {
    auto dsn = ctx_.Expand(spec_.postgres().dsn());
    if (!dsn.ok()) return absl::FailedPreconditionError(dsn.status().message());
    pg_ = std::make_unique<PgStatsCapture>(spec_.postgres(), *dsn);
  }
  return absl::OkStatus();
}

void Observer::BeginWindow(v1::RepetitionResult* out) {
  if (pg_) pg_->BeginWindow(out);
  if (profiles_) profiles_->BeginWindow();
  auto h = ReadHostSnapshot(ctx_.clock);
  host_start_.reset();
  if (h.ok()) host_start_ = *h;
  window_start_ = ctx_.clock.Now();
}

void Observer::HeapSnapshot(const std::string& point) {
  if (profiles_) profiles_->HeapSnapshot(point);
}

void Observer::EndWindow(v1::RepetitionResult* out) {
  const absl::Time end = ctx_.clock.Now();
  if (host_start_) {
    if (auto h = ReadHostSnapshot(ctx_.clock); h.ok())
      AppendHostMeasurements(*host_start_, *h, out);
  }
  if (profiles_) profiles_->EndWindow(out);
  if (pg_) pg_->EndWindow(out);
  if (prom_) {
    // The window's own scrapes must have landed before asking about it.
    const absl::Duration waited = ctx_.clock.Now() - end;
    if (waited < cfg_.prometheus_settle) ctx_.Sleep(cfg_.prometheus_settle - waited);
    RunPromQueries(*prom_, spec_.prometheus().queries(), window_start_, end, out);
  }
  for (const auto& g : out->gaps()) ctx_.steps.Note("gap: " + g.name() + ": " + g.reason());
}

void Observer::Stop() {
  profiles_.reset();
  if (private_prom_) {
    private_prom_->Stop();
    private_prom_.reset();
  }
}

}  // namespace perfgate::agent
