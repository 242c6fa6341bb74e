#!/usr/bin/env bash
# batch_savings.sh ADAPTIVE_K MODEL SLOTS THREADS TEXT [CLIENTS...] -- [ROUTING FLAGS...] -
# what adaptive K saves in a batch: `adaptive-k serve --parallel SLOTS -t THREADS` with the
# routing flags under 1, 4, 16 and 64 clients (by default), each sending 4 requests of 32
# tokens with their own prompts from TEXT (bench/batch_savings.js); one JSON line per client
# count: tokens/s, latency, requests per forward pass, expert MiB read per pass with the
# routing used and with the native top-k.
set -euo pipefail
AK=$1 MODEL=$2 SLOTS=$3 THREADS=$4 TEXT=$5; shift 5
counts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do counts+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#counts[@]} -gt 0 ] || counts=(1 4 16 64)
trap 'kill $(jobs -p) 2>/dev/null' EXIT
here=$(dirname "$0")
wait_port() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.1; done; return 1; }
for n in "${counts[@]}"; do
  "$AK" serve -m "$MODEL" --port 18082 --parallel "$SLOTS" -t "$THREADS" --queue 256 --log-file /dev/null "$@" 2>/dev/null &
  pid=$!; wait_port 18082
  echo "$(node "$here/batch_savings.js" http://127.0.0.1:18082 "$n" 4 32 "$TEXT") load=$(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM $pid; wait $pid || true
done
