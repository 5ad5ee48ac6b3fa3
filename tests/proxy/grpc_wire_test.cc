#include "lagscale/proxy/grpc_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "inference/grpc_service.pb.h"

namespace lagscale::proxy {
namespace {

// Splits `bytes` into chunks of `size` bytes, like the slices of a received message.
Field1Text Scan(const std::string& bytes, size_t size) {
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < bytes.size(); i += size) {
    chunks.push_back(std::string_view(bytes).substr(i, size));
  }
  return FindField1(chunks);
}

TEST(GrpcWireTest, FindsModelNameOfAnInferRequestAcrossAnySliceBoundary) {
  inference::ModelInferRequest req;
  req.set_model_version("3");
  req.set_id("abc");
  (*req.mutable_parameters())["k"].set_int64_param(7);
  req.add_raw_input_contents(std::string(5000, '\0'));
  req.set_model_name("resnet-50.v2");  // serialized first, but any order must work
  const std::string bytes = req.SerializeAsString();
  for (size_t size : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    Field1Text f = Scan(bytes, size);
    ASSERT_TRUE(f.found) << size;
    EXPECT_EQ(f.text(), "resnet-50.v2") << size;
  }
}

TEST(GrpcWireTest, FieldOneAfterOtherFieldsOfEveryWireTypeIsFound) {
  // field 3 varint, field 4 fixed64, field 5 fixed32, field 2 bytes, then field 1.
  std::string bytes = {0x18, static_cast<char>(0x96), 0x01};
  bytes += std::string{0x21} + std::string(8, 'x');
  bytes += std::string{0x2d} + std::string(4, 'y');
  bytes += std::string{0x12, 0x02, 'z', 'z'};
  bytes += std::string{0x0a, 0x04, 'i', 'r', 'i', 's'};
  Field1Text f = Scan(bytes, 5);
  ASSERT_TRUE(f.found);
  EXPECT_EQ(f.text(), "iris");
}

TEST(GrpcWireTest, LastOccurrenceWinsAsInProtobuf) {
  std::string bytes = {0x0a, 0x01, 'a', 0x0a, 0x01, 'b'};
  EXPECT_EQ(Scan(bytes, 100).text(), "b");
}

TEST(GrpcWireTest, LongNamesReportTheirFullLengthAndCopyAPrefix) {
  inference::ModelReadyRequest req;
  req.set_name(std::string(1000, 'm'));
  Field1Text f = Scan(req.SerializeAsString(), 33);
  ASSERT_TRUE(f.found);
  EXPECT_EQ(f.length, 1000u);
  EXPECT_EQ(f.copied, sizeof(f.bytes));
}

TEST(GrpcWireTest, MalformedOrAbsentGivesNothing) {
  EXPECT_FALSE(Scan("", 1).found);
  EXPECT_FALSE(Scan(std::string{0x12, 0x01, 'x'}, 1).found);              // only field 2
  EXPECT_FALSE(Scan(std::string{0x0a, 0x05, 'a', 'b'}, 1).found);         // truncated
  EXPECT_FALSE(Scan(std::string{0x0b, 0x0a, 0x01, 'a'}, 1).found);        // group
  EXPECT_FALSE(Scan(std::string(11, static_cast<char>(0xff)), 3).found);  // endless varint
  EXPECT_FALSE(Scan(std::string{0x0a, static_cast<char>(0xff), static_cast<char>(0xff),
                                static_cast<char>(0xff), static_cast<char>(0xff), 0x0f},
                    2)
                   .found);  // length far past the end
}

TEST(GrpcWireTest, LengthBeyond32BitsIsMalformedAsForGeneratedCode) {
  // field 2 "1", then field 1 whose length varint is 4 << 42. A reader that truncates the length
  // to 32 bits sees an empty field 1; generated code rejects the message, and so does the scanner.
  const std::string bytes = {0x12, 0x01, '1',  0x0a, static_cast<char>(0x80),
                             static_cast<char>(0x80), static_cast<char>(0x80),
                             static_cast<char>(0x80), static_cast<char>(0x80),
                             static_cast<char>(0x80), 0x04, 't', '1'};
  inference::ModelReadyRequest generated;
  EXPECT_FALSE(generated.ParseFromString(bytes));
  EXPECT_FALSE(Scan(bytes, 1).found);
  EXPECT_FALSE(Scan(bytes, 100).found);
}

TEST(GrpcWireTest, ErrorMessageOfAStreamResponseIsFieldOne) {
  inference::ModelStreamInferResponse resp;
  resp.mutable_infer_response()->set_model_name("iris");
  EXPECT_FALSE(Scan(resp.SerializeAsString(), 4).found);
  resp.set_error_message("boom");
  EXPECT_EQ(Scan(resp.SerializeAsString(), 4).text(), "boom");
}

}  // namespace
}  // namespace lagscale::proxy
