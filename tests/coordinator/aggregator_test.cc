#include "lagscale/coordinator/aggregator.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lagscale::coordinator {
namespace {

using Outcome = Aggregator::Outcome;

struct Counters {
  std::string model;
  uint64_t arrivals = 0, completions = 0;
  double busy = 0;
  int64_t inflight = 0;
  int64_t last_request_ms = 0;
};

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kDelay = 0;  // network delay between snapshot and receipt (see Unaligned...)

v1::PodReport Report(const std::string& pod, uint64_t incarnation, uint64_t seq, double t,
                     const std::vector<Counters>& models) {
  v1::PodReport r;
  r.set_server("srv");
  r.set_pod(pod);
  r.set_incarnation(incarnation);
  r.set_sequence(seq);
  r.set_snapshot_monotonic_ns(static_cast<int64_t>(t * kSec));
  for (const auto& c : models) {
    auto* m = r.add_models();
    m->set_model(c.model);
    m->set_arrivals(c.arrivals);
    m->mutable_outcomes()->set_success(c.completions);
    m->set_busy_seconds(c.busy);
    m->set_inflight(c.inflight);
    m->set_last_request_unix_ms(c.last_request_ms);
  }
  return r;
}

class AggregatorTest : public ::testing::Test {
 protected:
  // Applies a report "received" shortly after its snapshot; the coordinator clock equals the
  // sidecar's here, which the aggregator must not rely on (see ClockOffsetDoesNotMatter).
  Outcome Apply(const v1::PodReport& r, int64_t offset = 0) {
    const int64_t now = r.snapshot_monotonic_ns() + offset + kDelay;
    return agg.Apply(r, now, 1'700'000'000'000 + now / 1'000'000);
  }
  void AdvanceTo(double t) {
    const auto now = static_cast<int64_t>(t * kSec) + kDelay;
    agg.Advance(now, 1'700'000'000'000 + now / 1'000'000);
  }
  ModelDemand& Model(const std::string& name) { return *agg.FindModel(name); }

  Aggregator agg{Aggregator::Options{/*ttl_s=*/5, /*history_s=*/60, /*bucket_s=*/0.25}};
};

TEST_F(AggregatorTest, BusySecondsDeltasGiveExactWindowedConcurrency) {
  EXPECT_EQ(Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0.0, 0}})), Outcome::kBaseline);
  EXPECT_EQ(Apply(Report("a", 1, 2, 11, {{"m", 4, 2, 2.0, 2}})), Outcome::kApplied);
  EXPECT_EQ(Apply(Report("a", 1, 3, 12, {{"m", 10, 7, 5.0, 3}})), Outcome::kApplied);
  ModelDemand& m = Model("m");
  EXPECT_NEAR(m.AverageConcurrency(2), 2.5, 1e-9);   // 5 busy-seconds over 2 s
  EXPECT_NEAR(m.AverageConcurrency(1), 3.0, 1e-9);   // the last second alone
  EXPECT_NEAR(m.AverageConcurrency(60), 2.5, 1e-9);  // only 2 s of data so far
  EXPECT_NEAR(m.ArrivalRate(2), 5.0, 1e-9);
  EXPECT_NEAR(m.CompletionRate(1), 5.0, 1e-9);
  EXPECT_EQ(m.Inflight(), 3);
  EXPECT_TRUE(m.Fresh());
}

TEST_F(AggregatorTest, PodsAreSummedPerModel) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}, {"n", 0, 0, 0, 0}}));
  Apply(Report("b", 2, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 1, 2, 12, {{"m", 9, 4, 4.0, 5}, {"n", 1, 0, 1.0, 1}}));
  Apply(Report("b", 2, 2, 12, {{"m", 7, 0, 6.0, 7}}));
  EXPECT_EQ(Model("m").Inflight(), 12);
  EXPECT_NEAR(Model("m").AverageConcurrency(2), 5.0, 1e-9);
  EXPECT_EQ(Model("m").hosting_pods(), 2u);
  EXPECT_EQ(*Model("m").HostingPods(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Model("n").Inflight(), 1);
  EXPECT_EQ(Model("n").server(), "srv");
  EXPECT_EQ(agg.pod_count(), 2u);
}

