#!/usr/bin/env bash
# test_serve_http.sh - the server with curl: endpoints and response shapes, usage (avg_k,
# compute_saved), streaming equal to non-streaming, stop strings, per-request routing and
# its limits, traces, bad requests (400/404/405/413), a full queue (429), timeouts (504),
# metrics counters, one valid JSON log line per request, and SIGTERM (in-flight requests
# finish, exit 0).
. "$(dirname "$0")/lib.sh"
LOG=$DIR/log.jsonl
start_server a -t 1 --parallel 1 --queue 2 --max-prompt-tokens 64 --max-k 8 --log-file "$LOG" --timeout 60
A_PID=$SERVER_PID
n_ok=0
: > $DIR/count
p() { echo >> $DIR/count; post "$@"; }

# ---- health, models
check "health 200" test "$(get /health $DIR/h.json)" = 200
check "health ok" is_true $DIR/h.json 'd.status === "ok" && d.slots === 1'
check "models 200" test "$(get /v1/models $DIR/m.json)" = 200
check "models list" is_true $DIR/m.json 'd.object === "list" && d.data[0].id === "olmoe-sotu-f16" && d.data[0].object === "model"'

# ---- completions: shape, usage, native routing (top-4 of 16: avg K exactly 4, nothing saved)
st=$(p /v1/completions '{"model":"olmoe-sotu-f16","prompt":"The Congress","max_tokens":12,"temperature":0}' $DIR/c1.json)
check "completion 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "completion shape" is_true $DIR/c1.json 'd.object === "text_completion" && d.id.startsWith("cmpl-") && typeof d.created === "number" && d.model === "olmoe-sotu-f16" && d.choices.length === 1 && d.choices[0].index === 0 && typeof d.choices[0].text === "string" && ["stop","length"].includes(d.choices[0].finish_reason)'
check "usage sums" is_true $DIR/c1.json 'd.usage.total_tokens === d.usage.prompt_tokens + d.usage.completion_tokens && d.usage.completion_tokens <= 12 && d.usage.prompt_tokens >= 2'
check "native avg_k 4, saved 0" is_true $DIR/c1.json 'd.usage.avg_k === 4 && d.usage.compute_saved === 0'
check "native completion_avg_k 4 (0 without a decoded token)" is_true $DIR/c1.json 'd.usage.completion_avg_k === (d.usage.completion_tokens >= 2 ? 4 : 0)'
p /v1/completions '{"prompt":"The Congress","max_tokens":12,"temperature":0}' $DIR/c2.json > /dev/null && n_ok=$((n_ok + 1))
check "greedy is deterministic" test "$(js $DIR/c1.json d.choices[0].text)" = "$(js $DIR/c2.json d.choices[0].text)"
st=$(p /v1/completions '{"prompt":["The Congress"],"max_tokens":3}' $DIR/c3.json)
check "prompt as a one-string array" test "$st" = 200 && n_ok=$((n_ok + 1))
check "max_tokens 3 -> length" is_true $DIR/c3.json 'd.usage.completion_tokens === 3 && d.choices[0].finish_reason === "length"'

