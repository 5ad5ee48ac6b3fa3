#include "lagscale/metrics/ledger.h"

#include <map>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace lagscale::metrics {
namespace {

constexpr int64_t kMs = 1'000'000;

class LedgerTest : public ::testing::Test {
 protected:
  base::ManualClock clock_;
  ModelTable table_{100};
  Ledger ledger_{table_, 2, clock_};

  const ModelStats& Stats(const LedgerSnapshot& snap, std::string_view name) {
    for (const auto& [n, s] : snap.models) {
      if (n == name) return s;
    }
    ADD_FAILURE() << "no model " << name;
    static ModelStats empty;
    return empty;
  }
};

TEST_F(LedgerTest, BeginCountsArrivalAndInflight) {
  ModelId m = table_.Resolve("m");
  RequestGuard g = ledger_.shard(0).Begin(m);
  LedgerSnapshot snap = ledger_.Snapshot();
  EXPECT_EQ(Stats(snap, "m").arrivals, 1u);
  EXPECT_EQ(Stats(snap, "m").inflight(), 1);
  g.End(Outcome::kSuccess);
  snap = ledger_.Snapshot();
  EXPECT_EQ(Stats(snap, "m").inflight(), 0);
  EXPECT_EQ(Stats(snap, "m").outcome(Outcome::kSuccess), 1u);
}

TEST_F(LedgerTest, GuardDestroyedWithoutVerdictCountsClientAbort) {
  ModelId m = table_.Resolve("m");
  { RequestGuard g = ledger_.shard(1).Begin(m); }
  LedgerSnapshot snap = ledger_.Snapshot();
  EXPECT_EQ(Stats(snap, "m").inflight(), 0);
  EXPECT_EQ(Stats(snap, "m").outcome(Outcome::kClientAbort), 1u);
}

TEST_F(LedgerTest, GuardEndsExactlyOnceAcrossMovesAndRepeatedEnd) {
  ModelId m = table_.Resolve("m");
  RequestGuard a = ledger_.shard(0).Begin(m);
  RequestGuard b = std::move(a);
  EXPECT_FALSE(a.active());
  a.End(Outcome::kTimeout);  // a moved-from guard does nothing
  b.End(Outcome::kServerError);
  b.End(Outcome::kServerError);
  RequestGuard c = ledger_.shard(0).Begin(m);
  c = RequestGuard();  // assignment ends the request it held
  LedgerSnapshot snap = ledger_.Snapshot();
  const ModelStats& s = Stats(snap, "m");
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.completions(), 2u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.outcome(Outcome::kClientAbort), 1u);
  EXPECT_EQ(s.outcome(Outcome::kTimeout), 0u);
}

TEST_F(LedgerTest, BusySecondsIsTheIntegralOfInflight) {
  ModelId m = table_.Resolve("m");
  RequestGuard r1 = ledger_.shard(0).Begin(m);  // t=0
  clock_.AdvanceNs(100 * kMs);
  RequestGuard r2 = ledger_.shard(1).Begin(m);  // t=100ms
  clock_.AdvanceNs(100 * kMs);
  r1.End(Outcome::kSuccess);  // t=200ms
  clock_.AdvanceNs(300 * kMs);
  // in-flight was 1 for 100ms, 2 for 100ms, 1 for 300ms: 0.6 s; r2 is still running.
  EXPECT_NEAR(Stats(ledger_.Snapshot(), "m").busy_seconds, 0.6, 1e-9);
  r2.End(Outcome::kSuccess);
  clock_.AdvanceNs(1000 * kMs);
  EXPECT_NEAR(Stats(ledger_.Snapshot(), "m").busy_seconds, 0.6, 1e-9);
}

