#!/usr/bin/env bash
# gRPC passthrough overhead: h2load sends unary ModelInfer calls (h2c, gRPC-framed body) to the
# same minimal upstream directly and through lagscale's GrpcProxy, and prints RPS and p99 of both
# and their ratios, measured in the same run.
#
#   bench/grpc/run.sh                      # uses build/bin
#   N=50000 C=16 M=16 THREADS=2 bench/grpc/run.sh
#   UPSTREAM=testserver bench/grpc/run.sh  # lagscale-testserver as the upstream
#                                          # (SERVICE_TIME_MS, default 0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bin="${LAGSCALE_BIN_DIR:-build/bin}"
host="$bin/lagscale-grpc-bench-host"
n="${N:-20000}"          # calls per run
c="${C:-8}"              # h2load connections
m="${M:-8}"              # concurrent streams per connection
threads="${THREADS:-2}"  # passthrough threads
upstream_kind="${UPSTREAM:-minimal}"  # minimal | testserver
command -v h2load >/dev/null || { echo "h2load missing (Debian nghttp2-client)" >&2; exit 1; }
[ -x "$host" ] || { echo "$host missing: ninja -C build lagscale-grpc-bench-host" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME PROGRAM ARGS...: runs PROGRAM in the background (its pid in pids_by_name[NAME]).
declare -A pids_by_name
start() {
  local name="$1"; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=("$!")
  pids_by_name[$name]=$!
}
# address NAME KEY: waits for NAME's ready line and prints its KEY=host:port address.
address() {
  local name="$1" key="$2"
  for _ in $(seq 1 500); do
    if grep -q ' ready ' "$work/$name.out" 2>/dev/null; then
      grep ' ready ' "$work/$name.out" | tr ' ' '\n' | sed -n "s/^$key=//p"
      return
    fi
    sleep 0.01
  done
  echo "$name did not become ready" >&2; cat "$work/$name.err" >&2; exit 1
}

# measure LABEL ADDR: prints "rps p99_ms" and keeps h2load's summary in $work/LABEL.txt.
measure() {
  local label="$1" addr="$2"
  h2load -n "$n" -c "$c" -m "$m" -t 1 -d "$work/request.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file "$work/$label.log" \
    "http://$addr/inference.GRPCInferenceService/ModelInfer" >"$work/$label.txt"
  grep -q "$n succeeded" "$work/$label.txt" || { cat "$work/$label.txt" >&2; exit 1; }
  local rps p99
  rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$work/$label.txt")"
  p99="$(cut -f3 "$work/$label.log" | sort -n |
         awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", v[i]/1000}')"
  echo "$rps $p99"
}

"$host" --write-request "$work/request.bin" --model iris --payload-bytes 64
if [ "$upstream_kind" = testserver ]; then
  start upstream "$bin/lagscale-testserver" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
    --service-time-ms "${SERVICE_TIME_MS:-0}" --concurrency 0 --log-level warn
  upstream="$(address upstream grpc)"
else
  start upstream "$host" --upstream 127.0.0.1:0
  upstream="$(address upstream upstream)"
fi
start proxy "$host" --proxy 127.0.0.1:0 --to "$upstream" --threads "$threads"
proxy="$(address proxy proxy)"

measure warmup "$proxy" >/dev/null
read -r direct_rps direct_p99 < <(measure direct "$upstream")
read -r proxy_rps proxy_p99 < <(measure proxied "$proxy")

echo "gRPC unary ModelInfer to the $upstream_kind upstream, $n calls, $c connections x $m streams," \
  "passthrough threads $threads"
printf '%-10s %12s %10s\n' "" "req/s" "p99 ms"
printf '%-10s %12s %10s\n' direct "$direct_rps" "$direct_p99"
printf '%-10s %12s %10s\n' proxied "$proxy_rps" "$proxy_p99"
awk -v a="$proxy_rps" -v b="$direct_rps" -v c="$proxy_p99" -v d="$direct_p99" \
  'BEGIN {printf "ratio      rps proxied/direct %.2f   p99 proxied/direct %.2f\n", a/b, c/d}'

# The passthrough's own count must be exact: warm-up plus measured calls, none in flight.
kill -TERM "${pids_by_name[proxy]}"; wait "${pids_by_name[proxy]}" 2>/dev/null || true
grep '^ledger ' "$work/proxy.err" || true
