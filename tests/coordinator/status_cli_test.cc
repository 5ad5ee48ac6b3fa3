#include "lagscale/coordinator/status_cli.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace lagscale::coordinator {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

const char* kStatus = R"({
  "time_unix_ms": 1700000100000, "windows": ["10s", "60s"],
  "models": [
    {"name": "iris", "server": "mlserver", "policy": "target-tracking", "inflight": 23,
     "concurrency": {"10s": 7.25, "60s": 3.0}, "arrival_rate": 41.5, "desired_replicas": 4,
     "current_replicas": 2, "min_replicas": 1, "max_replicas": 8, "fresh": true,
     "last_decision": {"time_unix_ms": 1700000088000, "from": 2, "to": 4, "reason": "panic"}},
    {"name": "a-very-long-model-name", "server": "", "policy": "lag-threshold", "inflight": 0,
     "concurrency": {"10s": 0, "60s": 0}, "arrival_rate": 0, "desired_replicas": 1,
     "current_replicas": 1, "min_replicas": 1, "max_replicas": 3, "fresh": false,
     "last_decision": null}],
  "servers": [
    {"name": "mlserver", "placement": "all", "reporting_pods": 2, "inflight": 23,
     "desired_replicas": 4, "current_replicas": 2, "min_replicas": 1, "max_replicas": 8,
     "models": ["iris"], "last_decision": null}]})";

TEST(StatusCliTest, PrintsOneAlignedRowPerModelAndServer) {
  const auto lines = Lines(FormatStatusTables(nlohmann::json::parse(kStatus), 1700000100000));
  ASSERT_EQ(lines.size(), 6u);  // header + 2 models, blank, header + 1 server
  EXPECT_EQ(lines[0].rfind("MODEL", 0), 0u);
  EXPECT_NE(lines[0].find("CONCURRENCY(10s)"), std::string::npos);
  // Columns line up: every row's SERVER column starts where the header's does.
  const size_t server_col = lines[0].find("SERVER");
  EXPECT_EQ(lines[1].find("mlserver"), server_col);
  EXPECT_EQ(lines[2].find("-  "), server_col);
  EXPECT_NE(lines[1].find("7.25"), std::string::npos);
  EXPECT_NE(lines[1].find("41.5"), std::string::npos);
  EXPECT_NE(lines[1].find("2->4 12s ago (panic)"), std::string::npos);
  EXPECT_NE(lines[2].find("no"), std::string::npos);
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4].rfind("SERVER", 0), 0u);
  EXPECT_EQ(lines[5].rfind("mlserver", 0), 0u);
  EXPECT_NE(lines[5].find("all"), std::string::npos);
}

TEST(StatusCliTest, ControlCharactersInNamesNeverReachTheTerminal) {
  nlohmann::json status = nlohmann::json::parse(kStatus);
  status["models"][0]["name"] = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE\x1b[0m";
  status["servers"][0]["name"] = "ml\nserver";
  const std::string text = FormatStatusTables(status, 1700000100000);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos);
  EXPECT_NE(text.find("?]0;pwned??[2J?[31mFAKE?[0m  mlserver"), std::string::npos) << text;
  EXPECT_NE(text.find("ml?server"), std::string::npos) << text;
}

TEST(StatusCliTest, EmptyStatusPrintsHeadersOnly) {
  const auto lines =
      Lines(FormatStatusTables(nlohmann::json::parse(R"({"models":[],"servers":[]})"), 0));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("MODEL", 0), 0u);
  EXPECT_EQ(lines[2].rfind("SERVER", 0), 0u);
}

}  // namespace
}  // namespace lagscale::coordinator
