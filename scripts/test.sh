#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, builds, starts a private local RGW, and
#   1. runs every test suite with meson (build/),
#   2. runs them all again built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/),
#   3. runs each libFuzzer target briefly (build-fuzz/, clang; HOSHINO_FUZZ_SECONDS, default 15),
# stops the RGW, and ends with "N passed, N failed, N skipped" over all three.
# Extra arguments go to `meson test` (e.g. --suite unit). HOSHINO_QUICK=1 skips steps 2 and 3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HOSHINO_BUILD_DIR:-$root/build}
asan_build=${HOSHINO_ASAN_BUILD_DIR:-$root/build-asan}

bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$build"

rgw_dir=$(mktemp -d /tmp/hoshino-test-rgw.XXXXXX)
cleanup() { bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# The RGW runs in a network namespace of its own, so the fault tests can cut its path (rgw.sh cut).
env_file=$(HOSHINO_RGW_NETNS=hs-rgw-$$ bash "$root/scripts/rgw.sh" start "$rgw_dir")
# shellcheck disable=SC1090
source "$env_file"

status=0
results=()
echo "== tests (build/)"
meson test -C "$build" --print-errorlogs --num-processes 1 "$@" || status=1
results+=("$build/meson-logs/testlog.json")

if [[ ${HOSHINO_QUICK:-0} != 1 ]]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  if [[ ! -f $asan_build/build.ninja ]]; then
    meson setup "$asan_build" "$root" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug >/dev/null
  fi
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  ninja -C "$asan_build" >/dev/null
  meson test -C "$asan_build" --print-errorlogs --num-processes 1 --timeout-multiplier 3 "$@" || status=1
  results+=("$asan_build/meson-logs/testlog.json")

  echo "== fuzz targets, ${HOSHINO_FUZZ_SECONDS:-15} s each (build-fuzz/)"
  bash "$root/scripts/fuzz.sh" "${HOSHINO_FUZZ_SECONDS:-15}" | tee "$root/build-fuzz.results" || status=1
  results+=("$root/build-fuzz.results")
fi

python3 "$root/scripts/test-summary.py" "${results[@]}"
exit $status
