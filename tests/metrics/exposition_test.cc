#include "lagscale/metrics/exposition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/command.h"
#include "support/scratch_dir.h"

namespace lagscale::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kMs = 1'000'000;

class ExpositionTest : public ::testing::Test {
 protected:
  ExpositionTest() {
    ModelId iris = table_.Resolve("iris");
    ModelId bert = table_.Resolve("bert");
    RequestGuard a = ledger_.shard(0).Begin(iris);
    clock_.AdvanceNs(20 * kMs);
    a.End(Outcome::kSuccess);
    ledger_.shard(1).Begin(iris).End(Outcome::kServerError);
    held_ = ledger_.shard(1).Begin(bert);
    ledger_.shard(0).Begin(table_.unattributed()).End(Outcome::kClientError);
    ledger_.shard(0).Begin(table_.Resolve("m1")).End(Outcome::kSuccess);
    ledger_.shard(0).Begin(table_.Resolve("m2")).End(Outcome::kSuccess);  // past the cap
    server_.shard(0).Add(server_.shard(0).connections_accepted, 3);
    server_.shard(1).Add(server_.shard(1).connections_closed, 1);
    server_.shard(1).AddParseError(ParseError::kHeaderTooLarge);
    clock_.AdvanceNs(500 * kMs);
  }

  base::ManualClock clock_;
  ModelTable table_{3};
  Ledger ledger_{table_, 2, clock_};
  ServerCounters server_{2};
  Exposition exposition_{ledger_, server_, {"mlserver", "mlserver-0"}};
  RequestGuard held_;
};

