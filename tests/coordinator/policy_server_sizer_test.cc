#include <gtest/gtest.h>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator {
namespace {

constexpr double kGi = 1024.0 * 1024 * 1024;

ServerContext Context(double now, int current, std::vector<ServerModelDemand> models) {
  ServerContext c;
  c.now_s = now;
  c.current_replicas = current;
  c.models = std::move(models);
  return c;
}

ServerPolicyConfig Config(Placement placement) {
  ServerPolicyConfig c;
  c.placement = placement;
  c.min_replicas = 1;
  c.max_replicas = 10;
  c.capacity_bytes = 10 * kGi;
  c.drain_delay_s = 30;
  return c;
}

TEST(ServerSizerTest, AllPlacementFollowsTheWidestModel) {
  auto sizer = MakeServerSizer(Config(Placement::kAll));
  Decision d = sizer->Decide(Context(0, 2, {{"a", 3, 0}, {"b", 5, 0}}));
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_NE(d.reason.find("b wants 5"), std::string::npos) << d.reason;
}

TEST(ServerSizerTest, AllPlacementStaysWithinBounds) {
  auto sizer = MakeServerSizer(Config(Placement::kAll));
  EXPECT_EQ(sizer->Decide(Context(0, 2, {{"a", 20, 0}})).desired, 10);
  EXPECT_EQ(sizer->Decide(Context(0, 0, {{"a", 0, 0}})).desired, 1);
}

TEST(ServerSizerTest, OneToOneFollowsItsModel) {
  auto sizer = MakeServerSizer(Config(Placement::kOneToOne));
  EXPECT_EQ(sizer->Decide(Context(0, 1, {{"a", 4, 0}})).desired, 4);
}

TEST(ServerSizerTest, ScheduledPacksMemoryFirstFitDecreasingOneReplicaPerServer) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  // Replicas 6,6 (a), 5 (c), 4,4 (b) GiB into 10 GiB servers, never two of a model on one
  // server: [a6 b4] [a6 b4] [c5] -> 3 servers, more than the widest model (2).
  Decision d =
      sizer->Decide(Context(0, 1, {{"a", 2, 6 * kGi}, {"b", 2, 4 * kGi}, {"c", 1, 5 * kGi}}));
  EXPECT_EQ(d.desired, 3);
  EXPECT_EQ(d.direction, Direction::kUp);
}

TEST(ServerSizerTest, ScheduledPackingFillsGapsWithSmallerReplicas) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  // 7,5,3,3,2 GiB of different models: [7 3] [5 3 2] -> 2 servers.
  Decision d = sizer->Decide(Context(0, 2,
                                     {{"a", 1, 3 * kGi},
                                      {"b", 1, 7 * kGi},
                                      {"c", 1, 2 * kGi},
                                      {"d", 1, 5 * kGi},
                                      {"e", 1, 3 * kGi}}));
  EXPECT_EQ(d.desired, 2);
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST(ServerSizerTest, ScheduledNeedsAtLeastTheWidestModel) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  EXPECT_EQ(sizer->Decide(Context(0, 1, {{"a", 4, 1}, {"b", 1, 1}})).desired, 4);
}

TEST(ServerSizerTest, OversizedReplicaGetsItsOwnServerAndSaysSo) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  Decision d = sizer->Decide(Context(0, 1, {{"big", 1, 12 * kGi}, {"a", 1, 9 * kGi}}));
  EXPECT_EQ(d.desired, 2);
  EXPECT_NE(d.reason.find("larger than one server"), std::string::npos) << d.reason;
}

TEST(ServerSizerTest, ScaleDownWaitsForTheDrainDelayAndKeepsTheLargestNeed) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  Decision d = sizer->Decide(Context(0, 4, {{"a", 2, 1}}));
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.direction, Direction::kHold);
  EXPECT_NE(d.reason.find("draining"), std::string::npos) << d.reason;
  EXPECT_EQ(sizer->Decide(Context(10, 4, {{"a", 3, 1}})).desired, 4);
  EXPECT_EQ(sizer->Decide(Context(29, 4, {{"a", 1, 1}})).desired, 4);
  d = sizer->Decide(Context(30, 4, {{"a", 1, 1}}));
  EXPECT_EQ(d.direction, Direction::kDown);
  EXPECT_EQ(d.desired, 3);  // 3 were needed during the drain delay
}

TEST(ServerSizerTest, NeedReturningToCurrentRestartsTheDrainDelay) {
  auto sizer = MakeServerSizer(Config(Placement::kAll));
  sizer->Decide(Context(0, 4, {{"a", 2, 0}}));
  sizer->Decide(Context(20, 4, {{"a", 4, 0}}));
  EXPECT_EQ(sizer->Decide(Context(31, 4, {{"a", 2, 0}})).direction, Direction::kHold);
  EXPECT_EQ(sizer->Decide(Context(61, 4, {{"a", 2, 0}})).direction, Direction::kDown);
}

TEST(ServerSizerTest, NeverScalesDownWhileReplicasStillNeedTheServers) {
  auto sizer = MakeServerSizer(Config(Placement::kScheduled));
  // 3 replicas of 6 GiB fill 3 servers: no drain can start however long we wait.
  for (double t = 0; t <= 120; t += 30) {
    ASSERT_EQ(sizer->Decide(Context(t, 3, {{"a", 2, 6 * kGi}, {"b", 1, 6 * kGi}})).direction,
              Direction::kHold);
  }
}

TEST(ServerSizerTest, StaleDataHoldsAndNeverScalesDown) {
  auto sizer = MakeServerSizer(Config(Placement::kAll));
  ServerContext c = Context(0, 5, {{"a", 1, 0}});
  c.fresh = false;
  for (double t = 0; t <= 100; t += 50) {
    c.now_s = t;
    Decision d = sizer->Decide(c);
    ASSERT_EQ(d.desired, 5);
    ASSERT_EQ(d.direction, Direction::kHold);
  }
}

}  // namespace
}  // namespace lagscale::coordinator
