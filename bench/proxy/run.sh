#!/usr/bin/env bash
# Macro benchmark of the HTTP/1.1 path: wrk against lagscale-sidecar, nginx and haproxy, each with
# one thread/worker, all in front of the same nginx upstream; interleaved repetitions; prints each
# proxy's CPU time per request (the headline: what a proxy costs in a pod), median RPS, p50/p99
# latency and idle RSS, then the ratios. The floor, lagscale-floor-relay (a byte relay that does
# no HTTP), runs in the same repetitions: no proxy can spend less CPU per request than it does.
#
#   bench/proxy/run.sh                 # 3 repetitions x 10 s per (proxy, connections) cell
#   DURATION=3 REPS=1 bench/proxy/run.sh   # a quick check that everything works
#
# Env: BUILD_DIR (default build), DURATION (s), REPS, CONNS ("32 128"), MODELS (8), BODY_BYTES (300),
#   RELAY (default $BUILD_DIR/bin/lagscale-floor-relay; skipped with a note when not built).
#   NOACCT_SIDECAR=path: also run a sidecar built with -DLAGSCALE_BENCH_NO_ACCOUNTING=ON ("noacct")
#                        and print the accounting overhead (sidecar vs noacct, same run).
#   SCRAPE=1:            also measure what a Prometheus-like scraper (one keep-alive connection,
#                        /metrics every 100 ms) costs the loaded sidecar: one wrk run of
#                        SCRAPE_SECONDS (60) whose 2-s phases alternate scraped and quiet, each
#                        counted by the sidecar's own ledger (bench/proxy/scrape_cost.py). Two
#                        separate runs cannot show it: consecutive runs differ by 10 % and more.
# With two or more cores the proxy under test is pinned to CPU 0 and wrk plus the upstream to
# CPU 1 (taskset), so the proxies compete for the same, separate core.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SIDECAR=$BUILD_DIR/bin/lagscale-sidecar
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-"32 128"}
MODELS=${MODELS:-8}
BODY_BYTES=${BODY_BYTES:-300}
NGINX=${NGINX:-/usr/sbin/nginx}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
for tool in "$SIDECAR" "$NGINX" "$HAPROXY" "$(command -v wrk)"; do
  [ -x "$tool" ] || { echo "missing $tool (build lagscale-sidecar; apt-get install nginx-light haproxy wrk)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/lagscale-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$(nproc)" -ge 2 ]; then
  PROXY_CPU=(taskset -c 0)
  LOAD_CPU=(taskset -c 1)
else
  PROXY_CPU=()
  LOAD_CPU=()
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # wait until something accepts on 127.0.0.1:$1
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
nginx_common() {  # $1 = directory
  cat <<CONF
worker_processes 1;
daemon off;
error_log $1/error.log;
pid $1/nginx.pid;
events { worker_connections 8192; }
CONF
}
nginx_http_common() {
  cat <<CONF
  access_log off;
  client_body_temp_path $1/b; proxy_temp_path $1/p; fastcgi_temp_path $1/f;
  uwsgi_temp_path $1/u; scgi_temp_path $1/s;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
CONF
}

# The shared upstream: nginx answering every inference request with a small JSON body.
UP_PORT=$(free_port)
mkdir -p "$WORK/up"
{ nginx_common "$WORK/up"; echo "http {"; nginx_http_common "$WORK/up"
  cat <<CONF
  server {
    listen 127.0.0.1:$UP_PORT backlog=4096;
    location / { return 200 '{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[0.5]}]}'; }
  }
}
CONF
} > "$WORK/up/nginx.conf"
"${LOAD_CPU[@]}" "$NGINX" -c "$WORK/up/nginx.conf" -p "$WORK/up" & PIDS+=($!)
wait_port "$UP_PORT"

