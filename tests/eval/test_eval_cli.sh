#!/usr/bin/env bash
# test_eval_cli.sh ADAPTIVE_K TEXT - gen-model, perplexity and generate from the command
# line: output format (llama.cpp's progress and final lines, routing summary), routing flags,
# determinism of greedy and seeded generation, and clear errors for bad input.
set -u
AK=$1
TEXT=$2
. "$(dirname "$0")/cli_lib.sh"

M=$DIR/m.gguf
"$AK" gen-model -o "$M" --arch olmoe --type q8_0 --seed 3 --quiet
check "gen-model writes a file" test -s "$M"

"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 3 -t 2 > "$DIR/ppl.txt" 2> "$DIR/ppl.err"
check "perplexity exit 0" test $? -eq 0
check "running values [1]..[3]" grep -q '^\[1\][0-9.]*,\[2\][0-9.]*,\[3\][0-9.]*,$' "$DIR/ppl.txt"
check "final estimate line" grep -Eq '^Final estimate: PPL = [0-9]+\.[0-9]{4} \+/- [0-9]+\.[0-9]{5}$' "$DIR/ppl.txt"
check "native average K = 2" grep -q 'average K 2.000' "$DIR/ppl.txt"
check "native saves nothing" grep -q 'expert MACs 0.0%' "$DIR/ppl.txt"

check "no context warning within the training context" test "$(grep -c warning "$DIR/ppl.err")" = 0
"$AK" gen-model -o "$DIR/c32.gguf" --arch olmoe --type q8_0 --seed 3 --ctx 32 --quiet
"$AK" perplexity -m "$DIR/c32.gguf" -f "$TEXT" -c 64 --chunks 1 -t 2 > /dev/null 2> "$DIR/c32.err"
check "-c beyond the training context: runs" test $? -eq 0
check "-c beyond the training context: warned" grep -q 'warning: n_ctx 64 is larger than the 32 tokens the model was trained on' "$DIR/c32.err"
"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 3 -t 2 --policy fixed --k 1 > "$DIR/ppl1.txt" 2>&1
check "fixed k=1 average K" grep -q 'average K 1.000' "$DIR/ppl1.txt"
check "fixed k=1 saves half the expert MACs" grep -q 'expert MACs 50.0%' "$DIR/ppl1.txt"

"$AK" generate -m "$M" -p "The sea" -n 12 --temp 0 -t 2 > "$DIR/g1.txt" 2> "$DIR/g1.err"
check "generate exit 0" test $? -eq 0
"$AK" generate -m "$M" -p "The sea" -n 12 --temp 0 -t 2 > "$DIR/g2.txt" 2>/dev/null
check "greedy is deterministic" cmp -s "$DIR/g1.txt" "$DIR/g2.txt"
check "output starts with the prompt" grep -q '^The sea' "$DIR/g1.txt"
check "speeds printed" grep -q 'generation: [0-9]* tokens' "$DIR/g1.err"
check "average K printed" grep -q 'average K' "$DIR/g1.err"
# no 4096 cap: -c 0 is the trained length, refused with what it needs when the cache cannot fit
"$AK" gen-model -o "$DIR/huge_ctx.gguf" --arch olmoe --layers 64 --ctx 16000000 --quiet
"$AK" generate -m "$DIR/huge_ctx.gguf" -p "hi" -n 2 > /dev/null 2> "$DIR/huge.err"
check "a 16M-token context that cannot fit: exit 1 with the size it needs" \
  sh -c "[ $? -eq 1 ] && grep -q 'needs 244.14 GiB of KV cache (16.0 KiB per token' '$DIR/huge.err'"
