// The chart's Grafana dashboard must only query series the binaries really export: every PromQL
// expression in it (panel targets, annotations, template variables) is checked against the metric
// names scraped from the live /metrics of a running sidecar and coordinator after real traffic
// and a real scaling decision. A renamed metric fails here, not on an operator's empty panel.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/live_stack.h"
#include "support/metrics_text.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

// Metric names in a Prometheus text exposition: every sample's name and every `# TYPE` name.
std::set<std::string> ExportedNames(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name;
      words >> name;
      names.insert(name);
    } else if (!line.empty() && line[0] != '#') {
      names.insert(line.substr(0, line.find_first_of("{ ")));
    }
  }
  return names;
}

// The metric names a PromQL expression selects. String literals, label matchers ({...}), ranges
// ([...]) and label lists of by/without/on/ignoring/group_* are removed first; what is left and
// is neither a function call, a keyword nor a number is a metric name.
std::set<std::string> QueriedNames(std::string expr) {
  static const std::regex kStrings(R"("(\\.|[^"\\])*"|'(\\.|[^'\\])*')");
  static const std::regex kBraces(R"(\{[^}]*\})");
  static const std::regex kRanges(R"(\[[^\]]*\])");
  static const std::regex kLabelLists(
      R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))");
  static const std::regex kLabelValues(R"(label_values\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)[^)]*\))");
  static const std::regex kIdent(R"([A-Za-z_:][A-Za-z0-9_:]*)");
  static const std::set<std::string> kKeywords = {"and", "or",  "unless", "offset", "bool",
                                                  "inf", "nan", "Inf",    "NaN"};
  expr = std::regex_replace(expr, kStrings, " ");
  expr = std::regex_replace(expr, kBraces, " ");
  expr = std::regex_replace(expr, kRanges, " ");
  expr = std::regex_replace(expr, kLabelLists, " ");
  expr = std::regex_replace(expr, kLabelValues, " $1 ");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kIdent);
       it != std::sregex_iterator(); ++it) {
    const std::string id = it->str();
    const size_t end = static_cast<size_t>(it->position() + it->length());
    const size_t next = expr.find_first_not_of(" \t\n", end);
    const bool call = next != std::string::npos && expr[next] == '(';
    const bool number =
        it->position() > 0 &&
        std::isdigit(static_cast<unsigned char>(expr[static_cast<size_t>(it->position()) - 1]));
    if (!call && !number && !kKeywords.count(id) && id[0] != '$') names.insert(id);
  }
  return names;
}

// Every PromQL expression in a Grafana dashboard, with where it was found.
std::vector<std::pair<std::string, std::string>> DashboardQueries(const json& dash) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : dash.value("panels", json::array())) {
    for (const auto& t : p.value("targets", json::array()))
      out.emplace_back("panel \"" + p.value("title", "") + "\"", t.value("expr", ""));
  }
  for (const auto& a : dash.value("annotations", json::object()).value("list", json::array())) {
    if (a.contains("expr"))
      out.emplace_back("annotation \"" + a.value("name", "") + "\"", a["expr"].get<std::string>());
  }
  for (const auto& v : dash.value("templating", json::object()).value("list", json::array())) {
    if (v.value("type", "") == "query")
      out.emplace_back("variable $" + v.value("name", ""), v.value("definition", ""));
  }
  return out;
}

TEST(DashboardQueryParsingTest, FindsMetricNamesAndNothingElse) {
  EXPECT_EQ(
      QueriedNames(
          R"(histogram_quantile(0.99, sum by (le, model) (rate(x_bucket{model=~"$m"}[5m]))))"),
      std::set<std::string>{"x_bucket"});
  EXPECT_EQ(QueriedNames(R"(sum by (model) (a{model=~"$t"}) / clamp_min(sum by (model) (b), 1))"),
            (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(QueriedNames("changes(c[1m]) > 0 and on (server) d offset 5m"),
            (std::set<std::string>{"c", "d"}));
  EXPECT_EQ(QueriedNames("label_values(lagscale_model_arrivals_total, model)"),
            std::set<std::string>{"lagscale_model_arrivals_total"});
  EXPECT_EQ(QueriedNames("increase(e[$__rate_interval]) * 1e3"), std::set<std::string>{"e"});
}

TEST(DashboardMetricsTest, EveryDashboardQueryNamesAnExportedSeries) {
  LiveStack stack(LiveStack::Config({"iris"}), {"iris:200"});
  ASSERT_TRUE(stack.ok());
  // Sixteen clients keep iris busy until the coordinator has decided to scale it up, so the
  // decision and replica series exist too.
  BusyClients clients(stack, "iris", 16);
  std::string coordinator_text;
  const bool decided = Eventually(
      [&] {
        coordinator_text = HttpGet(stack.coordinator_http(), "/metrics").body;
        return SampleValue(coordinator_text,
                           R"(lagscale_coordinator_decisions_total{direction="up"})") >= 1;
      },
      20s);
  clients.Stop();
  ASSERT_TRUE(decided) << coordinator_text;
  const std::string sidecar_text = HttpGet(stack.sidecar_admin(), "/metrics").body;

  std::set<std::string> exported = ExportedNames(coordinator_text);
  exported.merge(ExportedNames(sidecar_text));
  ASSERT_TRUE(exported.count("lagscale_model_inflight_requests")) << sidecar_text;

  std::ifstream file(std::string(LAGSCALE_SOURCE_DIR) +
                     "/charts/lagscale/dashboards/lagscale.json");
  ASSERT_TRUE(file) << "dashboard not found";
  const json dash = json::parse(file);
  const auto queries = DashboardQueries(dash);
  ASSERT_GE(queries.size(), 10u);
  size_t checked = 0;
  for (const auto& [where, expr] : queries) {
    const auto names = QueriedNames(expr);
    EXPECT_FALSE(names.empty()) << where << " queries no metric: " << expr;
    for (const auto& name : names) {
      ++checked;
      EXPECT_TRUE(exported.count(name))
          << where << " queries " << name << ", which neither binary exports: " << expr;
    }
  }
  EXPECT_GE(checked, queries.size());
  // The check itself can fail: a misspelt series is not among the exported ones.
  EXPECT_FALSE(exported.count("lagscale_model_inflight_request"));
}

}  // namespace
}  // namespace lagscale::testing