# Proxy 1: lagscale-sidecar, one I/O thread.
"${PROXY_CPU[@]}" "$SIDECAR" --listen 127.0.0.1:0 --upstream "127.0.0.1:$UP_PORT" --admin 127.0.0.1:0 \
  --grpc-listen "" --threads 1 > "$WORK/sidecar.out" 2> "$WORK/sidecar.err" & SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
for _ in $(seq 200); do grep -q ready "$WORK/sidecar.out" 2>/dev/null && break; sleep 0.05; done
SIDECAR_PORT=$(grep -o 'http=[^ ]*' "$WORK/sidecar.out" | sed 's/.*://')
SIDECAR_ADMIN=$(grep -o 'admin=[^ ]*' "$WORK/sidecar.out" | sed 's/admin=//')

PROXIES="sidecar nginx haproxy"
# Optional: the same sidecar with its accounting compiled out, for the overhead measurement.
if [ -n "${NOACCT_SIDECAR:-}" ]; then
  "${PROXY_CPU[@]}" "$NOACCT_SIDECAR" --listen 127.0.0.1:0 --upstream "127.0.0.1:$UP_PORT" \
    --admin 127.0.0.1:0 --grpc-listen "" --threads 1 > "$WORK/noacct.out" 2> "$WORK/noacct.err" &
  NOACCT_PID=$!
  PIDS+=("$NOACCT_PID")
  for _ in $(seq 200); do grep -q ready "$WORK/noacct.out" 2>/dev/null && break; sleep 0.05; done
  NOACCT_PORT=$(grep -o 'http=[^ ]*' "$WORK/noacct.out" | sed 's/.*://')
  PROXIES="$PROXIES noacct"
fi

