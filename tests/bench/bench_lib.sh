# bench_lib.sh: shell helpers shared by the script benchmarks (sourced, not
# run). Contract: the caller sets WORK (a private temporary directory) before
# calling iam_start; iam_start sets PORT, TOKEN (an admin token) and
# SERVER_PID; bench_cleanup stops every server started here and removes WORK.
# wrk_report prints the `BENCH <name>_{rps,p50,p99,non2xx}` lines of one wrk
# --latency output and leaves the rate in RPS.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; exit 1
}

# wrk --latency prints "50%  1.23ms"; convert to microseconds.
to_us() {
  awk -v v="$1" 'BEGIN { n=v; sub(/[a-z]+$/,"",n); u=v; sub(/^[0-9.]+/,"",u);
    f = (u=="us")?1:(u=="ms")?1000:(u=="s")?1000000:1; printf "%.0f", n*f }'
}

wrk_report() {  # name file
  local p50 p99 non2xx
  RPS=$(awk '/Requests\/sec/ {print $2}' "$2")
  p50=$(to_us "$(awk '$1=="50%" {print $2}' "$2")")
  p99=$(to_us "$(awk '$1=="99%" {print $2}' "$2")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$2"); non2xx=${non2xx:-0}
  echo "BENCH $1_rps $RPS req/s"
  echo "BENCH $1_p50 $p50 us"
  echo "BENCH $1_p99 $p99 us"
  echo "BENCH $1_non2xx $non2xx responses"
}

SERVER_PID=""
bench_cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  [[ -n ${WORK:-} ]] && rm -rf "$WORK"
}

iam_start() {  # binary
  PORT=$(free_port)
  "$1" serve --data-dir "$WORK/data" --key-file "$WORK/key" --listen "127.0.0.1:$PORT" \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  wait_http "http://127.0.0.1:$PORT/healthz"
  TOKEN=$("$1" iam token create bench-admin --admin --data-dir "$WORK/data" --key-file "$WORK/key")
}

iam_stop() {
  [[ -n $SERVER_PID ]] && { kill "$SERVER_PID"; wait "$SERVER_PID" || true; }
  SERVER_PID=""
}

# Writes a wrk script POSTing a token with a unique name per request.
write_post_lua() {  # file tag
cat >"$1" <<LUA
local counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
wrk.method = "POST"
wrk.headers["api-token"] = "$TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, "/apis/iam/v2/tokens", nil,
    '{"name":"bench $2 ' .. tostring(tid) .. ' ' .. counter .. '"}')
end
LUA
}
