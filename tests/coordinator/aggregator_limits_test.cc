#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lagscale/coordinator/aggregator.h"

namespace lagscale::coordinator {
namespace {

using Outcome = Aggregator::Outcome;
constexpr int64_t kSec = 1'000'000'000;

v1::PodReport Report(const std::string& pod, uint64_t seq, double t, int models,
                     uint64_t arrivals = 0, const std::string& prefix = "m") {
  v1::PodReport r;
  r.set_server("srv");
  r.set_pod(pod);
  r.set_incarnation(1);
  r.set_sequence(seq);
  r.set_snapshot_monotonic_ns(static_cast<int64_t>(t * kSec));
  for (int i = 0; i < models; ++i) {
    auto* m = r.add_models();
    m->set_model(prefix + std::to_string(i));
    m->set_arrivals(arrivals);
    m->mutable_outcomes()->set_success(arrivals);
    m->set_busy_seconds(static_cast<double>(arrivals) * 0.1);
  }
  return r;
}

class AggregatorLimitsTest : public ::testing::Test {
 protected:
  AggregatorLimitsTest() { agg.set_limits(LimitsConfig{4, 2, 3}); }
  Outcome Apply(const v1::PodReport& r) {
    const int64_t now = r.snapshot_monotonic_ns();
    return agg.Apply(r, now, 1'700'000'000'000 + now / 1'000'000);
  }
  void AdvanceTo(double t) {
    const auto now = static_cast<int64_t>(t * kSec);
    agg.Advance(now, 1'700'000'000'000 + now / 1'000'000);
  }
  Aggregator agg{Aggregator::Options{/*ttl_s=*/2, /*history_s=*/5, /*bucket_s=*/0.25}};
};

TEST_F(AggregatorLimitsTest, ModelsBeyondThePerPodCapAreRefusedAndCounted) {
  EXPECT_EQ(Apply(Report("a", 1, 1, 5)), Outcome::kBaseline);
  EXPECT_EQ(agg.models().size(), 3u);
  EXPECT_EQ(agg.refusals().models, 2u);
  EXPECT_NE(agg.refusals().last.find("maxModelsPerPod 3"), std::string::npos)
      << agg.refusals().last;
}

TEST_F(AggregatorLimitsTest, ModelsBeyondTheTotalCapAreRefusedButKnownOnesStillCount) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 3, 0, "x")), Outcome::kBaseline);
  ASSERT_EQ(Apply(Report("b", 1, 1, 3, 0, "y")), Outcome::kBaseline);  // y0 taken, y1 y2 refused
  EXPECT_EQ(agg.models().size(), 4u);
  EXPECT_EQ(agg.refusals().models, 2u);
  // A model the coordinator already tracks is taken from another pod whatever the total.
  v1::PodReport r = Report("b", 2, 2, 1, 0, "x");
  EXPECT_EQ(Apply(r), Outcome::kApplied);
  EXPECT_EQ(agg.FindModel("x0")->hosting_pods(), 2u);
}

TEST_F(AggregatorLimitsTest, PodsBeyondTheCapAreRefused) {
  EXPECT_EQ(Apply(Report("a", 1, 1, 1)), Outcome::kBaseline);
  EXPECT_EQ(Apply(Report("b", 1, 1, 1)), Outcome::kBaseline);
  EXPECT_EQ(Apply(Report("c", 1, 1, 1)), Outcome::kRefused);
  EXPECT_EQ(agg.pod_count(), 2u);
  EXPECT_EQ(agg.refusals().pods, 1u);
  // Pods already tracked go on being applied.
  EXPECT_EQ(Apply(Report("a", 2, 2, 1, 4)), Outcome::kApplied);
}

TEST_F(AggregatorLimitsTest, AbsurdValuesRejectTheWholeReport) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 1, 5)), Outcome::kBaseline);
  auto huge = Report("a", 2, 2, 1, 6);
  huge.mutable_models(0)->set_inflight(int64_t{1} << 40);
  EXPECT_EQ(Apply(huge), Outcome::kRejected);
  auto negative = Report("a", 3, 3, 1, 6);
  negative.mutable_models(0)->set_inflight(-1);
  EXPECT_EQ(Apply(negative), Outcome::kRejected);
  auto nan = Report("a", 4, 4, 1, 6);
  nan.mutable_models(0)->set_busy_seconds(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(Apply(nan), Outcome::kRejected);
  auto infinite = Report("a", 5, 5, 1, 6);
  infinite.mutable_models(0)->set_busy_seconds(std::numeric_limits<double>::infinity());
  EXPECT_EQ(Apply(infinite), Outcome::kRejected);
  EXPECT_EQ(Apply(Report("a", 6, 6, 1, uint64_t{1} << 40)), Outcome::kRejected);  // a 2^40 leap
  EXPECT_EQ(Apply(Report("a", 7, 7, 1, uint64_t{1} << 60)), Outcome::kRejected);  // beyond 2^53
  EXPECT_EQ(agg.refusals().values, 6u);
  EXPECT_EQ(agg.FindModel("m0")->Inflight(), 0);
  // The pod's state did not move: the next sane report applies against the last good one.
  EXPECT_EQ(Apply(Report("a", 8, 8, 1, 9)), Outcome::kApplied);
  // Backwards is a restart, not an absurdity.
  EXPECT_EQ(Apply(Report("a", 9, 9, 1, 1)), Outcome::kRestart);
  EXPECT_EQ(agg.refusals().values, 6u);
}

