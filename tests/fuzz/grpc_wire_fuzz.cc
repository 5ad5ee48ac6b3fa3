// The gRPC model_name wire scanner (proxy/src/grpc_wire.cc) fed arbitrary message bytes, cut into
// arbitrary chunks (as gRPC hands over a message's slices).
//
// Invariants checked on every input:
//  - the result does not depend on how the bytes are cut;
//  - what it reports is what protobuf itself reads: whenever protobuf parses the bytes (no groups),
//    FindField1 finds field 1 exactly when protobuf has a length-delimited field 1, with the full
//    length and the first bytes of the last occurrence. "Protobuf" is the parser of generated
//    messages (what a C++ inference server runs), not UnknownFieldSet's own legacy reader, which
//    truncates a length varint to 32 bits: a length of 80 80 80 80 80 80 04 (4 << 42) reads as 0
//    there, while generated code and this scanner reject it;
//  - it copies min(length, 160) bytes, never more.
#include <fuzzer/FuzzedDataProvider.h>
#include <google/protobuf/empty.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lagscale/proxy/grpc_wire.h"

namespace {

using lagscale::proxy::Field1Text;
using lagscale::proxy::FindField1;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "INVARIANT FAILED: %s\n", what.c_str());
  std::abort();
}

bool Same(const Field1Text& a, const Field1Text& b) {
  return a.found == b.found && a.length == b.length && a.text() == b.text();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<size_t> cuts;
  const int pieces = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < pieces; ++i) cuts.push_back(in.ConsumeIntegralInRange<size_t>(0, 64));
  const std::string message = in.ConsumeRemainingBytesAsString();

  const std::string_view whole(message);
  const Field1Text one = FindField1({&whole, 1});
  std::vector<std::string_view> chunks;
  size_t at = 0;
  for (size_t cut : cuts) {
    cut = std::min(cut, message.size() - at);
    chunks.push_back(whole.substr(at, cut));  // empty chunks included on purpose
    at += cut;
  }
  chunks.push_back(whole.substr(at));
  const Field1Text cut = FindField1(chunks);
  if (!Same(one, cut)) Fail("the result depends on the chunking");
  if (one.copied != std::min(one.length, sizeof(one.bytes))) Fail("copied a wrong amount");
  if (!one.found && (one.length != 0 || one.copied != 0)) Fail("not found but a length");

  // Every field is unknown to Empty, so a generated parser keeps them all in its unknown fields.
  google::protobuf::Empty parsed;
  if (!parsed.ParseFromArray(message.data(), static_cast<int>(message.size()))) return 0;
  const google::protobuf::UnknownFieldSet& fields =
      parsed.GetReflection()->GetUnknownFields(parsed);
  const google::protobuf::UnknownField* last = nullptr;
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.type() == google::protobuf::UnknownField::TYPE_GROUP) return 0;  // out of scope
    if (f.number() == 1 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      last = &f;
    }
  }
  if (!last) {
    if (one.found) Fail("found a field 1 protobuf does not see");
    return 0;
  }
  const std::string& value = last->length_delimited();
  if (!one.found || one.length != value.size() ||
      one.text() != std::string_view(value).substr(0, sizeof(one.bytes))) {
    Fail("field 1 differs from protobuf's: got \"" + std::string(one.text()) +
         "\" (found=" + std::to_string(one.found) + " length=" + std::to_string(one.length) +
         "), protobuf has length " + std::to_string(value.size()));
  }
  return 0;
}
