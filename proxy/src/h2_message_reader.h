#pragma once
// Internal to proxy/: reads what the ledger needs out of a gRPC byte stream as it passes in DATA
// frames, without holding on to it. Thread safety: one reader per stream direction, used by one
// thread.

#include <cstddef>
#include <cstdint>
#include <memory>
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

// Inflater: gRPC's message compression (grpc-encoding gzip or deflate) undone piece by piece
// into a Field1Scanner, for the messages whose field 1 the ledger needs.
class Inflater {
 public:
  enum class Encoding : uint8_t { kNone, kGzip, kDeflate };
  static Encoding Parse(std::string_view grpc_encoding);
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  void Start(Encoding encoding);
  // Inflates `bytes` into `scanner`; false once the data is not valid for the encoding.
  bool Feed(std::string_view bytes, Field1Scanner& scanner);
  bool finished() const { return finished_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool finished_ = false;
};

// GrpcMessageReader: splits a gRPC stream into messages (a 5-byte prefix: compressed flag and
// big-endian length, then the message) that may be cut anywhere by frame boundaries, and hands
// each complete message's field 1 to the caller. Compressed messages are inflated for it when the
// stream's grpc-encoding is gzip or deflate; with another encoding their field 1 reads as not found.
class GrpcMessageReader {
 public:
  struct Message {
    bool compressed = false;
    Field1Text field1;  // only when the reader scans field 1
  };

  explicit GrpcMessageReader(bool scan_field1 = false) : scan_field1_(scan_field1) {}
  // The stream's grpc-encoding, for its compressed messages.
  void set_encoding(Inflater::Encoding encoding) { encoding_ = encoding; }

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
        if (scan_field1_ && Readable()) message.field1 = scanner_.Finish();
        in_prefix_ = 0;
        on_message(static_cast<const Message&>(message));
      }
    }
  }

 private:
  static constexpr size_t kPrefixBytes = 5;
  void ReadPrefix(std::string_view& bytes);
  void ReadBody(std::string_view& bytes);
  // Whether the message just read could be scanned whole.
  bool Readable() const { return !compressed_ || (inflating_ && inflater_->finished()); }

  const bool scan_field1_;
  Inflater::Encoding encoding_ = Inflater::Encoding::kNone;
  std::unique_ptr<Inflater> inflater_;  // made for the first compressed message
  bool inflating_ = false;              // the current message is being inflated, so far validly
  uint8_t prefix_[kPrefixBytes] = {};
  size_t in_prefix_ = 0;
  uint64_t body_left_ = 0;
  bool compressed_ = false;
  Field1Scanner scanner_;
};

}  // namespace lagscale::proxy::internal