# ---- per-request routing: fixed k=2 runs 2 of the native 4 experts: saved 1 - 2/4
st=$(p /v1/completions '{"prompt":"The Congress","max_tokens":8,"adaptive_k":{"policy":"fixed","k":2}}' $DIR/r1.json)
check "fixed k=2 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "fixed k=2 usage" is_true $DIR/r1.json 'd.usage.avg_k === 2 && d.usage.compute_saved === 0.5 && d.variant === "custom"'
check "fixed k=2 completion_avg_k" is_true $DIR/r1.json 'd.usage.completion_avg_k === (d.usage.completion_tokens >= 2 ? 2 : 0)'
st=$(p /v1/completions '{"prompt":"The Congress","max_tokens":8,"adaptive_k":{"policy":"entropy","target_avg_k":2}}' $DIR/r2.json)
check "entropy target 2: 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "entropy target 2: avg K between the levels' extremes, below native" is_true $DIR/r2.json 'd.usage.avg_k >= 1 && d.usage.avg_k < 4 && d.usage.compute_saved > 0'
check "entropy target 2: completion_avg_k within the levels" is_true $DIR/r2.json 'd.usage.completion_tokens < 2 || (d.usage.completion_avg_k >= 1 && d.usage.completion_avg_k <= 4)'
st=$(p /v1/completions '{"prompt":"The","max_tokens":4,"adaptive_k":{"policy":"top-p","top_p":0.5,"k_min":1,"k_max":4}}' $DIR/r3.json)
check "top-p 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "top-p avg K within [1,4]" is_true $DIR/r3.json 'd.usage.avg_k >= 1 && d.usage.avg_k <= 4'
st=$(p /v1/completions '{"prompt":"The","max_tokens":4,"adaptive_k":{"policy":"fixed","k":12}}' $DIR/r4.json)
check "k above --max-k 8: 400" test "$st" = 400
check "k above --max-k: code" is_true $DIR/r4.json 'd.error.code === "routing_not_allowed" && d.error.message.includes("--max-k")'
st=$(p /v1/completions '{"prompt":"The","adaptive_k":{"policy":"fixed","k":2,"temperature":1}}' $DIR/r5.json)
check "unknown adaptive_k field: 400" test "$st" = 400
check "unknown field named" is_true $DIR/r5.json 'd.error.code === "unknown_field" && d.error.message.includes("temperature")'
st=$(p /v1/completions '{"prompt":"The","adaptive_k":{"policy":"entropy","target_avg_k":0.5}}' $DIR/r6.json)
check "target below 1: 400" test "$st" = 400
st=$(p /v1/completions '{"prompt":"The","adaptive_k":{"policy":"sparse"}}' $DIR/r7.json)
check "unknown policy: 400" test "$st" = 400

# ---- streaming equals non-streaming (greedy), SSE framing
curl -s -N -D $DIR/s.hdr -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"The Congress","max_tokens":12,"temperature":0,"stream":true}' $BASE/v1/completions > $DIR/s.txt
echo >> $DIR/count; n_ok=$((n_ok + 1))
check "stream content type" grep -qi '^content-type: text/event-stream' $DIR/s.hdr
check "stream ends with [DONE]" test "$(grep -v '^$' $DIR/s.txt | tail -1)" = "data: [DONE]"
check "every event line is data:" test -z "$(grep -v '^$' $DIR/s.txt | grep -v '^data: ')"
grep '^data: {' $DIR/s.txt | sed 's/^data: //' | node -e '
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
  const text = lines.map(c => c.choices[0].text).join("");
  const last = lines[lines.length - 1];
  console.log(JSON.stringify({text, finish: last.choices[0].finish_reason, usage: last.usage,
    nulls: lines.slice(0, -1).every(c => c.choices[0].finish_reason === null)}));' > $DIR/s.json
check "streamed text = non-streamed text" test "$(js $DIR/s.json d.text)" = "$(js $DIR/c1.json d.choices[0].text)"
check "stream final chunk has finish_reason and usage" is_true $DIR/s.json 'd.finish !== null && d.nulls && d.usage.completion_tokens >= 1'

# ---- chat, streaming: role first, content deltas, finish; and non-streaming shape
curl -s -N -H 'Content-Type: application/json' --data-binary \
  '{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Speak of the Union."}],"max_tokens":10,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' \
  $BASE/v1/chat/completions > $DIR/chat.txt
echo >> $DIR/count; n_ok=$((n_ok + 1))
grep '^data: {' $DIR/chat.txt | sed 's/^data: //' | node -e '
  const c = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
  const withChoices = c.filter(x => x.choices.length);
  console.log(JSON.stringify({object: c.every(x => x.object === "chat.completion.chunk"),
    role: withChoices[0].choices[0].delta.role, text: withChoices.map(x => x.choices[0].delta.content || "").join(""),
    finish: withChoices[withChoices.length - 1].choices[0].finish_reason, usageChunk: c[c.length - 1].choices.length === 0 && c[c.length - 1].usage.total_tokens > 0}));' > $DIR/chat.json
