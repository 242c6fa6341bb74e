#!/usr/bin/env bash
# test_sweep_cli.sh ADAPTIVE_K CHECK_SWEEP TEXT OTHER_TEXT - the evaluation commands on a
# generated model (olmoe, 8 experts, top-2):
#   perplexity --save-logits / --kl-base (KL 0 against itself, > 0 at K = 1, clear errors),
#   calibrate -> router config -> perplexity on another text within 2% of the target,
#   calibrate --save-router-logits read back by `route`, and a small sweep whose CSV, JSON
#   and SVG are parsed by check_sweep (and a PNG when rsvg-convert is installed).
set -u
AK=$1
CHECK_SWEEP=$2
TEXT=$3
OTHER=$4
. "$(dirname "$0")/cli_lib.sh"

M=$DIR/m.gguf
"$AK" gen-model -o "$M" --arch olmoe --type q8_0 --seed 3 --quiet
head -c 6000 "$OTHER" > "$DIR/other.txt"

# ---- KL divergence against a saved full-K run
"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 -t 2 --save-logits "$DIR/base.lp" > "$DIR/base.txt" 2>&1
check "save-logits exit 0" test $? -eq 0
check "save-logits file: 64-byte header + 4 chunks x 31 rows" test -s "$DIR/base.lp"
check "per-layer accounting printed" grep -q '^    all  2.000' "$DIR/base.txt"
"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 -t 2 --kl-base "$DIR/base.lp" > "$DIR/self.txt" 2>&1
check "KL of the same run is 0" grep -Eq 'Mean KLD *: *-?0\.0000[0-9]' "$DIR/self.txt"
check "same top 100% against itself" grep -q 'Same top p *: 100.000' "$DIR/self.txt"
check "PPL ratio 1 against itself" grep -Eq 'Mean PPL\(Q\)/PPL\(base\) *: *1\.0000' "$DIR/self.txt"
"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 -t 2 --kl-base "$DIR/base.lp" --k 1 > "$DIR/k1.txt" 2>&1
check "K = 1 has a positive KL" grep -Eq 'Mean KLD *: *0\.[0-9]*[1-9]' "$DIR/k1.txt"
check "K = 1 changes some top-1 tokens" bash -c "! grep -q 'Same top p *: 100.000' '$DIR/k1.txt'"
expect_error "another run" "$AK" perplexity -m "$M" -f "$TEXT" -c 32 --chunks 4 -t 2 --kl-base "$DIR/base.lp"
expect_error "another run" "$AK" perplexity -m "$M" -f "$DIR/other.txt" -c 64 --chunks 4 -t 2 --kl-base "$DIR/base.lp"
head -c 1000 "$DIR/base.lp" > "$DIR/cut.lp"
expect_error "truncated" "$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 --kl-base "$DIR/cut.lp"
printf 'not a file of log-probabilities at all, just text padding padding padding padding' > "$DIR/junk.lp"
expect_error "not a log-probs file" "$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 --kl-base "$DIR/junk.lp"

# ---- calibrate -> config -> perplexity on another text
for pol in entropy top-p ratio; do
  "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 24 -t 2 --target-avg-k 1.5 --policy $pol -o "$DIR/$pol.json" \
    > "$DIR/cal.txt" 2>&1
  check "calibrate $pol exit 0" test $? -eq 0
  "$AK" perplexity -m "$M" -f "$DIR/other.txt" -c 64 --chunks 12 -t 2 --router-config "$DIR/$pol.json" > "$DIR/p.txt" 2>&1
  k=$(sed -n 's/^routing: average K \([0-9.]*\).*/\1/p' "$DIR/p.txt")
  check "$pol: average K $k on another text within 2% of 1.5" \
    awk -v k="${k:-0}" 'BEGIN { d = (k - 1.5) / 1.5; exit !(d < 0.02 && d > -0.02) }'
done
"$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 8 -t 2 --target-avg-k 1.5 --per-layer -o "$DIR/pl.json" \
  --save-router-logits "$DIR/rl.npy" > "$DIR/cal.txt" 2>&1
