#!/usr/bin/env bash
# Builds the libFuzzer targets in their own clang tree (build-fuzz/, once) and fuzzes each one for
# the given number of seconds, starting from its committed seed corpus (tests/fuzz/corpus/<name>),
# LAGSCALE_JOBS targets at a time (default 2).
# New inputs go to build-fuzz/fuzz-corpus/<name> (kept between runs); a crash or invariant failure
# leaves its input in build-fuzz/fuzz-artifacts/ and makes the script exit non-zero.
#
#   tests/fuzz/run.sh [seconds-per-target]        # default 60
#   tests/fuzz/run.sh --only http_request 300     # one target
#   LAGSCALE_FUZZ_BUILD_DIR=/tmp/bf tests/fuzz/run.sh 45
#   build-fuzz/bin/fuzz_<name> <file>...          # replays inputs (e.g. a crash) without fuzzing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

build_dir="${LAGSCALE_FUZZ_BUILD_DIR:-build-fuzz}"
build=1
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) break ;;
  esac
done
seconds="${1:-60}"
jobs="${LAGSCALE_JOBS:-2}"

if [[ $build == 1 ]]; then
  # The fuzz tree's flags live with every other tree's, in scripts/configure.sh.
  LAGSCALE_BUILD_DIR="$build_dir" scripts/configure.sh fuzz >/dev/null
  start=$(date +%s)
  ninja -C "$build_dir" -j"$jobs" fuzzers
  echo "fuzz: build took $(($(date +%s) - start)) s"
fi

targets=()
for src in tests/fuzz/*_fuzz.cc; do
  name=$(basename "$src" _fuzz.cc)
  [[ -z "$only" || "$only" == "$name" ]] && targets+=("$name")
done
[[ ${#targets[@]} -gt 0 ]] || { echo "fuzz: no target named '$only'" >&2; exit 2; }

# ASan/UBSan stop at the first error; leaks are checked too (LeakSanitizer, on by default).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1 halt_on_error=1}"
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
# fuzz_one NAME: fuzzes one target; its outcome goes to $results/NAME (ok, or failed after its
# log's last lines), so that targets can run side by side.
fuzz_one() {
  local name="$1" work="$build_dir/fuzz-corpus/$1" log="$build_dir/fuzz-$1.log"
  mkdir -p "$work"
  # -max_len: HTTP inputs up to 16 KiB (pipelined requests, bodies); -timeout: one input.
  if "$build_dir/bin/fuzz_$name" -max_total_time="$seconds" -max_len=16384 -timeout=30 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
      "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$log" | tr '\n' ' ' |
      sed "s/^/fuzz: $name ok: /; s/\$/\n/" || true
    echo ok >"$results/$name"
  else
    # One write, so that a target running alongside does not split it.
    printf 'fuzz: %s FAILED; the last lines of %s:\n%s\n' "$name" "$log" "$(tail -n 40 "$log")" >&2
    echo failed >"$results/$name"
  fi
}

# One target per core at a time (LAGSCALE_JOBS, default 2): each is a single-threaded process,
# and each still gets its whole time.
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
running=0
for name in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzz: $name for ${seconds} s (log: $build_dir/fuzz-$name.log)"
  fuzz_one "$name" &
  running=$((running + 1))
done
wait
failed=()
for name in "${targets[@]}"; do
  [[ "$(cat "$results/$name" 2>/dev/null)" == ok ]] || failed+=("$name")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failures in: ${failed[*]} (inputs in $artifacts)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a finding"
