#!/usr/bin/env bash
# The main demo: installs the build dependencies, builds, then runs the shipped MoE model
# (models/olmoe-sotu-f16.gguf, 6 layers, 16 experts, native top-4) at its native K and with
# adaptive-K routers calibrated to an average K of 3 (models/*-avgk3.json), and shows what
# that costs in quality and saves in compute. About a minute after the build on 2 cores.
#   bash scripts/demo.sh            (AK_DEMO_CHUNKS=N scores N chunks of 256 tokens, default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

AK=./build/tools/adaptive-k
MODEL=models/olmoe-sotu-f16.gguf
ENTROPY=models/olmoe-sotu-entropy-avgk3.json
RATIO=models/olmoe-sotu-ratio-avgk3.json
CHUNKS=${AK_DEMO_CHUNKS:-30}
PROMPT="The state of our union is"

section() { printf '\n== %s ==\n' "$*"; }

section "1. Generate 40 tokens at the model's native top-4"
"$AK" generate -m "$MODEL" -p "$PROMPT" -n 40 --seed 1 2>&1 | grep -v "^per token"

section "2. The same prompt with the entropy router calibrated to average K 3 ($ENTROPY)"
"$AK" generate -m "$MODEL" -p "$PROMPT" -n 40 --seed 1 --router-config "$ENTROPY" 2>&1 | grep -v "^per token"

section "3. Perplexity on held-out text (data/sotu-test.txt, $CHUNKS chunks of 256 tokens)"
echo "The routers were calibrated on data/sotu-valid.txt (adaptive-k calibrate), never on this text."
printf '%-34s %10s %8s %16s\n' "routing" "PPL" "avg K" "expert MACs saved"
ppl_row() { # label, routing flags...
  local label=$1; shift
  local out
  out=$("$AK" perplexity -m "$MODEL" -f data/sotu-test.txt -c 256 --chunks "$CHUNKS" "$@" 2>&1)
  printf '%-34s %10s %8s %16s\n' "$label" \
    "$(sed -nE 's/^Final estimate: PPL = ([0-9.]+).*/\1/p' <<<"$out")" \
    "$(sed -nE 's/^routing: average K ([0-9.]+).*/\1/p' <<<"$out")" \
    "$(sed -nE 's/.*expert MACs ([0-9.]+%).*/\1/p' <<<"$out" | head -n1)"
}
ppl_row "native top-4" --k 4
ppl_row "entropy, calibrated avg K 3" --router-config "$ENTROPY"
ppl_row "ratio, calibrated avg K 3" --router-config "$RATIO"
ppl_row "fixed top-3" --k 3
ppl_row "fixed top-2" --k 2
echo "(docs/results.md has the full sweep: every policy, KL divergence and decode speed.)"

section "4. Routing decisions on recorded router logits (data/sample_router_logits.npy)"
"$AK" route data/sample_router_logits.npy --router-config "$ENTROPY"
