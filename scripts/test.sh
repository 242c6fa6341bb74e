#!/usr/bin/env bash
# Builds and runs every test twice: a Release build, then an AddressSanitizer+UBSan build;
# then runs each fuzz harness briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
status=0
run() { # name, build dir, cmake args...
  local name=$1 dir=$2; shift 2
  echo "== $name =="
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600 -LE "${AK_TEST_EXCLUDE:-none}") | tee "$dir/ctest.log" | grep -E "tests passed|tests failed|Failed|\*\*\*|Timeout" || true
  grep -q "100% tests passed" "$dir/ctest.log" || status=1
}
run "release" build
ASAN_OPTIONS=detect_leaks=1 AK_TEST_EXCLUDE=slow run "asan+ubsan" build-asan -DAK_SANITIZE=ON
# every libFuzzer harness for a short time, so none can rot (scripts/fuzz.sh; clang)
echo "== fuzz (${AK_FUZZ_SECONDS:-20} s per harness) =="
bash scripts/fuzz.sh "${AK_FUZZ_SECONDS:-20}" || status=1
exit $status
