# -DLAGSCALE_FUZZ=ON: a clang build tree for the libFuzzer targets in tests/fuzz. Everything in it
# is compiled with coverage feedback, ASan and UBSan; only the fuzz targets link libFuzzer's main.
# The GoogleTest suites and benchmarks are left out (they have their own build trees), and the
# fuzz targets link only what they exercise (no gRPC: see tests/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "LAGSCALE_FUZZ=ON needs clang (libFuzzer), e.g. -DCMAKE_CXX_COMPILER=clang++-14 "
                      "-DCMAKE_C_COMPILER=clang-14; this tree uses ${CMAKE_CXX_COMPILER_ID}")
endif()
if(NOT LAGSCALE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "LAGSCALE_FUZZ=ON brings its own sanitizers; leave LAGSCALE_SANITIZE empty")
endif()
set(LAGSCALE_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LAGSCALE_BUILD_BENCH OFF CACHE BOOL "" FORCE)
# -O1 with line tables, as in the sanitizer trees (cmake/Sanitizers.cmake): exact stacks in reports,
# a quicker build. UBSan's `function` check is left out: clang 14 cannot compile a C++20 coroutine
# with it ("Cannot represent a difference across sections", the coordinator's HTTP server), and it
# only checks indirect calls through a function pointer of the wrong type, which this code makes
# nowhere (virtual calls keep the `vptr` check).
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g1)
add_link_options(-fsanitize=address,undefined)