check "per-layer config has layers" grep -q '"layers"' "$DIR/pl.json"
"$AK" route "$DIR/rl.npy" --router-config "$DIR/pl.json" > "$DIR/route.txt" 2>&1
check "route reads the saved router logits" grep -q '2 layers x [0-9]* tokens x 8 experts' "$DIR/route.txt"
expect_error "nothing to calibrate" "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --target-avg-k 1.5 --k 2 -o "$DIR/x.json"
expect_error "required" "$AK" calibrate -m "$M" -f "$TEXT" -o "$DIR/x.json"
expect_error "reachable\|range\|outside" "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 4 --target-avg-k 7 --policy top-p \
  -o "$DIR/x.json"

# ---- profile and per-layer budgets
"$AK" profile -m "$M" -f "$TEXT" -c 64 --chunks 12 --exact-chunks 3 -t 2 -o "$DIR/prof.json" --svg "$DIR/prof.svg" \
  > "$DIR/prof.txt" 2>&1
check "profile exit 0" test $? -eq 0
check "profile: the proxy table for both layers" grep -Eq '^  layer  1: +[0-9.e-]+ +0 +entropy p50' "$DIR/prof.txt"
check "profile: the exact table" grep -q '^exact, one layer at top-k (93 scored positions)' "$DIR/prof.txt"
check "profile: JSON with two layers" test "$(grep -c '"layer":' "$DIR/prof.json")" -eq 2
check "profile: SVG heat map" grep -q '<svg' "$DIR/prof.svg"
"$AK" profile -m "$M" --data-free --random-chunks 4 -c 64 --exact-chunks 0 -t 2 > "$DIR/pdf.txt" 2>&1
check "profile --data-free exit 0" test $? -eq 0
check "profile --data-free names its input" grep -q 'on random tokens: 256 tokens' "$DIR/pdf.txt"
"$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 16 --exact-chunks 2 -t 2 --target-avg-k 1.5 --allocate \
  -o "$DIR/alloc.json" > "$DIR/alloc.txt" 2>&1
check "calibrate --allocate exit 0" test $? -eq 0
check "calibrate --allocate: every rule tried" test "$(grep -c 'held-out mean NLL' "$DIR/alloc.txt")" -eq 5
k=$(sed -n 's/^achieved average K \([0-9.]*\) on the profiled.*/\1/p' "$DIR/alloc.txt")
check "calibrate --allocate: average K $k on the calibration logits within 1% of 1.5" \
  awk -v k="${k:-0}" 'BEGIN { d = (k - 1.5) / 1.5; exit !(d < 0.01 && d > -0.01) }'
check "calibrate --allocate: a per-layer config" grep -q '"layers"' "$DIR/alloc.json"
"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 4 -t 2 --router-config "$DIR/alloc.json" > "$DIR/p.txt" 2>&1
check "the allocated config runs" test $? -eq 0
"$AK" calibrate -m "$M" --data-free --random-chunks 8 -c 64 --exact-chunks 2 -t 2 --target-avg-k 1.5 --allocate \
  --rule threshold -o "$DIR/adf.json" > "$DIR/adf.txt" 2>&1
check "calibrate --allocate --data-free exit 0" test $? -eq 0
for bad in 0.5 2.5 9; do
  expect_error "outside 1..2" "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 8 --exact-chunks 0 --target-avg-k $bad \
    --allocate --rule ratio -o "$DIR/x.json"
done
expect_error "whole number" "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --chunks 8 --exact-chunks 0 --target-avg-k 1.25 \
  --allocate --rule fixed -o "$DIR/x.json"
expect_error "rule takes" "$AK" calibrate -m "$M" -f "$TEXT" -c 64 --target-avg-k 1.5 --allocate --rule magic -o "$DIR/x.json"
expect_error "one of -f TEXT or --data-free" "$AK" calibrate -m "$M" --target-avg-k 1.5 --allocate -o "$DIR/x.json"

