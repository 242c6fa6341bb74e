#!/usr/bin/env bash
# test_serve_skip.sh - early exit and prompt pruning per request ("skip"), within the
# operator's limits: a threshold that never exits gives the plain text; pruning and exits
# show in the JSON log and the metrics; requests outside the limits or with bad fields get
# 400; a plain request batched beside a skipping one is unchanged.
. "$(dirname "$0")/lib.sh"

start_server m -t 2 --parallel 2 --log-file $DIR/log.jsonl --min-exit-threshold 0.5 --max-prune-ratio 0.5
P='The Congress of the United States shall have the power to lay and collect taxes, to pay the debts'
req() { # req OUT SKIP_JSON: greedy, 12 tokens; prints the status
  local skip=${2:+,\"skip\":$2}
  post /v1/completions "{\"prompt\":\"$P\",\"max_tokens\":12,\"temperature\":0$skip}" $DIR/$1.json
}
text() { js $DIR/$1.json 'd.choices[0].text'; }
check "plain 200" test "$(req plain '')" = 200
check "never-exiting threshold 200" test "$(req never '{"exit_threshold":1.0,"exit_layer":0}')" = 200
check "a threshold no token reaches gives the plain text" test "$(text never)" = "$(text plain)"
check "pruning 200" test "$(req prune '{"prune_ratio":0.5,"prune_layer":1}')" = 200
check "saturation exits 200" test "$(req exit '{"exit_threshold":0.5,"exit_measure":"saturation","exit_layer":2}')" = 200

# the log: one line per request, in order plain, never, prune, exit
sleep 0.2
L() { sed -n "$1p" $DIR/log.jsonl > $DIR/line$1.json; }
for i in 1 2 3 4; do L $i; done
check "plain: 6 layers per token, nothing skipped" is_true $DIR/line1.json 'd.layers_per_token === 6 && d.exit_tokens === 0 && d.pruned_tokens === 0'
check "never: no exit" is_true $DIR/line2.json 'd.exit_tokens === 0 && d.layers_per_token === 6'
check "prune: half of the prompt but its last token dropped" is_true $DIR/line3.json \
  "d.pruned_tokens === Math.floor(0.5 * (d.prompt_tokens - 1)) && d.pruned_tokens > 0 && d.model_compute_saved > 0"
check "exit: tokens left early" is_true $DIR/line4.json 'd.exit_tokens > 0 && d.layers_per_token < 6'

# outside the operator's limits, or malformed: 400 naming the problem
bad() { # bad NAME SKIP_JSON WORD
  local st
  st=$(req bad "$2")
  check "$1: 400" test "$st" = 400
  check "$1: message names '$3'" grep -q -- "$3" $DIR/bad.json
}
bad "threshold below the limit" '{"exit_threshold":0.3}' min-exit-threshold
bad "ratio above the limit" '{"prune_ratio":0.7}' max-prune-ratio
bad "unknown field" '{"exit_thresh":0.9}' exit_thresh
bad "bad measure" '{"exit_threshold":0.9,"exit_measure":"entropy"}' saturation
bad "prune after the last layer" '{"prune_ratio":0.4,"prune_layer":5}' 'prune layer 5'
bad "not an object" '0.5' 'must be an object'

# a plain request beside a pruning one (one batched pass for both) keeps its text
( req side1 '{"prune_ratio":0.5,"prune_layer":0}' > $DIR/side1.st ) &
w1=$!
( req side2 '' > $DIR/side2.st ) &
w2=$!
wait $w1 $w2
check "batched beside a pruning request: 200s" test "$(cat $DIR/side1.st)$(cat $DIR/side2.st)" = 200200
check "batched beside a pruning request: the plain text" test "$(text side2)" = "$(text plain)"

curl -s $BASE/metrics > $DIR/metrics.txt
check "metrics: pruned tokens counted" grep -Eq '^adaptive_k_pruned_tokens_total [1-9]' $DIR/metrics.txt
check "metrics: exits counted" grep -Eq '^adaptive_k_exit_tokens_total [1-9]' $DIR/metrics.txt
check "metrics: layers run < native" node -e '
  const t = require("fs").readFileSync(process.argv[1], "utf8");
  const g = k => Number(t.match(new RegExp("adaptive_k_layers_total\\{kind=\"" + k + "\"\\} (\\d+)"))[1]);
  process.exit(g("run") < g("native") ? 0 : 1)' $DIR/metrics.txt
if command -v promtool > /dev/null; then
  check "promtool check metrics passes" sh -c "promtool check metrics < $DIR/metrics.txt"
fi
stop_server $SERVER_PID
check "server exit 0" test "$STOP_RC" = 0

# the operator's own limits and defaults are checked at start
"$AK" serve -m "$MODEL" --port 0 --max-prune-ratio 1.5 > /dev/null 2> $DIR/lim.err
check "--max-prune-ratio 1.5 refused" test $? != 0
check "... with a message" grep -q "max-prune-ratio" $DIR/lim.err
"$AK" serve -m "$MODEL" --port 0 --prune-ratio 0.5 --prune-layer 9 > /dev/null 2> $DIR/lim2.err
check "a default prune layer past the model refused" grep -q "prune layer 9" $DIR/lim2.err
[ $fail = 0 ] && echo "serve skip: ok"
exit $fail
