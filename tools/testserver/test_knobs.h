#pragma once

// TestKnobs: per-request behaviour that other components' tests ask for, through HTTP headers or
// gRPC metadata: `x-test-status` (answer with this HTTP status / gRPC code after the service
// time), `x-test-delay-ms` (extra service time; for streams, the gap between events) and
// `x-test-chunks` (events of a streamed response).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lagscale::testserver {

struct TestKnobs {
  int status = 0;  // 0: answer normally
  int delay_ms = 0;
  int chunks = 5;
};

enum class KnobProtocol { kHttp, kGrpc };

// Reads the knobs through `lookup` (header or metadata value by lower-case name). Returns the
// error message naming the bad knob and value, or "" on success.
std::string ParseTestKnobs(
    KnobProtocol protocol,
    const std::function<std::optional<std::string_view>(std::string_view)>& lookup,
    TestKnobs* knobs);

}  // namespace lagscale::testserver
