#!/usr/bin/env bash
# Installs everything lagscale's build, tests, demo and benchmarks need on Debian 12.
# Idempotent: packages already present are skipped, so a second run costs a few seconds.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ clang libclang-rt-14-dev pkg-config git ca-certificates curl
  # libraries
  libboost-dev libboost-system-dev node-llhttp libconcurrentqueue-dev prometheus-cpp-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libnghttp2-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev
  # real peers for tests and benchmarks
  prometheus nginx-light haproxy wrk nghttp2-client python3-grpcio python3-grpc-tools python3-jsonpatch openssl procps
  # chart tests (helm comes from npm, see scripts/install-helm.sh)
  unzip
)
# Node.js may come from Debian or from NodeSource (which bundles npm and conflicts with Debian's
# npm package): only ask apt for it when there is no npm at all.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
# The status page's browser test (ctest -L browser) needs headless Chromium: ~140 MB to download,
# ~480 MB on disk, so only when asked for: LAGSCALE_BROWSER_TESTS=1 scripts/install-deps.sh
[ "${LAGSCALE_BROWSER_TESTS:-0}" = 1 ] && packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Debian starts nginx, haproxy and prometheus as system services on install; our tests start their
# own instances on port 0 and must not collide with (or be confused by) the system ones.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in nginx haproxy prometheus prometheus-node-exporter; do
    systemctl stop "$svc" >/dev/null 2>&1 || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  done
fi
echo "install-deps: ok"
