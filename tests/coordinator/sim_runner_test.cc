#include <gtest/gtest.h>

#include <cmath>

#include "cluster.h"
#include "output.h"
#include "runner.h"
#include "sampled_demand.h"
#include "trace.h"

namespace lagscale::sim {
namespace {

// 50 rps of 200 ms requests, then twice that for two minutes: a burst big enough to queue at
// once, below the 2x short-window average that sends KPA into panic straight away.
constexpr char kStep[] =
    "t_seconds,model,arrival_rate_rps,service_time_ms\n"
    "0,m,50,200\n"
    "30,m,100,200\n"
    "150,m,100,200\n";

SimParams Defaults() {
  SimParams p;
  p.lagscale.min_replicas = p.min_replicas;
  p.lagscale.max_replicas = p.max_replicas;
  p.lagscale.tracking.target_concurrency = p.target();
  return p;
}

TEST(SimRunnerTest, LagscaleReactsToAStepWithinOneSecondAndBeatsTheBaselinesOnSlo) {
  const Trace trace = ParseTrace(kStep, "step");
  const SimParams params = Defaults();
  const PolicyResult lagscale = RunPolicy("lagscale", trace, params);
  ASSERT_TRUE(lagscale.reaction_s.has_value());
  EXPECT_LE(*lagscale.reaction_s, 1.0);
  EXPECT_GT(lagscale.requests, 10000u);
  for (const char* baseline : {"hpa", "kpa", "keda", "seldon"}) {
    const PolicyResult r = RunPolicy(baseline, trace, params);
    EXPECT_LT(lagscale.slo_violation_s, r.slo_violation_s) << baseline;
  }
}

TEST(SimRunnerTest, OracleNeedsNoScaleUpAfterTheBurstAndViolatesNothing) {
  const PolicyResult oracle = RunPolicy("oracle", ParseTrace(kStep, "step"), Defaults());
  EXPECT_EQ(oracle.slo_violation_s, 0);
  EXPECT_EQ(oracle.ready_s, 0);
  EXPECT_EQ(oracle.timed_out_requests, 0u);
}

TEST(SimRunnerTest, SameSeedSameResult) {
  const Trace trace = ParseTrace(kStep, "step");
  const PolicyResult a = RunPolicy("kpa", trace, Defaults());
  const PolicyResult b = RunPolicy("kpa", trace, Defaults());
  EXPECT_EQ(a.replica_seconds, b.replica_seconds);
  EXPECT_EQ(a.requests, b.requests);
  EXPECT_EQ(a.slo_violation_s, b.slo_violation_s);
}

TEST(SimRunnerTest, FlatLoadCausesNoScaleEvents) {
  const Trace trace = ParseTrace("0,m,100,200\n600,m,100,200\n", "flat");
  const PolicyResult r = RunPolicy("lagscale", trace, Defaults());
  EXPECT_EQ(r.scale_events, 0);
  EXPECT_FALSE(r.reaction_s.has_value());
}

TEST(SimTraceTest, RejectsABadRowNamingFileAndLine) {
  try {
    ParseTrace("t_seconds,model,arrival_rate_rps,service_time_ms\n0,m,abc,200\n", "bad.csv");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("arrival_rate_rps"), std::string::npos) << e.what();
  }
}

TEST(SimTraceTest, SameTimeRowsMakeAStep) {
  const Trace trace = ParseTrace("0,m,10,100\n5,m,10,100\n5,m,40,100\n9,m,40,100\n", "t");
  const ModelTrace& m = trace.models.at("m");
  EXPECT_EQ(m.At(4.9).rate_rps, 10);
  EXPECT_EQ(m.At(5).rate_rps, 40);
  EXPECT_EQ(trace.end_s, 10);
}

TEST(SimRunnerTest, KedaDecidesOnlyAtTheHpaSyncPeriod) {
  const PolicyResult keda = RunPolicy("keda", ParseTrace(kStep, "step"), Defaults());
  ASSERT_TRUE(keda.reaction_s.has_value());
  // The burst starts on a sync (t = 330 s with the warm-up): the first scale-up is a whole
  // number of 15 s periods later, never at the 500 ms poll that sampled the queue.
  EXPECT_EQ(std::fmod(*keda.reaction_s, 15.0), 0.0);
  EXPECT_GT(keda.scale_events, 0);
}

TEST(SimClusterTest, StartupDelaysAreDrawnWithinTheRange) {
  ClusterParams params;
  params.startup_s = 8;
  params.startup_max_s = 20;
  Cluster cluster(params, 0);
  cluster.Scale(50);
  cluster.AdvanceTo(7.99);
  EXPECT_EQ(cluster.ready(), 0);
  cluster.AdvanceTo(14);
  EXPECT_GT(cluster.ready(), 0);
  EXPECT_LT(cluster.ready(), 50);
  cluster.AdvanceTo(20);
  EXPECT_EQ(cluster.ready(), 50);
}

TEST(SimClusterTest, CompletedRequestsCountTheirTokensInTheReports) {
  ClusterParams params;
  Cluster cluster(params, 1);
  cluster.Arrive(2, 100);
  cluster.AdvanceTo(1);
  EXPECT_EQ(cluster.total_tokens(), 0);  // counted when the answer (and its usage) ends
  cluster.AdvanceTo(2);
  EXPECT_EQ(cluster.total_tokens(), 100);
  SampledDemand demand(60);
  demand.Add(Report{0, 0, 0, 0, -1, 0});
  demand.Add(Report{4, 0, 0, 0, -1, 100});
  demand.Add(Report{5, 0, 0, 0, -1, 300});
  EXPECT_DOUBLE_EQ(demand.TokenRate(1), 200);
  EXPECT_DOUBLE_EQ(demand.TokenRate(10), 60);
}

TEST(SimTraceTest, OutputTokensColumnIsOptional) {
  const Trace trace = ParseTrace("0,m,2,6000,300\n10,m,2,3000\n", "llm");
  EXPECT_DOUBLE_EQ(trace.models.at("m").At(0).tokens, 300);
  EXPECT_DOUBLE_EQ(trace.models.at("m").At(10).tokens, 0);
}

TEST(SimRunnerTest, SweepRunsLagscaleAtEachUtilizationAndTheOthersOnce) {
  const Trace trace = ParseTrace(kStep, "step");
  const nlohmann::json out =
      SweepJson("step", trace, Defaults(), {"lagscale", "kpa", "oracle"}, {0.5, 0.7});
  ASSERT_EQ(out["sweep"].size(), 2u);
  ASSERT_EQ(out["policies"].size(), 2u);  // kpa and the oracle; lagscale only in the sweep
  // The sweep's point at the default utilization is the plain run's.
  const PolicyResult plain = RunPolicy("lagscale", trace, Defaults());
  EXPECT_NEAR(out["sweep"][1]["replica_seconds"].get<double>(), plain.replica_seconds, 0.1);
  EXPECT_NEAR(out["sweep"][1]["slo_violation_s"].get<double>(), plain.slo_violation_s, 0.001);
  EXPECT_NE(out["sweep"][0]["replica_seconds"], out["sweep"][1]["replica_seconds"]);
}

}  // namespace
}  // namespace lagscale::sim