check "chat stream shape" is_true $DIR/chat.json 'd.object && d.role === "assistant" && d.finish !== null && d.usageChunk'
st=$(p /v1/chat/completions '{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Speak of the Union."}],"max_tokens":10,"temperature":0}' $DIR/chat1.json)
check "chat 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "chat shape" is_true $DIR/chat1.json 'd.object === "chat.completion" && d.id.startsWith("chatcmpl-") && d.choices[0].message.role === "assistant"'
check "chat stream = non-stream" test "$(js $DIR/chat.json d.text)" = "$(js $DIR/chat1.json d.choices[0].message.content)"

# ---- stop strings: cut the greedy text at its second word
full=$(js $DIR/c1.json d.choices[0].text)
stop=$(js $DIR/c1.json 'd.choices[0].text.split(" ").filter(w => w.length > 2)[1]')
body=$(node -e 'console.log(JSON.stringify({prompt: "The Congress", max_tokens: 12, temperature: 0, stop: [process.argv[1]]}))' "$stop")
p /v1/completions "$body" $DIR/stop.json > /dev/null && n_ok=$((n_ok + 1))
check "stop: text is the prefix before the stop string" test "$(js $DIR/stop.json d.choices[0].text)" = "${full%%"$stop"*}"
check "stop: finish_reason stop" is_true $DIR/stop.json 'd.choices[0].finish_reason === "stop"'

# ---- trace: fixed k=1 -> every bar says K=1
st=$(p /v1/completions '{"prompt":"The","max_tokens":2,"trace":true,"adaptive_k":{"policy":"fixed","k":1}}' $DIR/t.json)
check "trace 200" test "$st" = 200 && n_ok=$((n_ok + 1))
check "trace covers prompt and completion, 6 layers each" is_true $DIR/t.json 'd.trace.length === d.usage.total_tokens && d.trace.every((t, i) => t.layers.length === 6 || (i === d.trace.length - 1 && t.layers.length === 0))'
check "trace bars" is_true $DIR/t.json 'd.trace.every(t => t.layers.every(l => /^L\d\d \| H=\d+\.\d\d [#.]{8} \| K=1$/.test(l.bar) && l.k === 1 && l.entropy >= 0 && l.entropy <= Math.log(16) + 1e-3))'