// /status takes the list four times a second: it is built again only when the pods changed, and
// a list already handed out never changes under its reader.
TEST_F(AggregatorTest, HostingPodsAreSharedUntilThePodsChange) {
  Apply(Report("b", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 2, 1, 10, {{"m", 0, 0, 0, 0}}));
  const auto first = Model("m").HostingPods();
  Apply(Report("a", 2, 2, 11, {{"m", 3, 1, 1.0, 2}}));
  EXPECT_EQ(Model("m").HostingPods(), first) << "same pods, same list";
  Apply(Report("c", 3, 1, 12, {{"m", 0, 0, 0, 0}}));
  EXPECT_EQ(*Model("m").HostingPods(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(*first, (std::vector<std::string>{"a", "b"}));
  Apply(Report("a", 2, 3, 16, {{"m", 3, 3, 1.0, 0}}));
  Apply(Report("c", 3, 2, 16, {{"m", 0, 0, 0, 0}}));
  AdvanceTo(16);  // b last reported at 10: expired
  EXPECT_EQ(*Model("m").HostingPods(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(Apply(Report("a", 4, 1, 17, {{"m", 0, 0, 0, 0}})), Outcome::kRestart);
  EXPECT_EQ(*Model("m").HostingPods(), (std::vector<std::string>{"a", "c"}));
}

TEST_F(AggregatorTest, TotalsAreTheHostingPodsLatestCumulativeCounters) {
  Apply(Report("a", 1, 1, 10, {{"m", 5, 3, 1.0, 2}}));  // a baseline still counts: it is the ledger
  Apply(Report("b", 2, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("b", 2, 2, 11, {{"m", 7, 7, 2.0, 0}}));
  EXPECT_EQ(Model("m").ArrivalsTotal(), 12u);
  EXPECT_EQ(Model("m").CompletionsTotal(), 10u);
  // A restarted sidecar's ledger starts again: the total follows it, nothing counted twice.
  Apply(Report("b", 9, 1, 12, {{"m", 1, 0, 0.1, 1}}));
  EXPECT_EQ(Model("m").ArrivalsTotal(), 6u);
  EXPECT_EQ(Model("m").CompletionsTotal(), 3u);
}

TEST_F(AggregatorTest, DuplicatesAndOutOfOrderReportsAreIgnored) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 1, 2, 11, {{"m", 2, 0, 1.0, 2}}));
  Apply(Report("a", 1, 3, 12, {{"m", 4, 0, 3.0, 4}}));
  EXPECT_EQ(Apply(Report("a", 1, 3, 12, {{"m", 4, 0, 3.0, 4}})), Outcome::kDuplicate);
  EXPECT_EQ(Apply(Report("a", 1, 2, 11, {{"m", 2, 0, 1.0, 2}})), Outcome::kOutOfOrder);
  EXPECT_NEAR(Model("m").AverageConcurrency(2), 1.5, 1e-9);
  EXPECT_EQ(Model("m").Inflight(), 4);
}

TEST_F(AggregatorTest, ALostReportLosesNothing) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 1, 4, 12, {{"m", 8, 8, 4.0, 0}}));  // 2 and 3 never arrived
  EXPECT_NEAR(Model("m").AverageConcurrency(2), 2.0, 1e-9);
  EXPECT_NEAR(Model("m").ArrivalRate(2), 4.0, 1e-9);
}

TEST_F(AggregatorTest, RestartRebaselinesAndHolds) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 1, 2, 11, {{"m", 100, 90, 50.0, 10}}));
  Model("m").set_hold_seconds(3);
  // New incarnation: counters restart from zero; nothing may come out negative.
  EXPECT_EQ(Apply(Report("a", 7, 1, 12, {{"m", 1, 0, 0.1, 1}})), Outcome::kRestart);
  EXPECT_EQ(Model("m").Inflight(), 1);
  EXPECT_FALSE(Model("m").Fresh());
  Apply(Report("a", 7, 2, 13, {{"m", 3, 1, 2.1, 2}}));
  EXPECT_GE(Model("m").AverageConcurrency(1), 0);
  EXPECT_NEAR(Model("m").AverageConcurrency(1), 2.0, 1e-9);
  EXPECT_FALSE(Model("m").Fresh());  // still inside the hold after the restart
  Apply(Report("a", 7, 3, 14, {{"m", 3, 3, 2.1, 0}}));
  Apply(Report("a", 7, 4, 15, {{"m", 3, 3, 2.1, 0}}));
  EXPECT_TRUE(Model("m").Fresh());
}

