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

#include "fuzz_checks.h"
#include "lagscale/proxy/grpc_wire.h"

namespace {

using lagscale::proxy::Field1Text;
using lagscale::proxy::FindField1;

using lagscale::fuzz::Fail;

bool Same(const Field1Text& a, const Field1Text& b) {
  return a.found == b.found && a.length == b.length && a.text() == b.text();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const lagscale::fuzz::CutInput input(in);
  const std::string& message = input.bytes();

  const std::string_view whole(message);
  const Field1Text one = FindField1({&whole, 1});
  const Field1Text cut = FindField1(input.Pieces());
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
