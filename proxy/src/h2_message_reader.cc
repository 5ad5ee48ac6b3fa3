#include "h2_message_reader.h"

#include <algorithm>
#include <cstring>

namespace lagscale::proxy::internal {

void Field1Scanner::Reset() {
  state_ = State::kTag;
  varint_ = 0;
  shift_ = 0;
  field_ = 0;
  remaining_ = 0;
  field1_ = Field1Text{};
}

bool Field1Scanner::VarintByte(uint8_t b) {
  if (shift_ >= 64) {  // more than 10 bytes: malformed
    state_ = State::kBad;
    return false;
  }
  varint_ |= static_cast<uint64_t>(b & 0x7f) << shift_;
  shift_ += 7;
  return (b & 0x80) == 0;
}

void Field1Scanner::OnTag() {
  field_ = varint_ >> 3;
  const uint64_t wire_type = varint_ & 7;
  varint_ = 0;
  shift_ = 0;
  if (field_ == 0) {
    state_ = State::kBad;
    return;
  }
  switch (wire_type) {
    case 0:
      state_ = State::kVarint;
      return;
    case 1:
      state_ = State::kSkip;
      remaining_ = 8;
      return;
    case 2:
      state_ = State::kLength;
      return;
    case 5:
      state_ = State::kSkip;
      remaining_ = 4;
      return;
    default:  // groups and invalid wire types, as FindField1
      state_ = State::kBad;
  }
}

void Field1Scanner::OnLength() {
  remaining_ = varint_;
  varint_ = 0;
  shift_ = 0;
  if (field_ == 1) {  // protobuf: the last occurrence wins
    field1_.found = true;
    field1_.length = static_cast<size_t>(remaining_);
    field1_.copied = 0;
    state_ = State::kCopy;
  } else {
    state_ = State::kSkip;
  }
  if (remaining_ == 0) state_ = State::kTag;
}

void Field1Scanner::Feed(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size() && state_ != State::kBad) {
    switch (state_) {
      case State::kTag:
        if (VarintByte(static_cast<uint8_t>(bytes[i++])) && state_ != State::kBad) OnTag();
        break;
      case State::kVarint:
        if (VarintByte(static_cast<uint8_t>(bytes[i++])) && state_ != State::kBad) {
          varint_ = 0;
          shift_ = 0;
          state_ = State::kTag;
        }
        break;
      case State::kLength:
        if (VarintByte(static_cast<uint8_t>(bytes[i++])) && state_ != State::kBad) OnLength();
        break;
      case State::kSkip:
      case State::kCopy: {
        const size_t step = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size() - i));
        if (state_ == State::kCopy && field1_.copied < sizeof(field1_.bytes)) {
          const size_t n = std::min(step, sizeof(field1_.bytes) - field1_.copied);
          std::memcpy(field1_.bytes + field1_.copied, bytes.data() + i, n);
          field1_.copied += n;
        }
        i += step;
        remaining_ -= step;
        if (remaining_ == 0) state_ = State::kTag;
        break;
      }
      case State::kBad:
        break;
    }
  }
}

Field1Text Field1Scanner::Finish() const {
  // A message ends cleanly only between fields.
  if (state_ != State::kTag || shift_ != 0) return Field1Text{};
  return field1_;
}

void GrpcMessageReader::ReadPrefix(std::string_view& bytes) {
  const size_t n = std::min(kPrefixBytes - in_prefix_, bytes.size());
  std::memcpy(prefix_ + in_prefix_, bytes.data(), n);
  in_prefix_ += n;
  bytes.remove_prefix(n);
  if (in_prefix_ < kPrefixBytes) return;
  compressed_ = prefix_[0] != 0;
  body_left_ = (uint64_t{prefix_[1]} << 24) | (uint64_t{prefix_[2]} << 16) |
               (uint64_t{prefix_[3]} << 8) | uint64_t{prefix_[4]};
  if (scan_field1_) scanner_.Reset();
}

void GrpcMessageReader::ReadBody(std::string_view& bytes) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, bytes.size()));
  if (scan_field1_ && !compressed_) scanner_.Feed(bytes.substr(0, n));
  body_left_ -= n;
  bytes.remove_prefix(n);
}

}  // namespace lagscale::proxy::internal
