#!/usr/bin/env bash
# gRPC passthrough overhead: h2load sends unary ModelInfer calls (h2c, gRPC-framed body) to the
# same minimal upstream directly, through lagscale's GrpcProxy with each engine (calls: two gRPC
# call stacks per call; frames: HTTP/2 frames forwarded by nghttp2) and through nginx's grpc_pass
# (the peer), interleaved; prints each one's calls/s, p99 and CPU time per call of the process in
# the middle (the upstream's own for "direct"), medians of REPS runs, and the ratios, all
# measured in the same run.
#
#   bench/grpc/run.sh                      # uses build/bin
#   N=50000 C=16 M=16 THREADS=2 REPS=3 bench/grpc/run.sh
#   UPSTREAM=testserver bench/grpc/run.sh  # lagscale-testserver as the upstream
#                                          # (SERVICE_TIME_MS, default 0)
# THREADS is both the passthrough's thread count and nginx's worker count.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bin="${LAGSCALE_BIN_DIR:-build/bin}"
host="$bin/lagscale-grpc-bench-host"
n="${N:-20000}"          # calls per run
c="${C:-8}"              # h2load connections
m="${M:-8}"              # concurrent streams per connection
threads="${THREADS:-2}"  # passthrough threads, nginx workers
reps="${REPS:-3}"
nginx="${NGINX:-/usr/sbin/nginx}"
upstream_kind="${UPSTREAM:-minimal}"  # minimal | testserver
command -v h2load >/dev/null || { echo "h2load missing (Debian nghttp2-client)" >&2; exit 1; }
[ -x "$nginx" ] || { echo "$nginx missing (Debian nginx-light)" >&2; exit 1; }
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

# cpu_ticks PID...: utime + stime of the processes, in clock ticks.
cpu_ticks() {
  local total=0 f
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat")
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# measure LABEL ADDR PID...: prints "rps p99_ms cpu_us_per_call" (CPU of the PIDs) and keeps
# h2load's summary in $work/LABEL.txt.
measure() {
  local label="$1" addr="$2"
  shift 2
  local before after
  before="$(cpu_ticks "$@")"
  h2load -n "$n" -c "$c" -m "$m" -t 1 -d "$work/request.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file "$work/$label.log" \
    "http://$addr/inference.GRPCInferenceService/ModelInfer" >"$work/$label.txt"
  after="$(cpu_ticks "$@")"
  grep -q "$n succeeded" "$work/$label.txt" || { cat "$work/$label.txt" >&2; exit 1; }
  local rps p99
  rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$work/$label.txt")"
  p99="$(cut -f3 "$work/$label.log" | sort -n |
         awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", v[i]/1000}')"
  awk -v r="$rps" -v p="$p99" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
    'BEGIN {printf "%s %s %.2f\n", r, p, t * 1e6 / hz / n}'
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
start proxy "$host" --proxy 127.0.0.1:0 --to "$upstream" --threads "$threads" --engine calls
proxy="$(address proxy proxy)"
start frames "$host" --proxy 127.0.0.1:0 --to "$upstream" --threads "$threads" --engine frames
frames="$(address frames proxy)"

# The peer: nginx's grpc_pass over h2c on both sides, upstream connections kept alive. By default
# nginx closes a connection after 1,000 requests (keepalive_requests), on either side, which
# h2load reports as failed calls: raised on both.
nginx_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/ng"
cat >"$work/ng/nginx.conf" <<CONF
worker_processes $threads;
daemon off;
error_log $work/ng/error.log;
pid $work/ng/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/ng/b; proxy_temp_path $work/ng/p; fastcgi_temp_path $work/ng/f;
  uwsgi_temp_path $work/ng/u; scgi_temp_path $work/ng/s;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  upstream grpc_upstream { server $upstream; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$nginx_port http2;
    location / { grpc_pass grpc://grpc_upstream; }
  }
}
CONF
start nginx "$nginx" -c "$work/ng/nginx.conf" -p "$work/ng"
for _ in $(seq 1 500); do
  (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && break
  sleep 0.01
done
nginx_pids() { echo "${pids_by_name[nginx]}" $(pgrep -P "${pids_by_name[nginx]}"); }

measure warmup "$proxy" "${pids_by_name[proxy]}" >/dev/null
measure warmup-frames "$frames" "${pids_by_name[frames]}" >/dev/null
measure warmup-nginx "127.0.0.1:$nginx_port" >/dev/null
: >"$work/results"
for _ in $(seq 1 "$reps"); do
  read -r -a nginx_pid_list <<< "$(nginx_pids)"
  {
    echo "direct $(measure direct "$upstream" "${pids_by_name[upstream]}")"
    echo "calls $(measure proxied "$proxy" "${pids_by_name[proxy]}")"
    echo "frames $(measure frames "$frames" "${pids_by_name[frames]}")"
    echo "nginx $(measure nginx "127.0.0.1:$nginx_port" "${nginx_pid_list[@]}")"
  } >>"$work/results"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v w="$1" -v k="$2" '$1 == w {print $k}' "$work/results" | median; }

echo "gRPC unary ModelInfer to the $upstream_kind upstream, $n calls, $c connections x $m streams," \
  "passthrough threads / nginx workers $threads, medians of $reps interleaved runs"
printf '%-10s %12s %10s %16s\n' "" "calls/s" "p99 ms" "CPU-us/call"
for who in direct calls frames nginx; do
  printf '%-10s %12.0f %10.3f %16.2f\n' "$who" "$(col $who 2)" "$(col $who 3)" "$(col $who 4)"
done
echo "(CPU of the process in the middle; for direct, of the upstream)"
for who in frames calls; do
  awk -v w="$who" -v sr="$(col $who 2)" -v nr="$(col nginx 2)" -v dr="$(col direct 2)" \
      -v sp="$(col $who 3)" -v np="$(col nginx 3)" -v sc="$(col $who 4)" -v nc="$(col nginx 4)" \
    'BEGIN {printf "%s/nginx: calls/s %.2fx  p99 %.2fx  CPU per call %.2fx   %s/direct calls/s %.2fx\n",
            w, sr/nr, sp/np, sc/nc, w, sr/dr}'
done

# The passthrough's own count must be exact: warm-up plus measured calls, none in flight.
for who in proxy frames; do
  kill -TERM "${pids_by_name[$who]}"; wait "${pids_by_name[$who]}" 2>/dev/null || true
  echo "$([ "$who" = proxy ] && echo calls || echo frames) $(grep '^ledger ' "$work/$who.err" || true)"
done
echo "expected: $(( n * (reps + 1) )) arrivals and successes each"
