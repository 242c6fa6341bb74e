#!/usr/bin/env bash
# test_serve_openai.sh ADAPTIVE_K MODEL SRC SDK_DIR - runs test_serve_openai.js against a
# server; the SDK was installed by setup-openai.sh (fixture).
. "$(dirname "$0")/lib.sh"
SDK=$4
[ -f "$SDK/SKIPPED" ] && skip "$(cat "$SDK/SKIPPED")"
[ -f "$SDK/node_modules/openai/package.json" ] || { echo "FAIL: the openai SDK is not in $SDK (setup-openai.sh)" >&2; exit 1; }
start_server o -t 1 --log-file $DIR/log.jsonl
node "$SRC/test_serve_openai.js" "$BASE" "$SDK"
check "SDK checks" test $? = 0
stop_server $SERVER_PID
check "server exit 0" test "$STOP_RC" = 0
exit $fail