TEST_F(AggregatorTest, CountersGoingBackwardsMeanARestart) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("a", 1, 2, 11, {{"m", 50, 50, 5.0, 0}}));
  EXPECT_EQ(Apply(Report("a", 1, 3, 12, {{"m", 2, 1, 0.5, 1}})), Outcome::kRestart);
  EXPECT_EQ(Model("m").Inflight(), 1);
  EXPECT_NEAR(Model("m").AverageConcurrency(2), 5.0, 1e-9);  // the old second stays as it was
}

TEST_F(AggregatorTest, ExpiryHoldsInsteadOfShowingZeroDemand) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  Apply(Report("b", 2, 1, 10, {{"m", 0, 0, 0, 0}}));
  for (int i = 1; i <= 3; ++i) {
    Apply(Report("a", 1, 1 + i, 10 + i, {{"m", 0, 0, 4.0 * i, 4}}));
    if (i < 2) Apply(Report("b", 2, 1 + i, 10 + i, {{"m", 0, 0, 4.0 * i, 4}}));
  }
  Model("m").set_hold_seconds(10);
  EXPECT_EQ(Model("m").Inflight(), 8);
  AdvanceTo(14.5);  // b last reported at 11 s: three intervals missed
  EXPECT_FALSE(Model("m").Fresh()) << "pod b missed its reports: windows are incomplete";
  AdvanceTo(16.5);  // b has been silent for 5.5 s > TTL 5 s
  EXPECT_EQ(agg.pod_count(), 1u);
  EXPECT_EQ(Model("m").Inflight(), 4);
  EXPECT_EQ(Model("m").hosting_pods(), 1u);
  for (int i = 4; i <= 8; ++i) Apply(Report("a", 1, 1 + i, 10 + i, {{"m", 0, 0, 4.0 * i, 4}}));
  EXPECT_FALSE(Model("m").Fresh()) << "an expiry inside the hold window must not read as fresh";
  for (int i = 9; i <= 28; ++i) Apply(Report("a", 1, 1 + i, 10 + i, {{"m", 0, 0, 4.0 * i, 4}}));
  EXPECT_TRUE(Model("m").Fresh());
  EXPECT_NEAR(Model("m").AverageConcurrency(5), 4.0, 1e-9);
}

TEST_F(AggregatorTest, ModelWithoutDeltasIsNotFresh) {
  Apply(Report("a", 1, 1, 10, {{"m", 5, 0, 3.0, 5}}));
  EXPECT_EQ(Model("m").Inflight(), 5);
  EXPECT_FALSE(Model("m").Fresh());
  EXPECT_EQ(Model("m").AverageConcurrency(10), 0);
}

TEST_F(AggregatorTest, ClockOffsetDoesNotMatter) {
  const int64_t offset = 123 * kSec;  // the sidecar's monotonic clock started elsewhere
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}), offset);
  Apply(Report("a", 1, 2, 11, {{"m", 1, 1, 1.5, 0}}), offset);
  EXPECT_NEAR(Model("m").AverageConcurrency(1), 1.5, 1e-9);
}

TEST_F(AggregatorTest, UnalignedReportsStayWithinABucketOfExact) {
  // Reports 5 ms off the 250 ms bucket grid: the window edges inside a bucket are pro rata.
  const int64_t off = 5'000'000;
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}), off);
  Apply(Report("a", 1, 2, 11, {{"m", 0, 0, 2.0, 0}}), off);
  Apply(Report("a", 1, 3, 12, {{"m", 0, 0, 5.0, 0}}), off);
  EXPECT_NEAR(Model("m").AverageConcurrency(2), 2.5, 1e-9);  // edges where the data starts/ends
  EXPECT_NEAR(Model("m").AverageConcurrency(1), 3.0, 0.01);
}

TEST_F(AggregatorTest, IdleSecondsFollowTheLastRequest) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 0}}));
  EXPECT_TRUE(std::isinf(Model("m").IdleSeconds()));
  const int64_t now_ms = 1'700'000'000'000 + (11 * kSec + kDelay) / 1'000'000;
  Apply(Report("a", 1, 2, 11, {{"m", 1, 1, 0.1, 0, now_ms - 2000}}));
  EXPECT_NEAR(Model("m").IdleSeconds(), 2.0, 1e-3);
  Apply(Report("a", 1, 3, 12, {{"m", 2, 1, 0.2, 1, now_ms}}));
  EXPECT_EQ(Model("m").IdleSeconds(), 0);  // something is in flight
}

