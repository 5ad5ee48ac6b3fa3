#include "lagscale/proxy/json_model_scanner.h"

#include "lagscale/metrics/model_table.h"

namespace lagscale::proxy {

// A name over the table's limit must reach it over the limit, not cut to a valid length.
static_assert(JsonScanner::kMaxValueBytes > metrics::kMaxModelNameBytes);

JsonModelScanner::Result JsonModelScanner::Feed(const char* data, size_t len) {
  JsonScanner::Feed(data, len);
  return result();
}

JsonModelScanner::Result JsonModelScanner::Finish() {
  JsonScanner::Finish();
  return result();
}

JsonModelScanner::Result JsonModelScanner::result() const {
  if (found_) return Result::kFound;
  return status() == Status::kScanning ? Result::kScanning : Result::kNone;
}

void JsonModelScanner::Reset() {
  JsonScanner::Reset();
  model_ = {};
  found_ = false;
}

// The first top-level "model" decides, whatever its value: the scan stops there.
bool JsonModelScanner::OnScalar(const Scalar& scalar) {
  if (scalar.depth != 1 || scalar.key1 != "model") return false;
  found_ = scalar.kind == Kind::kString;
  model_ = scalar.text;
  return true;
}

}  // namespace lagscale::proxy
