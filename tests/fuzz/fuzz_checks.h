#pragma once

// What the fuzz targets share: an invariant's failure (an abort, which libFuzzer reports with the
// input that caused it), and an input cut into pieces, for checking that a streaming parser's
// result does not depend on where its input is cut.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace lagscale::fuzz {

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "INVARIANT FAILED: %s\n", what.c_str());
  std::abort();
}

// Up to 6 piece lengths of up to 64 bytes each, then the bytes themselves.
class CutInput {
 public:
  explicit CutInput(FuzzedDataProvider& in) {
    const int pieces = in.ConsumeIntegralInRange(0, 6);
    for (int i = 0; i < pieces; ++i) cuts_.push_back(in.ConsumeIntegralInRange<size_t>(0, 64));
    bytes_ = in.ConsumeRemainingBytesAsString();
  }

  const std::string& bytes() const { return bytes_; }
  // The bytes cut at those lengths, the rest as the last piece; empty pieces are kept on purpose.
  std::vector<std::string_view> Pieces() const {
    const std::string_view whole(bytes_);
    std::vector<std::string_view> pieces;
    size_t at = 0;
    for (size_t cut : cuts_) {
      cut = std::min(cut, whole.size() - at);
      pieces.push_back(whole.substr(at, cut));
      at += cut;
    }
    pieces.push_back(whole.substr(at));
    return pieces;
  }

 private:
  std::vector<size_t> cuts_;
  std::string bytes_;
};

}  // namespace lagscale::fuzz
