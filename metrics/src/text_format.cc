#include "text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace lagscale::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// As prometheus-cpp writes a double: NaN and infinities by name, anything else as printf's
// "%.16g" (an ostream in the classic locale with precision 16), which std::to_chars with a
// precision is defined to match, without the stream.
void AppendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    char buffer[32];
    const auto result =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 16);
    out.append(buffer, result.ptr);
  }
}

template <typename Integer>
void AppendInteger(std::string& out, Integer value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// A label value: backslash, double quote and newline escaped (most values have none).
void AppendLabelValue(std::string& out, std::string_view value) {
  if (value.find_first_of("\\\"\n") == std::string_view::npos) {
    out += value;
    return;
  }
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// HELP text: backslash and newline escaped.
void AppendHelp(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// The extra label a line may carry: a histogram's le or a summary's quantile.
struct ExtraLabel {
  std::string_view name;
  double value = 0;  // +Inf is written "+Inf", as the format wants for the last bucket
};

// "name_suffix{labels} ".
void AppendHead(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                std::string_view suffix = {}, const ExtraLabel* extra = nullptr) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || extra != nullptr) {
    out += '{';
    const char* separator = "";
    for (const auto& label : metric.label) {
      out += separator;
      out += label.name;
      out += "=\"";
      AppendLabelValue(out, label.value);
      out += '"';
      separator = ",";
    }
    if (extra != nullptr) {
      out += separator;
      out += extra->name;
      out += "=\"";
      AppendDouble(out, extra->value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

// " timestamp" when the sample has one, then the end of the line.
void AppendTail(std::string& out, const ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    AppendInteger(out, metric.timestamp_ms);
  }
  out += '\n';
}

void AppendValueLine(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                     double value) {
  AppendHead(out, family, metric);
  AppendDouble(out, value);
  AppendTail(out, metric);
}

// The _count and _sum lines that open a histogram or a summary.
void AppendCountAndSum(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                       uint64_t count, double sum) {
  AppendHead(out, family, metric, "_count");
  AppendInteger(out, count);
  AppendTail(out, metric);
  AppendHead(out, family, metric, "_sum");
  AppendDouble(out, sum);
  AppendTail(out, metric);
}

void AppendHistogram(std::string& out, const MetricFamily& family, const ClientMetric& metric) {
  const auto& h = metric.histogram;
  AppendCountAndSum(out, family, metric, h.sample_count, h.sample_sum);
  double last = -std::numeric_limits<double>::infinity();
  for (const auto& bucket : h.bucket) {
    const ExtraLabel le{"le", bucket.upper_bound};
    AppendHead(out, family, metric, "_bucket", &le);
    AppendInteger(out, bucket.cumulative_count);
    AppendTail(out, metric);
    last = bucket.upper_bound;
  }
  if (last != std::numeric_limits<double>::infinity()) {
    const ExtraLabel le{"le", std::numeric_limits<double>::infinity()};
    AppendHead(out, family, metric, "_bucket", &le);
    AppendInteger(out, h.sample_count);
    AppendTail(out, metric);
  }
}

void AppendSummary(std::string& out, const MetricFamily& family, const ClientMetric& metric) {
  const auto& s = metric.summary;
  AppendCountAndSum(out, family, metric, s.sample_count, s.sample_sum);
  for (const auto& q : s.quantile) {
    const ExtraLabel quantile{"quantile", q.quantile};
    AppendHead(out, family, metric, {}, &quantile);
    AppendDouble(out, q.value);
    AppendTail(out, metric);
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Untyped:
      return "untyped";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void AppendTextFormat(std::string& out, const std::vector<MetricFamily>& families) {
  for (const auto& family : families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      AppendHelp(out, family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += TypeName(family.type);
    out += '\n';
    for (const auto& metric : family.metric) {
      switch (family.type) {
        case MetricType::Counter:
          AppendValueLine(out, family, metric, metric.counter.value);
          break;
        case MetricType::Gauge:
          AppendValueLine(out, family, metric, metric.gauge.value);
          break;
        case MetricType::Untyped:
          AppendValueLine(out, family, metric, metric.untyped.value);
          break;
        case MetricType::Summary:
          AppendSummary(out, family, metric);
          break;
        case MetricType::Histogram:
          AppendHistogram(out, family, metric);
          break;
      }
    }
  }
}

}  // namespace lagscale::metrics
