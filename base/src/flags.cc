#include "lagscale/base/flags.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

namespace lagscale::base {

namespace {

// Seconds per unit; 0 for a unit flags do not know.
double SecondsPer(std::string_view unit) {
  if (unit == "ms") return 0.001;
  if (unit == "s") return 1;
  if (unit == "m") return 60;
  if (unit == "h") return 3600;
  return 0;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// A finite decimal number that is the whole of `text`.
bool ParseNumber(std::string_view text, double& value) {
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc() && stop == end && std::isfinite(value);
}

std::string Invalid(std::string_view text, std::string_view setting, std::string_view expected) {
  return std::string(setting) + ": invalid value \"" + std::string(text) + "\" (expected " +
         std::string(expected) + ")";
}

// The value's bounds: not negative, at least 1ms unless zero is allowed, at most syntax.max.
std::string BoundsError(std::chrono::duration<double> d, std::string_view text,
                        std::string_view setting, const DurationSyntax& syntax) {
  if (d.count() < 0) return Invalid(text, setting, "a duration of 0 or more");
  if (d.count() == 0 && syntax.allow_zero) return {};
  if (d.count() < 0.001) return Invalid(text, setting, "a duration of at least 1ms");
  if (d > syntax.max) {
    std::ostringstream max;
    max << "a duration of at most " << syntax.max.count() << "s";
    return Invalid(text, setting, max.str());
  }
  return {};
}

}  // namespace

std::string FlagEnvName(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  std::string name = "LAGSCALE_";
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

Result<std::chrono::duration<double>> ParseDurationFlag(std::string_view text,
                                                        std::string_view setting,
                                                        const DurationSyntax& syntax) {
  using Parsed = Result<std::chrono::duration<double>>;
  const bool bare_ok = syntax.bare == BareNumber::kSeconds;
  const std::string_view expected = bare_ok ? "seconds or a duration with a unit: 10, 250ms, 2m"
                                            : "a duration with a unit: 250ms, 10s, 2m";
  // The unit is the trailing letters; what precedes them is the number.
  const std::string_view trimmed = Trim(text);
  size_t split = trimmed.size();
  while (split > 0 && std::isalpha(static_cast<unsigned char>(trimmed[split - 1]))) --split;
  const std::string_view unit = trimmed.substr(split);
  double number = 0;
  if (!ParseNumber(Trim(trimmed.substr(0, split)), number)) {
    return Parsed::Error(Invalid(text, setting, expected));
  }
  const double per = unit.empty() && bare_ok ? 1 : SecondsPer(unit);
  if (per == 0) return Parsed::Error(Invalid(text, setting, expected));
  const std::chrono::duration<double> d(number * per);
  if (std::string error = BoundsError(d, text, setting, syntax); !error.empty()) {
    return Parsed::Error(std::move(error));
  }
  return Parsed::Ok(d);
}

}  // namespace lagscale::base
