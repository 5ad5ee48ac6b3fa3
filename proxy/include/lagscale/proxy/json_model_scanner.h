#pragma once

#include <cstddef>
#include <string_view>

#include "lagscale/proxy/json_scanner.h"

namespace lagscale::proxy {

// JsonModelScanner: finds the top-level "model" string of a JSON request body (OpenAI-compatible
// APIs name the model there) while the body streams through, without buffering it.
//
// Feed() takes the body in pieces split anywhere. The answer is known as soon as the value of the
// first top-level "model" member has been read (what follows is neither needed nor checked, so
// the scan then costs nothing), or at the end of the document. "model" keys inside nested objects
// or arrays (messages, tools) are not the top-level one and are skipped. A top-level "model" that
// is not a string, a body that is not a JSON object, or one that is not valid JSON up to where the
// answer would be found give kNone. The name is decoded (escapes, \uXXXX); one longer than
// metrics::kMaxModelNameBytes is returned cut to kMaxValueBytes, so the model table refuses it
// like any other invalid name.
// Thread safety: none; one per request.
class JsonModelScanner final : private JsonScanner {
 public:
  enum class Result : unsigned char {
    kScanning,  // not known yet: more body may tell
    kFound,     // model() is the name
    kNone,      // no top-level "model" string, or not JSON
  };

  JsonModelScanner() = default;
  ~JsonModelScanner() = default;

  // Scans the next piece of the body.
  Result Feed(const char* data, size_t len);
  Result Feed(std::string_view piece) { return Feed(piece.data(), piece.size()); }
  // The body ended: a scan still going becomes kNone.
  Result Finish();
  Result result() const;
  // REQUIRES: result() == kFound. Valid until Reset().
  std::string_view model() const { return model_; }
  // Starts over for the next request.
  void Reset();

 private:
  bool OnScalar(const Scalar& scalar) override;

  std::string_view model_;
  bool found_ = false;
};

}  // namespace lagscale::proxy
