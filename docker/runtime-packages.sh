#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given binaries load, one per
# line, so a runtime image installs exactly those (and no compiler, headers or -dev packages).
# Used in the build stage of docker/*.Dockerfile: the answer comes from the binary itself, so a new
# dependency can never be forgotten in the runtime stage.
set -euo pipefail
(($#)) || { echo "usage: $0 BINARY..." >&2; exit 2; }
for bin in "$@"; do
  # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)"; a missing library is fatal.
  if ldd "$bin" | grep -q 'not found'; then
    ldd "$bin" >&2
    echo "runtime-packages: $bin has unresolved libraries" >&2
    exit 1
  fi
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  # dpkg records /lib/... or /usr/lib/... depending on the package (merged /usr), and the soname
  # link or the real file: try each spelling of the exact path.
  pkg=""
  for p in "$lib" "$(realpath "$lib")"; do
    for cand in "$p" "/usr$p" "${p#/usr}"; do
      pkg="$(dpkg-query -S "$cand" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
      [ -n "$pkg" ] && break 2
    done
  done
  [ -n "$pkg" ] || { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
  echo "$pkg"
done | sort -u
