#!/usr/bin/env bash
# test_shipped_models.sh ADAPTIVE_K SOURCE_DIR - every model in models/ loads, and its
# perplexity on the first 4 chunks of data/sotu-test.txt (-c 256, native top-k) is the
# pinned value (measured when the model was shipped; the engine is deterministic, the
# tolerance covers the kernels of other CPUs). Pins: MODEL PPL.
set -u
AK=$1 SRC=$2
fails=0
pin() { # pin MODEL PPL
  local out got
  out=$("$AK" perplexity -m "$SRC/models/$1" -f "$SRC/data/sotu-test.txt" -c 256 --chunks 4 -t 2 2>&1)
  got=$(sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p' <<<"$out")
  if ! awk -v g="${got:-0}" -v w="$2" 'BEGIN { d = (g - w) / w; exit !(d < 1e-4 && d > -1e-4) }'; then
    echo "FAIL: $1: PPL ${got:-none}, pinned $2" >&2
    echo "$out" | tail -5 >&2
    fails=$((fails + 1))
  fi
}
pin olmoe-sotu-f16.gguf 63.9324
pin olmoe64-sotu-f16.gguf 88.4594
[ "$fails" -eq 0 ] && echo "shipped models: ok"
exit "$fails"
