# -DLAGSCALE_SANITIZE=address: ASan + UBSan; =thread: TSan (see tsan.supp for the only
# suppressions: Debian's uninstrumented gRPC/abseil/upb/protobuf libraries).
# GCC's -Wmaybe-uninitialized gives false positives in libstdc++/Beast code once sanitizer
# instrumentation changes inlining; the plain build keeps the warning as an error.
if(NOT LAGSCALE_SANITIZE STREQUAL "" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-maybe-uninitialized)
endif()
# Sanitizer trees compile at -O1 with line tables only (-g1), after the build type's flags so these
# win: the sanitizers' own recommendation for reports with exact stacks, and the build CI spends
# most of its time on gets markedly faster (Beast coroutine units most of all).
if(NOT LAGSCALE_SANITIZE STREQUAL "")
  add_compile_options(-O1 -g1)
endif()
if(LAGSCALE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(LAGSCALE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  # GCC warns that TSan ignores atomic_thread_fence, which Boost.Asio uses internally. Our own
  # sequence lock switches to fence-free operations under TSan (metrics/src/ledger.cc).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=thread)
elseif(NOT LAGSCALE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "LAGSCALE_SANITIZE must be empty, 'address' or 'thread', not '${LAGSCALE_SANITIZE}'")
endif()
