#!/usr/bin/env bash
# Configures (once) and builds into BUILD_DIR (default: build/). The binaries land in BUILD_DIR/src/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" "$root" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" >/dev/null
echo "build.sh: built $build/src/hoshino" >&2
