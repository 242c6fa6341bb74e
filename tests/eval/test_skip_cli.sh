#!/usr/bin/env bash
# test_skip_cli.sh ADAPTIVE_K MODEL TEST_TEXT VALID_TEXT - early exit and pruning from the
# command line on the shipped model: --split-context gives the plain PPL; a threshold no
# token reaches gives it too; pruning drops floor(ratio (n - 1)) of each chunk's context;
# the exit threshold calibrated on the validation text reaches about its target on the test
# text; generate and sweep take the flags; bad values are clear errors.
set -u
AK=$1 M=$2 TEXT=$3
. "$(dirname "$0")/cli_lib.sh"
VALID=$DIR/valid.txt
head -c 60000 "$4" > "$VALID" # about 13k tokens of the validation text: enough to calibrate, quick under ASan
ppl() { "$AK" perplexity -m "$M" -f "$TEXT" -c 256 --chunks 4 -t 2 "$@"; }
final() { grep '^Final estimate' "$1"; }

ppl > "$DIR/plain.txt" 2>&1
ppl --split-context > "$DIR/split.txt" 2>&1
check "split context: the same PPL" test "$(final "$DIR/split.txt")" = "$(final "$DIR/plain.txt")"
ppl --exit-threshold 1 --exit-layer 0 > "$DIR/never.txt" 2>&1
check "a threshold no token reaches: the same PPL" test "$(final "$DIR/never.txt")" = "$(final "$DIR/plain.txt")"
check "... and no exit (4 x 256 tokens checked after 5 layers)" grep -q "0 of 1024 tokens exited, 6.000 layers per token of 6 (5120 checks)" "$DIR/never.txt"
ppl --prune-ratio 0.5 --prune-layer 1 > "$DIR/prune.txt" 2>&1
check "pruning: 4 x floor(0.5 x 128) of the 129 context tokens" grep -q "pruned: 256 tokens" "$DIR/prune.txt"
check "pruning: its saving printed" grep -Eq "pruning [1-9][0-9.]*%" "$DIR/prune.txt"
ppl --exit-measure saturation --exit-layer 2 --exit-target-layers 5.5 --exit-calib "$VALID" > "$DIR/cal.txt" 2>&1
check "calibrated on the validation text" grep -q "calibrated on $VALID for 5.5 layers per token" "$DIR/cal.txt"
layers=$(sed -n 's/.* \([0-9.]*\) layers per token of 6.*/\1/p' "$DIR/cal.txt")
check "the test text runs about 5.5 layers per token ($layers)" \
  node -e 'process.exit(Math.abs(process.argv[1] - 5.5) <= 0.3 ? 0 : 1)' "${layers:-0}"

"$AK" generate -m "$M" -p "The Congress of the United States shall have the power to lay and collect taxes" -n 8 \
  --temp 0 -t 2 --prune-ratio 0.5 --prune-layer 1 > "$DIR/gen.out" 2> "$DIR/gen.err"
check "generate with pruning" grep -q "pruned: [1-9]" "$DIR/gen.err"
"$AK" sweep -m "$M" -f "$TEXT" -o "$DIR/sw" --policies entropy --targets 3 --allocate none --no-per-layer --chunks 2 \
  --calib-chunks 2 -c 256 -t 2 --prune-ratio 0.5 --prune-layer 1 > "$DIR/sw.txt" 2>&1
check "sweep with pruning: the native row saves model MACs" \
  node -e 'const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
           const h = l[0].split(","), r = l[1].split(","); process.exit(Number(r[h.indexOf("model_macs_saved")]) > 0.05 ? 0 : 1)' \
  "$DIR/sw/sweep.csv"

expect_error "exit threshold 2" ppl --exit-threshold 2
expect_error "use top1 or saturation" ppl --exit-measure entropy
expect_error "needs --exit-calib" ppl --exit-target-layers 5
expect_error "needs --exit-target-layers" ppl --exit-calib "$VALID"
expect_error "prune ratio 1" ppl --prune-ratio 1
expect_error "prune layer 9" ppl --prune-ratio 0.5 --prune-layer 9
expect_error "exit layer 5" ppl --exit-threshold 0.9 --exit-layer 5
expect_error "not a positive number" ppl --exit-threshold abc
expect_error "target of 9 layers" ppl --exit-target-layers 9 --exit-calib "$VALID"
expect_error "not calibrated by the server" "$AK" serve -m "$M" --exit-target-layers 5 --exit-calib "$VALID"
exit $fail
