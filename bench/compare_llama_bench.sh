#!/usr/bin/env bash
# Prefill/decode throughput of our engine against llama.cpp's llama-bench on one GGUF file,
# interleaved (ours, llama.cpp, ours, ...) so that a shared machine's load hits both alike.
#
#   bench/compare_llama_bench.sh BENCH_ENGINE LLAMA_BENCH MODEL.gguf [THREADS...]
#     env: ROUNDS (2), P (128), N (32), REPS (3), D (0: the depth, -d of both),
#          CTK (f32: the KV cache type of both; llama.cpp's own default is f16, and llama-bench
#          takes no f32: give f16 when comparing)
#
# BENCH_ENGINE is build/bench/bench_engine (a -DAK_ENGINE_ONLY=ON build is enough);
# LLAMA_BENCH a llama-bench built outside this repository. Prints one line per run:
#   ours  t=16 pp=295.8 tg=104.2
#   llama t=16 pp=232.9 tg=85.9
# (ours: median of REPS repetitions; llama-bench: its average of REPS).
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,12p "$0" >&2; exit 2; }
BE=$1 LB=$2 MODEL=$3; shift 3
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=("$(nproc)")
ROUNDS=${ROUNDS:-2} P=${P:-128} N=${N:-32} REPS=${REPS:-3} D=${D:-0} CTK=${CTK:-f32}
for f in "$BE" "$LB"; do [ -x "$f" ] || { echo "not an executable: $f" >&2; exit 2; }; done
[ -r "$MODEL" ] || { echo "cannot read $MODEL" >&2; exit 2; }

ours() {
  "$BE" -m "$MODEL" -p "$P" -n "$N" -d "$D" -ctk "$CTK" -ctv "$CTK" -r "$REPS" -t "$1" |
    sed -nE "s/^RESULT .*pp_tps=([0-9.]+) tg_tps=([0-9.]+).*/ours  t=$1 pp=\1 tg=\2/p"
}
llama() {
  # jsonl: one object per test; the prompt test has n_gen 0, the generation test n_prompt 0
  "$LB" -m "$MODEL" -p "$P" -n "$N" -d "$D" -ctk "$CTK" -ctv "$CTK" -r "$REPS" -t "$1" -fa off -o jsonl 2>/dev/null |
    awk -v t="$1" '{
      match($0, /"n_prompt": *[0-9]+/); np = substr($0, RSTART, RLENGTH); sub(/.*: */, "", np)
      match($0, /"avg_ts": *[0-9.]+/);  ts = substr($0, RSTART, RLENGTH); sub(/.*: */, "", ts)
      if (np + 0 > 0) pp = ts; else tg = ts
    } END { printf "llama t=%s pp=%.1f tg=%.1f\n", t, pp, tg }'
}
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${threads[@]}"; do
    ours "$t"
    llama "$t"
  done
done
