#include "lagscale/metrics/exposition.h"

#include <cmath>
#include <deque>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "lagscale/version.h"
#include "process_stats.h"

namespace lagscale::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Model label for requests to models past the tracking cap. Model names must start with an
// alphanumeric character, so no real model can take this label.
constexpr char kOverflowLabel[] = "_overflow";

class Families {
 public:
  explicit Families(const ExpositionLabels& labels) : labels_(labels) {}

  MetricFamily& Add(std::string name, std::string help, MetricType type) {
    families_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return families_.back();
  }

  // A sample with the constant labels plus `extra`.
  ClientMetric& Sample(MetricFamily& family, std::vector<ClientMetric::Label> extra = {}) {
    ClientMetric& m = family.metric.emplace_back();
    m.label = {{"server", labels_.server}, {"pod", labels_.pod}};
    for (auto& l : extra) m.label.push_back(std::move(l));
    return m;
  }

  std::vector<MetricFamily> Take() {
    return {std::make_move_iterator(families_.begin()), std::make_move_iterator(families_.end())};
  }

 private:
  const ExpositionLabels& labels_;
  // A deque, so references returned by Add() stay valid while more families are added.
  std::deque<MetricFamily> families_;
};

// A histogram sample from per-bucket counts (not cumulative) over kLatencyBucketBounds.
void FillHistogram(ClientMetric& h, const std::array<uint64_t, kLatencyBucketCount>& buckets,
                   double sum) {
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kLatencyBucketCount; ++b) {
    cumulative += buckets[b];
    const double bound = b < kLatencyBucketBounds.size() ? kLatencyBucketBounds[b]
                                                         : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back({cumulative, bound});
  }
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = sum;
}

class LedgerCollector final : public prometheus::Collectable {
 public:
  LedgerCollector(const Ledger& ledger, const ServerCounters& server, ExpositionLabels labels)
      : ledger_(ledger), server_(server), labels_(std::move(labels)) {}

  std::vector<MetricFamily> Collect() const override {
    const LedgerSnapshot snap = ledger_.Snapshot();
    Families f(labels_);
    CollectModels(snap, f);
    CollectServer(snap, f);
    CollectProcess(f);
    return f.Take();
  }

 private:
  void CollectModels(const LedgerSnapshot& snap, Families& f) const {
    auto& arrivals = f.Add("lagscale_model_arrivals_total",
                           "Requests routed to the model (headers parsed).", MetricType::Counter);
    auto& completions = f.Add("lagscale_model_completions_total",
                              "Requests to the model that ended, by outcome.", MetricType::Counter);
    auto& inflight = f.Add("lagscale_model_inflight_requests",
                           "Requests received and not yet answered: the inference lag now.",
                           MetricType::Gauge);
    auto& busy = f.Add("lagscale_model_busy_seconds_total",
                       "Integral of in-flight requests over time; its rate is the exact average "
                       "concurrency.",
                       MetricType::Counter);
    auto& duration = f.Add("lagscale_model_request_duration_seconds",
                           "Time from request headers to the end of the response.",
                           MetricType::Histogram);
    auto& last = f.Add("lagscale_model_last_request_timestamp_seconds",
                       "Unix time of the model's latest arrival.", MetricType::Gauge);
    auto& ttfb = f.Add("lagscale_model_time_to_first_byte_seconds",
                       "Time from request headers to the first byte of the answer (for a "
                       "server-sent-events stream, its first event); OpenAI-compatible requests.",
                       MetricType::Histogram);
    auto& tokens = f.Add("lagscale_model_tokens_total",
                         "Tokens reported in the answers' usage objects, by kind (prompt, "
                         "completion); OpenAI-compatible requests.",
                         MetricType::Counter);

    auto add_model = [&](const std::string& model, const ModelStats& s) {
      f.Sample(arrivals, {{"model", model}}).counter.value = static_cast<double>(s.arrivals);
      for (size_t o = 0; o < kOutcomeCount; ++o) {
        f.Sample(completions, {{"model", model},
                               {"outcome", std::string(OutcomeName(static_cast<Outcome>(o)))}})
            .counter.value = static_cast<double>(s.outcomes[o]);
      }
      f.Sample(inflight, {{"model", model}}).gauge.value = static_cast<double>(s.inflight());
      f.Sample(busy, {{"model", model}}).counter.value = s.busy_seconds;
      FillHistogram(f.Sample(duration, {{"model", model}}), s.latency_buckets,
                    s.duration_seconds_sum);
      f.Sample(last, {{"model", model}}).gauge.value =
          static_cast<double>(s.last_request_unix_ns) * 1e-9;
      FillHistogram(f.Sample(ttfb, {{"model", model}}), s.ttfb_buckets, s.ttfb_seconds_sum);
      f.Sample(tokens, {{"model", model}, {"kind", "prompt"}}).counter.value =
          static_cast<double>(s.prompt_tokens);
      f.Sample(tokens, {{"model", model}, {"kind", "completion"}}).counter.value =
          static_cast<double>(s.completion_tokens);
    };
    for (const auto& [name, stats] : snap.models) add_model(name, stats);
    if (snap.overflow.arrivals > 0) add_model(kOverflowLabel, snap.overflow);

    const ModelStats& u = snap.unattributed;
    f.Sample(f.Add("lagscale_unattributed_arrivals_total",
                   "Requests that named no valid model (proxied, not counted under a model).",
                   MetricType::Counter))
        .counter.value = static_cast<double>(u.arrivals);
    auto& u_done = f.Add("lagscale_unattributed_completions_total",
                         "Requests that named no valid model and ended, by outcome.",
                         MetricType::Counter);
    for (size_t o = 0; o < kOutcomeCount; ++o) {
      f.Sample(u_done, {{"outcome", std::string(OutcomeName(static_cast<Outcome>(o)))}})
          .counter.value = static_cast<double>(u.outcomes[o]);
    }
    f.Sample(f.Add("lagscale_unattributed_inflight_requests",
                   "Requests that named no valid model, in flight now.", MetricType::Gauge))
        .gauge.value = static_cast<double>(u.inflight());
  }

