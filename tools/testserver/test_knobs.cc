#include "test_knobs.h"

#include <charconv>

namespace lagscale::testserver {
namespace {

std::string ParseOne(std::string_view name, std::optional<std::string_view> value, int min, int max,
                     int* out) {
  if (!value) return "";
  int parsed = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), parsed);
  if (ec != std::errc() || end != value->data() + value->size() || parsed < min || parsed > max) {
    return std::string(name) + ": '" + std::string(*value) + "' is not an integer in [" +
           std::to_string(min) + ", " + std::to_string(max) + "]";
  }
  *out = parsed;
  return "";
}

}  // namespace

std::string ParseTestKnobs(
    KnobProtocol protocol,
    const std::function<std::optional<std::string_view>(std::string_view)>& lookup,
    TestKnobs* knobs) {
  // HTTP: a final status (2xx..5xx); gRPC: a status code (0 OK .. 16 UNAUTHENTICATED).
  int min_status = protocol == KnobProtocol::kHttp ? 200 : 0;
  int max_status = protocol == KnobProtocol::kHttp ? 599 : 16;
  std::string error =
      ParseOne("x-test-status", lookup("x-test-status"), min_status, max_status, &knobs->status);
  if (error.empty()) {
    error = ParseOne("x-test-delay-ms", lookup("x-test-delay-ms"), 0, 3'600'000, &knobs->delay_ms);
  }
  if (error.empty()) {
    error = ParseOne("x-test-chunks", lookup("x-test-chunks"), 0, 100'000, &knobs->chunks);
  }
  return error;
}

}  // namespace lagscale::testserver
