#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, builds, starts a private local RGW, runs
# every test suite with meson, stops the RGW, and ends with "N passed, N failed, N skipped".
# Extra arguments go to `meson test` (e.g. --suite unit).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HOSHINO_BUILD_DIR:-$root/build}

bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$build"

rgw_dir=$(mktemp -d /tmp/hoshino-test-rgw.XXXXXX)
cleanup() { bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
env_file=$(bash "$root/scripts/rgw.sh" start "$rgw_dir")
# shellcheck disable=SC1090
source "$env_file"

status=0
meson test -C "$build" --print-errorlogs --num-processes 1 "$@" || status=$?
python3 "$root/scripts/test-summary.py" "$build/meson-logs/testlog.json"
exit $status
