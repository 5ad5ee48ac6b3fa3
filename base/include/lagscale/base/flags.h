#pragma once

// Command-line flags, read the same way by every binary: the environment variable that stands in
// for a flag, and a duration flag's value. Only the rules live here; each binary hooks them into
// its own command-line parser.
// Thread safety: pure functions; safe from any thread.

#include <chrono>
#include <limits>
#include <string>
#include <string_view>

#include "lagscale/base/result.h"

namespace lagscale::base {

// The environment variable that sets `flag` when the command line does not:
// "--report-interval" -> "LAGSCALE_REPORT_INTERVAL": "LAGSCALE_" + the name upper-cased, with
// each - as _.
std::string FlagEnvName(std::string_view flag);

// What a number without a unit means in a duration flag.
enum class BareNumber {
  kRejected,  // "10" is an error: the unit is required, so 10 is never read as 10 ms
  kSeconds,   // "10" is ten seconds
};

// The values a duration flag accepts.
struct DurationSyntax {
  BareNumber bare = BareNumber::kRejected;
  bool allow_zero = false;  // otherwise the least value is 1ms
  std::chrono::duration<double> max{std::numeric_limits<double>::infinity()};
};

// Reads a duration as flags spell it: a decimal number and a unit, ms, s, m or h ("250ms", "1.5s",
// "2m"), or a bare number where `syntax` allows it. The error names `setting` and the value:
// `--header-timeout: invalid value "10" (expected a duration with a unit: 250ms, 10s, 2m)`.
Result<std::chrono::duration<double>> ParseDurationFlag(std::string_view text,
                                                        std::string_view setting,
                                                        const DurationSyntax& syntax);

}  // namespace lagscale::base
