#pragma once

// PendingOps: the bookkeeping of an object driven by an asynchronous completion queue that hands
// back one opaque tag per finished operation (gRPC's CompletionQueue is one). It owns one tag per
// kind of operation, counts the operations outstanding, and says when the object may be torn
// down: the first time nothing is outstanding after an event, and only that once.
//
// Use: start every operation with Start(op) as its tag; when the queue hands a tag back, pass it
// to Returned() before handling the event (so that operations the handler starts are counted),
// and once the event is handled ask Settled(): on true, end the object.
//
// REQUIRES: at most one operation of each kind outstanding (each kind has one tag); `Op` is an
// enum whose last enumerator is kOpCount.
// Thread safety: none. Only the thread that polls the queue may use it, which gRPC guarantees
// when every operation of the object is started on one queue polled by one thread.

#include <cassert>
#include <cstddef>

namespace lagscale::base {

template <typename Owner, typename Op>
class PendingOps {
 public:
  static constexpr size_t kOpCount = static_cast<size_t>(Op::kOpCount);

  // What the queue hands back: which object, and which of its operations finished.
  struct Tag {
    PendingOps* ops;
    Op op;
  };

  explicit PendingOps(Owner* owner) : owner_(owner) {
    for (size_t i = 0; i < kOpCount; ++i) tags_[i] = Tag{this, static_cast<Op>(i)};
  }
  // The queue holds pointers to the tags: they must not move.
  PendingOps(const PendingOps&) = delete;
  PendingOps& operator=(const PendingOps&) = delete;

  // Counts an operation of kind `op` as outstanding and returns its tag.
  // REQUIRES: no operation of kind `op` outstanding.
  void* Start(Op op) {
    ++pending_;
    return &tags_[static_cast<size_t>(op)];
  }

  // Counts the operation behind `tag` (from Start()) as finished and returns the tag.
  static const Tag& Returned(void* tag) {
    Tag& t = *static_cast<Tag*>(tag);
    assert(t.ops->pending_ > 0);
    --t.ops->pending_;
    return t;
  }

  // True exactly once: the first time it is asked while nothing is outstanding.
  bool Settled() {
    if (pending_ != 0 || settled_) return false;
    settled_ = true;
    return true;
  }

  Owner* owner() const { return owner_; }
  int pending() const { return pending_; }

 private:
  Owner* const owner_;
  Tag tags_[kOpCount];
  int pending_ = 0;
  bool settled_ = false;
};

}  // namespace lagscale::base