TEST_F(AggregatorLimitsTest, TokenCountersThatLeapAreRejectedLikeRequestCounters) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 1, 5)), Outcome::kBaseline);
  auto leap = Report("a", 2, 2, 1, 6);
  leap.mutable_models(0)->set_prompt_tokens(uint64_t{1} << 40);
  EXPECT_EQ(Apply(leap), Outcome::kRejected);
  leap.mutable_models(0)->set_prompt_tokens(0);
  leap.mutable_models(0)->set_completion_tokens(uint64_t{1} << 40);
  EXPECT_EQ(Apply(leap), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().values, 2u);
  EXPECT_EQ(Apply(Report("a", 3, 3, 1, 7)), Outcome::kApplied);
}

// Names become labels and /status keys: a report with a name no sidecar sends is rejected whole,
// and the refusal shows the name without its control bytes.
TEST_F(AggregatorLimitsTest, NamesNoSidecarSendsRejectTheWholeReport) {
  const auto with = [](const std::string& server, const std::string& pod,
                       const std::string& model) {
    v1::PodReport r = Report(pod, 1, 1, 1);
    r.set_server(server);
    r.mutable_models(0)->set_model(model);
    return r;
  };
  const v1::PodReport bad[] = {
      with("srv", "p", ""),
      with("srv", "p", std::string(129, 'm')),
      with("srv", "p", "a\x1b[2Jb"),
      with("srv", "p", "a/b"),
      with("srv", std::string(254, 'p'), "m"),
      with("srv", "p/q", "m"),
      with("a/b", "p", "m"),
      with("s v", "p", "m"),
  };
  for (const auto& r : bad) EXPECT_EQ(Apply(r), Outcome::kRejected) << r.ShortDebugString();
  EXPECT_EQ(agg.refusals().values, std::size(bad));
  EXPECT_EQ(agg.pod_count(), 0u);
  EXPECT_TRUE(agg.models().empty());
  EXPECT_EQ(agg.refusals().last, "report rejected: server name \"s v\"");
  EXPECT_EQ(Apply(with("srv", "p", "a\x1b[2Jb")), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().last, "report rejected: model name \"a?[2Jb\"");
  // The longest names the sidecar allows, and a report without a server name, are fine.
  EXPECT_EQ(Apply(with(std::string(253, 's'), std::string(253, 'p'), std::string(128, 'm'))),
            Outcome::kBaseline);
  EXPECT_EQ(Apply(with("", "p", "m.v2_x-1")), Outcome::kBaseline);
}

// Listed twice, a model's second entry would be applied as a delta against its first: a
// difference that wraps around to ~1.8e19 requests.
TEST_F(AggregatorLimitsTest, AModelListedTwiceInOneReportRejectsIt) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 1, 100)), Outcome::kBaseline);
  auto twice = Report("a", 2, 2, 1, 110);
  *twice.add_models() = Report("a", 2, 2, 1, 108).models(0);
  EXPECT_EQ(Apply(twice), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().last, "report rejected: model \"m0\" listed twice");
  EXPECT_EQ(Apply(Report("a", 3, 3, 1, 112)), Outcome::kApplied);
  AdvanceTo(4);
  EXPECT_LT(agg.FindModel("m0")->ArrivalRate(3.0), 100.0);
  // A model the pod does not host yet, listed twice; and a new pod's first report.
  auto fresh_twice = Report("a", 4, 4, 1, 114);
  fresh_twice.add_models()->set_model("new");
  fresh_twice.add_models()->set_model("new");
  EXPECT_EQ(Apply(fresh_twice), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().last, "report rejected: model \"new\" listed twice");
  EXPECT_EQ(agg.FindModel("new"), nullptr);
  auto first_twice = Report("b", 1, 1, 1, 5);
  *first_twice.add_models() = first_twice.models(0);
  EXPECT_EQ(Apply(first_twice), Outcome::kRejected);
  EXPECT_EQ(agg.pod_count(), 1u) << "no state for the refused pod";
  // A restarted incarnation's first report.
  auto restart_twice = Report("a", 1, 5, 1, 5);
  restart_twice.set_incarnation(2);
  *restart_twice.add_models() = restart_twice.models(0);
  EXPECT_EQ(Apply(restart_twice), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().values, 4u);
  EXPECT_EQ(Apply(Report("a", 6, 5, 1, 116)), Outcome::kApplied) << "the pod's state is intact";
}

