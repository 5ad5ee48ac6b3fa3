#!/usr/bin/env bash
# The whole-stack soak: two sidecars (HTTP and gRPC), a coordinator restarted halfway, Prometheus
# scraping, mixed traffic with client aborts, upstream resets and upstream errors; it ends by
# checking that the clients, every sidecar's ledger, Prometheus and the coordinator agree exactly
# and that the sidecars' memory stayed flat (tests/integration/stack_soak.cc).
#
#   scripts/soak.sh            # 30 minutes
#   scripts/soak.sh 180        # any number of seconds (CI runs 3 minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-1800}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 60 ]; then
  echo "usage: scripts/soak.sh [SECONDS >= 60]" >&2
  exit 2
fi

scripts/install-deps.sh
build_dir="$(scripts/configure.sh test)"
ninja -C "$build_dir" -j"${LAGSCALE_JOBS:-2}" lagscale_it_stack_soak
LAGSCALE_SOAK_SECONDS="$seconds" ctest --test-dir "$build_dir" --output-on-failure -V \
  -L soak -R StackSoak --no-tests=error --timeout $((seconds + 300))
