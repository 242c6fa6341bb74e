#!/usr/bin/env bash
# test_serve_prometheus.sh - /metrics passes `promtool check metrics`, and a real Prometheus
# server scrapes it: its HTTP API returns our series (requests counter, K histogram, up = 1).
# Skips (77) only when Debian's prometheus package is absent.
. "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || skip "promtool not installed (apt-get install prometheus)"
command -v prometheus >/dev/null || skip "prometheus not installed (apt-get install prometheus)"

start_server m -t 1 --log-file $DIR/log.jsonl --ab adaptive=entropy@2:1,full=native:1
post /v1/completions '{"prompt":"The Congress","max_tokens":6,"user":"alice"}' $DIR/a.json > /dev/null
post /v1/completions '{"prompt":"The Congress","max_tokens":6,"user":"bob"}' $DIR/b.json > /dev/null
post /v1/completions '{"prompt":"x","max_tokens":6,"adaptive_k":{"policy":"fixed","k":1}}' $DIR/c.json > /dev/null
post /v1/completions '{"prompt":' $DIR/d.json > /dev/null
curl -s $BASE/metrics > $DIR/metrics.txt
promtool check metrics < $DIR/metrics.txt > $DIR/promtool.txt 2>&1
rc=$?
check "promtool check metrics passes" test $rc = 0
[ $rc = 0 ] || cat $DIR/promtool.txt >&2

# a free port for Prometheus: try a few random ones
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
  echo 0
}
cat > $DIR/prom.yml <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: adaptive-k
    static_configs:
      - targets: ['127.0.0.1:$PORT']
YML
started=0
for attempt in 1 2 3; do
  PP=$(free_port)
  prometheus --config.file=$DIR/prom.yml --storage.tsdb.path=$DIR/tsdb --web.listen-address=127.0.0.1:$PP \
    > $DIR/prom.log 2>&1 &
  PROM=$!
  PIDS+=("$PROM")
  for _ in $(seq 1 100); do
    curl -s -o /dev/null http://127.0.0.1:$PP/-/ready && { started=1; break; }
    kill -0 $PROM 2>/dev/null || break
    sleep 0.2
  done
  [ $started = 1 ] && break
done
if [ $started != 1 ]; then
  echo "FAIL: prometheus did not start" >&2
  tail -20 $DIR/prom.log >&2
  exit 1
fi
q() { curl -s -G --data-urlencode "query=$1" http://127.0.0.1:$PP/api/v1/query > $DIR/q.json; }
got=0
for _ in $(seq 1 60); do # scrapes every second
  q 'adaptive_k_requests_total{status="200"}'
  if is_true $DIR/q.json 'd.status === "success" && d.data.result.length >= 1'; then got=1; break; fi
  sleep 0.5
done
check "prometheus scraped adaptive_k_requests_total" test $got = 1
q 'up{job="adaptive-k"}'
check "target up" is_true $DIR/q.json 'd.data.result.length === 1 && d.data.result[0].value[1] === "1"'
q 'sum(adaptive_k_requests_total{status="200"})'
check "three successful requests" is_true $DIR/q.json 'd.data.result[0].value[1] === "3"'
q 'adaptive_k_requests_total{status="400",variant="none"}'
check "one bad request" is_true $DIR/q.json 'd.data.result[0].value[1] === "1"'
q 'adaptive_k_selected_bucket{layer="0",le="1"}'
check "K histogram bucket le=1 counts the k=1 request" is_true $DIR/q.json 'Number(d.data.result[0].value[1]) >= 2'
q 'histogram_quantile(0.5, sum by (le) (adaptive_k_selected_bucket))'
check "histogram_quantile over K works" is_true $DIR/q.json 'd.data.result.length === 1 && Number(d.data.result[0].value[1]) >= 1 && Number(d.data.result[0].value[1]) <= 16'
q 'adaptive_k_avg_k{variant="custom"}'
check "avg K gauge of the k=1 request" is_true $DIR/q.json 'd.data.result[0].value[1] === "1"'
stop_server $SERVER_PID
check "server exit 0" test "$STOP_RC" = 0
[ $fail = 0 ] && echo "serve prometheus: ok"
exit $fail
