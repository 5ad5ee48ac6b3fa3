#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the default test suite: unit, integration
# and chart tests (the soak and fuzz labels are left to their own targets).
#
#   scripts/test.sh                      # RelWithDebInfo build in build/ (scripts/configure.sh)
#   LAGSCALE_SANITIZE=address scripts/test.sh   # ASan+UBSan build in build-address/
#   LAGSCALE_SANITIZE=thread scripts/test.sh    # TSan build in build-thread/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sanitize="${LAGSCALE_SANITIZE:-}"
jobs="${LAGSCALE_JOBS:-2}"

scripts/install-deps.sh
build_dir="$(scripts/configure.sh "${sanitize:-test}")"
ninja -C "$build_dir" -j"$jobs"

export TSAN_OPTIONS="suppressions=$PWD/tsan.supp halt_on_error=1 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp ${LSAN_OPTIONS:-}"
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" -LE 'soak|fuzz|bench|browser' --timeout 300
