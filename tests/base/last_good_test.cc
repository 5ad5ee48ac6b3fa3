#include "lagscale/base/last_good.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace lagscale::base {
namespace {

// A file that reads as `next` (an error when it starts with '!').
struct FakeFile {
  std::string next;
  Result<std::string> Read() const {
    return next.starts_with('!') ? Result<std::string>::Error(next.substr(1))
                                 : Result<std::string>::Ok(next);
  }
};

TEST(LastGoodTest, AFailedRereadKeepsTheLastGoodValueAndAGoodOneReplacesIt) {
  FakeFile file{"one"};
  LastGood<std::string> value([&] { return file.Read(); }, "keeping the last good one");
  EXPECT_EQ(value.value(), "one");
  EXPECT_FALSE(value.Reread()) << "unchanged";
  file.next = "!--flag: \"f\" is empty";
  EXPECT_FALSE(value.Reread());
  EXPECT_EQ(value.value(), "one");
  file.next = "two";
  EXPECT_TRUE(value.Reread());
  EXPECT_EQ(value.value(), "two");
}

TEST(LastGoodTest, RereadEveryReadsOnlyOnceTheIntervalHasPassed) {
  FakeFile file{"one"};
  int reads = 0;
  LastGood<std::string> value(
      [&] {
        ++reads;
        return file.Read();
      },
      "keeping the last good one");
  file.next = "two";
  EXPECT_FALSE(value.RereadEvery(std::chrono::hours(1))) << "read at construction, not due";
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(value.value(), "one");
  EXPECT_TRUE(value.RereadEvery(std::chrono::seconds(0)));
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(value.value(), "two");
  file.next = "three";
  EXPECT_FALSE(value.RereadEvery(std::chrono::hours(1))) << "the read just made counts";
  EXPECT_EQ(value.value(), "two");
  EXPECT_EQ(reads, 2);
}

TEST(LastGoodTest, ABadFirstReadStopsStartUpWithTheError) {
  FakeFile file{"!--flag: \"f\" is empty"};
  try {
    LastGood<std::string> value([&] { return file.Read(); }, "keeping the last good one");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--flag: \"f\" is empty");
  }
}

}  // namespace
}  // namespace lagscale::base
