#pragma once

// WindowedExtreme: the highest (WindowedMax) or lowest (WindowedMin) value added over a sliding
// window of time, as a monotonic queue. Times increase from front to back and values get
// strictly worse (lower for the max, higher for the min), because an entry followed by one at
// least as good can never again be the extreme of a window that ends now. The extreme since any
// time is then the first entry at or after it, and the queue holds at most one entry per distinct
// value (replica counts: a handful, not one per decision, 2,400 of them over 600 s at 250 ms).
// Thread safety: none; owned by one policy, which is called from one thread at a time.

#include <deque>
#include <functional>
#include <utility>

namespace lagscale::coordinator::policy {

template <typename Better>
class WindowedExtreme {
 public:
  // Adds `value` at `now` and forgets what is older than `keep` seconds before it.
  // REQUIRES: `now` is not before the previous call's; keep >= 0.
  void Add(double now, int value, double keep) {
    while (!entries_.empty() && !Better()(entries_.back().second, value)) entries_.pop_back();
    entries_.emplace_back(now, value);
    while (entries_.front().first < now - keep) entries_.pop_front();
  }

  // The extreme of the values added at or after `since`, or the latest value when none was.
  // REQUIRES: Add() was called.
  int Since(double since) const {
    for (const auto& [time, value] : entries_) {
      if (time >= since) return value;
    }
    return entries_.back().second;
  }

  // The extreme of everything still kept. REQUIRES: Add() was called.
  int Kept() const { return entries_.front().second; }

 private:
  std::deque<std::pair<double, int>> entries_;  // (time, value)
};

using WindowedMax = WindowedExtreme<std::greater<>>;
using WindowedMin = WindowedExtreme<std::less<>>;

}  // namespace lagscale::coordinator::policy
