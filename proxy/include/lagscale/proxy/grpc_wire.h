#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace lagscale::proxy {

// Field1Text: what FindField1 found in a serialized protobuf message.
struct Field1Text {
  bool found = false;  // a length-delimited field 1 occurred
  size_t length = 0;   // its full length in bytes
  // The first min(length, sizeof(bytes)) bytes of the last occurrence (protobuf: last one wins).
  char bytes[160] = {};
  size_t copied = 0;
  std::string_view text() const { return {bytes, copied}; }
};

// Reads field 1 of a protobuf message given as the chunks (slices) of its wire bytes, without
// deserialising it: the V2 protocol puts the model name in field 1 of ModelInferRequest,
// ModelReadyRequest and ModelMetadataRequest, and the error text in field 1 of
// ModelStreamInferResponse. This is deliberately the only hand-written protobuf reading in the
// project: it walks tags and skips every other field (varint, fixed32/64, length-delimited) by
// length, never looks inside them, and gives up on malformed input or groups (returns found=false).
// No allocation; cost is one pass over the tags, payload bytes are skipped, not read.
// Thread safety: a pure function.
Field1Text FindField1(std::span<const std::string_view> chunks);

}  // namespace lagscale::proxy
