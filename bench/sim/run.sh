#!/usr/bin/env bash
# Runs lagscale-sim over every trace in bench/traces/ and prints the results and the goal table
# (Markdown, as recorded in docs/policies.md), each number the mean over the seeds in SEEDS
# (default 1..5: Poisson arrivals differ per seed, every policy sees the same arrivals for a seed).
# Replica start-up is drawn from 8-20 s per replica (seeded) unless LAGSCALE_STARTUP_DELAY and
# LAGSCALE_STARTUP_DELAY_MAX say otherwise. Extra arguments go to every lagscale-sim run.
# Exit status 1 when a goal is not met.
#   bench/sim/run.sh                      # defaults
#   TRACES=extra bench/sim/run.sh         # bench/traces/extra/ instead (make_traces.py writes both)
#   LAGSCALE_SIM=/path/to/lagscale-sim bench/sim/run.sh --startup-delay 30s
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sim=${LAGSCALE_SIM:-$root/build/bin/lagscale-sim}
[ -x "$sim" ] || { echo "run.sh: $sim not built (ninja -C build lagscale-sim)" >&2; exit 2; }
export LAGSCALE_STARTUP_DELAY=${LAGSCALE_STARTUP_DELAY:-8s}
export LAGSCALE_STARTUP_DELAY_MAX=${LAGSCALE_STARTUP_DELAY_MAX:-20s}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for trace in "$root"/bench/traces/${TRACES:+$TRACES/}*.csv; do
  name=$(basename "$trace" .csv)
  for seed in ${SEEDS:-1 2 3 4 5}; do
    "$sim" --trace "$trace" --json --seed "$seed" "$@" > "$out/$name.$seed.json"
  done
done
python3 "$here/goals.py" "$out"
