#!/usr/bin/env bash
# test_serve_faults.sh - the server under misbehaving clients and shutdown (faults.js):
# byte-at-a-time headers and bodies, clients that vanish mid-stream, 500 idle connections,
# requests in flight and arriving during SIGTERM. The server must keep serving the others,
# exit 0 after SIGTERM, and (in the ASan build) report no leak or error at exit.
. "$(dirname "$0")/lib.sh"
start_server faults -t 1 --parallel 2 --queue 16 --timeout 60
check "misbehaving clients" node "$SRC/faults.js" "$PORT" clients
check "health after the faults" test "$(get /health $DIR/h.json)" = 200
node "$SRC/faults.js" "$PORT" term > $DIR/term.out 2>&1 &
NODE=$!
for _ in $(seq 1 100); do grep -q READY $DIR/term.out && break; sleep 0.1; done
t0=$(date +%s)
stop_server "$SERVER_PID"
t1=$(date +%s)
check "requests during SIGTERM ($(tr '\n' ';' < $DIR/term.out))" wait "$NODE"
cat $DIR/term.out
check "exit status 0 after SIGTERM (got $STOP_RC)" test "$STOP_RC" = 0
check "stopped within 70 s (took $((t1 - t0)) s)" test $((t1 - t0)) -le 70
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" $DIR/faults.err; then
  echo "FAIL: sanitizer report at exit:" >&2; grep -E -A12 "ERROR|runtime error" $DIR/faults.err | head -40 >&2; fail=1
fi
[ $fail = 0 ] && echo "PASS: server faults"
exit $fail
