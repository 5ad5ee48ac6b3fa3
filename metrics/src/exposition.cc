#include "lagscale/metrics/exposition.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <utility>
#include <vector>

#include "lagscale/version.h"
#include "process_stats.h"
#include "text_format.h"

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

  // A family of one sample with the constant labels only.
  void Counter(const char* name, const char* help, double value) {
    Sample(Add(name, help, MetricType::Counter)).counter.value = value;
  }
  void Gauge(const char* name, const char* help, double value) {
    Sample(Add(name, help, MetricType::Gauge)).gauge.value = value;
  }

  // One counter sample per outcome, labelled `outcome` after `extra`.
  void PerOutcome(MetricFamily& family, const std::vector<ClientMetric::Label>& extra,
                  const std::array<uint64_t, kOutcomeCount>& outcomes) {
    for (size_t o = 0; o < kOutcomeCount; ++o) {
      std::vector<ClientMetric::Label> labels = extra;
      labels.push_back({"outcome", std::string(OutcomeName(static_cast<Outcome>(o)))});
      Sample(family, std::move(labels)).counter.value = static_cast<double>(outcomes[o]);
    }
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

// The families with one sample per model; a model's samples go into each.
struct ModelFamilies {
  explicit ModelFamilies(Families& f)
      : arrivals(f.Add("lagscale_model_arrivals_total",
                       "Requests routed to the model (headers parsed).", MetricType::Counter)),
        completions(f.Add("lagscale_model_completions_total",
                          "Requests to the model that ended, by outcome.", MetricType::Counter)),
        inflight(f.Add("lagscale_model_inflight_requests",
                       "Requests received and not yet answered: the inference lag now.",
                       MetricType::Gauge)),
        busy(f.Add("lagscale_model_busy_seconds_total",
                   "Integral of in-flight requests over time; its rate is the exact average "
                   "concurrency.",
                   MetricType::Counter)),
        duration(f.Add("lagscale_model_request_duration_seconds",
                       "Time from request headers to the end of the response.",
                       MetricType::Histogram)),
        last(f.Add("lagscale_model_last_request_timestamp_seconds",
                   "Unix time of the model's latest arrival.", MetricType::Gauge)),
        ttfb(f.Add("lagscale_model_time_to_first_byte_seconds",
                   "Time from request headers to the first byte of the answer (for a "
                   "server-sent-events stream, its first event); OpenAI-compatible requests.",
                   MetricType::Histogram)),
        tokens(f.Add("lagscale_model_tokens_total",
                     "Tokens reported in the answers' usage objects, by kind (prompt, "
                     "completion); OpenAI-compatible requests.",
                     MetricType::Counter)) {}

  void AddModel(Families& f, const std::string& model, const ModelStats& s) {
    f.Sample(arrivals, {{"model", model}}).counter.value = static_cast<double>(s.arrivals);
    f.PerOutcome(completions, {{"model", model}}, s.outcomes);
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
  }

  MetricFamily& arrivals;
  MetricFamily& completions;
  MetricFamily& inflight;
  MetricFamily& busy;
  MetricFamily& duration;
  MetricFamily& last;
  MetricFamily& ttfb;
  MetricFamily& tokens;
};

// A server-wide counter read from one field of ServerTotals.
struct ServerCounter {
  const char* name;
  const char* help;
  uint64_t ServerTotals::*field;
};

// The server counters between the connection gauges and the parse errors, in exposition order.
constexpr ServerCounter kTrafficCounters[] = {
    {"lagscale_upstream_connect_failures_total",
     "Connections to the inference server that could not be made.",
     &ServerTotals::upstream_connect_failures},
    {"lagscale_upstream_connect_retries_total",
     "Upstream connection attempts made again after a refused or timed-out one.",
     &ServerTotals::upstream_connect_retries},
    {"lagscale_upstream_request_retries_total",
     "Requests sent again on a fresh upstream connection after a kept-alive one failed "
     "before answering.",
     &ServerTotals::upstream_request_retries},
    {"lagscale_client_write_timeouts_total",
     "Requests ended because the client did not read its response in time.",
     &ServerTotals::client_write_timeouts},
    {"lagscale_accept_errors_total",
     "Failed accepts of client connections (e.g. out of file descriptors).",
     &ServerTotals::accept_errors},
    {"lagscale_connections_shed_total",
     "Client connections closed unserved because no file descriptor was free.",
     &ServerTotals::connections_shed},
    {"lagscale_answer_events_skipped_total",
     "Server-sent events of OpenAI-compatible answers too large to scan for usage "
     "(over 64 KiB of data), passed on unscanned.",
     &ServerTotals::answer_events_skipped},
};

// The coordinator report counters, after the parse errors.
constexpr ServerCounter kReportCounters[] = {
    {"lagscale_reports_sent_total", "Lag reports the coordinator acknowledged.",
     &ServerTotals::reports_sent},
    {"lagscale_report_failures_total",
     "Lag report attempts that failed (coordinator unreachable or refused).",
     &ServerTotals::report_failures},
};

class LedgerCollector final : public prometheus::Collectable {
 public:
  LedgerCollector(const Ledger& ledger, const ServerCounters& server, ExpositionLabels labels)
      : ledger_(ledger), server_(server), labels_(std::move(labels)) {}

  std::vector<MetricFamily> Collect() const override {
    const LedgerSnapshot snap = ledger_.Snapshot();
    const ServerTotals totals = server_.Sum();
    Families f(labels_);
    CollectModels(snap, f);
    CollectUnattributed(snap.unattributed, f);
    CollectModelTable(snap, f);
    CollectServer(totals, f);
    CollectProcess(f);
    return f.Take();
  }

 private:
  static void CollectModels(const LedgerSnapshot& snap, Families& f) {
    ModelFamilies families(f);
    for (const auto& [name, stats] : snap.models) families.AddModel(f, name, stats);
    if (snap.overflow.arrivals > 0) families.AddModel(f, kOverflowLabel, snap.overflow);
  }

  static void CollectUnattributed(const ModelStats& u, Families& f) {
    f.Counter("lagscale_unattributed_arrivals_total",
              "Requests that named no valid model (proxied, not counted under a model).",
              static_cast<double>(u.arrivals));
    f.PerOutcome(
        f.Add("lagscale_unattributed_completions_total",
              "Requests that named no valid model and ended, by outcome.", MetricType::Counter),
        {}, u.outcomes);
    f.Gauge("lagscale_unattributed_inflight_requests",
            "Requests that named no valid model, in flight now.",
            static_cast<double>(u.inflight()));
  }

  static void CollectModelTable(const LedgerSnapshot& snap, Families& f) {
    f.Gauge("lagscale_models_tracked", "Distinct models tracked under their own label.",
            static_cast<double>(snap.models.size()));
    f.Gauge("lagscale_models_max", "Most models tracked before the rest count as _overflow.",
            static_cast<double>(snap.max_models));
    f.Counter("lagscale_model_overflow_requests_total",
              "Requests for a model that could not be tracked because the table was full.",
              static_cast<double>(snap.overflowed_lookups));
    f.Counter("lagscale_model_invalid_names_total",
              "Requests whose model name was not a valid label.",
              static_cast<double>(snap.invalid_names));
  }

  static void CollectServer(const ServerTotals& t, Families& f) {
    f.Counter("lagscale_connections_accepted_total", "Client connections accepted.",
              static_cast<double>(t.connections_accepted));
    f.Gauge("lagscale_connections_open", "Client connections open now.",
            static_cast<double>(t.connections_accepted - t.connections_closed));
    for (const ServerCounter& c : kTrafficCounters) {
      f.Counter(c.name, c.help, static_cast<double>(t.*c.field));
    }
    auto& parse = f.Add("lagscale_parse_errors_total",
                        "Requests refused before reaching the inference server, by kind.",
                        MetricType::Counter);
    for (size_t e = 0; e < kParseErrorCount; ++e) {
      f.Sample(parse, {{"kind", std::string(ParseErrorName(static_cast<ParseError>(e)))}})
          .counter.value = static_cast<double>(t.parse_errors[e]);
    }
    for (const ServerCounter& c : kReportCounters) {
      f.Counter(c.name, c.help, static_cast<double>(t.*c.field));
    }
    f.Sample(f.Add("lagscale_build_info", "Version and git revision of this binary.",
                   MetricType::Gauge),
             {{"version", kVersion}, {"revision", kRevision}})
        .gauge.value = 1;
  }

  static void CollectProcess(Families& f) {
    const ProcessStats p = ReadProcessStats();
    if (!p.valid) return;
    f.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              p.cpu_seconds);
    f.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes);
    f.Gauge("process_open_fds", "Number of open file descriptors.", p.open_fds);
    f.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds);
  }

  const Ledger& ledger_;
  const ServerCounters& server_;
  const ExpositionLabels labels_;
};

}  // namespace

struct Exposition::State {
  LedgerCollector collector;
  std::atomic<size_t> last_size{0};
};

Exposition::Exposition(const Ledger& ledger, const ServerCounters& server, ExpositionLabels labels)
    : state_(new State{LedgerCollector(ledger, server, std::move(labels)), {}}) {}

Exposition::~Exposition() = default;

RenderedMetrics Exposition::Render(std::string_view /*accept*/) const {
  // The text format 0.0.4, which Prometheus accepts whatever it asked for in Accept, so that is
  // what every scraper gets. Room for the last body's size: one allocation, not a dozen doublings.
  std::string body;
  body.reserve(state_->last_size.load(std::memory_order_relaxed) + 4096);
  AppendTextFormat(body, state_->collector.Collect());
  state_->last_size.store(body.size(), std::memory_order_relaxed);
  return {"text/plain; version=0.0.4; charset=utf-8", std::move(body)};
}

}  // namespace lagscale::metrics
