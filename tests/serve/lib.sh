# lib.sh - shared helpers of the server test scripts (sourced). Arguments of every script:
# ADAPTIVE_K MODEL.gguf TEST_SOURCE_DIR. Servers started here are always killed on exit.
set -u
AK=$1
MODEL=$2
SRC=$3
DIR=$(mktemp -d)
PIDS=()
fail=0
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
skip() { echo "SKIP: $*"; exit 77; }
check() { # check NAME COMMAND...
  local name=$1
  shift
  if "$@"; then :; else echo "FAIL: $name" >&2; fail=1; fi
}
for tool in curl node; do command -v $tool >/dev/null || skip "$tool is not installed (scripts/install-deps.sh)"; done
[ -f "$MODEL" ] || { echo "FAIL: model $MODEL is missing" >&2; exit 1; }

# start_server NAME [serve flags...]: starts on a free port; sets PORT and SERVER_PID
start_server() {
  local name=$1
  shift
  rm -f "$DIR/$name.port"
  "$AK" serve -m "$MODEL" --port 0 --port-file "$DIR/$name.port" "$@" > "$DIR/$name.out" 2> "$DIR/$name.err" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 300); do
    [ -s "$DIR/$name.port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$DIR/$name.port" ]; then
    echo "FAIL: server $name did not start:" >&2
    cat "$DIR/$name.err" >&2
    exit 1
  fi
  PORT=$(cat "$DIR/$name.port")
  BASE=http://127.0.0.1:$PORT
}

# stop_server PID: SIGTERM, then the exit status in STOP_RC
stop_server() {
  kill -TERM "$1"
  wait "$1"
  STOP_RC=$?
}

# post PATH JSON OUT: prints the HTTP status, the body goes to OUT
post() { curl -s -o "$3" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$BASE$1"; }
get() { curl -s -o "$2" -w '%{http_code}' "$BASE$1"; }
# js FILE EXPR: evaluates EXPR with d = the parsed JSON of FILE; prints the result
js() { node -e "const d = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); console.log($2)" "$1"; }
# is_true FILE EXPR
is_true() { [ "$(js "$1" "$2" 2>/dev/null)" = "true" ]; }
