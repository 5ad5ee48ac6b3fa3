// The request-body model scanner (proxy/src/json_model_scanner.cc) and the answer usage scanner
// (proxy/src/usage_scanner.cc) fed arbitrary bytes cut into arbitrary pieces, as a body streams.
//
// Invariants checked on every input:
//  - neither result depends on how the bytes are cut;
//  - whenever nlohmann parses the bytes as an object with exactly one top-level "model" key (and
//    no deeper nesting than the scanner keeps), the scanner finds it exactly when its value is a
//    string, with the same text (cut to kMaxValueBytes);
//  - a found name is never longer than kMaxValueBytes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_checks.h"
#include "lagscale/proxy/json_model_scanner.h"
#include "lagscale/proxy/usage_scanner.h"

namespace {

using lagscale::proxy::JsonModelScanner;
using lagscale::proxy::JsonScanner;
using lagscale::proxy::UsageScanner;

using lagscale::fuzz::Fail;

struct ModelSeen {
  JsonModelScanner::Result result;
  std::string model;
  bool operator==(const ModelSeen&) const = default;
};

ModelSeen ScanModel(const std::vector<std::string_view>& pieces) {
  JsonModelScanner s;
  for (std::string_view p : pieces) s.Feed(p);
  s.Finish();
  return {s.result(), s.result() == JsonModelScanner::Result::kFound ? std::string(s.model()) : ""};
}

struct UsageSeen {
  bool first, usage;
  uint64_t prompt, completion, skipped;
  bool operator==(const UsageSeen&) const = default;
};

UsageSeen ScanUsage(const std::vector<std::string_view>& pieces, bool event_stream) {
  UsageScanner s;
  s.Start(event_stream);
  for (std::string_view p : pieces) s.Feed(p.data(), p.size());
  return {s.first_output(), s.has_usage(), s.prompt_tokens(), s.completion_tokens(),
          s.skipped_events()};
}

// The top-level "model" keys nlohmann sees, and the deepest nesting, while it parses.
struct Oracle {
  bool parsed = false;
  int model_keys = 0;
  int max_depth = 0;
  nlohmann::json doc;
};

Oracle Parse(const std::string& body) {
  Oracle o;
  int depth = 0;
  auto cb = [&](int d, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    depth = d;
    if (event == nlohmann::json::parse_event_t::object_start ||
        event == nlohmann::json::parse_event_t::array_start) {
      o.max_depth = std::max(o.max_depth, depth + 1);
    }
    if (event == nlohmann::json::parse_event_t::key && d == 1 && parsed == "model") {
      ++o.model_keys;
    }
    return true;
  };
  o.doc = nlohmann::json::parse(body, cb, /*allow_exceptions=*/false);
  o.parsed = !o.doc.is_discarded();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const lagscale::fuzz::CutInput input(in);
  const std::string& body = input.bytes();

  const std::string_view whole(body);
  const std::vector<std::string_view> chunks = input.Pieces();

  const ModelSeen one = ScanModel({whole});
  if (!(ScanModel(chunks) == one)) Fail("the model depends on the cutting");
  if (one.model.size() > JsonScanner::kMaxValueBytes) Fail("found name over the limit");
  for (bool events : {false, true}) {
    if (!(ScanUsage({whole}, events) == ScanUsage(chunks, events))) {
      Fail("the usage depends on the cutting");
    }
  }

  const Oracle o = Parse(body);
  if (!o.parsed || !o.doc.is_object() || o.model_keys != 1 ||
      o.max_depth > JsonScanner::kMaxDepth) {
    return 0;
  }
  const nlohmann::json& model = o.doc["model"];
  if (!model.is_string()) {
    if (one.result != JsonModelScanner::Result::kNone) Fail("found a model that is not a string");
    return 0;
  }
  const std::string expected =
      model.get<std::string>().substr(0, JsonScanner::kMaxValueBytes);
  if (one.result != JsonModelScanner::Result::kFound || one.model != expected) {
    Fail("model differs from nlohmann's: got \"" + one.model + "\", expected \"" + expected + "\"");
  }
  return 0;
}
