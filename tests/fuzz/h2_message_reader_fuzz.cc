// The frames engine's incremental gRPC message reader (proxy/src/h2_message_reader.cc) fed an
// arbitrary byte stream cut into arbitrary DATA-frame-like pieces.
//
// Invariants checked on every input:
//  - the messages found, and each one's field 1, do not depend on how the stream is cut;
//  - for an uncompressed message, field 1 is exactly what FindField1 reads from the whole message
//    (the scanner is the same walk, fed piece by piece);
//  - a compressed message with an unknown encoding has no field 1.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_checks.h"
#include "h2_message_reader.h"
#include "lagscale/proxy/grpc_wire.h"

namespace {

using lagscale::proxy::Field1Text;
using lagscale::proxy::FindField1;
using lagscale::proxy::internal::GrpcMessageReader;
using lagscale::proxy::internal::Inflater;

using lagscale::fuzz::Fail;

struct Seen {
  bool compressed;
  Field1Text field1;
};

std::vector<Seen> Read(std::string_view stream, const std::vector<size_t>& cuts,
                       Inflater::Encoding encoding) {
  GrpcMessageReader reader(/*scan_field1=*/true);
  reader.set_encoding(encoding);
  std::vector<Seen> seen;
  size_t at = 0;
  for (size_t i = 0; at < stream.size(); ++i) {
    const size_t step = cuts.empty() ? stream.size() : cuts[i % cuts.size()];
    reader.Feed(stream.substr(at, step),
                [&](const auto& m) { seen.push_back(Seen{m.compressed, m.field1}); });
    at += step;
  }
  return seen;
}

bool Same(const Field1Text& a, const Field1Text& b) {
  return a.found == b.found && a.length == b.length && a.text() == b.text();
}

// The messages of a complete stream, whole (the prefix says how long each is).
std::vector<std::string_view> Messages(std::string_view stream) {
  std::vector<std::string_view> out;
  while (stream.size() >= 5) {
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data());
    const uint64_t n = (uint64_t{p[1]} << 24) | (uint64_t{p[2]} << 16) | (uint64_t{p[3]} << 8) | p[4];
    if (stream.size() - 5 < n) break;
    out.push_back(stream.substr(5, n));
    stream.remove_prefix(5 + n);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto encoding = static_cast<Inflater::Encoding>(in.ConsumeIntegralInRange<int>(0, 2));
  std::vector<size_t> cuts;
  for (int i = in.ConsumeIntegralInRange<int>(0, 8); i > 0; --i) {
    cuts.push_back(in.ConsumeIntegralInRange<size_t>(1, 64));
  }
  const std::string stream = in.ConsumeRemainingBytesAsString();
  const auto whole = Read(stream, {}, encoding);
  const auto cut = Read(stream, cuts, encoding);
  if (whole.size() != cut.size()) Fail("message count depends on the cuts");
  const auto messages = Messages(stream);
  if (messages.size() != whole.size()) Fail("messages found differ from the prefixes");
  for (size_t i = 0; i < whole.size(); ++i) {
    if (whole[i].compressed != cut[i].compressed || !Same(whole[i].field1, cut[i].field1)) {
      Fail("a message's field 1 depends on the cuts");
    }
    if (whole[i].compressed) {
      if (encoding == Inflater::Encoding::kNone && whole[i].field1.found) {
        Fail("field 1 of a compressed message with no known encoding");
      }
      continue;
    }
    const std::string_view chunks[] = {messages[i]};
    if (!Same(whole[i].field1, FindField1(chunks))) Fail("differs from FindField1");
  }
  return 0;
}
