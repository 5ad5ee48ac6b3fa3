#include "lagscale/base/flags.h"

#include <gtest/gtest.h>

#include <string>

namespace lagscale::base {
namespace {

using namespace std::chrono_literals;

const DurationSyntax kUnitRequired{BareNumber::kRejected, false};
const DurationSyntax kBareSeconds{BareNumber::kSeconds, true};

double Seconds(std::string_view text, const DurationSyntax& syntax) {
  return ParseDurationFlag(text, "--d", syntax).OrThrow().count();
}

TEST(FlagEnvNameTest, PrefixesUpperCasesAndReplacesDashes) {
  EXPECT_EQ(FlagEnvName("--report-interval"), "LAGSCALE_REPORT_INTERVAL");
  EXPECT_EQ(FlagEnvName("--threads"), "LAGSCALE_THREADS");
  EXPECT_EQ(FlagEnvName("--coordinator-tls-reload-interval"),
            "LAGSCALE_COORDINATOR_TLS_RELOAD_INTERVAL");
}

TEST(ParseDurationFlagTest, ReadsEveryUnit) {
  EXPECT_DOUBLE_EQ(Seconds("250ms", kUnitRequired), 0.25);
  EXPECT_DOUBLE_EQ(Seconds("10s", kUnitRequired), 10);
  EXPECT_DOUBLE_EQ(Seconds("2m", kUnitRequired), 120);
  EXPECT_DOUBLE_EQ(Seconds("1h", kUnitRequired), 3600);
  EXPECT_DOUBLE_EQ(Seconds("1.5s", kUnitRequired), 1.5);
  EXPECT_DOUBLE_EQ(Seconds(" 250 ms ", kUnitRequired), 0.25);
}

TEST(ParseDurationFlagTest, BareNumberIsSecondsOnlyWhereTheSyntaxSaysSo) {
  EXPECT_DOUBLE_EQ(Seconds("10", kBareSeconds), 10);
  EXPECT_DOUBLE_EQ(Seconds("0.5", kBareSeconds), 0.5);
  const auto bare = ParseDurationFlag("10", "--header-timeout", kUnitRequired);
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error(),
            "--header-timeout: invalid value \"10\" (expected a duration with a unit: 250ms, 10s, "
            "2m)");
}

TEST(ParseDurationFlagTest, RejectsWhatIsNotADuration) {
  for (const DurationSyntax& syntax : {kUnitRequired, kBareSeconds}) {
    for (const char* bad :
         {"", "ms", "ten seconds", "10 fortnights", "10S", "1e", "inf", "nan s", "10ms5", "--5s"}) {
      const auto parsed = ParseDurationFlag(bad, "--d", syntax);
      ASSERT_FALSE(parsed) << bad;
      EXPECT_NE(parsed.error().find("--d: invalid value \"" + std::string(bad) + "\""),
                std::string::npos)
          << parsed.error();
    }
  }
}

TEST(ParseDurationFlagTest, ZeroOnlyWhereAllowedAndNeverNegativeOrBelowAMillisecond) {
  EXPECT_FALSE(ParseDurationFlag("0s", "--d", kUnitRequired));
  EXPECT_FALSE(ParseDurationFlag("0.5ms", "--d", kUnitRequired));
  EXPECT_FALSE(ParseDurationFlag("-1s", "--d", kBareSeconds));
  EXPECT_DOUBLE_EQ(Seconds("0ms", kBareSeconds), 0);
  EXPECT_DOUBLE_EQ(Seconds("1ms", kUnitRequired), 0.001);
}

TEST(ParseDurationFlagTest, MaxBoundsTheValueAndIsNamedInTheError) {
  const DurationSyntax bounded{BareNumber::kSeconds, false, 1e6s};
  EXPECT_DOUBLE_EQ(Seconds("1000000", bounded), 1e6);
  const auto over = ParseDurationFlag("1000001", "--timeout", bounded);
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().find("at most 1e+06s"), std::string::npos) << over.error();
}

}  // namespace
}  // namespace lagscale::base