# Proxy 2: nginx, one worker, upstream keep-alive.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/ng"
{ nginx_common "$WORK/ng"; echo "http {"; nginx_http_common "$WORK/ng"
  cat <<CONF
  upstream inference { server 127.0.0.1:$UP_PORT; keepalive 512; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://inference;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
} > "$WORK/ng/nginx.conf"
"${PROXY_CPU[@]}" "$NGINX" -c "$WORK/ng/nginx.conf" -p "$WORK/ng" & NGINX_PID=$!
PIDS+=("$NGINX_PID")

# Proxy 3: haproxy, one thread, server-side connection reuse.
HAPROXY_PORT=$(free_port)
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 300s
  timeout server 300s
  http-reuse always
frontend bench
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend inference
backend inference
  server up 127.0.0.1:$UP_PORT
CONF
"${PROXY_CPU[@]}" "$HAPROXY" -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.log" 2>&1 & HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
wait_port "$SIDECAR_PORT"; wait_port "$NGINX_PORT"; wait_port "$HAPROXY_PORT"

# The floor: lagscale-floor-relay moves each connection's bytes to a paired upstream connection
# and does nothing else (no HTTP), so its CPU per request is the least any proxy spends here.
RELAY=${RELAY:-$BUILD_DIR/bin/lagscale-floor-relay}
if [ -x "$RELAY" ]; then
  "${PROXY_CPU[@]}" "$RELAY" --upstream-port "$UP_PORT" > "$WORK/relay.out" & RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  for _ in $(seq 200); do grep -q '^port ' "$WORK/relay.out" 2>/dev/null && break; sleep 0.05; done
  RELAY_PORT=$(awk '/^port / {print $2}' "$WORK/relay.out")
  wait_port "$RELAY_PORT"
  PROXIES="$PROXIES relay"
else
  echo "no $RELAY (ninja lagscale-floor-relay): the floor is not measured" >&2
fi

# The processes whose CPU and memory count for each proxy (nginx: master and its worker).
pids_of() {
  case $1 in
    sidecar) echo "$SIDECAR_PID" ;;
    noacct) echo "$NOACCT_PID" ;;
    nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
    haproxy) echo "$HAPROXY_PID $(pgrep -P "$HAPROXY_PID" | tr '\n' ' ')" ;;
    relay) echo "$RELAY_PID" ;;
  esac
}
port_of() {
  case $1 in sidecar) echo "$SIDECAR_PORT" ;; noacct) echo "$NOACCT_PORT" ;; nginx) echo "$NGINX_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; relay) echo "$RELAY_PORT" ;; esac
}
cpu_ticks() {  # utime + stime of the given pids, in clock ticks
  local total=0
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat")
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
rss_kib() {  # $1 = VmRSS or RssAnon (the part not shared with other processes' library pages)
  local key=$1 total=0
  shift
  for pid in "$@"; do
    total=$((total + $(awk -v k="$key:" '$1 == k {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# wrk script: POST /v2/models/m<k>/infer round-robin over MODELS models with a BODY_BYTES body.
cat > "$WORK/infer.lua" <<LUA
local body = '{"inputs":[{"name":"x","datatype":"BYTES","shape":[1],"data":["' ..
             string.rep("a", $BODY_BYTES - 56) .. '"]}]}'
local requests = {}
for k = 0, $MODELS - 1 do
  requests[k] = wrk.format("POST", "/v2/models/m" .. k .. "/infer",
                           {["Host"] = "bench", ["Content-Type"] = "application/json"}, body)
end
local n = 0
request = function()
  n = n + 1
  return requests[n % $MODELS]
end
LUA

declare -A IDLE_RSS IDLE_ANON
for p in $PROXIES; do
  read -r -a pids <<< "$(pids_of "$p")"
  IDLE_RSS[$p]=$(rss_kib VmRSS "${pids[@]}")
  IDLE_ANON[$p]=$(rss_kib RssAnon "${pids[@]}")
done

# Warm every proxy's upstream pool once, then the interleaved runs.
for p in $PROXIES; do
  "${LOAD_CPU[@]}" wrk -t1 -c32 -d1s -s "$WORK/infer.lua" "http://127.0.0.1:$(port_of "$p")/" > /dev/null
done
TICK=$(getconf CLK_TCK)
RESULTS=$WORK/results.tsv
: > "$RESULTS"
for rep in $(seq "$REPS"); do
  for c in $CONNS; do
    for p in $PROXIES; do
      read -r -a pids <<< "$(pids_of "$p")"
      before=$(cpu_ticks "${pids[@]}")
      out=$("${LOAD_CPU[@]}" wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$WORK/infer.lua" \
            "http://127.0.0.1:$(port_of "$p")/")
      after=$(cpu_ticks "${pids[@]}")
      requests=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
      errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
      to_us() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000} }'; }
      p50=$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')")
      p99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
      cpu_us=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$requests" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$p" "$c" "$rps" "$p50" "$p99" "$cpu_us" "$errors" >> "$RESULTS"
      printf "rep %d  %-8s c=%-4s %10.0f rps  p50 %6.0f us  p99 %7.0f us  %6s cpu-us/req %s\n" \
        "$rep" "$p" "$c" "$rps" "$p50" "$p99" "$cpu_us" "$errors" >&2
    done
  done
done

median() { sort -g | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
col() { awk -F'\t' -v p="$1" -v c="$2" -v k="$3" '$1==p && $2==c {print $k}' "$RESULTS" | median; }

echo
echo "HTTP/1.1 proxies, one thread each, in front of one nginx upstream; $REPS x ${DURATION}s per cell, medians"
printf "| proxy | conns | CPU-us/request | RPS | p50 (us) | p99 (us) | idle RSS (MiB) | of it anonymous (MiB) |\n"
printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
for c in $CONNS; do
  for p in $PROXIES; do
    printf "| %s | %s | %.2f | %.0f | %.0f | %.0f | %.1f | %.1f |\n" "$p" "$c" "$(col "$p" "$c" 6)" \
      "$(col "$p" "$c" 3)" "$(col "$p" "$c" 4)" "$(col "$p" "$c" 5)" \
      "$(awk -v k="${IDLE_RSS[$p]}" 'BEGIN {print k/1024}')" \
      "$(awk -v k="${IDLE_ANON[$p]}" 'BEGIN {print k/1024}')"
  done
done
echo
for c in $CONNS; do
  awk -v c="$c" -v s="$(col sidecar "$c" 3)" -v n="$(col nginx "$c" 3)" -v h="$(col haproxy "$c" 3)" \
      -v sp="$(col sidecar "$c" 5)" -v np="$(col nginx "$c" 5)" -v hp="$(col haproxy "$c" 5)" \
      -v sc="$(col sidecar "$c" 6)" -v nc="$(col nginx "$c" 6)" -v hc="$(col haproxy "$c" 6)" \
      'BEGIN { printf "c=%s: CPU/request sidecar/nginx %.2fx, sidecar/haproxy %.2fx, sidecar/better of the two %.2fx; RPS sidecar/nginx %.2fx, sidecar/haproxy %.2fx; p99 sidecar/nginx %.2fx, sidecar/haproxy %.2fx\n", c, sc/nc, sc/hc, sc/(nc < hc ? nc : hc), s/n, s/h, sp/np, sp/hp }'
done
for c in $CONNS; do
  if [[ " $PROXIES " == *" relay "* ]]; then
    awk -v c="$c" -v rc="$(col relay "$c" 6)" -v nc="$(col nginx "$c" 6)" -v hc="$(col haproxy "$c" 6)" \
        -v sc="$(col sidecar "$c" 6)" -v r="$(col relay "$c" 3)" -v n="$(col nginx "$c" 3)" \
        -v rp="$(col relay "$c" 5)" -v np="$(col nginx "$c" 5)" \
        'BEGIN { printf "c=%s: floor (a byte relay, no HTTP): CPU/request relay/better of nginx and haproxy %.2fx, sidecar/relay %.2fx; RPS relay/nginx %.2fx; p99 relay/nginx %.2fx\n", c, rc/(nc < hc ? nc : hc), sc/rc, r/n, rp/np }'
  fi
done
for c in $CONNS; do
  if [[ " $PROXIES " == *" noacct "* ]]; then
    awk -v c="$c" -v s="$(col sidecar "$c" 3)" -v n="$(col noacct "$c" 3)" -v sc="$(col sidecar "$c" 6)" \
        -v nc="$(col noacct "$c" 6)" -v sp="$(col sidecar "$c" 5)" -v np="$(col noacct "$c" 5)" \
        'BEGIN { printf "c=%s: accounting on/off: RPS %.3fx, CPU/request %.3fx, p99 %.2fx\n", c, s/n, sc/nc, sp/np }'
  fi
done
# The scrape cost inside one run (bench/proxy/scrape_cost.py): wrk loads the sidecar throughout
# while 2-s phases alternate between scraped and quiet, each counted by the sidecar's own ledger.
if [ -n "${SCRAPE:-}" ]; then
  SCRAPE_SECONDS=${SCRAPE_SECONDS:-60}
  c=${CONNS%% *}
  "${LOAD_CPU[@]}" wrk -t1 -c"$c" -d"$((SCRAPE_SECONDS + 2))s" -s "$WORK/infer.lua" \
    "http://127.0.0.1:$SIDECAR_PORT/" > "$WORK/scrape_wrk.out" & wrk_pid=$!
  echo "c=$c, one run of ${SCRAPE_SECONDS} s:"
  "${LOAD_CPU[@]}" python3 "$ROOT/bench/proxy/scrape_cost.py" "$SIDECAR_ADMIN" \
    --duration "$SCRAPE_SECONDS" --phase 2 --pid "$SIDECAR_PID"
  wait "$wrk_pid"
fi
# Every request above was counted by the sidecar: show its ledger agrees with itself.
curl -s "http://$SIDECAR_ADMIN/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
arr = sum(m["arrivals"] for m in s["models"].values())
done = sum(m["completions"] for m in s["models"].values())
print("sidecar ledger: %d models, %d arrivals, %d completions, in flight %d" % (len(s["models"]), arr, done, arr - done))'