TEST_F(AggregatorLimitsTest, ModelsNoPodHostsAreForgottenAfterTheirHistoryAndFreeTheCap) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 3, 0, "old")), Outcome::kBaseline);
  const uint64_t generation = agg.roster_generation();
  AdvanceTo(4);  // TTL 2 s: the pod expires; its models are orphaned from now
  EXPECT_EQ(agg.pod_count(), 0u);
  EXPECT_EQ(agg.models().size(), 3u);  // still within their 5 s of history
  AdvanceTo(9.5);
  EXPECT_EQ(agg.models().size(), 0u);
  EXPECT_GT(agg.roster_generation(), generation);
  EXPECT_EQ(Apply(Report("b", 1, 10, 3, 0, "new")), Outcome::kBaseline);
  EXPECT_EQ(agg.models().size(), 3u);
  EXPECT_EQ(agg.refusals().models, 0u);
}

TEST_F(AggregatorLimitsTest, IdleModelsNeedNoHistoryRingAndStillReadZero) {
  ASSERT_EQ(Apply(Report("a", 1, 1, 1)), Outcome::kBaseline);
  ASSERT_EQ(Apply(Report("a", 2, 2, 1)), Outcome::kApplied);
  ASSERT_EQ(Apply(Report("a", 3, 3, 1)), Outcome::kApplied);
  const ModelDemand& idle = *agg.FindModel("m0");
  EXPECT_EQ(idle.AverageConcurrency(1), 0);
  EXPECT_EQ(idle.ArrivalRate(1), 0);
  // Traffic after idleness reads exactly as before the change: 4 arrivals in the last second.
  ASSERT_EQ(Apply(Report("a", 4, 4, 1, 4)), Outcome::kApplied);
  EXPECT_NEAR(agg.FindModel("m0")->ArrivalRate(1), 4, 1e-9);
  EXPECT_NEAR(agg.FindModel("m0")->AverageConcurrency(2), 0.2, 1e-9);
}

// Two live sidecars under one pod identity (the same --pod-name twice) alternate incarnations.
// Counted as restarts they would detach the pod's models on every report and never let them be
// fresh; the incarnation a restart replaced cannot come back, so its reports are refused, and
// once that repeats the refusal names the conflict.
TEST_F(AggregatorLimitsTest, TwoSidecarsWithOnePodIdentityAreNamedNotTakenForRestarts) {
  auto from = [](uint64_t incarnation, uint64_t seq, double t, uint64_t arrivals) {
    v1::PodReport r = Report("a", seq, t, 1, arrivals);
    r.set_incarnation(incarnation);
    return r;
  };
  EXPECT_EQ(Apply(from(11, 1, 1, 100)), Outcome::kBaseline);
  EXPECT_EQ(Apply(from(22, 1, 1.1, 5)), Outcome::kRestart);
  // A straggler from before the restart, once: out of order, nothing named.
  EXPECT_EQ(Apply(from(11, 2, 1.5, 110)), Outcome::kOutOfOrder);
  EXPECT_EQ(agg.refusals().values, 0u);
  EXPECT_EQ(Apply(from(22, 2, 2.1, 15)), Outcome::kApplied);
  // It keeps coming: a second sidecar, refused and named; the first goes on being applied.
  EXPECT_EQ(Apply(from(11, 3, 2.5, 120)), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().values, 1u);
  EXPECT_NE(agg.refusals().last.find("two sidecars report as this pod (incarnations 11 and 22)"),
            std::string::npos)
      << agg.refusals().last;
  EXPECT_EQ(Apply(from(22, 3, 3.1, 25)), Outcome::kApplied);
  EXPECT_NEAR(agg.FindModel("m0")->ArrivalRate(2), 10, 1e-9);
  // A genuine restart after that is still a restart.
  EXPECT_EQ(Apply(from(33, 1, 4.1, 1)), Outcome::kRestart);
}

}  // namespace
}  // namespace lagscale::coordinator
