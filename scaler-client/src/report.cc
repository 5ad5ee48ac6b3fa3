#include "report.h"

namespace lagscale::scaler_client {
namespace {

using metrics::Outcome;

void Fill(lagscale::v1::ModelCounters& out, const std::string& name,
          const metrics::ModelStats& stats) {
  out.set_model(name);
  out.set_arrivals(stats.arrivals);
  auto& o = *out.mutable_outcomes();
  o.set_success(stats.outcome(Outcome::kSuccess));
  o.set_client_error(stats.outcome(Outcome::kClientError));
  o.set_server_error(stats.outcome(Outcome::kServerError));
  o.set_upstream_error(stats.outcome(Outcome::kUpstreamError));
  o.set_client_abort(stats.outcome(Outcome::kClientAbort));
  o.set_timeout(stats.outcome(Outcome::kTimeout));
  out.set_busy_seconds(stats.busy_seconds);
  out.set_inflight(stats.inflight());
  out.set_last_request_unix_ms(stats.last_request_unix_ns / 1'000'000);
  out.set_prompt_tokens(stats.prompt_tokens);
  out.set_completion_tokens(stats.completion_tokens);
  // Most models never see an OpenAI-compatible request: their reports stay as small as before.
  if (stats.ttfb_count() == 0) return;
  auto& ttfb = *out.mutable_time_to_first_byte();
  for (double bound : metrics::kLatencyBucketBounds) ttfb.add_upper_bounds_seconds(bound);
  for (uint64_t count : stats.ttfb_buckets) ttfb.add_counts(count);
  ttfb.set_sum_seconds(stats.ttfb_seconds_sum);
}

}  // namespace

lagscale::v1::PodReport BuildReport(const metrics::LedgerSnapshot& snapshot,
                                    const ReportIdentity& identity, uint64_t sequence,
                                    int64_t report_unix_ms, bool early) {
  lagscale::v1::PodReport report;
  report.set_server(identity.server);
  report.set_pod(identity.pod);
  report.set_incarnation(identity.incarnation);
  report.set_sequence(sequence);
  report.set_report_unix_ms(report_unix_ms);
  report.set_snapshot_monotonic_ns(snapshot.monotonic_ns);
  report.set_early(early);
  for (const auto& [name, stats] : snapshot.models) Fill(*report.add_models(), name, stats);
  Fill(*report.mutable_unattributed(), "", snapshot.unattributed);
  Fill(*report.mutable_overflow(), "", snapshot.overflow);
  return report;
}

}  // namespace lagscale::scaler_client