  void CollectServer(const LedgerSnapshot& snap, Families& f) const {
    const ServerTotals t = server_.Sum();
    auto gauge = [&](const char* name, const char* help, double v) {
      f.Sample(f.Add(name, help, MetricType::Gauge)).gauge.value = v;
    };
    auto counter = [&](const char* name, const char* help, double v) {
      f.Sample(f.Add(name, help, MetricType::Counter)).counter.value = v;
    };
    gauge("lagscale_models_tracked", "Distinct models tracked under their own label.",
          static_cast<double>(snap.models.size()));
    gauge("lagscale_models_max", "Most models tracked before the rest count as _overflow.",
          static_cast<double>(snap.max_models));
    counter("lagscale_model_overflow_requests_total",
            "Requests for a model that could not be tracked because the table was full.",
            static_cast<double>(snap.overflowed_lookups));
    counter("lagscale_model_invalid_names_total",
            "Requests whose model name was not a valid label.",
            static_cast<double>(snap.invalid_names));
    counter("lagscale_connections_accepted_total", "Client connections accepted.",
            static_cast<double>(t.connections_accepted));
    gauge("lagscale_connections_open", "Client connections open now.",
          static_cast<double>(t.connections_accepted - t.connections_closed));
    counter("lagscale_upstream_connect_failures_total",
            "Connections to the inference server that could not be made.",
            static_cast<double>(t.upstream_connect_failures));
    counter("lagscale_upstream_connect_retries_total",
            "Upstream connection attempts made again after a refused or timed-out one.",
            static_cast<double>(t.upstream_connect_retries));
    counter("lagscale_upstream_request_retries_total",
            "Requests sent again on a fresh upstream connection after a kept-alive one failed "
            "before answering.",
            static_cast<double>(t.upstream_request_retries));
    counter("lagscale_client_write_timeouts_total",
            "Requests ended because the client did not read its response in time.",
            static_cast<double>(t.client_write_timeouts));
    counter("lagscale_accept_errors_total",
            "Failed accepts of client connections (e.g. out of file descriptors).",
            static_cast<double>(t.accept_errors));
    counter("lagscale_connections_shed_total",
            "Client connections closed unserved because no file descriptor was free.",
            static_cast<double>(t.connections_shed));
    counter("lagscale_answer_events_skipped_total",
            "Server-sent events of OpenAI-compatible answers too large to scan for usage "
            "(over 64 KiB of data), passed on unscanned.",
            static_cast<double>(t.answer_events_skipped));
    auto& parse = f.Add("lagscale_parse_errors_total",
                        "Requests refused before reaching the inference server, by kind.",
                        MetricType::Counter);
    for (size_t e = 0; e < kParseErrorCount; ++e) {
      f.Sample(parse, {{"kind", std::string(ParseErrorName(static_cast<ParseError>(e)))}})
          .counter.value = static_cast<double>(t.parse_errors[e]);
    }
    counter("lagscale_reports_sent_total", "Lag reports sent to the coordinator.",
            static_cast<double>(t.reports_sent));
    counter("lagscale_report_failures_total",
            "Lag report attempts that failed (coordinator unreachable or refused).",
            static_cast<double>(t.report_failures));
    f.Sample(f.Add("lagscale_build_info", "Version and git revision of this binary.",
                   MetricType::Gauge),
             {{"version", kVersion}, {"revision", kRevision}})
        .gauge.value = 1;
  }

  void CollectProcess(Families& f) const {
    const ProcessStats p = ReadProcessStats();
    if (!p.valid) return;
    f.Sample(f.Add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   MetricType::Counter))
        .counter.value = p.cpu_seconds;
    f.Sample(f.Add("process_resident_memory_bytes", "Resident memory size in bytes.",
                   MetricType::Gauge))
        .gauge.value = p.resident_bytes;
    f.Sample(f.Add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge))
        .gauge.value = p.open_fds;
    f.Sample(f.Add("process_start_time_seconds",
                   "Start time of the process since unix epoch in seconds.", MetricType::Gauge))
        .gauge.value = p.start_time_seconds;
  }

  const Ledger& ledger_;
  const ServerCounters& server_;
  const ExpositionLabels labels_;
};

}  // namespace

struct Exposition::State {
  LedgerCollector collector;
};

Exposition::Exposition(const Ledger& ledger, const ServerCounters& server,
                       ExpositionLabels labels)
    : state_(new State{LedgerCollector(ledger, server, std::move(labels))}) {}

Exposition::~Exposition() = default;

RenderedMetrics Exposition::Render(std::string_view /*accept*/) const {
  // prometheus-cpp 1.0 serializes only the text format 0.0.4; Prometheus accepts it whatever it
  // asked for in Accept, so that is what every scraper gets.
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, state_->collector.Collect());
  return {"text/plain; version=0.0.4; charset=utf-8", std::move(out).str()};
}

}  // namespace lagscale::metrics
