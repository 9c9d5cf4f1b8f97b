#!/usr/bin/env bash
# http_bench.sh: the HTTP API under load, next to nginx serving a static JSON
# file of the same size, in the same run, on loopback (wrk shares the cores).
#
#   tests/bench/http_bench.sh [--seconds S] [--connections C]
#
# Measures
#   - authenticated GET /apis/iam/v2/tokens/{id} at C connections (default 64)
#     vs nginx, alternating three times: req/s, p50/p99 latency,
#     RATIO http_get_vs_nginx (sum over the rounds);
#   - durable POST /apis/iam/v2/tokens at 1 and C connections: creates/s, p99.
# Goals (issue 13): GET ratio >= 1.0 with p99 <= 2 ms at 64 connections;
# (issue 4) creates at 64 connections >= 5,000/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=10
CONNS=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--connections C]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh --bench
BIN=build/iamledger
[[ -x $BIN ]] || { echo "build first: make build" >&2; exit 1; }

WORK=$(mktemp -d /tmp/iamledger-http-bench.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as another user
source tests/bench/bench_lib.sh
NGINX_PID=""
cleanup() {
  [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null || true
  bench_cleanup
}
trap cleanup EXIT

# --- iamledger ---------------------------------------------------------------
iam_start "$BIN"
URL="http://127.0.0.1:$PORT/apis/iam/v2/tokens/bench-admin"
curl -sf -H "api-token: $TOKEN" "$URL" >"$WORK/token.json"

cat >"$WORK/get.lua" <<LUA
wrk.headers["api-token"] = "$TOKEN"
LUA

# --- nginx: the same bytes as a static file, started now so that the two GET
# runs can alternate back to back (the load of the machine drifts) ----------
NPORT=$(free_port)
mkdir -p "$WORK/nginx/html" "$WORK/nginx/logs"
cp "$WORK/token.json" "$WORK/nginx/html/token.json"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server { listen 127.0.0.1:$NPORT; root $WORK/nginx/html; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NPORT/token.json"

# GET: three alternating rounds; rates are summed over the rounds, latency
# percentiles are the last round's.
IAM_SUM=0; NGINX_SUM=0
for round in 1 2 3; do
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/get.lua" "$URL" >"$WORK/get.txt"
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$NPORT/token.json" >"$WORK/nginx.txt"
  IAM_SUM=$(awk -v a="$IAM_SUM" -v b="$(awk '/Requests\/sec/ {print $2}' "$WORK/get.txt")" 'BEGIN{print a+b}')
  NGINX_SUM=$(awk -v a="$NGINX_SUM" -v b="$(awk '/Requests\/sec/ {print $2}' "$WORK/nginx.txt")" 'BEGIN{print a+b}')
done
wrk_report http_get_iamledger "$WORK/get.txt"
wrk_report http_get_nginx "$WORK/nginx.txt"
echo "BENCH http_get_iamledger_rps_mean $(awk -v a="$IAM_SUM" 'BEGIN{printf "%.0f", a/3}') req/s"
echo "BENCH http_get_nginx_rps_mean $(awk -v a="$NGINX_SUM" 'BEGIN{printf "%.0f", a/3}') req/s"
echo "BENCH response_bytes $(wc -c <"$WORK/token.json") bytes"
awk -v a="$IAM_SUM" -v b="$NGINX_SUM" 'BEGIN { printf "RATIO http_get_vs_nginx %.2f\n", a/b }'
kill -QUIT "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""

# Durable creates: a unique name per request (the id is derived from it).
for c in 1 "$CONNS"; do
  write_post_lua "$WORK/post.lua" "c$c"
  t=$([[ $c -ge 2 ]] && echo 2 || echo 1)
  wrk -t"$t" -c"$c" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" \
    "http://127.0.0.1:$PORT" >"$WORK/post-$c.txt"
  wrk_report "http_post_token_c$c" "$WORK/post-$c.txt"
done
iam_stop
