#!/usr/bin/env bash
# test_demo.sh ADAPTIVE_K SOURCE_DIR - README's main job (scripts/demo-run.sh, the part of
# scripts/demo.sh after the build) runs to the end and shows what it promises.
set -u
AK=$1 SRC=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
AK_DEMO_CHUNKS=2 bash "$SRC/scripts/demo-run.sh" "$AK" >"$out" 2>&1
rc=$?
fails=0
check() { # check NAME GREP-E-PATTERN [COUNT]
  local n
  n=$(grep -Ec -- "$2" "$out")
  if [ "$n" -lt "${3:-1}" ]; then echo "FAIL: $1 ('$2' seen $n times)" >&2; fails=$((fails + 1)); fi
}
[ "$rc" -eq 0 ] || { echo "FAIL: demo-run.sh exited $rc" >&2; fails=$((fails + 1)); }
check "six sections" '^== [1-6]\. ' 6
check "three generations" '^generation: [0-9]+ tokens' 3
check "native row: K 4, nothing saved" '^native top-4 +[0-9.]+ +4\.000 +0\.0%$'
check "top-2 row: K 2, half saved" '^fixed top-2 +[0-9.]+ +2\.000 +50\.0%$'
check "entropy row: K near 3" '^entropy, calibrated avg K 3 +[0-9.]+ +(2\.[6-9]|3\.[0-3])[0-9]* +'
check "ratio row: K near 3" '^ratio, calibrated avg K 3 +[0-9.]+ +(2\.[6-9]|3\.[0-3])[0-9]* +'
check "best (per-layer budgets) row: K near 3" '^per-layer budgets, avg K 3 \(best\) +[0-9.]+ +(2\.[6-9]|3\.[0-3])[0-9]* +'
check "the server runs the best config" 'default routing models/olmoe-sotu-best-avgk3.json'
check "64-expert native row: K 8" '^native top-8 +[0-9.]+ +8\.000 +0\.0%$'
check "64-expert best row: K near 6" '^per-layer budgets, avg K 6 \(best\) +[0-9.]+ +(5\.[6-9]|6\.[0-3])[0-9]* +'
check "64-expert top-6 row" '^fixed top-6 +[0-9.]+ +6\.000 +25\.0%$'
check "route summary" 'average K [0-9.]+ vs native top-4'
check "served usage with completion_avg_k" '^  usage: \{.*"completion_avg_k":' 2
check "metrics excerpt" '^  adaptive_k_avg_k\{variant="default"\}'
check "JSON log lines" '^  \{"ts":.*"status":200' 2
if [ "$fails" -ne 0 ]; then cat "$out" >&2; exit 1; fi
echo "demo: ok"
