#!/usr/bin/env bash
# lagscale's benchmark suite: one entry point that builds Release and prints every table the
# README's "Performance" section holds. Every comparison is measured in the same run.
#
#   bench/run.sh            # everything (about 15 minutes on 2 cores)
#   bench/run.sh proxy sim  # only some parts: ledger proxy grpc llm memory coordinator sim
#   bench/run.sh --build-only [parts]  # build what the parts need, run nothing (CI does this)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_only=0
if [ "${1:-}" = "--build-only" ]; then
  build_only=1
  shift
fi
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(ledger proxy grpc llm memory coordinator sim)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

scripts/install-deps.sh
# LAGSCALE_BUILD_DIR reuses an existing build tree as it is configured (e.g. build/); by default
# the Release tree of scripts/configure.sh, shared with scripts/demo.sh.
if [ -n "${LAGSCALE_BUILD_DIR:-}" ]; then
  build="$LAGSCALE_BUILD_DIR"
else
  build="$(scripts/configure.sh release)"
fi
ninja -C "$build" -j2 lagscale-sidecar lagscale-coordinator lagscale-testserver lagscale-sim \
  lagscale_metrics_bench lagscale_coordinator_bench lagscale_proxy_bench lagscale-grpc-bench-host \
  lagscale-floor-relay \
  >/dev/null
bin="$PWD/$build/bin"
if want proxy; then
  # The accounting-overhead run needs a sidecar with the ledger compiled out, built with the
  # measured tree's build type; always in build-noacct/, whatever LAGSCALE_BUILD_DIR says.
  noacct="$(LAGSCALE_BUILD_DIR=build-noacct scripts/configure.sh noacct \
    -DCMAKE_BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")")"
  ninja -C "$noacct" -j2 lagscale-sidecar >/dev/null
fi
if [ "$build_only" = 1 ]; then
  echo "bench/run.sh: built $build${noacct:+ and $noacct}; --build-only, no benchmark run"
  exit 0
fi

echo "# lagscale benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), revision $(git rev-parse --short HEAD)"
echo "build: $build ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt"))"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo

if want ledger; then
  echo "## Ledger: one request's accounting (Begin + End), 1..8 threads"
  "$bin/lagscale_metrics_bench" --benchmark_min_time=0.5 2>/dev/null | grep -E '^BM_'
  echo
fi
if want proxy; then
  echo "## HTTP/1.1 proxy: sidecar vs nginx vs haproxy vs a byte relay with no HTTP (the floor),"
  echo "## one worker/thread each, same upstream,"
  echo "## with the accounting-overhead (noacct) runs interleaved, then the scrape cost in one run"
  BUILD_DIR="$PWD/$build" NOACCT_SIDECAR="$PWD/$noacct/bin/lagscale-sidecar" SCRAPE=1 \
    bench/proxy/run.sh 2>/dev/null
  echo
fi
if want grpc; then
  echo "## gRPC passthrough vs nginx grpc_pass vs direct (h2load)"
  LAGSCALE_BIN_DIR="$bin" bench/grpc/run.sh
  echo
fi
if want llm; then
  echo "## LLM traffic: streamed chat completions, sidecar vs nginx; the model scan's share"
  /usr/bin/python3 bench/llm/run.py --bin-dir "$bin"
  echo "## The body scanner alone: 1 MiB chat requests, model last, in 16 KiB pieces"
  "$bin/lagscale_proxy_bench" --benchmark_min_time=0.5 2>/dev/null | grep -E '^BM_'
  echo
fi
if want memory; then
  echo "## Sidecar memory"
  /usr/bin/python3 bench/memory/run.py "$bin" | tail -3
  echo
fi
if want coordinator; then
  echo "## Coordinator: ingest rate and decision-cycle time"
  "$bin/lagscale_coordinator_bench" --benchmark_min_time=0.5 2>/dev/null | grep -E '^BM_'
  echo "## Coordinator memory at the default report limits' worst case (fails above the chart's limit)"
  /usr/bin/python3 bench/coordinator/memory.py "$bin" --groups 5 --seconds 60 --limit-mib 1024 2>/dev/null ||
    echo "(over the limit)"
  echo
fi
if want sim; then
  echo "## Policies on demand traces (lagscale-sim, virtual clock)"
  LAGSCALE_SIM="$bin/lagscale-sim" bench/sim/run.sh || true  # exits 1 when a goal is missed; the table says which
fi