# ---- bad requests: OpenAI-style errors, and the server keeps serving
bad() { # bad NAME STATUS CODE BODY [curl args]
  local name=$1 want=$2 code=$3 body=$4
  echo >> $DIR/count
  local st
  st=$(curl -s -o $DIR/bad.json -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$body" $BASE/v1/completions)
  check "$name: status $want (got $st)" test "$st" = "$want"
  check "$name: error object" is_true $DIR/bad.json "typeof d.error.message === 'string' && typeof d.error.type === 'string' && d.error.code === '$code'"
}
bad "malformed JSON" 400 invalid_json '{"prompt": "x",'
bad "not an object" 400 invalid_type '[1,2]'
bad "prompt wrong type" 400 invalid_type '{"prompt": 42}'
bad "missing prompt" 400 missing_field '{"max_tokens": 3}'
bad "max_tokens wrong type" 400 invalid_type '{"prompt":"x","max_tokens":"3"}'
bad "max_tokens above the limit" 400 invalid_value '{"prompt":"x","max_tokens":100000}'
bad "temperature out of range" 400 invalid_value '{"prompt":"x","temperature":9}'
bad "stream wrong type" 400 invalid_type '{"prompt":"x","stream":"yes"}'
bad "n > 1" 400 unsupported '{"prompt":"x","n":2}'
bad "invalid UTF-8" 400 invalid_utf8 "$(printf '{"prompt":"caf\xc3"}')"
bad "escaped lone surrogate" 400 invalid_json '{"prompt":"\udc80"}'
long=$(printf 'the people of the United States %.0s' $(seq 1 40))
bad "prompt over --max-prompt-tokens" 400 prompt_too_long "{\"prompt\":\"$long\"}"
bad "trailing data" 400 invalid_json '{"prompt":"x"} {"prompt":"y"}'
printf '{"prompt":"a\000b"}' > $DIR/nul.json
echo >> $DIR/count
st=$(curl -s -o $DIR/bad.json -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @$DIR/nul.json $BASE/v1/completions)
check "NUL byte in the body: 400 (got $st)" test "$st" = 400
# every proper prefix of a valid body is invalid JSON; random bytes are too
valid='{"prompt":"The","max_tokens":2,"adaptive_k":{"policy":"fixed","k":2}}'
n_trunc_ok=0
for cut in $(seq 1 $((${#valid} - 1))); do
  echo >> $DIR/count
  st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "${valid:0:$cut}" $BASE/v1/completions)
  [ "$st" = 400 ] && n_trunc_ok=$((n_trunc_ok + 1))
done
check "every truncation of a body is a 400 ($n_trunc_ok of $((${#valid} - 1)))" test $n_trunc_ok = $((${#valid} - 1))
n_rand_ok=0
for i in $(seq 1 20); do
  head -c $((1 + RANDOM % 300)) /dev/urandom > $DIR/rand.bin
  echo >> $DIR/count
  st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @$DIR/rand.bin $BASE/v1/completions)
  [ "$st" = 400 ] && n_rand_ok=$((n_rand_ok + 1))
done
check "random bodies are 400 ($n_rand_ok of 20)" test $n_rand_ok = 20
head -c 1100000 /dev/zero | tr '\0' 'a' > $DIR/big.txt
echo >> $DIR/count
st=$(curl -s -o $DIR/big.json -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @$DIR/big.txt $BASE/v1/completions)
check "oversize body: 413 (got $st)" test "$st" = 413
check "oversize body: error" is_true $DIR/big.json 'd.error.code === "body_too_large"'
check "unknown path 404" test "$(get /v2/nothing $DIR/e.json)" = 404
check "404 error object" is_true $DIR/e.json 'd.error.code === "not_found"'
check "GET on a POST endpoint 405" test "$(get /v1/completions $DIR/e.json)" = 405
check "still serving" test "$(get /health $DIR/h.json)" = 200

# ---- a streaming client that goes away after the first event: the job is cancelled
echo >> $DIR/count
curl -s -N -H 'Content-Type: application/json' -H 'X-Request-Id: gone-away' \
  --data-binary '{"prompt":"The","max_tokens":200,"stream":true}' $BASE/v1/completions 2>/dev/null | head -c 20 > /dev/null
for _ in $(seq 1 100); do grep -q '"request_id":"gone-away"' $LOG && break; sleep 0.05; done
check "disconnected stream logged (cancelled, or finished first)" grep -Eq '"request_id":"gone-away","variant":"default","status":(499|200)' $LOG
check "serving after a disconnect" test "$(post /v1/completions '{"prompt":"The","max_tokens":2}' $DIR/x.json)" = 200
echo >> $DIR/count
n_ok=$((n_ok + 1))
grep -q '"request_id":"gone-away","variant":"default","status":200' $LOG && n_ok=$((n_ok + 1))

# ---- a full queue: 1 worker + 2 queued; 12 concurrent long requests -> some 429, none lost
for i in $(seq 1 12); do
  curl -s -o $DIR/q$i.json -w '%{http_code}\n' -H 'Content-Type: application/json' \
    --data-binary '{"prompt":"The","max_tokens":200,"temperature":0}' $BASE/v1/completions > $DIR/q$i.code &
done
wait $(jobs -p | grep -v "^$A_PID$") 2>/dev/null
printf "\n%.0s" $(seq 1 12) >> $DIR/count
codes=$(cat $DIR/q*.code | sort | uniq -c | tr -s ' ')
n200=$(grep -c '^200$' $DIR/q*.code | awk -F: '{s += $2} END {print s}')
n429=$(grep -c '^429$' $DIR/q*.code | awk -F: '{s += $2} END {print s}')
n_ok=$((n_ok + n200))
check "queue: every request answered 200 or 429 ($codes)" test $((n200 + n429)) -eq 12
check "queue: at least 3 served, at least one 429 ($codes)" test "$n200" -ge 3 -a "$n429" -ge 1
for i in $(seq 1 12); do
  if grep -q 429 $DIR/q$i.code; then check "429 body" is_true $DIR/q$i.json 'd.error.code === "queue_full" && d.error.type === "rate_limit_error"'; fi
done

# ---- metrics: counters agree with what this script saw
check "metrics 200" test "$(get /metrics $DIR/metrics.txt)" = 200
got200=$(grep '^adaptive_k_requests_total{status="200",' $DIR/metrics.txt | awk '{s += $2} END {print s}')
check "metrics: 200 responses counted ($got200 vs $n_ok)" test "$got200" = "$n_ok"
got429=$(grep '^adaptive_k_requests_total{status="429",' $DIR/metrics.txt | awk '{s += $2} END {print s}')
check "metrics: 429 counted" test "${got429:-0}" = "$n429"
check "metrics: custom-variant avg K gauge" grep -q '^adaptive_k_avg_k{variant="custom"} ' $DIR/metrics.txt
check "metrics: layer histograms end in +Inf = count" test "$(grep '^adaptive_k_selected_bucket{layer="5",le="+Inf"}' $DIR/metrics.txt | awk '{print $2}')" = \
  "$(grep '^adaptive_k_selected_count{layer="5"}' $DIR/metrics.txt | awk '{print $2}')"
for m in adaptive_k_selected adaptive_k_entropy adaptive_k_latency_seconds adaptive_k_time_to_first_token_seconds; do
  check "metrics: $m is a histogram" grep -q "^# TYPE $m histogram" $DIR/metrics.txt
done
for m in adaptive_k_avg_k adaptive_k_compute_saved_ratio; do check "metrics: $m gauge" grep -q "^# TYPE $m gauge" $DIR/metrics.txt; done
for m in adaptive_k_requests_total adaptive_k_tokens_total; do check "metrics: $m counter" grep -q "^# TYPE $m counter" $DIR/metrics.txt; done

# ---- timeouts: a second server whose requests may take 1 ms
start_server t -t 1 --timeout 0.001 --log-file $DIR/t.log
st=$(post /v1/completions '{"prompt":"The","max_tokens":200}' $DIR/to.json)
check "timeout: 504 (got $st)" test "$st" = 504
check "timeout: error" is_true $DIR/to.json 'd.error.code === "timeout"'
kill -TERM $SERVER_PID; wait $SERVER_PID 2>/dev/null
BASE=http://127.0.0.1:$(cat $DIR/a.port)

# ---- SIGTERM: requests in flight finish, new connections are refused, exit 0
for i in 1 2 3; do
  curl -s -o $DIR/g$i.json -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"prompt":"The","max_tokens":200,"temperature":0}' $BASE/v1/completions > $DIR/g$i.code &
done
printf '\n%.0s' 1 2 3 >> $DIR/count
for _ in $(seq 1 100); do # until all three are running or queued
  curl -s -o $DIR/hh.json $BASE/health && is_true $DIR/hh.json 'd.running + d.queued === 3' && break
  sleep 0.05
done
stop_server $A_PID
wait
check "SIGTERM: exit 0 (got $STOP_RC)" test "$STOP_RC" = 0
for i in 1 2 3; do
  check "SIGTERM: in-flight request $i finished with 200 ($(cat $DIR/g$i.code))" test "$(cat $DIR/g$i.code)" = 200
  check "SIGTERM: request $i complete" is_true $DIR/g$i.json 'd.choices[0].finish_reason !== null && d.usage.completion_tokens > 0'
done
check "SIGTERM: stopped message" grep -q 'stopped' $DIR/a.err
check "after SIGTERM: refused" test "$(curl -s -o /dev/null -w '%{http_code}' $BASE/health)" = 000

# ---- the JSON log: one valid line per generation request, with every field
lines=$(wc -l < $LOG)
n_gen_requests=$(wc -l < $DIR/count)
check "log: one line per request ($lines vs $n_gen_requests)" test "$lines" = "$n_gen_requests"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  const keys = ["ts","request_id","variant","prompt_tokens","completion_tokens","avg_k","compute_saved","latency_ms","ttft_ms","status"];
  let ok = true;
  for (const l of lines) { const o = JSON.parse(l); for (const k of keys) if (!(k in o)) { console.error("missing " + k + ": " + l); ok = false; } }
  process.exit(ok ? 0 : 1);' $LOG
check "log: every line is JSON with every field" test $? = 0
check "log: a 413 line" grep -q '"status":413' $LOG

[ $fail = 0 ] && echo "serve http: ok"
exit $fail
