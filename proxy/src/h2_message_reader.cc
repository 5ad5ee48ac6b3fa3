#include "h2_message_reader.h"

#include <zlib.h>

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

struct Inflater::State {
  z_stream z{};
  bool initialised = false;
};

Inflater::Encoding Inflater::Parse(std::string_view grpc_encoding) {
  if (grpc_encoding == "gzip") return Encoding::kGzip;
  if (grpc_encoding == "deflate") return Encoding::kDeflate;
  return Encoding::kNone;
}

Inflater::Inflater() : state_(std::make_unique<State>()) {}

Inflater::~Inflater() {
  if (state_->initialised) inflateEnd(&state_->z);
}

void Inflater::Start(Encoding encoding) {
  finished_ = false;
  // gzip has its own header (window bits + 16); gRPC's deflate is zlib-wrapped.
  const int bits = encoding == Encoding::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
  if (state_->initialised) inflateEnd(&state_->z);
  state_->z = z_stream{};
  state_->initialised = inflateInit2(&state_->z, bits) == Z_OK;
}

bool Inflater::Feed(std::string_view bytes, Field1Scanner& scanner) {
  if (!state_->initialised || finished_) return bytes.empty() && state_->initialised;
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  char out[4096];
  do {
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = sizeof(out);
    const int rv = inflate(&z, Z_NO_FLUSH);
    if (rv != Z_OK && rv != Z_STREAM_END && rv != Z_BUF_ERROR) return false;
    scanner.Feed(std::string_view(out, sizeof(out) - z.avail_out));
    if (rv == Z_STREAM_END) {
      finished_ = true;
      return z.avail_in == 0;
    }
    if (rv == Z_BUF_ERROR) break;  // needs more input
  } while (z.avail_in > 0 || z.avail_out == 0);
  return true;
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
  inflating_ = compressed_ && scan_field1_ && encoding_ != Inflater::Encoding::kNone;
  if (inflating_) {
    if (!inflater_) inflater_ = std::make_unique<Inflater>();
    inflater_->Start(encoding_);
  }
}

void GrpcMessageReader::ReadBody(std::string_view& bytes) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, bytes.size()));
  if (scan_field1_ && !compressed_) {
    scanner_.Feed(bytes.substr(0, n));
  } else if (inflating_) {
    inflating_ = inflater_->Feed(bytes.substr(0, n), scanner_);
  }
  body_left_ -= n;
  bytes.remove_prefix(n);
}

}  // namespace lagscale::proxy::internal
