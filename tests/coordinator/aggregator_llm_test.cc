// LLM traffic in the aggregator: token rates from `usage` counters and time-to-first-byte
// quantiles from the pods' cumulative histograms.
#include <gtest/gtest.h>

#include <vector>

#include "lagscale/coordinator/aggregator.h"

namespace lagscale::coordinator {
namespace {

using Outcome = Aggregator::Outcome;
constexpr int64_t kSec = 1'000'000'000;
const std::vector<double> kBounds = {0.1, 0.5, 1, 5};

struct Llm {
  uint64_t requests = 0;  // arrived and completed
  uint64_t prompt = 0, completion = 0;
  std::vector<uint64_t> first_bytes;  // cumulative per bucket of kBounds (+Inf last); empty: none
};

v1::PodReport Report(const std::string& pod, uint64_t seq, double t, const Llm& c) {
  v1::PodReport r;
  r.set_server("vllm");
  r.set_pod(pod);
  r.set_incarnation(1);
  r.set_sequence(seq);
  r.set_snapshot_monotonic_ns(static_cast<int64_t>(t * kSec));
  auto* m = r.add_models();
  m->set_model("llama");
  m->set_arrivals(c.requests);
  m->mutable_outcomes()->set_success(c.requests);
  m->set_prompt_tokens(c.prompt);
  m->set_completion_tokens(c.completion);
  if (!c.first_bytes.empty()) {
    auto* h = m->mutable_time_to_first_byte();
    for (double b : kBounds) h->add_upper_bounds_seconds(b);
    for (uint64_t n : c.first_bytes) h->add_counts(n);
  }
  return r;
}

class AggregatorLlmTest : public ::testing::Test {
 protected:
  Outcome Apply(const v1::PodReport& r) {
    const int64_t now = r.snapshot_monotonic_ns();
    return agg.Apply(r, now, 1'700'000'000'000 + now / 1'000'000);
  }
  ModelDemand& Model() { return *agg.FindModel("llama"); }

