#pragma once

// The Prometheus text exposition format 0.0.4 of prometheus-cpp's MetricFamily values, appended
// to a string. prometheus-cpp still collects the families (exposition.cc); only their text is
// written here, because its TextSerializer formats through std::ostream at about 85 MB/s: 0.58 ms
// a scrape for 8 models and 5.5 ms for 100 (bench/metrics/exposition_bench.cc), over 1 % of a
// loaded sidecar's core at ten scrapes a second (bench/proxy/scrape_cost.py).
//
// The output is byte for byte what prometheus::TextSerializer 1.0 writes (tests/metrics/
// text_format_test.cc compares them), except that HELP text escapes backslash and newline as the
// format requires (prometheus-cpp writes them raw, which breaks the line structure).
// Thread safety: a pure function.

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace lagscale::metrics {

void AppendTextFormat(std::string& out, const std::vector<prometheus::MetricFamily>& families);

}  // namespace lagscale::metrics