TEST_F(AggregatorTest, PodViewsShowSequenceAndAge) {
  Apply(Report("a", 9, 41, 10, {{"m", 0, 0, 0, 3}}));
  AdvanceTo(12);
  const auto pods = agg.Pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].sequence, 41u);
  EXPECT_EQ(pods[0].incarnation, 9u);
  EXPECT_NEAR(pods[0].report_age_s, 2.0, 1e-6);
  EXPECT_EQ(pods[0].inflight, 3);
}

// A pod's in-flight is kept as its models' counts change, not summed when /status asks.
TEST_F(AggregatorTest, APodsInflightIsItsModelsLatestAcrossChangesAndARestart) {
  Apply(Report("a", 1, 1, 10, {{"m", 0, 0, 0, 3}, {"n", 0, 0, 0, 4}}));
  Apply(Report("a", 1, 2, 11, {{"m", 5, 4, 1, 1}, {"n", 9, 2, 4, 7}}));
  ASSERT_EQ(agg.Pods().size(), 1u);
  EXPECT_EQ(agg.Pods()[0].inflight, 8);
  // A model the report leaves out keeps its last count; a refused report changes nothing.
  Apply(Report("a", 1, 3, 12, {{"m", 6, 6, 2, 0}}));
  EXPECT_EQ(agg.Pods()[0].inflight, 7);
  EXPECT_EQ(Apply(Report("a", 1, 4, 13, {{"m", 7, 6, 3, -1}})), Outcome::kRejected);
  EXPECT_EQ(agg.Pods()[0].inflight, 7);
  // The new incarnation's models alone.
  EXPECT_EQ(Apply(Report("a", 2, 1, 14, {{"m", 1, 0, 0.1, 2}})), Outcome::kRestart);
  EXPECT_EQ(agg.Pods()[0].inflight, 2);
  EXPECT_EQ(Model("m").Inflight(), 2);
  EXPECT_EQ(Model("n").Inflight(), 0);
}

// Found by fuzz_report_sequence: a report with in-flight -5 made the model show -5 in flight on
// /status, in-flight INT64_MAX from two pods overflowed their sum, busy time 1e300 made the
// concurrency inf (NaN busy time or snapshot times near the ends of int64 broke the windows too).
TEST_F(AggregatorTest, ImplausibleReportIsRefusedWhole) {
  EXPECT_EQ(Apply(Report("a", 1, 1, 10, {{"m", 4, 2, 1.0, 2}})), Outcome::kBaseline);
  EXPECT_EQ(Apply(Report("a", 1, 2, 11, {{"m", 5, 2, 2.0, -5}})), Outcome::kRejected);
  EXPECT_EQ(Apply(Report("a", 1, 3, 12, {{"m", 5, 2, std::nan(""), 3}})), Outcome::kRejected);
  EXPECT_EQ(Apply(Report("a", 1, 4, 13, {{"m", 5, 2, -1.0, 3}})), Outcome::kRejected);
  EXPECT_EQ(Apply(Report("a", 1, 4, 13, {{"m", 5, 2, 1e300, 3}})), Outcome::kRejected);
  EXPECT_EQ(Apply(Report("a", 1, 4, 13, {{"m", 5, 2, 2.0, INT64_MAX}})), Outcome::kRejected);
  v1::PodReport far = Report("a", 1, 5, 14, {{"m", 5, 2, 2.0, 3}});
  far.set_snapshot_monotonic_ns(INT64_MAX);
  EXPECT_EQ(agg.Apply(far, 15 * kSec, 1'700'000'000'000), Outcome::kRejected);
  EXPECT_EQ(Model("m").Inflight(), 2);  // the last plausible report stands
  EXPECT_EQ(Apply(Report("a", 1, 6, 15, {{"m", 6, 3, 3.0, 3}})), Outcome::kApplied);
  EXPECT_EQ(Model("m").Inflight(), 3);
}

}  // namespace
}  // namespace lagscale::coordinator
