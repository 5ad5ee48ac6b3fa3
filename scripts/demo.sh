#!/usr/bin/env bash
# The closed-loop demo on one machine: installs what is missing, builds (Release), then runs the
# V2 test server, two sidecars in front of it (two "pods" of one server) and the coordinator, whose
# webhook actuator changes the test server's capacity; a load generator drives a ramp, a burst and
# a quiet period while the terminal shows lag and replicas. Ctrl-C stops everything.
#
#   scripts/demo.sh        interactive: live display, then the status page stays up until Ctrl-C
#   scripts/demo.sh --ci   non-interactive: fails unless the loop scaled up within 2 s of the burst
#                          and back down after it
#   scripts/demo.sh --llm  the same loop with LLM models: streamed OpenAI-compatible chat
#                          completions, tokens/s and time to first token (with --ci: also fails
#                          unless the coordinator's token totals equal the clients' exactly)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
# The Release tree bench/run.sh also uses (scripts/configure.sh); the demo builds only its binaries.
build_dir="$(scripts/configure.sh release)"
ninja -C "$build_dir" -j"${LAGSCALE_JOBS:-2}" lagscale-sidecar lagscale-coordinator lagscale-testserver
exec /usr/bin/python3 scripts/demo.py --bin-dir "$build_dir/bin" "$@"
