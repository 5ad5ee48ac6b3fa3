#!/usr/bin/env bash
# Opt-in check of the coordinator's status page in headless Chromium (ctest label "browser").
# Starts lagscale-coordinator on port 0 with a config listing one model and one server, loads `/`
# with Chromium's virtual time so the page's JavaScript polls /status and renders, and checks the
# rendered DOM: the model card with its chart, the actuator summary and the server table.
# Usage: page_check.sh BIN_DIR. Exit 77 (skipped) when chromium is not installed.
set -euo pipefail
bin_dir=${1:?usage: page_check.sh BIN_DIR}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "page_check: chromium is not installed (apt-get install chromium); skipping"
  exit 77
fi

tmp=$(mktemp -d)
coordinator_pid=""
cleanup() {
  [ -n "$coordinator_pid" ] && kill "$coordinator_pid" 2>/dev/null && wait "$coordinator_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/config.yaml" <<'YAML'
decisionInterval: 100ms
servers:
  - name: mlserver
    placement: all
models:
  - name: iris
    server: mlserver
YAML

"$bin_dir/lagscale-coordinator" --config "$tmp/config.yaml" --grpc-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 --log-level warn > "$tmp/stdout" &
coordinator_pid=$!
http=""
for _ in $(seq 1 100); do
  http=$(sed -n 's/^lagscale-coordinator ready .*http=\([0-9.:]*\).*/\1/p' "$tmp/stdout")
  [ -n "$http" ] && break
  sleep 0.1
done
[ -n "$http" ] || { echo "page_check: coordinator did not become ready"; exit 1; }

dom=$(timeout 60 "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
  --virtual-time-budget=5000 --dump-dom "http://$http/" 2>/dev/null)

fail=0
check() {
  if grep -q -- "$1" <<<"$dom"; then echo "ok: $2"; else echo "FAIL: $2 (no '$1')"; fail=1; fi
}
check 'id="model-iris"' "a card for model iris"
check '<canvas width="320" height="90"' "the card's chart canvas"
check 'actuator <b>dry-run</b>' "the actuator summary rendered from /status"
check '<td>mlserver</td>' "the server table row"
check 'replicas 1 → 1' "current and desired replicas of iris"
check 'actuated by coordinator' "how iris is actuated (coordinator or KEDA)"
if grep -q '<div id="summary" class="meta">cannot reach' <<<"$dom"; then echo "FAIL: the page could not fetch /status"; fail=1; fi
exit $fail
