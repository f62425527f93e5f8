#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan + UBSan) and runs each for SECONDS (default 20; CI runs
# them briefly, longer runs are worth it before a release: scripts/fuzz.sh 600). Corpora grow in
# build-fuzz/corpus/<target>, seeded from test/fuzz/corpus/<target>; crashes land in build-fuzz/crashes/.
# Ends with "N passed, N failed" (one per target).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-20}
build=${HOSHINO_FUZZ_BUILD_DIR:-$root/build-fuzz}
if [[ ! -f $build/build.ninja ]]; then
  CXX=clang++ CC=clang meson setup "$build" "$root" -Dfuzzing=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized >/dev/null || exit 1
fi
targets=(bundle_fuzz ipv6_fuzz key_fuzz xml_fuzz seal_fuzz)
ninja -C "$build" "${targets[@]/#/test/fuzz/}" >/dev/null || exit 1
passed=0 failed=0
mkdir -p "$build/crashes"
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  if UBSAN_OPTIONS=halt_on_error=1 "$build/test/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/crashes/$t-" "$build/corpus/$t" "$root/test/fuzz/corpus/$t" \
      >"$build/$t.log" 2>&1; then
    echo "ok - $t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" | grep -o '[0-9]*$') runs in ${seconds}s"
    passed=$((passed + 1))
  else
    echo "FAIL - $t (see $build/$t.log and $build/crashes/)"; tail -20 "$build/$t.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
