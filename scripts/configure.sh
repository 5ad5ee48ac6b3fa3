#!/usr/bin/env bash
# The project's build trees and their CMake flags, in one place. Every script that builds calls
# this, so a tree is always configured the same way whoever builds it:
#
#   scripts/configure.sh TREE [extra cmake arguments]    prints the tree's directory
#
#   test      build/          RelWithDebInfo, tests and benchmarks      scripts/test.sh
#   address   build-address/  RelWithDebInfo, ASan+UBSan, tests         LAGSCALE_SANITIZE=address scripts/test.sh
#   thread    build-thread/   RelWithDebInfo, TSan, tests               LAGSCALE_SANITIZE=thread scripts/test.sh
#   release   build-release/  Release, benchmarks, no tests             scripts/demo.sh, bench/run.sh
#   noacct    build-noacct/   as release, ledger compiled out (sidecar) bench/run.sh proxy
#   fuzz      build-fuzz/     clang 14, libFuzzer + ASan + UBSan         tests/fuzz/run.sh
#
# Extra arguments stay in the tree's CMake cache (CI passes -DLAGSCALE_WERROR=ON once; later
# configurations without it keep it). LAGSCALE_BUILD_DIR overrides the directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tree="${1:?usage: scripts/configure.sh test|address|thread|release|noacct [cmake args]}"
shift
# The test and fuzz trees keep line tables (-g1: file and line in every backtrace and sanitizer
# report) but not the variables' debug information, which took 28 % of a test's compile time
# (36 s -> 26 s for leader_election_test.cc); the sanitizer trees do the same in
# cmake/Sanitizers.cmake. Debugging needs a tree of one's own (-DCMAKE_BUILD_TYPE=Debug).
line_tables=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
             -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
case "$tree" in
  test) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${line_tables[@]}" -DLAGSCALE_SANITIZE= -DLAGSCALE_BUILD_TESTS=ON -DLAGSCALE_BUILD_BENCH=ON) ;;
  address | thread)
    dir=build-$tree
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DLAGSCALE_SANITIZE=$tree" -DLAGSCALE_BUILD_TESTS=ON -DLAGSCALE_BUILD_BENCH=OFF) ;;
  release) dir=build-release; flags=(-DCMAKE_BUILD_TYPE=Release -DLAGSCALE_BUILD_TESTS=OFF -DLAGSCALE_BUILD_BENCH=ON) ;;
  noacct)
    dir=build-noacct
    flags=(-DCMAKE_BUILD_TYPE=Release -DLAGSCALE_BUILD_TESTS=OFF -DLAGSCALE_BUILD_BENCH=OFF -DLAGSCALE_BENCH_NO_ACCOUNTING=ON) ;;
  fuzz)
    dir=build-fuzz
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${line_tables[@]}" -DLAGSCALE_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14) ;;
  *) echo "scripts/configure.sh: unknown tree '$tree' (test, address, thread, release, noacct, fuzz)" >&2; exit 2 ;;
esac
dir="${LAGSCALE_BUILD_DIR:-$dir}"
cmake -S . -B "$dir" -G Ninja "${flags[@]}" "$@" >/dev/null
echo "$dir"
