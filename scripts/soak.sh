#!/usr/bin/env bash
# soak.sh [MINUTES] [MODEL] - the server under a mixed load for MINUTES (default 20): normal,
# streaming, dropped, routed and malformed requests from 6 clients (tests/serve/soak.js),
# with the server's resident memory sampled every 10 s. Passes when every request got its
# expected answer, the server exits 0 on SIGTERM, and memory is flat: the last sample at
# most 5% (+ 4 MiB) above the sample taken after the first minute. Not part of CI
# (docs/reliability.md has the numbers). Uses build/ (a Release build).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-20}
model=${2:-models/olmoe-sotu-f16.gguf}
ak=build/tools/adaptive-k
[ -x "$ak" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j "$(nproc)" >/dev/null; }
dir=$(mktemp -d)
"$ak" serve -m "$model" --port 0 --port-file "$dir/port" -t 1 --parallel 2 --queue 64 --log-file /dev/null 2>"$dir/err" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
secs=$((minutes * 60))
node tests/serve/soak.js "$port" "$secs" > "$dir/counts" 2>"$dir/client.err" &
client=$!
echo -e "seconds\trss_kib" > "$dir/rss.tsv"
t=0
while kill -0 "$client" 2>/dev/null; do
  echo -e "$t\t$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" >> "$dir/rss.tsv"
  sleep 10
  t=$((t + 10))
done
rc=0
wait "$client" || rc=1
kill -TERM "$pid"
wait "$pid" || rc=1
cat "$dir/client.err"
echo "requests: $(cat "$dir/counts")"
awk -v out="${SOAK_RSS_OUT:-}" 'NR > 1 { s[NR] = $2; t[NR] = $1; if ($1 == 60) base = $2; if ($2 > max) max = $2; last = $2; lt = $1 }
  END { printf "rss KiB: at 60 s %d, at %d s %d, max %d\n", base, lt, last, max;
        exit !(last <= base * 1.05 + 4096) }' "$dir/rss.tsv" || { echo "FAIL: memory grew"; rc=1; }
[ -n "${SOAK_RSS_OUT:-}" ] && cp "$dir/rss.tsv" "$SOAK_RSS_OUT"
[ $rc = 0 ] && echo "PASS: soak $minutes min" || echo "FAIL: soak"
exit $rc