"$AK" generate -m "$DIR/huge_ctx.gguf" -p "hi" -n 2 -c 64 > /dev/null 2>&1
check "the same model with -c 64 runs" test $? -eq 0
# RoPE scaling read from the file and applied as llama.cpp does: perplexity pinned to
# llama-perplexity -c 256 --chunks 4 -t 1 -fa off -ctk f32 -ctv f32 on the same files
# (qwen3moe, 2 layers, bytes vocabulary, context 1024): linear x4, and YaRN x4 from an
# original context of 64 (beyond which it changes the angles and the magnitude)
G="--arch qwen3moe --layers 2 --embd 128 --heads 4 --heads-kv 2 --head-dim 32 --ctx 1024 --vocab-kind bytes --vocab 300 --quiet"
for spec in "linear 4 0 794.4308" "yarn 4 64 713.8480" "none 0 0 815.4747"; do
  set -- $spec
  if [ "$1" = none ]; then "$AK" gen-model -o "$DIR/rope_$1.gguf" $G
  else "$AK" gen-model -o "$DIR/rope_$1.gguf" $G --rope-scaling $1 --rope-factor $2 --rope-orig-ctx $3; fi
  got=$("$AK" perplexity -m "$DIR/rope_$1.gguf" -f "$TEXT" -c 256 --chunks 4 -t 1 -ctk f32 -ctv f32 2>&1 | sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p')
  check "rope scaling $1: PPL $got, llama.cpp $4" awk -v g="${got:-0}" -v w="$4" 'BEGIN { d = (g - w) / w; exit !(d < 1e-4 && d > -1e-4) }'
done
# deepseek2 with YaRN x4 from 64 and the converter's yarn_log_multiplier 0.0707 (llama.cpp
# divides it by 0.1; the attention scale takes mscale^2): pinned to llama-perplexity likewise
"$AK" gen-model -o "$DIR/ds_yarn.gguf" --arch deepseek2 --vocab-kind bytes --ctx 1024 --quiet --rope-scaling yarn \
  --rope-factor 4 --rope-orig-ctx 64 --rope-log-mul 0.0707
got=$("$AK" perplexity -m "$DIR/ds_yarn.gguf" -f "$TEXT" -c 256 --chunks 4 -t 1 -ctk f32 -ctv f32 2>&1 | sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p')
check "deepseek2 yarn: PPL $got, llama.cpp 471.1369" awk -v g="${got:-0}" 'BEGIN { d = (g - 471.1369) / 471.1369; exit !(d < 1e-4 && d > -1e-4) }'
# -f FILE (as llama.cpp): the file's bytes are the prompt, the same output as -p
printf 'The sea' > "$DIR/prompt.txt"
"$AK" generate -m "$M" -f "$DIR/prompt.txt" -n 12 --temp 0 -t 2 > "$DIR/gf.txt" 2>/dev/null
check "generate -f equals -p" cmp -s "$DIR/g1.txt" "$DIR/gf.txt"
"$AK" generate -m "$M" -f "$DIR/missing.txt" -n 2 > /dev/null 2> "$DIR/gf.err"
check "generate -f of a missing file: exit 1 naming it" sh -c "[ $? -eq 1 ] && grep -q 'missing.txt' '$DIR/gf.err'"
"$AK" generate -m "$M" -p "The sea" -n 12 --temp 1 --seed 5 --policy entropy -t 2 > "$DIR/s1.txt" 2>/dev/null
"$AK" generate -m "$M" -p "The sea" -n 12 --temp 1 --seed 5 --policy entropy -t 2 > "$DIR/s2.txt" 2>/dev/null
check "seeded sampling is deterministic" cmp -s "$DIR/s1.txt" "$DIR/s2.txt"
# -n beyond the context: said on stderr, and no more tokens than fit are generated (fewer
# when the model samples its end-of-text token)
"$AK" generate -m "$M" -p "The sea" -n 500 -c 32 --temp 0 -t 2 > "$DIR/long.txt" 2> "$DIR/long.err"
check "-n beyond the context: exit 0" test $? -eq 0
check "-n beyond the context: said" grep -q 'generate: -n 500 does not fit the context of 32 tokens' "$DIR/long.err"
n_prompt=$(sed -nE 's/^prompt: ([0-9]+) tokens.*/\1/p' "$DIR/long.err")
n_gen=$(sed -nE 's/^generation: ([0-9]+) tokens.*/\1/p' "$DIR/long.err")
check "-n beyond the context: at most what fits" test "${n_gen:-999}" -le $((32 - ${n_prompt:-0}))

# greedy generation against llama.cpp: the first bytes llama-completion --temp 0 printed for
# these byte-vocabulary models (scripts/compare-llama.sh shapes; docs/correctness.md)
pinned_greedy() { # pinned_greedy ARCH HEX FLAGS...
  local arch=$1 want=$2
  shift 2
  "$AK" gen-model -o "$DIR/g.gguf" --arch "$arch" --type f32 --layers 2 --embd 256 --heads 4 --experts 8 \
    --top-k 2 --ff 256 --vocab 400 --seed 42 --vocab-kind bytes --quiet "$@"
  local got
  got=$("$AK" generate -m "$DIR/g.gguf" -p "The keeper climbed" -n 32 --temp 0 -t 2 -c 256 2>/dev/null |
    tail -c +19 | head -c -1 | od -An -tx1 | tr -d ' \n')
  check "greedy $arch equals llama.cpp's" test "$got" = "$want"
}
pinned_greedy olmoe 5a3c7c756e7573656432367c3e4217ec3c7c756e757365643132397c3e3c7c756e757365643130387c3edea72d3f3c7c756e7573656431367c3e5a323c7c756e7573656435327c3e6444b82d3f3c7c756e757365643133307c3e0abadea73c7c756e757365643132397c3e3c7c756e757365643133337c3e4cd7ec16da --heads-kv 4
pinned_greedy mixtral 3c7c756e757365643133337c3e3c7c756e7573656431367c3e363c7c756e75736564317c3e53af36d0af36b9ba3c7c756e7573656439377c3ea8c2883c7c756e7573656435377c3eab3c7c756e757365643130367c3eab9fc5eb3c7c756e757365643133357c3e3c7c756e7573656437367c3e3c7c756e7573656435327c3e7ceb3c7c756e757365643133357c3e3c7c756e7573656437367c3e3c7c756e7573656435327c3e --heads-kv 2

# bad input: exit status non-zero and a message naming the problem, never a crash (>= 128)
expect_error "required" "$AK" perplexity -f "$TEXT"
expect_error "No such file" "$AK" perplexity -m "$DIR/none.gguf" -f "$TEXT"
expect_error "No such file" "$AK" perplexity -m "$M" -f "$DIR/none.txt"
expect_error "at least" "$AK" perplexity -m "$M" -f "$TEXT" -c 4096
head -c 100 /dev/urandom > "$DIR/junk.gguf"
expect_error "junk.gguf" "$AK" perplexity -m "$DIR/junk.gguf" -f "$TEXT"
expect_error "unknown argument" "$AK" generate -m "$M" -p hi --bogus
expect_error "--top-p" "$AK" generate -m "$M" -p hi --top-p 2
expect_error "top-k" "$AK" gen-model -o "$DIR/x.gguf" --experts 4 --top-k 5
expect_error "architecture" "$AK" gen-model -o "$DIR/x.gguf" --arch gpt2
check "no file after a failed gen-model" test ! -e "$DIR/x.gguf"
# deepseek2: adaptive routing runs (top-p along the selection order); calibration records
# what the policies read (log q of the eligible experts) and reaches its target
"$AK" gen-model -o "$DIR/ds.gguf" --arch deepseek2 --vocab-kind bytes --quiet
"$AK" perplexity -m "$DIR/ds.gguf" -f "$TEXT" -c 64 --chunks 2 -t 2 --policy top-p --top-p 0.7 > "$DIR/ds.txt" 2>&1
check "deepseek2: perplexity with top-p routing" grep -q "Final estimate" "$DIR/ds.txt"
check "deepseek2: the ledger marks the dense layer" grep -q "0  dense" "$DIR/ds.txt"
# calibrate_sigmoid_router_and_dense_layer: calibrate once refused deepseek2 (and would have
# failed on its dense layer); the policy it writes gives about the target in perplexity
# (profile, calibrate --allocate and sweep on sigmoid routers: tests/eval/test_sweep_cli.sh)
"$AK" calibrate -m "$DIR/ds.gguf" -f "$TEXT" -c 64 --policy entropy --target-avg-k 1.5 -o "$DIR/ds.json" -t 2 \
  > "$DIR/dscal.txt" 2>&1
check "deepseek2: calibrate writes a config" test -s "$DIR/ds.json"
check "deepseek2: calibrate reaches 1.5 on its sample" grep -q "achieved average K 1\.[45]" "$DIR/dscal.txt"
"$AK" perplexity -m "$DIR/ds.gguf" -f "$TEXT" -c 64 --chunks 4 -t 2 --router-config "$DIR/ds.json" > "$DIR/ds2.txt" 2>&1
k=$(sed -n 's/^routing: average K \([0-9.]*\).*/\1/p' "$DIR/ds2.txt" | head -1)
check "deepseek2: the calibrated config routes about 1.5 experts ($k)" \
  node -e 'process.exit(Math.abs(process.argv[1] - 1.5) <= 0.3 ? 0 : 1)' "${k:-0}"
exit $fail
