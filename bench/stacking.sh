#!/usr/bin/env bash
# stacking.sh - early exit, prompt pruning and adaptive K alone and in every combination, at
# two operating points each, against the static alternatives (fixed K, fewer layers, a
# shorter context) on one model and one text; one CSV line per run (docs/stacking.md).
#
#   bash bench/stacking.sh ADAPTIVE_K MODEL.gguf TEST.txt VALID.txt OUT_DIR [CHUNKS]
#
# Everything calibrates on VALID (the adaptive-K budgets, the exit thresholds) and is
# measured on TEST with `perplexity --split-context -c 256 --chunks CHUNKS`: each chunk's
# first half is the context (pruned, when pruning), the second half is scored; KL against
# the native run. Operating points: adaptive K at 3/4 and 1/2 of the native K (calibrate
# --allocate), early exit by saturation after layer L/2 - 1 calibrated to L - 1/2 and L - 1
# layers per token, pruning of 1/4 and 1/2 of the context after layer 1.
set -eu
AK=$1 M=$2 TEXT=$3 VALID=$4 OUT=$5 CHUNKS=${6:-100}
mkdir -p "$OUT"
info=$("$AK" gguf-info "$M")
L=$(echo "$info" | sed -n 's/.*\.block_count" u32 = \([0-9]*\).*/\1/p')
K=$(echo "$info" | sed -n 's/.*\.expert_used_count" u32 = \([0-9]*\).*/\1/p')
tag=$(basename "$M" .gguf)-$(basename "$TEXT" .txt)
CSV="$OUT/$tag.csv"
PPL=("$AK" perplexity -m "$M" -f "$TEXT" -c 256 --chunks "$CHUNKS" -t 2 --split-context)

# adaptive K budgets on the validation text (3/4 and 1/2 of the native K)
for lvl in 1 2; do
  tgt=$(node -e "console.log($K * (lvl => lvl === 1 ? 0.75 : 0.5)($lvl))")
  cfg="$OUT/$(basename "$M" .gguf)-avgk$tgt.json"
  [ -f "$cfg" ] || "$AK" calibrate -m "$M" -f "$VALID" --allocate --target-avg-k "$tgt" -c 256 -t 2 -o "$cfg" > /dev/null 2>&1
  eval "A$lvl=(--router-config $cfg)"
done
EL=$((L / 2 - 1))
E1=(--exit-measure saturation --exit-layer $EL --exit-target-layers "$(node -e "console.log($L - 0.5)")" --exit-calib "$VALID")
E2=(--exit-measure saturation --exit-layer $EL --exit-target-layers $((L - 1)) --exit-calib "$VALID")
P1=(--prune-ratio 0.25 --prune-layer 1)
P2=(--prune-ratio 0.5 --prune-layer 1)

"${PPL[@]}" --save-logits "$OUT/$tag-native.bin" > "$OUT/$tag-native.txt" 2>&1
echo "model,text,row,kind,avg_k,layers,pruned,used,ppl,ppl_err,ratio,ratio_err,kld,kld_err,same_top" > "$CSV"

# run ROW KIND FLAGS...: one perplexity run, one CSV line
run() {
  local row=$1 kind=$2
  shift 2
  local log="$OUT/$tag-$row.txt"
  "${PPL[@]}" --kl-base "$OUT/$tag-native.bin" "$@" > "$log" 2>&1 || { echo "FAILED: $row (see $log)" >&2; return 1; }
  node -e '
    const t = require("fs").readFileSync(process.argv[1], "utf8"), g = (re, i = 1) => { const m = t.match(re); return m ? m[i] : "" };
    const ppl = g(/Final estimate: PPL = ([\d.]+) \+\/- ([\d.]+)/), err = g(/Final estimate: PPL = ([\d.]+) \+\/- ([\d.]+)/, 2);
    const saved = Number(g(/whole model MACs (-?[\d.]+)%/));
    const layers = g(/([\d.]+) layers per token of/) || process.argv[5];
    const row = [process.argv[2], process.argv[3], process.argv[4], process.argv[6], g(/average K ([\d.]+)/), layers,
      g(/pruned: (\d+) tokens/) || 0, (100 - saved).toFixed(2), ppl, err,
      g(/Mean PPL\(Q\)\/PPL\(base\)\s*:\s*([\d.]+) \+\/-\s*([\d.]+)/), g(/Mean PPL\(Q\)\/PPL\(base\)\s*:\s*([\d.]+) \+\/-\s*([\d.]+)/, 2),
      g(/Mean KLD\s*:\s*(-?[\d.]+) \+\/-\s*([\d.]+)/), g(/Mean KLD\s*:\s*(-?[\d.]+) \+\/-\s*([\d.]+)/, 2),
      g(/Same top p\s*:\s*([\d.]+)/)];
    console.log(row.join(","));' "$log" "$(basename "$M" .gguf)" "$(basename "$TEXT" .txt)" "$row" "$L" "$kind" >> "$CSV"
}

run native static
for lvl in 1 2; do
  eval "a=(\"\${A$lvl[@]}\") e=(\"\${E$lvl[@]}\") p=(\"\${P$lvl[@]}\")"
  run "K$lvl" adaptive "${a[@]}"
  run "E$lvl" adaptive "${e[@]}"
  # the threshold E$lvl calibrated (on VALID), reused by the combinations
  thr=$(sed -n 's/^early exit: threshold \([0-9.e-]*\) calibrated.*/\1/p' "$OUT/$tag-E$lvl.txt")
  e=(--exit-measure saturation --exit-layer $EL --exit-threshold "$thr")
  run "P$lvl" adaptive "${p[@]}"
  run "K$lvl+E$lvl" adaptive "${a[@]}" "${e[@]}"
  run "K$lvl+P$lvl" adaptive "${a[@]}" "${p[@]}"
  run "E$lvl+P$lvl" adaptive "${e[@]}" "${p[@]}"
  run "K$lvl+E$lvl+P$lvl" adaptive "${a[@]}" "${e[@]}" "${p[@]}"
done
# static alternatives: fixed K x fewer layers (every token leaves after layer l) x the
# oldest context tokens dropped after layer 1 (a shorter context)
for k in $((K / 2)) $((3 * K / 4)) $K; do
  for l in $L $((L - 1)) $((L - 2)); do
    for r in 0 0.25 0.5; do
      [ "$k$l$r" = "$K${L}0" ] && continue
      f=(--k "$k")
      [ "$l" != "$L" ] && f+=(--exit-measure saturation --exit-threshold 1e-9 --exit-layer $((l - 1)) --exit-every 99)
      [ "$r" != 0 ] && f+=(--prune-ratio "$r" --prune-layer 1 --prune-by oldest)
      run "static-k$k-l$l-c$r" static "${f[@]}"
    done
  done
done
echo "$CSV"
