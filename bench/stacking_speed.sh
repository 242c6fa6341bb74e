#!/usr/bin/env bash
# stacking_speed.sh - what early exit, pruning and adaptive K buy in wall time, on TEXT with
# the perplexity harness of bench/stacking.sh (-c 256 --split-context):
#   decode:  -b 1, every token its own ak_decode call (token-by-token decode: an exited
#            token runs only its K/V fill in the later layers; nothing is pruned in
#            single-token batches), DECODE_CHUNKS chunks;
#   batched: -b 256, each chunk's context as one prefill batch (pruned) and its continuation
#            as another, BATCH_CHUNKS chunks.
# Tokens per second of each configuration, rounds interleaved (native, then each
# configuration, again and again), medians, ratios to native. Run it on an idle machine.
#
#   bash bench/stacking_speed.sh ADAPTIVE_K MODEL.gguf TEXT OUT_DIR ROUNDS THREADS -- NAME "FLAGS" ...
set -eu
AK=$1 M=$2 TEXT=$3 OUT=$4 ROUNDS=$5 T=$6
shift 7
DECODE_CHUNKS=${DECODE_CHUNKS:-8} BATCH_CHUNKS=${BATCH_CHUNKS:-40}
mkdir -p "$OUT"
names=(native) flags=("")
while [ $# -ge 2 ]; do names+=("$1"); flags+=("$2"); shift 2; done
res="$OUT/$(basename "$M" .gguf)-speed.txt"
: > "$res"
echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p') load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$res"
tps() { sed -n 's/^chunks .*(\([0-9.]*\) tokens\/s)/\1/p' "$OUT/run.txt"; }
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    "$AK" perplexity -m "$M" -f "$TEXT" -c 256 --split-context -t "$T" -b 1 --chunks "$DECODE_CHUNKS" ${flags[$i]} \
      > "$OUT/run.txt" 2>&1
    d=$(tps)
    # shellcheck disable=SC2086
    "$AK" perplexity -m "$M" -f "$TEXT" -c 256 --split-context -t "$T" -b 256 --chunks "$BATCH_CHUNKS" ${flags[$i]} \
      > "$OUT/run.txt" 2>&1
    echo "${names[$i]} $r $d $(tps)" >> "$res"
  done
done
echo "# load after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$res"
node -e '
  const L = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l && l[0] !== "#").map(l => l.split(" "));
  const med = a => { a = a.slice().sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
  const names = [...new Set(L.map(l => l[0]))], get = (n, i) => med(L.filter(l => l[0] === n).map(l => Number(l[i])));
  const ratio = (n, i) => med(L.filter(l => l[0] === n).map(l => Number(l[i]) / Number(L.find(x => x[0] === "native" && x[1] === l[1])[i])));
  console.log("| config | decode tok/s (median) | x native (median of rounds) | batched tok/s (median) | x native |");
  console.log("|---|---:|---:|---:|---:|");
  for (const n of names) console.log(`| ${n} | ${get(n, 2).toFixed(0)} | ${ratio(n, 2).toFixed(3)} | ${get(n, 3).toFixed(0)} | ${ratio(n, 3).toFixed(3)} |`);
' "$res"
