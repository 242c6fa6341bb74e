#!/usr/bin/env bash
# test_serve_ab.sh - A/B tests: variants assigned by FNV-1a of the user (or the request id),
# recomputed here independently in JavaScript; the same across a restart; each variant
# routes with its policy; /v1/ab/results reports per-variant statistics and Welch intervals.
. "$(dirname "$0")/lib.sh"
AB="adaptive=entropy@2:0.5,full=native:0.5"
users="alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil"

# expected variant per user: FNV-1a 64, top 53 bits / 2^53 < 0.5 -> adaptive
node -e '
  const users = process.argv.slice(1);
  for (const u of users) {
    let h = 14695981039346656037n;
    for (const b of Buffer.from(u)) { h ^= BigInt(b); h = (h * 1099511628211n) & ((1n << 64n) - 1n); }
    console.log(u + " " + (Number(h >> 11n) / 2 ** 53 < 0.5 ? "adaptive" : "full"));
  }' $users > $DIR/expected.txt

run_users() { # run_users OUTFILE
  : > $1
  for u in $users; do
    post /v1/completions "{\"prompt\":\"The Congress\",\"max_tokens\":8,\"user\":\"$u\"}" $DIR/r.json > $DIR/st
    echo "$u $(js $DIR/r.json d.variant) $(js $DIR/r.json d.usage.avg_k) $(cat $DIR/st)" >> $1
  done
}
start_server ab1 -t 1 --ab "$AB" --log-file $DIR/log1.jsonl
run_users $DIR/run1.txt
curl -s -o $DIR/rid1.json -H 'X-Request-Id: fixed-id-42' -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"The","max_tokens":2}' $BASE/v1/completions
check "all 200" test "$(awk '$4 != 200' $DIR/run1.txt | wc -l)" = 0
check "assignment = FNV-1a of the user" test "$(awk '{print $1, $2}' $DIR/run1.txt)" = "$(cat $DIR/expected.txt)"
check "both variants used" test "$(awk '{print $2}' $DIR/run1.txt | sort -u | wc -l)" = 2
check "full routes with native top-4" test -z "$(awk '$2 == "full" && $3 != 4' $DIR/run1.txt)"
check "adaptive routes with fewer experts" test -z "$(awk '$2 == "adaptive" && !($3 < 4)' $DIR/run1.txt)"
check "request id echoed" is_true $DIR/rid1.json 'd.id === "cmpl-fixed-id-42"'

check "ab results 200" test "$(get /v1/ab/results $DIR/ab.json)" = 200
n_adaptive=$(grep -c ' adaptive$' $DIR/expected.txt)
n_full=$(grep -c ' full$' $DIR/expected.txt)
rid_variant=$(js $DIR/rid1.json d.variant)
[ "$rid_variant" = adaptive ] && n_adaptive=$((n_adaptive + 1)) || n_full=$((n_full + 1))
check "results: request counts" is_true $DIR/ab.json "d.variants[0].name === 'adaptive' && d.variants[0].requests === $n_adaptive && d.variants[1].requests === $n_full"
check "results: latency summary" is_true $DIR/ab.json 'd.variants.every(v => v.latency_s.mean > 0 && v.latency_s.p50 > 0 && v.latency_s.p95 >= v.latency_s.p50 && v.tokens_per_s > 0 && v.mean_logprob < 0)'
check "results: avg K per variant" is_true $DIR/ab.json 'd.variants[1].avg_k === 4 && d.variants[0].avg_k < 4'
check "results: Welch comparison" is_true $DIR/ab.json '(c => c.variant === "full" && c.baseline === "adaptive" && ["latency_s","tokens_per_s","avg_k","mean_logprob"].every(k => c[k].ci95[0] <= c[k].diff && c[k].diff <= c[k].ci95[1] && c[k].df > 0))(d.comparisons[0])'
check "results: avg K difference significant and positive (full - adaptive)" is_true $DIR/ab.json 'd.comparisons[0].avg_k.diff > 0 && d.comparisons[0].avg_k.significant === true'
curl -s $BASE/metrics > $DIR/metrics.txt
check "metrics by variant" grep -q "^adaptive_k_requests_total{status=\"200\",variant=\"full\"} $n_full$" $DIR/metrics.txt
stop_server $SERVER_PID

# a restart (a new process): the same users and request id land in the same variants
start_server ab2 -t 1 --ab "$AB" --log-file $DIR/log2.jsonl
run_users $DIR/run2.txt
curl -s -o $DIR/rid2.json -H 'X-Request-Id: fixed-id-42' -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"The","max_tokens":2}' $BASE/v1/completions
check "same variants after a restart" test "$(awk '{print $1, $2}' $DIR/run1.txt)" = "$(awk '{print $1, $2}' $DIR/run2.txt)"
check "same variant for the same request id" test "$(js $DIR/rid2.json d.variant)" = "$rid_variant"
check "log lines carry the variant" test "$(grep -c '"variant":"full"' $DIR/log2.jsonl)" = "$n_full"
stop_server $SERVER_PID

# bad --ab specs fail at start-up with a message
"$AK" serve -m "$MODEL" --port 0 --ab "a=fixed@99:1" > /dev/null 2> $DIR/bad.err
check "bad --ab: exit non-zero" test $? -ne 0
check "bad --ab: message" grep -q 'K must be' $DIR/bad.err
[ $fail = 0 ] && echo "serve ab: ok"
exit $fail
