#pragma once
// Internal to proxy/: reads what the ledger needs out of a gRPC byte stream as it passes in DATA
// frames, without holding on to it. Thread safety: one reader per stream direction, used by one
// thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lagscale/proxy/grpc_wire.h"

namespace lagscale::proxy::internal {

// Field1Scanner: FindField1 (grpc_wire.h) fed piece by piece. It walks the same protobuf tags,
// keeps only field 1's first bytes and skips every other payload by counting, so a message split
// across any number of frames costs no buffering.
class Field1Scanner {
 public:
  void Reset();
  void Feed(std::string_view bytes);
  // The result once the whole message was fed: not found if the message was malformed or cut.
  Field1Text Finish() const;

 private:
  enum class State : uint8_t { kTag, kVarint, kLength, kSkip, kCopy, kBad };
  // One byte of a varint into varint_; true once it is complete.
  bool VarintByte(uint8_t b);
  void OnTag();
  void OnLength();

  State state_ = State::kTag;
  uint64_t varint_ = 0;
  int shift_ = 0;
  uint64_t field_ = 0;
  uint64_t remaining_ = 0;  // kSkip and kCopy: payload bytes still to come
  Field1Text field1_;
};

// GrpcMessageReader: splits a gRPC stream into messages (a 5-byte prefix: compressed flag and
// big-endian length, then the message) that may be cut anywhere by frame boundaries, and hands
// each complete message's field 1 to the caller. Compressed messages are not inflated: their
// field 1 reads as not found.
class GrpcMessageReader {
 public:
  struct Message {
    bool compressed = false;
    Field1Text field1;  // only when the reader scans field 1
  };

  explicit GrpcMessageReader(bool scan_field1 = false) : scan_field1_(scan_field1) {}

  // Feeds the next bytes of the stream; calls on_message(const Message&) per complete message.
  template <typename F>
  void Feed(std::string_view bytes, F&& on_message) {
    while (!bytes.empty()) {
      if (in_prefix_ < kPrefixBytes) {
        ReadPrefix(bytes);
      } else {
        ReadBody(bytes);
      }
      if (in_prefix_ == kPrefixBytes && body_left_ == 0) {
        Message message{compressed_, {}};
        if (scan_field1_ && !compressed_) message.field1 = scanner_.Finish();
        in_prefix_ = 0;
        on_message(static_cast<const Message&>(message));
      }
    }
  }

 private:
  static constexpr size_t kPrefixBytes = 5;
  void ReadPrefix(std::string_view& bytes);
  void ReadBody(std::string_view& bytes);

  const bool scan_field1_;
  uint8_t prefix_[kPrefixBytes] = {};
  size_t in_prefix_ = 0;
  uint64_t body_left_ = 0;
  bool compressed_ = false;
  Field1Scanner scanner_;
};

}  // namespace lagscale::proxy::internal