// The proxies hand in the time of their event-loop turn: the ledger must use exactly those times,
// so busy time and durations stay exact even though the clock itself moved on meanwhile.
TEST_F(LedgerTest, BeginAndEndAtGivenTimesUseThoseTimes) {
  ModelId m = table_.Resolve("m");
  const int64_t t0 = clock_.MonotonicNs();
  clock_.AdvanceNs(500 * kMs);  // the clock is ahead of the turn times below
  RequestGuard r1 = ledger_.shard(0).Begin(m, t0);
  RequestGuard r2 = ledger_.shard(0).Begin(m, t0 + 100 * kMs);
  r1.End(Outcome::kSuccess, t0 + 200 * kMs);
  r2.End(Outcome::kSuccess, t0 + 400 * kMs);
  const ModelStats s = Stats(ledger_.Snapshot(), "m");
  EXPECT_EQ(s.inflight(), 0);
  EXPECT_NEAR(s.busy_seconds, 0.2 + 0.3, 1e-9);
  EXPECT_NEAR(s.duration_seconds_sum, 0.5, 1e-9);
  EXPECT_EQ(s.latency_buckets[7], 1u);  // 0.2 s: le 0.25
  EXPECT_EQ(s.latency_buckets[8], 1u);  // 0.3 s: le 0.5
}

TEST_F(LedgerTest, BusySecondsMatchesBruteForceOnRandomSchedule) {
  ModelId m = table_.Resolve("m");
  std::mt19937_64 rng(42);
  std::vector<RequestGuard> open;
  int64_t brute_ns = 0;
  for (int step = 0; step < 5000; ++step) {
    const int64_t dt = static_cast<int64_t>(rng() % (5 * kMs));
    brute_ns += dt * static_cast<int64_t>(open.size());
    clock_.AdvanceNs(dt);
    if (open.empty() || rng() % 2 == 0) {
      open.push_back(ledger_.shard(rng() % 2).Begin(m));
    } else {
      size_t i = rng() % open.size();
      open[i].End(Outcome::kSuccess);
      open.erase(open.begin() + static_cast<long>(i));
    }
    if (step % 500 == 0) {
      EXPECT_NEAR(Stats(ledger_.Snapshot(), "m").busy_seconds, brute_ns * 1e-9, 1e-6);
    }
  }
  EXPECT_NEAR(Stats(ledger_.Snapshot(), "m").busy_seconds, brute_ns * 1e-9, 1e-6);
  EXPECT_EQ(Stats(ledger_.Snapshot(), "m").inflight(), static_cast<int64_t>(open.size()));
}

