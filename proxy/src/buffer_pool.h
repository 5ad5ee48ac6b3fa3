#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace lagscale::proxy {

// BufferPool: the I/O buffers of one worker's connections. A connection holds a buffer only while
// bytes pass through it, so a keep-alive connection waiting for its next request holds none;
// returned buffers are kept for the next exchange (up to kMaxFree of them), so the request path
// does not allocate once warm and a burst's buffers do not stay resident forever.
// Thread safety: none; the worker's thread only.
class BufferPool {
 public:
  static constexpr size_t kBytes = 16 * 1024;
  using Buffer = std::unique_ptr<char[]>;

  BufferPool() { free_.reserve(kMaxFree); }

  // A kBytes buffer, uninitialised.
  Buffer Acquire() {
    if (free_.empty()) return Buffer(new char[kBytes]);
    Buffer b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  // Takes `b` back (null is fine).
  void Release(Buffer b) {
    if (b && free_.size() < kMaxFree) free_.push_back(std::move(b));
  }

 private:
  // 1 MiB at most kept: enough for the buffers of ~64 exchanges in flight at once.
  static constexpr size_t kMaxFree = 64;
  std::vector<Buffer> free_;
};

}  // namespace lagscale::proxy
