#!/usr/bin/env bash
# load_serve.sh ADAPTIVE_K LLAMA_SERVER MODEL SLOTS THREADS [CLIENTS...] - serving throughput
# and latency of `adaptive-k serve --parallel SLOTS -t THREADS` against `llama-server -np
# SLOTS -t THREADS` on the same file, each started fresh, interleaved per client count
# (ours, llama.cpp, ours, ...). Clients (default 1 4 16 64) each send 4 requests of 32
# tokens (bench/load_serve.js). Prints one JSON line per run, tagged with the server.
set -euo pipefail
AK=$1 LS=$2 MODEL=$3 SLOTS=$4 THREADS=$5; shift 5
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 4 16 64)
dir=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
here=$(dirname "$0")
wait_port() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.1; done; return 1; }
for n in "${counts[@]}"; do
  "$AK" serve -m "$MODEL" --port 18080 --parallel "$SLOTS" -t "$THREADS" --queue 256 --log-file /dev/null 2>/dev/null &
  pid=$!; wait_port 18080
  echo "ours  $(node "$here/load_serve.js" http://127.0.0.1:18080 "$n" 4 32) load=$(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM $pid; wait $pid || true
  "$LS" -m "$MODEL" --port 18081 -np "$SLOTS" -t "$THREADS" -c $((SLOTS * 256)) -fa off --log-disable >/dev/null 2>&1 &
  pid=$!; wait_port 18081
  echo "llama $(node "$here/load_serve.js" http://127.0.0.1:18081 "$n" 4 32) load=$(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM $pid; wait $pid || true
done
