// --tls-reload-interval reads as the coordinator's other duration flags do.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "lagscale/coordinator/report_tls.h"

namespace lagscale::coordinator {
namespace {

// Parses `value` as the coordinator's command line would; the error text on failure.
std::string Parse(const std::string& value, ReportTlsOptions& into) {
  CLI::App app;
  AddReportTlsFlags(app, into);
  try {
    app.parse(std::vector<std::string>{value, "--tls-reload-interval"});
    return {};
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
}

TEST(ReportTlsFlagsTest, ReloadIntervalTakesAUnitOrBareSecondsLikeEveryDurationFlag) {
  for (const auto& [text, seconds] : {std::pair<std::string, int64_t>{"90", 90},
                                      {"30s", 30},
                                      {"2m", 120},
                                      {"1h", 3600},
                                      {"1500ms", 2}}) {
    ReportTlsOptions o;
    EXPECT_EQ(Parse(text, o), "") << text;
    EXPECT_EQ(o.reload_interval.count(), seconds) << text;
  }
}

TEST(ReportTlsFlagsTest, ReloadIntervalOutOfRangeOrNotADurationNamesTheFlag) {
  for (const std::string bad : {"soon", "0", "500ms", "-5s", "25h"}) {
    ReportTlsOptions o;
    const std::string error = Parse(bad, o);
    EXPECT_NE(error.find("--tls-reload-interval"), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find(bad), std::string::npos) << bad << ": " << error;
    EXPECT_EQ(o.reload_interval.count(), 60) << bad;
  }
}

}  // namespace
}  // namespace lagscale::coordinator