  Aggregator agg{Aggregator::Options{/*ttl_s=*/5, /*history_s=*/120, /*bucket_s=*/0.25}};
};

TEST_F(AggregatorLlmTest, TokenRatesAreDeltasOverTheWindowSummedOverPods) {
  Apply(Report("a", 1, 10, {5, 1000, 200, {}}));  // a baseline: what came before is not a rate
  Apply(Report("b", 1, 10, {0, 0, 0, {}}));
  Apply(Report("a", 2, 12, {7, 1400, 600, {}}));
  Apply(Report("b", 2, 12, {1, 300, 100, {}}));
  EXPECT_NEAR(Model().TokenRate(2), (400.0 + 100.0) / 2, 1e-9);
  EXPECT_NEAR(Model().PromptTokenRate(2), (400.0 + 300.0) / 2, 1e-9);
  EXPECT_TRUE(Model().llm());
}

// Token counts are kept apart from the other fields, and only from a model's first token on: the
// first tokens must count exactly, even after the history filled and wrapped around without any.
TEST_F(AggregatorLlmTest, TokensThatBeginAfterLongTrafficWithoutThemCountExactly) {
  // 10 requests a second without tokens for 200 s, longer than the 120 s history.
  uint64_t seq = 0;
  for (int s = 10; s <= 210; ++s) {
    Apply(Report("a", ++seq, s, {static_cast<uint64_t>(10 * (s - 10)), 0, 0, {}}));
  }
  EXPECT_FALSE(Model().llm());
  EXPECT_EQ(Model().TokenRate(100), 0);
  // Then 300 prompt and 600 completion tokens a second, for two seconds.
  Apply(Report("a", ++seq, 211, {2010, 300, 600, {}}));
  Apply(Report("a", ++seq, 212, {2020, 600, 1200, {}}));
  EXPECT_TRUE(Model().llm());
  EXPECT_NEAR(Model().TokenRate(2), 600, 1e-9);
  EXPECT_NEAR(Model().PromptTokenRate(2), 300, 1e-9);
  // Over the whole history, those two seconds' tokens and nothing before them.
  EXPECT_NEAR(Model().TokenRate(100), 1200.0 / 100, 1e-9);
  EXPECT_NEAR(Model().PromptTokenRate(100), 600.0 / 100, 1e-9);
  EXPECT_NEAR(Model().ArrivalRate(100), 10, 1e-9);
  // And the running totals carry on past them.
  Apply(Report("a", ++seq, 213, {2030, 600, 1200, {}}));
  EXPECT_NEAR(Model().TokenRate(1), 0, 1e-9);
  EXPECT_NEAR(Model().TokenRate(3), 1200.0 / 3, 1e-9);
}

TEST_F(AggregatorLlmTest, ModelsWithoutTokensOrFirstBytesAreNotLlm) {
  Apply(Report("a", 1, 10, {1, 0, 0, {}}));
  Apply(Report("a", 2, 11, {9, 0, 0, {}}));
  EXPECT_FALSE(Model().llm());
  EXPECT_EQ(Model().TokenRate(1), 0);
  EXPECT_EQ(Model().FirstByteQuantile(0.5, 60), std::nullopt);
}

TEST_F(AggregatorLlmTest, FirstByteQuantilesInterpolateWithinTheBucketOfTheNewObservations) {
  Apply(Report("a", 1, 10, {50, 0, 0, {50, 0, 0, 0, 0}}));  // baseline: not in the window
  // 100 new answers: 10 under 0.1 s, 80 in (0.1, 0.5], 10 in (0.5, 1].
  Apply(Report("a", 2, 11, {150, 0, 0, {60, 80, 10, 0, 0}}));
  EXPECT_EQ(Model().FirstByteCount(60), 100u);
  // Rank 50: 40 into the 80 of (0.1, 0.5] -> 0.1 + 0.4 * 40/80.
  EXPECT_NEAR(*Model().FirstByteQuantile(0.5, 60), 0.3, 1e-9);
  // Rank 99: 9 into the 10 of (0.5, 1] -> 0.5 + 0.5 * 9/10.
  EXPECT_NEAR(*Model().FirstByteQuantile(0.99, 60), 0.95, 1e-9);
}

TEST_F(AggregatorLlmTest, AHistogramAppearingLaterCountsItsFirstObservations) {
  Apply(Report("a", 1, 10, {3, 0, 0, {}}));  // the model served other requests first
  Apply(Report("a", 2, 11, {4, 0, 0, {0, 0, 0, 1, 0}}));
  EXPECT_EQ(Model().FirstByteCount(60), 1u);
  EXPECT_NEAR(*Model().FirstByteQuantile(0.5, 60), 1 + 4 * 0.5, 1e-9);
}

TEST_F(AggregatorLlmTest, ObservationsOlderThanTheWindowDropOut) {
  Apply(Report("a", 1, 10, {0, 0, 0, {0, 0, 0, 0, 0}}));
  Apply(Report("a", 2, 11, {1, 0, 0, {0, 0, 0, 0, 1}}));  // one answer past 5 s
  EXPECT_EQ(*Model().FirstByteQuantile(0.5, 60), 5);      // the +Inf bucket reads its lower end
  Apply(Report("a", 3, 100, {2, 0, 0, {1, 0, 0, 0, 1}}));
  EXPECT_EQ(Model().FirstByteCount(60), 1u);
  EXPECT_NEAR(*Model().FirstByteQuantile(0.5, 60), 0.05, 1e-9);
}

TEST_F(AggregatorLlmTest, AbsurdHistogramsRejectTheReport) {
  Apply(Report("a", 1, 10, {0, 0, 0, {}}));
  auto wrong_size = Report("a", 2, 11, {1, 0, 0, {0, 1}});
  EXPECT_EQ(Apply(wrong_size), Outcome::kRejected);
  auto descending = Report("a", 2, 11, {1, 0, 0, {0, 1, 0, 0, 0}});
  descending.mutable_models(0)->mutable_time_to_first_byte()->set_upper_bounds_seconds(2, 0.01);
  EXPECT_EQ(Apply(descending), Outcome::kRejected);
  auto huge = Report("a", 2, 11, {1, 0, uint64_t{1} << 60, {}});
  EXPECT_EQ(Apply(huge), Outcome::kRejected);
  EXPECT_EQ(agg.refusals().values, 3u);
  EXPECT_EQ(Apply(Report("a", 2, 11, {1, 10, 20, {0, 1, 0, 0, 0}})), Outcome::kApplied);
}

TEST_F(AggregatorLlmTest, TokensGoingBackwardsMeanARestart) {
  Apply(Report("a", 1, 10, {5, 100, 100, {}}));
  EXPECT_EQ(Apply(Report("a", 2, 11, {5, 100, 50, {}})), Outcome::kRestart);
}

}  // namespace
}  // namespace lagscale::coordinator
