#include "lagscale/proxy/grpc_wire.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace lagscale::proxy {
namespace {

// A read cursor over a list of chunks.
class Cursor {
 public:
  explicit Cursor(std::span<const std::string_view> chunks) : chunks_(chunks) { SkipEmpty(); }

  bool AtEnd() const { return chunk_ == chunks_.size(); }

  bool ReadByte(uint8_t& out) {
    if (AtEnd()) return false;
    out = static_cast<uint8_t>(chunks_[chunk_][offset_]);
    Advance(1);
    return true;
  }

  bool ReadVarint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!ReadByte(b)) return false;
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes: malformed
  }

  // Copies up to `max` of the next `n` bytes into `into` and skips all n.
  bool Take(uint64_t n, char* into, size_t max, size_t& copied) {
    copied = 0;
    while (n > 0) {
      if (AtEnd()) return false;
      std::string_view chunk = chunks_[chunk_].substr(offset_);
      size_t step = static_cast<size_t>(std::min<uint64_t>(n, chunk.size()));
      if (copied < max) {
        size_t c = std::min(step, max - copied);
        std::memcpy(into + copied, chunk.data(), c);
        copied += c;
      }
      Advance(step);
      n -= step;
    }
    return true;
  }

  bool Skip(uint64_t n) {
    size_t ignored;
    return Take(n, nullptr, 0, ignored);
  }

 private:
  void Advance(size_t n) {
    offset_ += n;
    if (offset_ == chunks_[chunk_].size()) {
      ++chunk_;
      offset_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (chunk_ < chunks_.size() && chunks_[chunk_].empty()) ++chunk_;
  }

  std::span<const std::string_view> chunks_;
  size_t chunk_ = 0;
  size_t offset_ = 0;
};

}  // namespace

Field1Text FindField1(std::span<const std::string_view> chunks) {
  Field1Text result;
  Cursor in(chunks);
  while (!in.AtEnd()) {
    uint64_t tag;
    if (!in.ReadVarint(tag)) return Field1Text{};
    const uint64_t field = tag >> 3;
    bool ok = true;
    switch (tag & 7) {
      case 0: {  // varint
        uint64_t ignored;
        ok = in.ReadVarint(ignored);
        break;
      }
      case 1:  // fixed64
        ok = in.Skip(8);
        break;
      case 2: {  // length-delimited
        uint64_t length;
        if (!in.ReadVarint(length)) return Field1Text{};
        if (field == 1) {
          result.found = true;
          result.length = static_cast<size_t>(length);
          ok = in.Take(length, result.bytes, sizeof(result.bytes), result.copied);
        } else {
          ok = in.Skip(length);
        }
        break;
      }
      case 5:  // fixed32
        ok = in.Skip(4);
        break;
      default:  // groups (3, 4) and invalid wire types: not in any message we read
        return Field1Text{};
    }
    if (!ok || field == 0) return Field1Text{};
  }
  return result;
}

}  // namespace lagscale::proxy