# ---- a small sweep (calibration on the first third of the tokens)
"$AK" sweep -m "$M" -f "$TEXT" -c 64 --chunks 8 --calib-chunks 8 -t 2 --targets 1.5 --k-max 3 --decode-tokens 4 --prompt-tokens 4 \
  --decode-reps 1 -o "$DIR/sw" > "$DIR/sw.txt" 2>&1
check "sweep exit 0" test $? -eq 0
check "sweep: 3 fixed K + 3 policies x 2 modes + 1 allocated" test "$(($(wc -l < "$DIR/sw/sweep.csv") - 1))" -eq 10
check "sweep: the allocated row ran" grep -q '^threshold,allocated,0,1.5000,1.5000,[0-9.]*,.*,ok,' "$DIR/sw/sweep.csv"
"$CHECK_SWEEP" "$DIR/sw"
check "sweep outputs parse" test $? -eq 0
if command -v rsvg-convert > /dev/null; then
  check "PNG written" bash -c "head -c 8 '$DIR/sw/sweep.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
fi

# ---- sweep_profile_allocate_sigmoid_routers: profile, --allocate and sweep once refused every
# router but a plain softmax; deepseek2 (sigmoid + bias + groups, a dense lead layer) and
# nemotron_h_moe (sigmoid + bias, MoE in 2 of its 6 blocks) now profile their MoE layers only
for arch in deepseek2 nemotron_h_moe; do
  A=$DIR/$arch.gguf
  "$AK" gen-model -o "$A" --arch $arch --type q8_0 --vocab-kind bytes --seed 5 --quiet
  "$AK" profile -m "$A" -f "$TEXT" -c 64 --chunks 8 --exact-chunks 2 -t 2 -o "$DIR/$arch-prof.json" > "$DIR/$arch-prof.txt" 2>&1
  check "$arch: profile exit 0" test $? -eq 0
  n=$(grep -c '"layer":' "$DIR/$arch-prof.json")
  check "$arch: profile JSON has the MoE layers only ($n layers in it)" \
    test "$n" -ge 1 -a "$n" -lt 6
  "$AK" calibrate -m "$A" -f "$TEXT" -c 64 --chunks 12 --exact-chunks 2 -t 2 --target-avg-k 1.5 --allocate --rule threshold \
    -o "$DIR/$arch-alloc.json" > "$DIR/$arch-alloc.txt" 2>&1
  check "$arch: calibrate --allocate exit 0" test $? -eq 0
  "$AK" perplexity -m "$A" -f "$DIR/other.txt" -c 64 --chunks 4 -t 2 --router-config "$DIR/$arch-alloc.json" > "$DIR/p.txt" 2>&1
  k=$(sed -n 's/^routing: average K \([0-9.]*\).*/\1/p' "$DIR/p.txt" | head -1)
  check "$arch: the allocated config routes about 1.5 experts on another text ($k)" \
    awk -v k="${k:-0}" 'BEGIN { d = (k - 1.5) / 1.5; exit !(d < 0.1 && d > -0.1) }'
  "$AK" sweep -m "$A" -f "$TEXT" -c 64 --chunks 6 --calib-chunks 6 -t 2 --targets 1.5 --k-max 3 --decode-tokens 2 \
    --prompt-tokens 2 --decode-reps 1 --policies entropy --no-per-layer --exact-chunks 1 -o "$DIR/$arch-sw" > "$DIR/sw.txt" 2>&1
  check "$arch: sweep exit 0" test $? -eq 0
  check "$arch: sweep's entropy and allocated rows ran" \
    test "$(grep -Ec '^(entropy,global|threshold,allocated),.*,ok,' "$DIR/$arch-sw/sweep.csv")" -eq 2
done
"$AK" gen-model -o "$DIR/lat.gguf" --arch nemotron_h_moe --moe-latent 16 --type q8_0 --vocab-kind bytes --quiet
expect_error "latent space" "$AK" profile -m "$DIR/lat.gguf" -f "$TEXT" -c 64 --chunks 4

expect_error "--targets" "$AK" sweep -m "$M" -f "$TEXT" --targets 1,x
expect_error "--policies" "$AK" sweep -m "$M" -f "$TEXT" --policies entropy,bogus
exit $fail
