// /metrics text: lagscale's writer against prometheus-cpp's TextSerializer, which it replaces for
// speed (metrics/src/text_format.h). Every line must come out byte for byte the same.
#include "text_format.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace lagscale::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string Library(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::string Ours(const std::vector<MetricFamily>& families) {
  std::string out;
  AppendTextFormat(out, families);
  return out;
}

const std::vector<double> kValues = {0.0,
                                     -0.0,
                                     1.0,
                                     3.0,
                                     -2.5,
                                     0.1,
                                     1.0 / 3,
                                     1e-7,
                                     2e-5,
                                     0.000123,
                                     123456789012.5,
                                     9007199254740993.0,
                                     1e15,
                                     1e16,
                                     1e17,
                                     1e20,
                                     1e300,
                                     -1e-300,
                                     5e-324,
                                     std::numeric_limits<double>::max(),
                                     std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     std::nan("")};

ClientMetric Labelled(std::vector<ClientMetric::Label> labels, int64_t timestamp_ms = 0) {
  ClientMetric m;
  m.label = std::move(labels);
  m.timestamp_ms = timestamp_ms;
  return m;
}

TEST(TextFormat, CountersGaugesAndUntypedMatchTheLibrary) {
  MetricFamily counter{"c_total", "Requests.", MetricType::Counter, {}};
  MetricFamily gauge{"g", "", MetricType::Gauge, {}};
  MetricFamily untyped{"u", "Untyped.", MetricType::Untyped, {}};
  for (double v : kValues) {
    ClientMetric m = Labelled({{"model", "iris"}, {"pod", "p-0"}});
    m.counter.value = v;
    counter.metric.push_back(m);
    ClientMetric g;  // no labels
    g.gauge.value = v;
    gauge.metric.push_back(g);
    ClientMetric u = Labelled({{"a", "b"}}, 1700000000123);
    u.untyped.value = v;
    untyped.metric.push_back(u);
  }
  const std::vector<MetricFamily> families = {counter, gauge, untyped};
  EXPECT_EQ(Ours(families), Library(families));
}

TEST(TextFormat, LabelValuesAreEscapedAsTheLibraryDoes) {
  MetricFamily f{"x", "Help.", MetricType::Gauge, {}};
  ClientMetric m = Labelled({{"a", "back\\slash \"quoted\"\nnext line"}, {"b", ""}});
  m.gauge.value = 2;
  f.metric.push_back(m);
  EXPECT_EQ(Ours({f}), Library({f}));
  EXPECT_NE(Ours({f}).find(R"(a="back\\slash \"quoted\"\nnext line",b="")"), std::string::npos)
      << Ours({f});
}

TEST(TextFormat, HistogramsAndSummariesMatchTheLibrary) {
  MetricFamily h{"d_seconds", "Durations.", MetricType::Histogram, {}};
  ClientMetric with_inf = Labelled({{"model", "iris"}});
  with_inf.histogram.sample_count = 7;
  with_inf.histogram.sample_sum = 0.123456789;
  with_inf.histogram.bucket = {{2, 0.005}, {5, 0.25}, {7, std::numeric_limits<double>::infinity()}};
  h.metric.push_back(with_inf);
  ClientMetric without_inf = Labelled({}, 42);
  without_inf.histogram.sample_count = std::numeric_limits<uint64_t>::max();
  without_inf.histogram.sample_sum = 1e20;
  without_inf.histogram.bucket = {{1, 1e-7}, {3, 2.5}, {9, 60}};
  h.metric.push_back(without_inf);
  ClientMetric empty;
  h.metric.push_back(empty);

  MetricFamily s{"q", "Quantiles.", MetricType::Summary, {}};
  ClientMetric summary = Labelled({{"model", "iris"}});
  summary.summary.sample_count = 10;
  summary.summary.sample_sum = 4.5;
  summary.summary.quantile = {{0.5, 0.3}, {0.99, 1.0 / 3}, {0.999, std::nan("")}};
  s.metric.push_back(summary);

  MetricFamily none{"n", "A family without samples.", MetricType::Counter, {}};
  const std::vector<MetricFamily> families = {h, s, none};
  EXPECT_EQ(Ours(families), Library(families));
}

TEST(TextFormat, HelpEscapesBackslashAndNewlineAsTheFormatRequires) {
  // prometheus-cpp writes HELP raw, so a newline would start a line Prometheus cannot parse.
  MetricFamily f{"x", "one\\two\nthree", MetricType::Gauge, {}};
  EXPECT_EQ(Ours({f}), "# HELP x one\\\\two\\nthree\n# TYPE x gauge\n");
}

TEST(TextFormat, AppendsToWhatIsThere) {
  MetricFamily f{"x", "", MetricType::Gauge, {}};
  ClientMetric m;
  m.gauge.value = 1;
  f.metric.push_back(m);
  std::string out = "# before\n";
  AppendTextFormat(out, {f});
  EXPECT_EQ(out, "# before\n# TYPE x gauge\nx 1\n");
}

}  // namespace
}  // namespace lagscale::metrics
