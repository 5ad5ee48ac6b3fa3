#!/usr/bin/env bash
# Chart tests: installs helm and the pinned npm packages into .tools/ (idempotent), then lints,
# renders, schema-validates and asserts on charts/lagscale. Prints "N passed, M failed".
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$repo/scripts/install-helm.sh" >&2
exec node "$repo/tests/chart/check.mjs"
