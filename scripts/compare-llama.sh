#!/usr/bin/env bash
# compare-llama.sh - correctness of adaptive-k against llama.cpp on generated random models.
#
#   scripts/compare-llama.sh LLAMA_BIN_DIR [ADAPTIVE_K] [TEXT] [OUT_DIR]
#
# LLAMA_BIN_DIR: a llama.cpp build's bin/ (llama-perplexity, llama-tokenize). Nothing from
# llama.cpp is built into or copied to this repository. ADAPTIVE_K: our binary (default
# build/tools/adaptive-k). TEXT: English text (default tests/eval/ppl_text.txt).
# For each architecture and weight type: generate a model (fixed seed), compare token ids
# (llama-tokenize vs adaptive-k tokenize, when that command exists) and perplexity
# (llama-perplexity -c 128 -fa off -ctk f32 -ctv f32 vs adaptive-k perplexity -c 128), native
# top-k and fixed K overrides (--override-kv ARCH.expert_used_count=int:N vs --policy fixed --k N).
# VOCAB=bytes (default): the built-in byte vocabulary, whose token ids are the bytes, so the
# perplexities compare the engines alone (these are the numbers pinned in
# tests/eval/ppl_pins.inc). VOCAB=tiny: each architecture's tiny BPE/SentencePiece vocabulary
# from the tokenizer module, which also compares tokenisation.
# GEN=1 adds greedy generation: adaptive-k generate --temp 0 (32 tokens) against
# llama-completion --temp 0, or llama-server's /completion with temperature 0 when the build
# has no llama-completion (exercises single-token decoding with the KV cache and states).
# Prints one markdown table row per run (the table in docs/correctness.md).
set -euo pipefail

LLAMA=${1:?usage: compare-llama.sh LLAMA_BIN_DIR [ADAPTIVE_K] [TEXT] [OUT_DIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AK=${2:-$ROOT/build/tools/adaptive-k}
TEXT=${3:-$ROOT/tests/eval/ppl_text.txt}
OUT=${4:-$(mktemp -d)}
THREADS=${THREADS:-2}
CTX=${CTX:-128}
ARCHS=${ARCHS:-"olmoe qwen2moe qwen3moe mixtral"}
VOCAB=${VOCAB:-bytes}
KS=${KS:-"native 1 4"}
GEN=${GEN:-0}
TYPES=${TYPES:-"f32 q8_0 q4_k"}
mkdir -p "$OUT"

for tool in llama-perplexity llama-tokenize; do
  [ -x "$LLAMA/$tool" ] || { echo "missing $LLAMA/$tool" >&2; exit 2; }
done
[ -x "$AK" ] || { echo "missing $AK (build adaptive-k first)" >&2; exit 2; }

# Shapes shared by every run: 256-wide rows so that every type (k-quants: 256 per block) applies.
gen_flags() {
  local arch=$1
  local flags="--layers 2 --embd 256 --heads 4 --heads-kv 2 --experts 8 --top-k 2 --ff 256 --vocab 400 --seed 42"
  [ "$VOCAB" = bytes ] && flags="$flags --vocab-kind bytes"
  case $arch in
    olmoe) flags="$flags --heads-kv 4" ;; # llama.cpp's olmoe has no grouped-query attention
    qwen2moe) flags="$flags --heads-kv 4 --ff-shexp 256" ;;
    qwen3moe) flags="$flags --head-dim 128" ;;
    deepseek2) flags="$flags --heads-kv 1 --layers 3 --q-lora 256 --kv-lora 256 --qk-nope 64 --qk-rope 32 --v-head 64 --ff-dense 256" ;;
    qwen35moe) flags="$flags --head-dim 64 --rope-dims 16 --ssm-heads 8 --ssm-groups 4 --ssm-head-dim 32 --ff-shexp 256 --layers 4" ;;
    nemotron_h_moe) flags="$flags ${NH_LATENT:+--moe-latent $NH_LATENT} --layers 5 --head-dim 64 --ssm-heads 8 --ssm-head-dim 32 --ssm-groups 2 --ssm-state 32 --ff-shexp 256" ;;
  esac
  echo "$flags"
}

gguf_arch() { [ "$1" = mixtral ] && echo llama || echo "$1"; }

ppl_of() { sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$1" | tail -1; }

# llama-perplexity, rerun if its log lacks the final line: llama.cpp logs from a background
# thread and its last lines are sometimes lost at exit when the output is a file
run_llama() {
  local out=$1
  shift
  for _ in 1 2 3; do
    "$LLAMA/llama-perplexity" "$@" > "$out" 2>&1 || true
    if [ -n "$(ppl_of "$out")" ]; then return 0; fi
  done
  return 0
}

rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; printf "%.4f%%", 100 * d }'; }

