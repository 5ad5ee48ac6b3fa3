#include "h2_message_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "inference/grpc_service.pb.h"

namespace lagscale::proxy::internal {
namespace {

// A gRPC length-prefixed message.
std::string Framed(const std::string& message, bool compressed = false) {
  std::string out(5, '\0');
  out[0] = compressed ? 1 : 0;
  const auto n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + message;
}

std::string Infer(const std::string& model) {
  inference::ModelInferRequest req;
  req.set_id("id-1");
  req.add_raw_input_contents(std::string(3000, 'x'));
  req.set_model_name(model);
  return req.SerializeAsString();
}

// Feeds `stream` in pieces of `step` bytes; returns the field 1 text of each message.
std::vector<std::string> Names(const std::string& stream, size_t step) {
  GrpcMessageReader reader(/*scan_field1=*/true);
  std::vector<std::string> names;
  for (size_t at = 0; at < stream.size(); at += step) {
    reader.Feed(std::string_view(stream).substr(at, step), [&](const auto& message) {
      names.push_back(message.field1.found ? std::string(message.field1.text()) : "<none>");
    });
  }
  return names;
}

TEST(GrpcMessageReaderTest, ReadsFieldOneOfEveryMessageWhereverFramesCutTheStream) {
  const std::string stream = Framed(Infer("iris")) + Framed(Infer("bert")) + Framed("");
  for (size_t step : {size_t{1}, size_t{2}, size_t{5}, size_t{7}, size_t{4096}, stream.size()}) {
    EXPECT_EQ(Names(stream, step), (std::vector<std::string>{"iris", "bert", "<none>"}))
        << "step " << step;
  }
}

TEST(GrpcMessageReaderTest, AgreesWithFindField1OnLongAndRepeatedNames) {
  const std::string long_name(500, 'm');
  const std::string message = Infer("first") + Infer(long_name).substr(0);
  const std::string_view chunks[] = {message};
  const Field1Text whole = FindField1(chunks);
  GrpcMessageReader reader(true);
  Field1Text incremental;
  const std::string stream = Framed(message);
  for (size_t at = 0; at < stream.size(); at += 3) {
    reader.Feed(std::string_view(stream).substr(at, 3),
                [&](const auto& m) { incremental = m.field1; });
  }
  ASSERT_TRUE(incremental.found);
  EXPECT_EQ(incremental.length, whole.length);
  EXPECT_EQ(incremental.length, long_name.size());  // the last occurrence wins
  EXPECT_EQ(incremental.text(), whole.text());
}

TEST(GrpcMessageReaderTest, CompressedOrMalformedMessagesHaveNoFieldOne) {
  const std::string stream = Framed(Infer("iris"), /*compressed=*/true) + Framed("\x0a\x05ir") +
                             Framed(std::string("\x0b", 1)) + Framed(Infer("ok"));
  EXPECT_EQ(Names(stream, 4), (std::vector<std::string>{"<none>", "<none>", "<none>", "ok"}));
}

// `message` compressed as grpc-encoding gzip (window bits + 16) or deflate (zlib).
std::string Compressed(const std::string& message, bool gzip) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, message.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.erase(out.size() - z.avail_out);  // a truncation: resize() would inline a growth path
  deflateEnd(&z);
  return out;
}

TEST(GrpcMessageReaderTest, InflatesGzipAndDeflateMessagesToReadTheirFieldOne) {
  for (bool gzip : {true, false}) {
    const std::string stream = Framed(Compressed(Infer("iris"), gzip), true) +
                               Framed(Infer("plain")) + Framed(Compressed(Infer("bert"), gzip), true) +
                               Framed("garbage", true);
    for (size_t step : {size_t{1}, size_t{9}, stream.size()}) {
      GrpcMessageReader reader(/*scan_field1=*/true);
      reader.set_encoding(gzip ? Inflater::Encoding::kGzip : Inflater::Encoding::kDeflate);
      std::vector<std::string> names;
      for (size_t at = 0; at < stream.size(); at += step) {
        reader.Feed(std::string_view(stream).substr(at, step), [&](const auto& m) {
          names.push_back(m.field1.found ? std::string(m.field1.text()) : "<none>");
        });
      }
      EXPECT_EQ(names, (std::vector<std::string>{"iris", "plain", "bert", "<none>"}))
          << (gzip ? "gzip" : "deflate") << " step " << step;
    }
  }
}

TEST(GrpcMessageReaderTest, CountsMessagesWithoutScanning) {
  GrpcMessageReader reader;
  int messages = 0;
  const std::string stream = Framed(Infer("a")) + Framed(Infer("b"));
  reader.Feed(stream, [&](const auto& m) {
    EXPECT_FALSE(m.field1.found);
    ++messages;
  });
  EXPECT_EQ(messages, 2);
}

}  // namespace
}  // namespace lagscale::proxy::internal
