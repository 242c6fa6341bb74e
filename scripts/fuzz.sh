#!/usr/bin/env bash
# fuzz.sh [SECONDS] [HARNESS ...] - builds the libFuzzer harnesses of tests/fuzz with clang
# (ASan + UBSan + coverage), writes their seed corpora, and runs each harness for SECONDS
# (default 60) on its corpus (fuzz-corpus/<name>/, kept between runs, git-ignored).
# Prints per harness: executions, coverage (edges), corpus size and crashes; each run is
# appended to fuzz-corpus/runs.tsv. Crash inputs go to fuzz-corpus/crashes/<name>/; a fixed
# one belongs in tests/fuzz/regressions/<name>/ with a test named after the defect.
# Exit status 1 if any harness crashed. Needs clang and libclang-rt-14-dev (install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
all=(gguf_model tokenizer npy router_config request stream)
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
build=${AK_FUZZ_BUILD:-build-fuzz}
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAK_FUZZ=ON >/dev/null
targets=(fuzz_seeds)
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/tests/fuzz/fuzz_seeds" "$seeds" "$PWD"
# the largest inputs libFuzzer may make, per harness (the model seeds are ~250 KB)
declare -A max_len=([gguf_model]=262144 [tokenizer]=16384 [npy]=4096 [router_config]=16384 [request]=8192 [stream]=4096)
declare -A dict=([gguf_model]=gguf [tokenizer]=gguf [router_config]=json [request]=json [stream]=json)
status=0
printf '%-14s %12s %10s %8s %8s\n' harness executions exec/s cov crashes
for h in "${harnesses[@]}"; do
  corpus="fuzz-corpus/$h" crashes="fuzz-corpus/crashes/$h"
  mkdir -p "$corpus" "$crashes"
  log="$build/fuzz-$h.log"
  args=(-max_total_time="$secs" -max_len="${max_len[$h]}" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -n "${dict[$h]:-}" ] && args+=(-dict="tests/fuzz/dict/${dict[$h]}.dict")
  dirs=("$corpus" "$seeds/$h")
  [ -d "tests/fuzz/regressions/$h" ] && dirs+=("tests/fuzz/regressions/$h")
  rc=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$build/tests/fuzz/fuzz_$h" "${args[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  n_crash=$(find "$crashes" -type f | wc -l)
  printf '%-14s %12s %10s %8s %8s\n' "$h" "${execs:-0}" "${rate:-0}" "${cov:-0}" "$n_crash"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" "$secs" "${execs:-0}" "${cov:-0}" "$n_crash" >>fuzz-corpus/runs.tsv
  if [ "$rc" -ne 0 ] || [ "$n_crash" -ne 0 ]; then
    status=1
    echo "  $h: exit $rc; log $log:"; grep -E "ERROR|SUMMARY|fuzz check failed|==[0-9]+==" "$log" | head -5 | sed 's/^/    /'
  fi
done
exit $status
