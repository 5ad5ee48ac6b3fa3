#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace lagscale::metrics {

// Why the proxy refused a request before it reached the inference server.
enum class ParseError : uint8_t {
  kMalformed,       // llhttp rejected the bytes (400)
  kHeaderTooLarge,  // header bytes over the limit (431)
  kBodyTooLarge,    // body over the limit (413)
  kSmuggling,       // ambiguous framing: CL+TE, differing CLs, TE not ending in chunked (400)
  kHeaderTimeout,   // headers not complete in time, e.g. slowloris (408)
};
inline constexpr size_t kParseErrorCount = 5;
// "malformed", "header_too_large", "body_too_large", "smuggling", "header_timeout".
std::string_view ParseErrorName(ParseError e);

// Process-level counters that belong to no model.
struct ServerTotals {
  uint64_t connections_accepted = 0;
  uint64_t connections_closed = 0;         // open = accepted - closed
  uint64_t upstream_connect_failures = 0;  // failed attempts (each retry counts)
  uint64_t upstream_connect_retries = 0;
  uint64_t upstream_request_retries = 0;  // requests sent again on a fresh connection
  uint64_t client_write_timeouts = 0;
  uint64_t accept_errors = 0;     // accept() failures such as running out of descriptors
  uint64_t connections_shed = 0;  // connections closed unserved because no descriptor was free
  uint64_t answer_events_skipped = 0;  // server-sent events too large to scan for usage
  std::array<uint64_t, kParseErrorCount> parse_errors{};
  uint64_t report_failures = 0;  // coordinator report attempts that failed
  uint64_t reports_sent = 0;
};

// One writer thread's counters; cache-line aligned so shards never share a line.
// Thread safety: Add() only from the owning thread; reads (ServerCounters::Sum) from any thread.
struct alignas(64) ServerShardCounters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<uint64_t> upstream_connect_failures{0};
  std::atomic<uint64_t> upstream_connect_retries{0};
  std::atomic<uint64_t> upstream_request_retries{0};
  std::atomic<uint64_t> client_write_timeouts{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> connections_shed{0};
  std::atomic<uint64_t> answer_events_skipped{0};
  std::atomic<uint64_t> parse_errors[kParseErrorCount] = {};

  // Single-writer increment: a load and a store, no locked instruction.
  static void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void AddParseError(ParseError e) { Add(parse_errors[static_cast<size_t>(e)]); }
};

// ServerCounters: the sharded process-level counters.
// Thread safety: shard(i) belongs to thread i; Sum() and the report counters from any thread.
class ServerCounters {
 public:
  explicit ServerCounters(size_t shards);
  size_t shard_count() const { return shard_count_; }
  ServerShardCounters& shard(size_t i) { return shards_[i]; }
  // Written by the single report thread (any thread may read).
  std::atomic<uint64_t>& report_failures() { return report_failures_; }
  std::atomic<uint64_t>& reports_sent() { return reports_sent_; }
  ServerTotals Sum() const;

 private:
  size_t shard_count_;
  std::unique_ptr<ServerShardCounters[]> shards_;
  std::atomic<uint64_t> report_failures_{0};
  std::atomic<uint64_t> reports_sent_{0};
};

}  // namespace lagscale::metrics