TEST_F(ExpositionTest, ModelSeriesCarryExactValuesAndConstantLabels) {
  const std::string text = exposition_.Render().body;
  EXPECT_THAT(text, HasSubstr("# TYPE lagscale_model_arrivals_total counter"));
  EXPECT_THAT(text, HasSubstr(
                        "lagscale_model_arrivals_total{server=\"mlserver\",pod=\"mlserver-0\","
                        "model=\"iris\"} 2"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_completions_total{server=\"mlserver\",pod=\"mlserver-"
                              "0\",model=\"iris\",outcome=\"server_error\"} 1"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_inflight_requests{server=\"mlserver\",pod=\"mlserver-"
                              "0\",model=\"bert\"} 1"));
  // bert has been in flight for 500 ms.
  EXPECT_THAT(text, HasSubstr("lagscale_model_busy_seconds_total{server=\"mlserver\",pod=\"mlserver-"
                              "0\",model=\"bert\"} 0.5"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_request_duration_seconds_bucket{server=\"mlserver\","
                              "pod=\"mlserver-0\",model=\"iris\",le=\"0.025\"} 2"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_request_duration_seconds_bucket{server=\"mlserver\","
                              "pod=\"mlserver-0\",model=\"iris\",le=\"0.01\"} 1"));
  EXPECT_THAT(text, HasSubstr("model=\"_overflow\"} 1"));
  EXPECT_THAT(text, HasSubstr("lagscale_unattributed_arrivals_total{server=\"mlserver\",pod="
                              "\"mlserver-0\"} 1"));
}

TEST_F(ExpositionTest, ServerSeries) {
  const std::string text = exposition_.Render().body;
  EXPECT_THAT(text, HasSubstr("lagscale_connections_open{server=\"mlserver\",pod=\"mlserver-0\"} 2"));
  EXPECT_THAT(text, HasSubstr("lagscale_parse_errors_total{server=\"mlserver\",pod=\"mlserver-0\","
                              "kind=\"header_too_large\"} 1"));
  EXPECT_THAT(text, HasSubstr("lagscale_models_tracked{server=\"mlserver\",pod=\"mlserver-0\"} 3"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_overflow_requests_total{server=\"mlserver\",pod="
                              "\"mlserver-0\"} 1"));
  EXPECT_THAT(text, HasSubstr("lagscale_build_info{"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes{"));
}

TEST_F(ExpositionTest, ContentTypeIsPrometheusText) {
  EXPECT_EQ(exposition_.Render("application/openmetrics-text; version=1.0.0").content_type,
            "text/plain; version=0.0.4; charset=utf-8");
}

// promtool is Prometheus's own linter: the exposition must pass it without a single warning.
TEST_F(ExpositionTest, PromtoolFindsNothingToComplainAbout) {
  const testing::ScratchDir dir("exposition");
  const std::string path = dir.Path("metrics.txt");
  std::ofstream(path) << exposition_.Render().body;
  const testing::CommandResult promtool = testing::RunShell("promtool check metrics < " + path);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.all();
  EXPECT_EQ(promtool.all(), "");
}

TEST_F(ExpositionTest, StatsJsonMatchesTheLedger) {
  const auto doc = nlohmann::json::parse(StatsJson(ledger_.Snapshot()));
  EXPECT_EQ(doc["models"]["iris"]["arrivals"], 2);
  EXPECT_EQ(doc["models"]["iris"]["completions"], 2);
  EXPECT_EQ(doc["models"]["iris"]["outcomes"]["success"], 1);
  EXPECT_EQ(doc["models"]["iris"]["outcomes"]["server_error"], 1);
  EXPECT_EQ(doc["models"]["bert"]["inflight"], 1);
  EXPECT_NEAR(doc["models"]["bert"]["busy_seconds"].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(doc["unattributed"]["arrivals"], 1);
  EXPECT_EQ(doc["overflow"]["arrivals"], 1);
  EXPECT_EQ(doc["tracked_models"], 3);
  EXPECT_GT(doc["models"]["iris"]["last_request_unix"].get<double>(), 1.6e9);
}

TEST_F(ExpositionTest, TimeToFirstByteAndTokensPerModel) {
  const int64_t arrived = ledger_.shard(0).NowNs();
  RequestGuard chat = ledger_.shard(0).Begin(table_.Resolve("iris"));
  clock_.AdvanceNs(30 * kMs);
  chat.RecordFirstByte(arrived);
  chat.AddTokens(12, 7);
  chat.End(Outcome::kSuccess);
  server_.shard(1).Add(server_.shard(1).answer_events_skipped, 2);
  const std::string text = exposition_.Render().body;
  EXPECT_THAT(text, HasSubstr("# TYPE lagscale_model_time_to_first_byte_seconds histogram"));
  const std::string labels = "{server=\"mlserver\",pod=\"mlserver-0\",model=\"iris\"";
  const std::string ttfb = "lagscale_model_time_to_first_byte_seconds";
  EXPECT_THAT(text, HasSubstr(ttfb + "_bucket" + labels + ",le=\"0.025\"} 0"));
  EXPECT_THAT(text, HasSubstr(ttfb + "_bucket" + labels + ",le=\"0.05\"} 1"));
  EXPECT_THAT(text, HasSubstr(ttfb + "_count" + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_tokens_total" + labels + ",kind=\"prompt\"} 12"));
  EXPECT_THAT(text, HasSubstr("lagscale_model_tokens_total" + labels + ",kind=\"completion\"} 7"));
  EXPECT_THAT(text, HasSubstr("lagscale_answer_events_skipped_total{server=\"mlserver\","
                              "pod=\"mlserver-0\"} 2"));
  const auto doc = nlohmann::json::parse(StatsJson(ledger_.Snapshot()));
  EXPECT_EQ(doc["models"]["iris"]["ttfb_count"], 1);
  EXPECT_NEAR(doc["models"]["iris"]["ttfb_seconds_sum"].get<double>(), 0.03, 1e-9);
  EXPECT_EQ(doc["models"]["iris"]["prompt_tokens"], 12);
  EXPECT_EQ(doc["models"]["iris"]["completion_tokens"], 7);
  EXPECT_EQ(doc["models"]["bert"]["ttfb_count"], 0);
}

}  // namespace
}  // namespace lagscale::metrics

namespace lagscale::metrics {
namespace {

// An attacker sending 100,000 distinct model names must not grow the exposition past the cap.
TEST(ExpositionCardinalityTest, DistinctBogusNamesStayBoundedByTheCap) {
  ModelTable table(1000);
  Ledger ledger(table, 1);
  ServerCounters server(1);
  Exposition exposition(ledger, server, {"s", "p"});
  for (int i = 0; i < 100'000; ++i) {
    ledger.shard(0).Begin(table.Resolve("bogus-" + std::to_string(i))).End(Outcome::kClientError);
  }
  const std::string text = exposition.Render().body;
  size_t arrival_series = 0;
  for (size_t pos = 0; (pos = text.find("\nlagscale_model_arrivals_total{", pos)) != std::string::npos;
       ++pos) {
    ++arrival_series;
  }
  EXPECT_EQ(arrival_series, 1001u);  // 1000 tracked models + _overflow
  EXPECT_NE(text.find("model=\"_overflow\"} 99000"), std::string::npos);
  EXPECT_EQ(table.tracked(), 1000u);
  EXPECT_EQ(table.overflowed_lookups(), 99'000u);
}

}  // namespace
}  // namespace lagscale::metrics
