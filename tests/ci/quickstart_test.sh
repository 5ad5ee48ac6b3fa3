#!/usr/bin/env bash
# The README's Quick start and CI cannot drift apart: .ci/run runs exactly the lines .ci/quickstart
# extracts from the README (the demo with --ci), and those lines are the two documented commands,
# each an executable script of this repository. Prints "N passed, M failed".
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
passed=0 failed=0
check() {  # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $what" >&2
  fi
}

mapfile -t commands < <(.ci/quickstart)
check "the README's Quick start block lists scripts/demo.sh then scripts/test.sh (got: ${commands[*]:-nothing})" \
  test "${commands[*]:-}" = "scripts/demo.sh scripts/test.sh"
for c in "${commands[@]}"; do
  script="${c%% *}"
  check "$script exists and is executable" test -x "$script"
done
check ".ci/run takes its commands from .ci/quickstart" grep -q '< <(.ci/quickstart)' .ci/run
check ".ci/run runs each extracted line as written (only the demo gains --ci)" \
  grep -q 'step "README Quick start: $command" bash -c "$command"' .ci/run
check ".ci/run turns warnings into errors in every tree it builds" \
  grep -q 'scripts/configure.sh "$tree" -DLAGSCALE_WERROR=ON' .ci/run
check "the user's default build does not treat warnings as errors" \
  grep -q 'option(LAGSCALE_WERROR "[^"]*" OFF)' CMakeLists.txt
# The demo and the benchmarks share one Release tree, so CI's bench build proves the demo's too.
check "scripts/demo.sh and bench/run.sh configure the same Release tree" \
  bash -c 'grep -q "scripts/configure.sh release" scripts/demo.sh && grep -q "scripts/configure.sh release" bench/run.sh'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