# Greedy continuation of a prompt: "equal" when adaptive-k's 32 tokens are exactly the start
# of llama-completion's output. llama.cpp prints through an asynchronous logger whose last
# bytes are often lost at exit, so it generates 16 tokens more and is rerun up to 3 times.
greedy_equal() {
  local model=$1 prompt="The keeper climbed" n=32
  "$AK" generate -m "$model" -p "$prompt" -n $n --temp 0 -t "$THREADS" -c 256 -ctk f32 -ctv f32 2>/dev/null |
    tail -c +$((${#prompt} + 1)) | head -c -1 > "$OUT/gen-ak.txt"
  local len
  len=$(wc -c < "$OUT/gen-ak.txt")
  if [ ! -x "$LLAMA/llama-completion" ]; then greedy_server "$model" "$prompt" $n "$len"; return 0; fi
  for _ in 1 2 3; do
    "$LLAMA/llama-completion" -m "$model" -p "$prompt" -n $((n + 16)) --temp 0 -no-cnv --no-display-prompt \
      -t "$THREADS" -c 256 -fa off -ctk f32 -ctv f32 --simple-io --no-warmup 2>/dev/null < /dev/null |
      head -c "$len" > "$OUT/gen-llama.txt"
    if cmp -s "$OUT/gen-llama.txt" "$OUT/gen-ak.txt"; then echo "equal ($len bytes)"; return 0; fi
  done
  echo "DIFFERENT"
}

# The same through llama-server: its greedy completion (temperature 0) of the prompt.
greedy_server() {
  local model=$1 prompt=$2 n=$3 len=$4 port=$((20000 + RANDOM % 20000))
  "$LLAMA/llama-server" -m "$model" --port $port -t "$THREADS" -c 256 -fa off -ctk f32 -ctv f32 -np 1 --no-jinja \
    > "$OUT/llama-server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break; sleep 0.2; done
  curl -s "http://127.0.0.1:$port/completion" -H 'Content-Type: application/json' \
    -d "{\"prompt\":\"$prompt\",\"n_predict\":$((n + 16)),\"temperature\":0,\"cache_prompt\":false}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).content))' |
    head -c "$len" > "$OUT/gen-llama.txt" || true
  kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
  if [ -s "$OUT/gen-ak.txt" ] && cmp -s "$OUT/gen-llama.txt" "$OUT/gen-ak.txt"; then echo "equal ($len bytes)"; else echo "DIFFERENT"; fi
}

gen_col="" gen_sep=""
if [ "$GEN" = 1 ]; then gen_col=" greedy 32 tokens |"; gen_sep="---|"; fi
echo "| arch | type | experts used | tokens equal | llama.cpp PPL | adaptive-k PPL | rel. diff |$gen_col"
echo "|---|---|---|---|---|---|---|$gen_sep"
for arch in $ARCHS; do
  for type in $TYPES; do
    model=$OUT/$arch-$type.gguf
    # shellcheck disable=SC2046
    "$AK" gen-model -o "$model" --arch "$arch" --type "$type" $(gen_flags "$arch") --quiet
    tok_eq="n/a"
    if "$AK" tokenize --help >/dev/null 2>&1; then
      "$LLAMA/llama-tokenize" -m "$model" -f "$TEXT" --ids --log-disable 2>/dev/null | tr -c '0-9\n' ' ' | tr -s ' ' '\n' | sed '/^$/d' > "$OUT/ids-llama.txt" || true
      "$AK" tokenize -m "$model" -f "$TEXT" --ids-only 2>/dev/null | tr -c '0-9\n' ' ' | tr -s ' ' '\n' | sed '/^$/d' > "$OUT/ids-ak.txt" || true
      if [ -s "$OUT/ids-llama.txt" ] && cmp -s "$OUT/ids-llama.txt" "$OUT/ids-ak.txt"; then
        tok_eq="yes ($(wc -l < "$OUT/ids-llama.txt"))"
      else
        tok_eq="NO"
      fi
    fi
    for k in $KS; do
      over=() ours=()
      if [ "$k" != native ]; then
        over=(--override-kv "$(gguf_arch "$arch").expert_used_count=int:$k")
        ours=(--policy fixed --k "$k")
      fi
      run_llama "$OUT/llama-$arch-$type-$k.txt" -m "$model" -f "$TEXT" -c "$CTX" -fa off -ctk f32 -ctv f32 \
        -t "$THREADS" "${over[@]}"
      "$AK" perplexity -m "$model" -f "$TEXT" -c "$CTX" -t "$THREADS" -ctk f32 -ctv f32 "${ours[@]}" \
        > "$OUT/ak-$arch-$type-$k.txt" 2>&1 || true
      a=$(ppl_of "$OUT/llama-$arch-$type-$k.txt")
      b=$(ppl_of "$OUT/ak-$arch-$type-$k.txt")
      d="n/a"
      [ -n "$a" ] && [ -n "$b" ] && d=$(rel "$b" "$a")
      g=""
      if [ "$GEN" = 1 ]; then
        if [ "$k" = native ]; then g=" $(greedy_equal "$model") |"; else g=" |"; fi
      fi
      echo "| $arch | $type | $k | $tok_eq | ${a:-FAIL} | ${b:-FAIL} | $d |$g"
    done
  done
done
echo "logs in $OUT" >&2
