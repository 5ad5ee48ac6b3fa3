#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace lagscale::proxy {

// HandlerSlab: recycles the memory of completion handlers on one I/O thread. Asio keeps a single
// spare block per thread, but a proxied exchange has four or five operations outstanding at once
// (client read and write, upstream read and write, the idle-pool watch), so without this every
// request would allocate. Blocks are never returned to the heap while the slab lives.
// Thread safety: none; one slab per I/O thread, which must outlive its io_context.
class HandlerSlab {
 public:
  static constexpr size_t kBlockBytes = 384;

  HandlerSlab() = default;
  HandlerSlab(const HandlerSlab&) = delete;
  HandlerSlab& operator=(const HandlerSlab&) = delete;
  ~HandlerSlab() {
    while (free_ != nullptr) ::operator delete(std::exchange(free_, free_->next));
  }

  void* Allocate(size_t bytes) {
    if (bytes > kBlockBytes) return ::operator new(bytes);
    if (free_ != nullptr) return std::exchange(free_, free_->next);
    return ::operator new(kBlockBytes);
  }
  void Deallocate(void* p, size_t bytes) {
    if (bytes > kBlockBytes) {
      ::operator delete(p);
      return;
    }
    free_ = new (p) Block{free_};
  }

 private:
  struct Block {
    Block* next;
  };
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
