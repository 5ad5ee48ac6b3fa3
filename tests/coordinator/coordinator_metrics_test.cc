// The coordinator's own series as a fresh /metrics shows them.
#include "lagscale/coordinator/coordinator_metrics.h"

#include <gtest/gtest.h>

#include "lagscale/coordinator/injector.h"

namespace lagscale::coordinator {
namespace {

// An alert on increase(...) needs the series before the first event: every fixed label value is
// on /metrics at 0 from start-up.
TEST(CoordinatorMetricsTest, EveryFixedLabelValueIsExportedAtZeroBeforeItsFirstEvent) {
  const CoordinatorMetrics metrics;
  const std::string text = metrics.Render();
  std::vector<std::string> expected = {
      R"(lagscale_coordinator_decisions_total{direction="up"} 0)",
      R"(lagscale_coordinator_decisions_total{direction="down"} 0)",
      R"(lagscale_coordinator_actuations_total{result="ok"} 0)",
      R"(lagscale_coordinator_actuations_total{result="retry"} 0)",
      R"(lagscale_coordinator_actuations_total{result="failed"} 0)",
      R"(lagscale_coordinator_actuations_total{result="skipped"} 0)",
      R"(lagscale_coordinator_config_reloads_total{result="ok"} 0)",
      R"(lagscale_coordinator_config_reloads_total{result="error"} 0)",
      R"(lagscale_coordinator_injections_total{result="ignored"} 0)",
      R"(lagscale_coordinator_injections_total{result="invalid_review"} 0)",
      R"(lagscale_coordinator_reports_total{result="rejected"} 0)",
      R"(lagscale_coordinator_report_refusals_total{reason="absurd_values"} 0)",
  };
  for (int i = 0; i <= static_cast<int>(InjectOutcome::kInvalidPod); ++i) {
    expected.push_back(std::string(R"(lagscale_coordinator_injections_total{result=")") +
                       OutcomeName(static_cast<InjectOutcome>(i)) + "\"} 0");
  }
  for (const std::string& line : expected) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
  }
}

TEST(CoordinatorMetricsTest, EventsCountOnThePreCreatedSeries) {
  CoordinatorMetrics metrics;
  metrics.OnDecision(Direction::kUp);
  metrics.OnActuation("failed", 503);
  metrics.OnInjection(OutcomeName(InjectOutcome::kInjected));
  metrics.OnReload(false);
  const std::string text = metrics.Render();
  for (const std::string line :
       {R"(lagscale_coordinator_decisions_total{direction="up"} 1)",
        R"(lagscale_coordinator_actuations_total{result="failed"} 1)",
        R"(lagscale_coordinator_actuation_errors_total{code="503"} 1)",
        R"(lagscale_coordinator_injections_total{result="injected"} 1)",
        R"(lagscale_coordinator_config_reloads_total{result="error"} 1)"}) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace lagscale::coordinator
