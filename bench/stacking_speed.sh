#!/usr/bin/env bash
# stacking_speed.sh - what early exit, pruning and adaptive K buy in wall time: `generate`
# (greedy, -t THREADS) with a 120-token prompt from TEXT, prompt (prefill) and generation
# (decode) tokens/s of each configuration, rounds interleaved (native, then each
# configuration, again and again), medians, ratios to native. Run it on an idle machine.
#
#   bash bench/stacking_speed.sh ADAPTIVE_K MODEL.gguf TEXT OUT_DIR ROUNDS THREADS -- NAME "FLAGS" NAME "FLAGS" ...
set -eu
AK=$1 M=$2 TEXT=$3 OUT=$4 ROUNDS=$5 T=$6
shift 7
mkdir -p "$OUT"
PROMPT="$OUT/prompt.txt"
head -c 560 "$TEXT" > "$PROMPT"
names=(native) flags=("")
while [ $# -ge 2 ]; do names+=("$1"); flags+=("$2"); shift 2; done
res="$OUT/$(basename "$M" .gguf)-speed.txt"
: > "$res"
echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p') load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$res"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    "$AK" generate -m "$M" -f "$PROMPT" -n 120 --temp 0 -c 256 -t "$T" ${flags[$i]} > /dev/null 2> "$OUT/gen.err"
    p=$(sed -n 's/^prompt: .*(\([0-9.]*\) tokens\/s)/\1/p' "$OUT/gen.err")
    g=$(sed -n 's/^generation: .*(\([0-9.]*\) tokens\/s)/\1/p' "$OUT/gen.err")
    echo "${names[$i]} $r $p $g" >> "$res"
  done
done
echo "# load after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$res"
node -e '
  const L = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l && l[0] !== "#").map(l => l.split(" "));
  const med = a => { a = a.slice().sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
  const names = [...new Set(L.map(l => l[0]))], get = (n, i) => med(L.filter(l => l[0] === n).map(l => Number(l[i])));
  const p0 = get("native", 2), g0 = get("native", 3);
  console.log("| config | prefill tok/s (median) | x native | decode tok/s (median) | x native |");
  console.log("|---|---:|---:|---:|---:|");
  for (const n of names) console.log(`| ${n} | ${get(n, 2).toFixed(0)} | ${(get(n, 2) / p0).toFixed(3)} | ${get(n, 3).toFixed(1)} | ${(get(n, 3) / g0).toFixed(3)} |`);
' "$res"
