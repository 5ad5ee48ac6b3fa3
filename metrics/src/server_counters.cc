#include "lagscale/metrics/server_counters.h"

namespace lagscale::metrics {

std::string_view ParseErrorName(ParseError e) {
  static constexpr std::string_view kNames[kParseErrorCount] = {
      "malformed", "header_too_large", "body_too_large", "smuggling", "header_timeout"};
  return kNames[static_cast<size_t>(e)];
}

ServerCounters::ServerCounters(size_t shards)
    : shard_count_(shards), shards_(new ServerShardCounters[shards]) {}

ServerTotals ServerCounters::Sum() const {
  ServerTotals t;
  for (size_t i = 0; i < shard_count_; ++i) {
    const ServerShardCounters& s = shards_[i];
    t.connections_accepted += s.connections_accepted.load(std::memory_order_relaxed);
    t.connections_closed += s.connections_closed.load(std::memory_order_relaxed);
    t.upstream_connect_failures += s.upstream_connect_failures.load(std::memory_order_relaxed);
    t.upstream_connect_retries += s.upstream_connect_retries.load(std::memory_order_relaxed);
    t.upstream_request_retries += s.upstream_request_retries.load(std::memory_order_relaxed);
    t.client_write_timeouts += s.client_write_timeouts.load(std::memory_order_relaxed);
    t.accept_errors += s.accept_errors.load(std::memory_order_relaxed);
    t.connections_shed += s.connections_shed.load(std::memory_order_relaxed);
    t.answer_events_skipped += s.answer_events_skipped.load(std::memory_order_relaxed);
    for (size_t e = 0; e < kParseErrorCount; ++e) {
      t.parse_errors[e] += s.parse_errors[e].load(std::memory_order_relaxed);
    }
  }
  t.report_failures = report_failures_.load(std::memory_order_relaxed);
  t.reports_sent = reports_sent_.load(std::memory_order_relaxed);
  return t;
}

}  // namespace lagscale::metrics
