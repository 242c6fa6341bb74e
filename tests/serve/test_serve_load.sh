#!/usr/bin/env bash
# test_serve_load.sh - a bounded load test: CLIENTS concurrent clients each send REQUESTS
# completions (TOKENS tokens each) one after another; the queue is large enough that none
# may be refused. Every request must succeed, none may be lost (responses, metrics and log
# lines all count CLIENTS * REQUESTS), and the throughput is printed.
# Environment: CLIENTS (8), REQUESTS (4), TOKENS (32), PARALLEL (2), THREADS (1), SERVE_FLAGS
# (more serve flags, e.g. routing).
. "$(dirname "$0")/lib.sh"
CLIENTS=${CLIENTS:-8}
REQUESTS=${REQUESTS:-4}
TOKENS=${TOKENS:-32}
PARALLEL=${PARALLEL:-2}
THREADS=${THREADS:-1}
total=$((CLIENTS * REQUESTS))
start_server load -t "$THREADS" --parallel "$PARALLEL" --queue "$CLIENTS" --log-file $DIR/log.jsonl --timeout 300 ${SERVE_FLAGS:-}

client() { # client ID: REQUESTS sequential requests, one status line each
  local id=$1
  for r in $(seq 1 "$REQUESTS"); do
    curl -s -o $DIR/resp.$id.$r.json -w '%{http_code}\n' -H 'Content-Type: application/json' -H "X-Request-Id: load-$id-$r" \
      --data-binary "{\"prompt\":\"The Congress of the United States\",\"max_tokens\":$TOKENS,\"temperature\":0.8,\"seed\":$((id * 100 + r))}" \
      $BASE/v1/completions >> $DIR/status.$id
  done
}
t0=$(date +%s.%N)
for c in $(seq 1 "$CLIENTS"); do client $c & done
wait $(jobs -p | grep -v "^$SERVER_PID$")
t1=$(date +%s.%N)

n200=$(cat $DIR/status.* | grep -c '^200$')
check "load: all $total requests answered 200 (got $n200; $(cat $DIR/status.* | sort | uniq -c | tr -s ' '))" test "$n200" = "$total"
node -e '
  const fs = require("fs"), dir = process.argv[1];
  const files = fs.readdirSync(dir).filter(f => f.startsWith("resp."));
  let tokens = 0, bad = 0;
  for (const f of files) {
    const d = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
    if (!d.choices || d.usage.completion_tokens < 1) bad++;
    else tokens += d.usage.completion_tokens;
  }
  console.log(files.length + " " + bad + " " + tokens);' $DIR > $DIR/sum.txt
read n_files n_bad n_tokens < $DIR/sum.txt
check "load: $total responses with text (files $n_files, bad $n_bad)" test "$n_files" = "$total" -a "$n_bad" = 0
curl -s $BASE/metrics > $DIR/metrics.txt
m200=$(grep '^adaptive_k_requests_total{status="200",variant="default"}' $DIR/metrics.txt | awk '{print $2}')
check "load: metrics count $total (got $m200)" test "$m200" = "$total"
mtok=$(grep '^adaptive_k_tokens_total{kind="completion",variant="default"}' $DIR/metrics.txt | awk '{print $2}')
check "load: metrics tokens = response tokens ($mtok vs $n_tokens)" test "$mtok" = "$n_tokens"
stop_server $SERVER_PID
check "load: server exit 0" test "$STOP_RC" = 0
check "load: one log line per request" test "$(wc -l < $DIR/log.jsonl)" = "$total"
check "load: distinct request ids in the log" test "$(grep -o '"request_id":"[^"]*"' $DIR/log.jsonl | sort -u | wc -l)" = "$total"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const lat = lines.map(l => l.latency_ms).sort((a, b) => a - b);
  const q = p => { const x = p * (lat.length - 1), i = Math.floor(x); return i + 1 < lat.length ? lat[i] + (x - i) * (lat[i + 1] - lat[i]) : lat[i]; };
  const wall = Number(process.argv[6]) - Number(process.argv[2]), tokens = Number(process.argv[3]);
  console.log(`load: ${lines.length} requests from ${process.argv[4]} clients (${process.argv[5]} workers), ${tokens} completion tokens in ${wall.toFixed(2)} s: ${(lines.length / wall).toFixed(2)} requests/s, ${(tokens / wall).toFixed(1)} tokens/s; latency p50 ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms; average K ${(lines.reduce((a, l) => a + l.avg_k, 0) / lines.length).toFixed(2)}`);' \
  $DIR/log.jsonl "$t0" "$n_tokens" "$CLIENTS" "$PARALLEL" "$t1"
[ $fail = 0 ] && echo "serve load: ok"
exit $fail
