#include "lagscale/coordinator/history.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace lagscale::coordinator {
namespace {

// Series the test writes, like the engine's entries: names and tickets that outlive the store.
struct Writer {
  std::vector<std::unique_ptr<std::string>> names;
  std::vector<std::unique_ptr<HistoryTicket>> tickets;
  std::vector<HistoryStore::Entry> entries;
  void Add(const std::string& name) {
    names.push_back(std::make_unique<std::string>(name));
    tickets.push_back(std::make_unique<HistoryTicket>());
    entries.push_back({names.back().get(), tickets.back().get(), {}});
  }
  // Every series gets `inflight` from the function (its load), replicas 2 -> 3.
  template <class F>
  void Second(HistoryStore& store, int64_t t, F inflight) {
    for (size_t i = 0; i < entries.size(); ++i) {
      auto& s = entries[i].sample;
      s.inflight = inflight(i);
      s.concurrency = 0.5f;
      s.arrivals_per_s = 1;
      s.desired = 3;
      s.current = 2;
    }
    store.Write(t, entries);
  }
};

constexpr int64_t kT0 = 1'700'000'080;  // 40 s into a minute

TEST(HistoryStoreTest, ReadReturnsSecondsOldestFirstUpToTheNewest) {
  HistoryStore store(4);
  Writer w;
  w.Add("iris");
  for (int64_t t = kT0; t < kT0 + 5; ++t) {
    w.entries[0].sample.inflight = static_cast<float>(t - kT0);
    store.Write(t, w.entries);
  }
  const auto copy = store.Read("iris", kHistorySeconds);
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->end_unix_s, kT0 + 4);
  ASSERT_EQ(copy->samples.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(copy->samples[static_cast<size_t>(i)].inflight, i);
  const auto tail = store.Read("iris", 2);
  ASSERT_EQ(tail->samples.size(), 2u);
  EXPECT_EQ(tail->samples[0].inflight, 3);
  EXPECT_FALSE(store.Read("bert", 10));
}

TEST(HistoryStoreTest, KeepsFifteenMinutesAndForgetsOlderSeconds) {
  HistoryStore store(1);
  Writer w;
  w.Add("iris");
  const int64_t total = kHistorySeconds + 100;
  for (int64_t t = kT0; t < kT0 + total; ++t) {
    w.entries[0].sample.inflight = static_cast<float>(t - kT0);
    store.Write(t, w.entries);
  }
  const auto copy = store.Read("iris", kHistorySeconds);
  ASSERT_EQ(copy->samples.size(), static_cast<size_t>(kHistorySeconds));
  EXPECT_EQ(copy->samples.front().inflight, 100);
  EXPECT_EQ(copy->samples.back().inflight, total - 1);
}

TEST(HistoryStoreTest, SkippedSecondsReadAsUnknownNotAsTheLastLap) {
  HistoryStore store(1);
  Writer w;
  w.Add("iris");
  w.entries[0].sample.inflight = 7;
  store.Write(kT0, w.entries);
  store.Write(kT0 + 3, w.entries);  // the loop stalled for two seconds
  const auto copy = store.Read("iris", kHistorySeconds);
  ASSERT_EQ(copy->samples.size(), 4u);
  EXPECT_EQ(copy->samples[0].inflight, 7);
  EXPECT_TRUE(std::isnan(copy->samples[1].inflight));
  EXPECT_EQ(copy->samples[1].desired, HistorySample::kUnknownReplicas);
  EXPECT_TRUE(std::isnan(copy->samples[2].inflight));
  EXPECT_EQ(copy->samples[3].inflight, 7);
}

TEST(HistoryStoreTest, NeverTracksMoreSeriesThanItsCapacity) {
  HistoryStore store(3);
  Writer w;
  for (int i = 0; i < 10; ++i) w.Add("m" + std::to_string(i));
  w.Second(store, kT0, [](size_t) { return 0.f; });
  EXPECT_EQ(store.tracked(), 3u);
  EXPECT_EQ(store.ring_bytes(), 3 * HistoryStore::BytesPerSeries());
  EXPECT_LE(HistoryStore::BytesPerSeries(), 20u * kHistorySeconds);
}

TEST(HistoryStoreTest, MoreLoadedSeriesTakeTheSlotsOfIdleOnesAtTheNextMinute) {
  HistoryStore store(2);
  Writer w;
  for (const char* n : {"idle-a", "idle-b", "busy"}) w.Add(n);
  // The first two take the free slots; "busy" waits for the minute to end.
  auto inflight = [](size_t i) { return i == 2 ? 50.f : (i == 1 ? 1.f : 0.f); };
  for (int64_t t = kT0; t < kT0 + 20; ++t) w.Second(store, t, inflight);
  EXPECT_TRUE(store.Read("idle-a", 10));
  EXPECT_FALSE(store.Read("busy", 10));
  w.Second(store, kT0 + 20, inflight);  // a new minute: the busiest take over
  EXPECT_TRUE(store.Read("busy", 10));
  EXPECT_TRUE(store.Read("idle-b", 10));
  EXPECT_FALSE(store.Read("idle-a", 10));
  EXPECT_EQ(store.tracked(), 2u);
  // The newcomer's history starts when it got the slot.
  EXPECT_EQ(store.Read("busy", kHistorySeconds)->samples.size(), 1u);
}

TEST(HistoryStoreTest, DecisionsAreKeptPerSeriesWithinTheReadRange) {
  HistoryStore store(2);
  Writer w;
  w.Add("iris");
  for (int64_t t = kT0; t < kT0 + 30; ++t) w.Second(store, t, [](size_t) { return 1.f; });
  store.AddDecision("iris", DecisionRecord{"model", "iris", (kT0 + 5) * 1000, 1, 3, "panic"});
  store.AddDecision("iris", DecisionRecord{"model", "iris", (kT0 + 25) * 1000, 3, 2, "stable"});
  store.AddDecision("untracked", DecisionRecord{"model", "untracked", kT0 * 1000, 1, 2, "x"});
  const auto all = store.Read("iris", kHistorySeconds);
  ASSERT_EQ(all->decisions.size(), 2u);
  EXPECT_EQ(all->decisions[0].to, 3);
  EXPECT_EQ(all->decisions[1].reason, "stable");
  const auto recent = store.Read("iris", 10);
  ASSERT_EQ(recent->decisions.size(), 1u);
  EXPECT_EQ(recent->decisions[0].to, 2);
}

TEST(HistoryStoreTest, KeepsABoundedNumberOfDecisionsPerSeries) {
  HistoryStore store(1);
  Writer w;
  w.Add("iris");
  w.Second(store, kT0, [](size_t) { return 1.f; });
  for (size_t i = 0; i < kHistoryDecisions + 10; ++i)
    store.AddDecision("iris", DecisionRecord{"model", "iris", kT0 * 1000, 1, 2, "r"});
  EXPECT_EQ(store.Read("iris", 10)->decisions.size(), kHistoryDecisions);
}

TEST(HistorySampleTest, ReplicasSaturateAndNegativeMeansUnknown) {
  EXPECT_EQ(HistorySample::Replicas(-1), HistorySample::kUnknownReplicas);
  EXPECT_EQ(HistorySample::Replicas(5), 5);
  EXPECT_EQ(HistorySample::Replicas(1 << 20), 0xFFFE);
}

}  // namespace
}  // namespace lagscale::coordinator
