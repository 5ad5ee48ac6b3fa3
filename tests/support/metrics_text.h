#pragma once

// Reading one sample out of a Prometheus text exposition (a /metrics body), as a test asserts on
// what a scrape would see.

#include <string>
#include <string_view>

#include "support/process.h"

namespace lagscale::testing {

// The value of the first sample named by `series`: `name` (with any labels) or `name{labels}`
// exactly as exposed; -1 if no line has it.
inline double SampleValue(std::string_view text, std::string_view series) {
  const bool labelled = series.find('{') != std::string_view::npos;
  size_t start = 0;
  while (start < text.size()) {
    size_t eol = text.find('\n', start);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(start, eol - start);
    start = eol + 1;
    if (line.substr(0, series.size()) != series || line.size() == series.size()) continue;
    const char next = line[series.size()];
    if (next != ' ' && (labelled || next != '{')) continue;
    return std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return -1;
}

// The same, scraped now from `address`'s /metrics.
inline double ScrapeValue(const std::string& address, std::string_view series) {
  return SampleValue(HttpGet(address, "/metrics").body, series);
}

}  // namespace lagscale::testing
