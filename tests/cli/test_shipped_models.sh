#!/usr/bin/env bash
# test_shipped_models.sh ADAPTIVE_K SOURCE_DIR - every model in models/ loads, and its
# perplexity on the first 4 chunks of data/sotu-test.txt (-c 256, native top-k) is the
# pinned value (measured when the model was shipped; the engine is deterministic, the
# tolerance covers the kernels of other CPUs). Pins: MODEL PPL [perplexity flags].
# The KV cache types (-ctk/-ctv): f16 must stay within 0.1% of the f32 pin and q8_0 within
# 0.5% (issue 18's goals); their own values are pinned too.
set -u
AK=$1 SRC=$2
fails=0
pin() { # pin MODEL PPL [FLAGS...]
  local out got model=$1 want=$2
  shift 2
  out=$("$AK" perplexity -m "$SRC/models/$model" -f "$SRC/data/sotu-test.txt" -c 256 --chunks 4 -t 2 "$@" 2>&1)
  got=$(sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p' <<<"$out")
  if ! awk -v g="${got:-0}" -v w="$want" 'BEGIN { d = (g - w) / w; exit !(d < 1e-4 && d > -1e-4) }'; then
    echo "FAIL: $model $*: PPL ${got:-none}, pinned $want" >&2
    echo "$out" | tail -5 >&2
    fails=$((fails + 1))
  fi
}
pin olmoe-sotu-f16.gguf 63.9324 -ctk f32 -ctv f32
pin olmoe64-sotu-f16.gguf 88.4594 -ctk f32 -ctv f32
# the default caches are f16 (session 6): olmoe64 -0.013% against its f32 pin
pin olmoe64-sotu-f16.gguf 88.4476
# KV cache types against the f32 pin 63.9324: f16 (the default) +0.0031%, q8_0 -0.022% (limits
# 0.1%, 0.5%; tiled attention kernel of session 6: the per-key loop gave 63.9347 and 63.9349)
pin olmoe-sotu-f16.gguf 63.9344
pin olmoe-sotu-f16.gguf 63.9183 -ctk q8_0 -ctv q8_0
awk 'BEGIN { d1 = 63.9344 / 63.9324 - 1; d2 = 63.9183 / 63.9324 - 1
             exit !(d1 < 0.001 && d1 > -0.001 && d2 < 0.005 && d2 > -0.005) }' || { echo "FAIL: KV pins beyond the limits"; fails=$((fails + 1)); }
# Long contexts (no 4096 cap): a generated olmoe file trained "for" 8192 tokens, 3 chunks of
# data/moby-dick-test.txt at -c 2048 and 4096, pinned to llama-perplexity -fa off -ctk f32
# -ctv f32 on the same file (439.4470, 456.4775; with f16 caches on both sides 456.4625
# ours, 456.4621 llama.cpp)
tmp=$(mktemp -d)
"$AK" gen-model -o "$tmp/long.gguf" --arch olmoe --layers 2 --embd 128 --heads 4 --heads-kv 4 --ctx 8192 \
  --vocab-kind bytes --vocab 300 --quiet
long() { # long CTX PPL [FLAGS]
  local c=$1 want=$2 got
  shift 2
  got=$("$AK" perplexity -m "$tmp/long.gguf" -f "$SRC/data/moby-dick-test.txt" -c "$c" --chunks 3 -t 2 "$@" 2>&1 |
        sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p')
  awk -v g="${got:-0}" -v w="$want" 'BEGIN { d = (g - w) / w; exit !(d < 1e-4 && d > -1e-4) }' ||
    { echo "FAIL: long context -c $c $*: PPL ${got:-none}, pinned $want" >&2; fails=$((fails + 1)); }
}
long 2048 439.4470 -ctk f32 -ctv f32
long 4096 456.4775 -ctk f32 -ctv f32
long 4096 456.4625
rm -rf "$tmp"
[ "$fails" -eq 0 ] && echo "shipped models: ok"
exit "$fails"
