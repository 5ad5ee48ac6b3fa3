#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace lagscale::proxy {

// HandlerSlab: recycles the memory of completion handlers on one I/O thread. Asio keeps a single
// spare block per thread, but a proxied exchange has four or five operations outstanding at once
// (client read and write, upstream read and write, the idle-pool watch), so without this every
// request would allocate. Two block sizes: an idle keep-alive connection keeps two small
// operations pending (its readiness wait and its timer, about 128 bytes each), and at 10,000
// idle connections a 384-byte block for each would be 5 MiB of waste.
// Blocks are never returned to the heap while the slab lives.
// Thread safety: none; one slab per I/O thread, which must outlive its io_context.
class HandlerSlab {
 public:
  static constexpr size_t kSmallBlockBytes = 128;
  static constexpr size_t kBlockBytes = 384;

  HandlerSlab() = default;
  HandlerSlab(const HandlerSlab&) = delete;
  HandlerSlab& operator=(const HandlerSlab&) = delete;
  ~HandlerSlab() {
    for (Block* list : {small_free_, free_}) {
      while (list != nullptr) ::operator delete(std::exchange(list, list->next));
    }
  }

  void* Allocate(size_t bytes) {
    if (bytes > kBlockBytes) return ::operator new(bytes);
    Block*& list = ListFor(bytes);
    if (list != nullptr) return std::exchange(list, list->next);
    return ::operator new(bytes <= kSmallBlockBytes ? kSmallBlockBytes : kBlockBytes);
  }
  // REQUIRES: `bytes` is what Allocate() was asked for.
  void Deallocate(void* p, size_t bytes) {
    if (bytes > kBlockBytes) {
      ::operator delete(p);
      return;
    }
    Block*& list = ListFor(bytes);
    list = new (p) Block{list};
  }

 private:
  struct Block {
    Block* next;
  };
  Block*& ListFor(size_t bytes) { return bytes <= kSmallBlockBytes ? small_free_ : free_; }

  Block* small_free_ = nullptr;
  Block* free_ = nullptr;
};

// The allocator Asio finds on a SlabHandler (its associated allocator).
template <typename T>
class SlabAllocator {
 public:
  using value_type = T;
  explicit SlabAllocator(HandlerSlab& slab) noexcept : slab_(&slab) {}
  template <typename U>
  SlabAllocator(const SlabAllocator<U>& other) noexcept : slab_(other.slab()) {}
  T* allocate(size_t n) { return static_cast<T*>(slab_->Allocate(sizeof(T) * n)); }
  void deallocate(T* p, size_t n) noexcept { slab_->Deallocate(p, sizeof(T) * n); }
  HandlerSlab* slab() const noexcept { return slab_; }
  template <typename U>
  bool operator==(const SlabAllocator<U>& o) const noexcept {
    return slab_ == o.slab();
  }
  template <typename U>
  bool operator!=(const SlabAllocator<U>& o) const noexcept {
    return slab_ != o.slab();
  }

 private:
  HandlerSlab* slab_;
};

// A completion handler whose operation memory comes from a HandlerSlab.
template <typename Handler>
class SlabHandler {
 public:
  using allocator_type = SlabAllocator<Handler>;
  SlabHandler(HandlerSlab& slab, Handler handler) : slab_(slab), handler_(std::move(handler)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(slab_); }
  template <typename... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerSlab& slab_;
  Handler handler_;
};

template <typename Handler>
SlabHandler<std::decay_t<Handler>> OnSlab(HandlerSlab& slab, Handler&& handler) {
  return SlabHandler<std::decay_t<Handler>>(slab, std::forward<Handler>(handler));
}

}  // namespace lagscale::proxy
