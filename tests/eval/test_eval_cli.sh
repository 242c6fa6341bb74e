#!/usr/bin/env bash
# test_eval_cli.sh ADAPTIVE_K TEXT - gen-model, perplexity and generate from the command
# line: output format (llama.cpp's progress and final lines, routing summary), routing flags,
# determinism of greedy and seeded generation, and clear errors for bad input.
set -u
AK=$1
TEXT=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail=0
check() { # check NAME COND...
  local name=$1
  shift
  if "$@"; then :; else echo "FAIL: $name" >&2; fail=1; fi
}

M=$DIR/m.gguf
"$AK" gen-model -o "$M" --arch olmoe --type q8_0 --seed 3 --quiet
check "gen-model writes a file" test -s "$M"

"$AK" perplexity -m "$M" -f "$TEXT" -c 64 --chunks 3 -t 2 > "$DIR/ppl.txt" 2> "$DIR/ppl.err"
check "perplexity exit 0" test $? -eq 0
check "running values [1]..[3]" grep -q '^\[1\][0-9.]*,\[2\][0-9.]*,\[3\][0-9.]*,$' "$DIR/ppl.txt"
check "final estimate line" grep -Eq '^Final estimate: PPL = [0-9]+\.[0-9]{4} \+/- [0-9]+\.[0-9]{5}$' "$DIR/ppl.txt"
check "native average K = 2" grep -q 'average K 2.000' "$DIR/ppl.txt"
check "native saves nothing" grep -q 'expert MACs 0.0%' "$DIR/ppl.txt"

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
"$AK" generate -m "$M" -p "The sea" -n 12 --temp 1 --seed 5 --policy entropy -t 2 > "$DIR/s1.txt" 2>/dev/null
"$AK" generate -m "$M" -p "The sea" -n 12 --temp 1 --seed 5 --policy entropy -t 2 > "$DIR/s2.txt" 2>/dev/null
check "seeded sampling is deterministic" cmp -s "$DIR/s1.txt" "$DIR/s2.txt"

# bad input: exit status non-zero and a message naming the problem, never a crash (>= 128)
expect_error() { # expect_error PATTERN CMD...
  local pat=$1
  shift
  "$@" > "$DIR/e.out" 2> "$DIR/e.err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ] || ! grep -q -e "$pat" "$DIR/e.err"; then
    echo "FAIL: '$*' -> rc $rc, stderr: $(cat "$DIR/e.err")" >&2
    fail=1
  fi
}
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
exit $fail