TEST_F(LedgerTest, LatencyLandsInItsBucket) {
  ModelId m = table_.Resolve("m");
  RequestGuard fast = ledger_.shard(0).Begin(m);
  clock_.AdvanceNs(3 * kMs);
  fast.End(Outcome::kSuccess);  // 3 ms: bucket le=0.005
  RequestGuard slow = ledger_.shard(0).Begin(m);
  clock_.AdvanceNs(61'000 * kMs);
  slow.End(Outcome::kSuccess);  // 61 s: +Inf
  const ModelStats s = Stats(ledger_.Snapshot(), "m");
  EXPECT_EQ(s.latency_buckets[2], 1u);
  EXPECT_EQ(s.latency_buckets[kLatencyBucketCount - 1], 1u);
  EXPECT_NEAR(s.duration_seconds_sum, 61.003, 1e-9);
}

TEST_F(LedgerTest, FirstByteAndTokensCountOnTheGuardsModelAcrossShards) {
  ModelId m = table_.Resolve("m");
  const int64_t arrived = ledger_.shard(0).NowNs();
  RequestGuard a = ledger_.shard(0).Begin(m);
  RequestGuard b = ledger_.shard(1).Begin(m);
  clock_.AdvanceNs(3 * kMs);
  a.RecordFirstByte(arrived);
  clock_.AdvanceNs(200 * kMs);
  b.RecordFirstByte(arrived);
  a.AddTokens(10, 1);
  b.AddTokens(5, 2);
  b.AddTokens(0, 3);
  a.End(Outcome::kSuccess);
  a.AddTokens(100, 100);  // ended: nothing more counts
  const LedgerSnapshot snap = ledger_.Snapshot();
  const ModelStats& s = Stats(snap, "m");
  EXPECT_EQ(s.ttfb_count(), 2u);
  EXPECT_NEAR(s.ttfb_seconds_sum, 0.206, 1e-9);
  EXPECT_EQ(s.ttfb_buckets[2], 1u);  // 3 ms: (2.5 ms, 5 ms]
  EXPECT_EQ(s.ttfb_buckets[7], 1u);  // 203 ms: (100 ms, 250 ms]
  EXPECT_EQ(s.prompt_tokens, 15u);
  EXPECT_EQ(s.completion_tokens, 6u);
  EXPECT_EQ(s.arrivals, 2u) << "first byte and tokens are not arrivals";
  EXPECT_EQ(s.inflight(), 1);
}

TEST_F(LedgerTest, LastRequestIsWallClockOfLatestArrival) {
  ModelId m = table_.Resolve("m");
  EXPECT_EQ(Stats(ledger_.Snapshot(), "m").last_request_unix_ns, 0);
  clock_.AdvanceNs(5 * kMs);
  const int64_t expected = clock_.UnixNs();
  ledger_.shard(1).Begin(m).End(Outcome::kSuccess);
  clock_.AdvanceNs(10 * kMs);
  EXPECT_EQ(Stats(ledger_.Snapshot(), "m").last_request_unix_ns, expected);
}

TEST_F(LedgerTest, SpecialIdsAreReportedSeparately) {
  ledger_.shard(0).Begin(table_.unattributed()).End(Outcome::kSuccess);
  ledger_.shard(0).Begin(table_.overflow()).End(Outcome::kClientError);
  LedgerSnapshot snap = ledger_.Snapshot();
  EXPECT_TRUE(snap.models.empty());
  EXPECT_EQ(snap.unattributed.outcome(Outcome::kSuccess), 1u);
  EXPECT_EQ(snap.overflow.outcome(Outcome::kClientError), 1u);
}

TEST(OutcomeTest, HttpStatusClasses) {
  EXPECT_EQ(OutcomeForHttpStatus(200), Outcome::kSuccess);
  EXPECT_EQ(OutcomeForHttpStatus(304), Outcome::kSuccess);
  EXPECT_EQ(OutcomeForHttpStatus(404), Outcome::kClientError);
  EXPECT_EQ(OutcomeForHttpStatus(503), Outcome::kServerError);
  EXPECT_EQ(OutcomeName(Outcome::kUpstreamError), "upstream_error");
}

// N writer threads, each on its own shard, and a reader snapshotting all the while: the reader
// never sees a negative in-flight, more completions than arrivals or busy time going backwards, and
// the end state is exact.
TEST(LedgerConcurrencyTest, ShardedWritersAreExactUnderConcurrentSnapshots) {
  constexpr int kThreads = 4, kOps = 200'000;
  ModelTable table(16);
  Ledger ledger(table, kThreads);
  const ModelId models[] = {table.Resolve("a"), table.Resolve("b"), table.Resolve("c")};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    std::map<std::string, double> last_busy;
    while (!done.load()) {
      for (const auto& [name, s] : ledger.Snapshot().models) {
        if (s.completions() > s.arrivals || s.busy_seconds < 0) bad.fetch_add(1);
        // busy_seconds is exported as a counter: it must never go backwards.
        if (s.busy_seconds < last_busy[name]) bad.fetch_add(1);
        last_busy[name] = s.busy_seconds;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      LedgerShard& shard = ledger.shard(t);
      std::vector<RequestGuard> open;
      for (int i = 0; i < kOps; ++i) {
        open.push_back(shard.Begin(models[i % 3]));
        if (open.size() == 8) {
          for (auto& g : open) g.End(static_cast<Outcome>(i % kOutcomeCount));
          open.clear();
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  uint64_t arrivals = 0, completions = 0;
  for (const auto& [name, s] : ledger.Snapshot().models) {
    arrivals += s.arrivals;
    completions += s.completions();
    EXPECT_EQ(s.inflight(), 0) << name;
  }
  EXPECT_EQ(arrivals, uint64_t{kThreads} * kOps);
  EXPECT_EQ(completions, arrivals);
}

}  // namespace
}  // namespace lagscale::metrics
