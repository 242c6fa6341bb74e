#!/usr/bin/env bash
# test_serve_openai.sh ADAPTIVE_K MODEL SRC SDK_DIR - runs test_serve_openai.js against a
# server started with --trace (its bars are checked too); the SDK was installed by
# setup-openai.sh (fixture).
. "$(dirname "$0")/lib.sh"
SDK=$4
[ -f "$SDK/SKIPPED" ] && skip "$(cat "$SDK/SKIPPED")"
[ -f "$SDK/node_modules/openai/package.json" ] || { echo "FAIL: the openai SDK is not in $SDK (setup-openai.sh)" >&2; exit 1; }
start_server o -t 1 --log-file $DIR/log.jsonl --trace
node "$SRC/test_serve_openai.js" "$BASE" "$SDK"
check "SDK checks" test $? = 0
kill -INT $SERVER_PID # SIGINT takes the same graceful path as SIGTERM
wait $SERVER_PID
check "server exit 0 after SIGINT" test $? = 0
check "SIGINT named" grep -q 'SIGINT received' $DIR/o.err
check "--trace: bars on stderr" grep -Eq '^  L[0-9]{2} \| H=[0-9]+\.[0-9]{2} [#.]{8} \| K=[0-9]+$' $DIR/o.err
check "--trace: one header per successful request" test "$(grep -c '^trace ' $DIR/o.err)" = 5
exit $fail
