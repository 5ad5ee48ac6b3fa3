// WindowedMax / WindowedMin: the extreme of a sliding window of time, which TargetTracking's
// scale-down stabilization (the highest recommendation over the delay) and its rise rule (the
// lowest count over the flap window) read.
#include "policy/windowed_extreme.h"

#include <gtest/gtest.h>

namespace lagscale::coordinator::policy {
namespace {

TEST(WindowedMaxTest, SinceIsTheHighestValueAddedAtOrAfterThatTime) {
  WindowedMax max;
  max.Add(0, 5, 100);
  max.Add(10, 9, 100);
  max.Add(20, 3, 100);
  max.Add(30, 7, 100);
  EXPECT_EQ(max.Since(0), 9);
  EXPECT_EQ(max.Since(10), 9);
  EXPECT_EQ(max.Since(11), 7);
  EXPECT_EQ(max.Since(25), 7);
  EXPECT_EQ(max.Kept(), 9);
}

TEST(WindowedMaxTest, SinceLaterThanEveryEntryIsTheLatestValue) {
  WindowedMax max;
  max.Add(0, 9, 100);
  max.Add(10, 4, 100);
  EXPECT_EQ(max.Since(50), 4);
}

TEST(WindowedMaxTest, ForgetsWhatIsOlderThanTheKeptWindow) {
  WindowedMax max;
  max.Add(0, 9, 60);
  max.Add(30, 4, 60);
  EXPECT_EQ(max.Kept(), 9);
  max.Add(60, 2, 60);
  EXPECT_EQ(max.Kept(), 9);  // 0 is exactly 60 s before: still kept
  max.Add(61, 2, 60);
  EXPECT_EQ(max.Kept(), 4);
  EXPECT_EQ(max.Since(-1000), 4);
}

TEST(WindowedMaxTest, AnEqualValueLaterKeepsTheLaterTime) {
  WindowedMax max;
  max.Add(0, 6, 60);
  max.Add(50, 6, 60);
  max.Add(70, 1, 60);
  EXPECT_EQ(max.Kept(), 6);  // the 6 of time 50, not forgotten with the one of time 0
}

TEST(WindowedMinTest, KeptIsTheLowestValueOfTheWindow) {
  WindowedMin min;
  min.Add(0, 4, 300);
  min.Add(100, 10, 300);
  min.Add(200, 7, 300);
  EXPECT_EQ(min.Kept(), 4);
  EXPECT_EQ(min.Since(50), 7);
  min.Add(301, 10, 300);
  EXPECT_EQ(min.Kept(), 7);
  min.Add(501, 10, 300);
  EXPECT_EQ(min.Kept(), 10);
}

}  // namespace
}  // namespace lagscale::coordinator::policy
