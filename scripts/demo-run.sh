#!/usr/bin/env bash
# The demo's steps with a built adaptive-k (scripts/demo.sh builds it first; the test
# `demo` runs this on every CI build): the shipped model (models/olmoe-sotu-f16.gguf, 6
# layers, 16 experts, native top-4) at its native K and with routing at an average K of 3:
# the default is models/olmoe-sotu-best-avgk3.json (per-layer budgets with a probability
# threshold in each layer, `calibrate --allocate`), next to the single-rule routers
# (models/*-avgk3.json) and fixed top-3; then served over HTTP with the best config; last,
# the fine-grained model (models/olmoe64-sotu-f16.gguf: 64 experts, top-8) at native K and
# with its per-layer budgets at average K 6.
#   bash scripts/demo-run.sh ADAPTIVE_K      (AK_DEMO_CHUNKS=N: chunks of 256 tokens, default 30)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 ADAPTIVE_K" >&2; exit 2; }
AK=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/.."
MODEL=models/olmoe-sotu-f16.gguf
BEST=models/olmoe-sotu-best-avgk3.json
ENTROPY=models/olmoe-sotu-entropy-avgk3.json
RATIO=models/olmoe-sotu-ratio-avgk3.json
MODEL64=models/olmoe64-sotu-f16.gguf
BEST64=models/olmoe64-sotu-best-avgk6.json
CHUNKS=${AK_DEMO_CHUNKS:-30}
PROMPT="The state of our union is"

section() { printf '\n== %s ==\n' "$*"; }

section "1. Generate 40 tokens at the model's native top-4"
"$AK" generate -m "$MODEL" -p "$PROMPT" -n 40 --seed 1 2>&1 | grep -v "^per token"

section "2. The same prompt with per-layer budgets at average K 3 ($BEST)"
"$AK" generate -m "$MODEL" -p "$PROMPT" -n 40 --seed 1 --router-config "$BEST" 2>&1 | grep -v "^per token"

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
ppl_row "per-layer budgets, avg K 3 (best)" --router-config "$BEST"
ppl_row "entropy, calibrated avg K 3" --router-config "$ENTROPY"
ppl_row "ratio, calibrated avg K 3" --router-config "$RATIO"
ppl_row "fixed top-3" --k 3
ppl_row "fixed top-2" --k 2
echo "(docs/results.md has the full sweep: every policy, KL divergence and decode speed.)"

section "4. Routing decisions on recorded router logits (data/sample_router_logits.npy)"
"$AK" route data/sample_router_logits.npy --router-config "$ENTROPY"

section "5. Serve it: OpenAI-compatible API, usage with average K, Prometheus metrics"
tmp=$(mktemp -d)
"$AK" serve -m "$MODEL" --port 0 --port-file "$tmp/port" --router-config "$BEST" \
  --log-file "$tmp/requests.jsonl" >"$tmp/serve.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "the server did not start:" >&2; cat "$tmp/serve.out" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"
echo "adaptive-k serve on $url, default routing $BEST"
ask() { # label, JSON body
  echo "-- $1"
  curl -s "$url/v1/completions" -H 'Content-Type: application/json' -d "$2" |
    sed -nE 's/.*"text":"([^"]*)".*"usage":(\{[^}]*\}).*/  text: \1\n  usage: \2/p'
  echo
}
ask "default routing (per-layer budgets, average K 3)" \
  '{"prompt":"The Congress","max_tokens":24,"temperature":0}'
ask "the same request at the model's own top-4" \
  '{"prompt":"The Congress","max_tokens":24,"temperature":0,"adaptive_k":{"policy":"fixed","k":4}}'
echo "-- GET /metrics (excerpt)"
curl -s "$url/metrics" | grep -E '^adaptive_k_(avg_k|compute_saved_ratio|requests_total)' | sed 's/^/  /'
kill -TERM $server && wait $server 2>/dev/null || true
echo "-- the JSON log line of each request"
sed 's/^/  /' "$tmp/requests.jsonl"

section "6. A fine-grained MoE: 64 experts, top-8 ($MODEL64)"
echo "The same data and tokenizer, 8 layers of 64 small experts (docs/results.md compares both models)."
MODEL=$MODEL64
printf '%-34s %10s %8s %16s\n' "routing" "PPL" "avg K" "expert MACs saved"
ppl_row "native top-8" --k 8
ppl_row "per-layer budgets, avg K 6 (best)" --router-config "$BEST64"
ppl_row "fixed top-6" --k 6
"$AK" generate -m "$MODEL64" -p "$PROMPT" -n 24 --seed 1 --router-config "$BEST64" 2>&1 | grep -v "^per token"
