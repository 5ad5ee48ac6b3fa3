#include "lagscale/metrics/model_table.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace lagscale::metrics {
namespace {

TEST(ModelNameTest, AcceptsLabelSafeNames) {
  EXPECT_TRUE(IsValidModelName("resnet50"));
  EXPECT_TRUE(IsValidModelName("iris-v2.1_final"));
  EXPECT_TRUE(IsValidModelName("0model"));
  EXPECT_TRUE(IsValidModelName(std::string(128, 'a')));
}

TEST(ModelNameTest, RejectsHostileNames) {
  EXPECT_FALSE(IsValidModelName(""));
  EXPECT_FALSE(IsValidModelName(std::string(129, 'a')));
  EXPECT_FALSE(IsValidModelName("-leading-dash"));
  EXPECT_FALSE(IsValidModelName(".hidden"));
  EXPECT_FALSE(IsValidModelName("a b"));
  EXPECT_FALSE(IsValidModelName("a\"b"));
  EXPECT_FALSE(IsValidModelName("a\nb"));
  EXPECT_FALSE(IsValidModelName("a/b"));
  EXPECT_FALSE(IsValidModelName(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidModelName("mod\xc3\xa9le"));
}

TEST(ModelTableTest, SameNameSameId) {
  ModelTable table(10);
  ModelId a = table.Resolve("a");
  ModelId b = table.Resolve("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(table.Resolve("a"), a);
  EXPECT_EQ(table.Name(a), "a");
  EXPECT_EQ(table.Name(b), "b");
  EXPECT_EQ(table.tracked(), 2u);
}

TEST(ModelTableTest, InvalidNamesAreUnattributed) {
  ModelTable table(10);
  EXPECT_EQ(table.Resolve("bad name"), table.unattributed());
  EXPECT_EQ(table.invalid_names(), 1u);
  EXPECT_EQ(table.tracked(), 0u);
}

TEST(ModelTableTest, NamesPastTheCapOverflow) {
  ModelTable table(3);
  for (int i = 0; i < 3; ++i) EXPECT_LT(table.Resolve("m" + std::to_string(i)), 3u);
  EXPECT_EQ(table.Resolve("m3"), table.overflow());
  EXPECT_EQ(table.Resolve("m4"), table.overflow());
  // Known names still resolve to their ids once the table is full.
  EXPECT_EQ(table.Name(table.Resolve("m1")), "m1");
  EXPECT_EQ(table.tracked(), 3u);
  EXPECT_EQ(table.overflowed_lookups(), 2u);
}

TEST(ModelTableTest, ConcurrentRegistrationGivesOneIdPerName) {
  constexpr int kThreads = 4, kNames = 200;
  ModelTable table(1000);
  std::vector<std::vector<ModelId>> seen(kThreads, std::vector<ModelId>(kNames));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kNames; ++i) seen[t][i] = table.Resolve("model-" + std::to_string(i));
    });
  }
  for (auto& th : threads) th.join();
  std::set<ModelId> distinct;
  for (int i = 0; i < kNames; ++i) {
    for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t][i], seen[0][i]) << "name " << i;
    EXPECT_EQ(table.Name(seen[0][i]), "model-" + std::to_string(i));
    distinct.insert(seen[0][i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kNames));
  EXPECT_EQ(table.tracked(), static_cast<size_t>(kNames));
}

}  // namespace
}  // namespace lagscale::metrics
