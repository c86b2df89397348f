#!/bin/bash
# SPDX-License-Identifier: MIT
# HTTP benchmark: Tandem beside nginx on the same machine, measured with wrk over
# loopback. nginx serves a 4 KiB file with one worker (the anchor: Tandem runs one
# loop thread) and with `worker_processes auto` (a second reference line); Tandem
# serves the same file under /static/, /healthz, and a rendered profile page /@NAME.
# Prints requests/s, p99 latency, the ratio to nginx (1 worker), the peak RSS of
# each server (VmHWM), and whether the targets are met (Tandem static >= 0.8x,
# profile >= 0.3x nginx's static requests/s).
#
# Environment: BENCH_DURATION (default 10s), BENCH_CONNS (64), BENCH_THREADS (2),
# BENCH_WARMUP (2s), BENCH_ROUNDS (1: each round runs every target once, the
# report shows the median round), TANDEM_BIN (skip `make build` and use this binary),
# BENCH_STRICT=1 (exit 1 when a target is missed).
# Runs as root on Debian 12 (installs wrk and nginx when missing). Everything it
# starts listens on 127.0.0.1 only and is stopped on exit; its temp dir is removed.
# `make bench` runs it with sh: carry on in bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
STRICT=${BENCH_STRICT:-0}
ROUNDS=${BENCH_ROUNDS:-1}
USER_NAME=benchuser

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
case $ROUNDS in '' | *[!0-9]* | 0) die "BENCH_ROUNDS must be a positive integer" ;; esac
[ "$ROUNDS" -le 20 ] || die "BENCH_ROUNDS is at most 20"
secs "$DURATION" >/dev/null && secs "$WARMUP" >/dev/null # validate in this shell
LIMIT=$(( $(secs "$DURATION") + $(secs "$WARMUP") + 60 )) # hard bound on one wrk run

# ---- dependencies (idempotent, like scripts/deps.sh) ----

missing=""
for p in wrk nginx curl python3; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
    log "installing $missing"
    [ "$(id -u)" = 0 ] || die "not root; run: sudo apt-get install $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found"
command -v wrk >/dev/null || die "wrk not found"

# ---- build ----

if [ -z "${TANDEM_BIN:-}" ]; then
    log "building Tandem (release)"
    build_log=$(make -C "$ROOT" build 2>&1) || { echo "$build_log" | tail -n 30 >&2;
                                                 die "build failed (or set TANDEM_BIN)"; }
    TANDEM_BIN=$ROOT/build/tandem
fi
[ -x "$TANDEM_BIN" ] || die "no executable at TANDEM_BIN=$TANDEM_BIN"

# ---- temp dir, clean-up ----

TMP=$(mktemp -d /tmp/tandem-bench.XXXXXX)
NGINX_PID=""
TANDEM_PID=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pid "$NGINX_PID"
    stop_pid "$TANDEM_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx workers drop to user nobody: they must be able to reach the document root.
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/ngx_tmp" "$TMP/var"
chmod 700 "$TMP/var"

# 4096 bytes of random printable ASCII.
head -c 65536 /dev/urandom | LC_ALL=C tr -dc '!-~' | head -c 4096 >"$TMP/www/bench.txt" || true
[ "$(wc -c <"$TMP/www/bench.txt")" -eq 4096 ] || die "could not make the 4 KiB file"
chmod 644 "$TMP/www/bench.txt"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait (at most 10 s) until something accepts TCP on 127.0.0.1:$1.
wait_port() {
    local _
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# ---- nginx ----

# start_nginx WORKERS: writes the config and starts nginx in the foreground mode
# (daemon off) as a background job of this script.
start_nginx() {
    local workers=$1
    NGINX_PORT=$(free_port)
    cat >"$TMP/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server_tokens off;
    types { text/plain txt; }
    default_type application/octet-stream;
    client_body_temp_path $TMP/ngx_tmp/body;
    proxy_temp_path $TMP/ngx_tmp/proxy;
    fastcgi_temp_path $TMP/ngx_tmp/fastcgi;
    uwsgi_temp_path $TMP/ngx_tmp/uwsgi;
    scgi_temp_path $TMP/ngx_tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
        location / { }
    }
}
EOF
    "$NGINX" -c "$TMP/nginx.conf" -p "$TMP" -e "$TMP/nginx-error.log" </dev/null \
        >>"$TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    wait_port "$NGINX_PORT" || { cat "$TMP/nginx-error.log" "$TMP/nginx.out" >&2 || true;
                                 die "nginx did not start"; }
}

stop_nginx() {
    stop_pid "$NGINX_PID"
    NGINX_PID=""
}

# ---- Tandem ----

export TANDEM_SERVER_HTTP_HOST=127.0.0.1 # loopback only (the default, said again)
export TANDEM_SERVER_HTTP_PORT=0
export TANDEM_SERVER_DATA_DIR=$TMP/var
export TANDEM_SERVER_TEMPLATES_DIR=$ROOT/templates
export TANDEM_SERVER_STATIC_DIR=$TMP/www
export TANDEM_LOG_ACCESS=false
export TANDEM_XMPP_C2S_PORT=0   # the messenger listener is not measured here; no fixed port
export TANDEM_XMPP_C2S_TLS_PORT=0

"$TANDEM_BIN" user add "$USER_NAME" --password-stdin <<<'bench password' \
    >"$TMP/useradd.log" 2>&1 || { cat "$TMP/useradd.log" >&2; die "tandem user add failed"; }

"$TANDEM_BIN" serve </dev/null >"$TMP/tandem.log" 2>&1 &
TANDEM_PID=$!
TANDEM_PORT=""
for _ in $(seq 1 300); do
    TANDEM_PORT=$(sed -n 's/.*event=server\.listening proto=http addr=[^ ]* port=\([0-9]*\).*/\1/p' \
                  "$TMP/tandem.log" | head -n 1)
    [ -n "$TANDEM_PORT" ] && break
    kill -0 "$TANDEM_PID" 2>/dev/null || { cat "$TMP/tandem.log" >&2; die "tandem exited early"; }
    sleep 0.1
done
[ -n "$TANDEM_PORT" ] || { cat "$TMP/tandem.log" >&2; die "tandem did not start in 30 s"; }
TANDEM_URL=http://127.0.0.1:$TANDEM_PORT

# ---- measuring ----

# Peak resident set of a process and its children (nginx workers), in KiB: the
# sum of each process's VmHWM.
peak_rss_kib() {
    local pid=$1 total=0 p v
    for p in $pid $(pgrep -P "$pid" 2>/dev/null || true); do
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# check_url URL: must answer 200.
check_url() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1" || true)
    [ "$code" = 200 ] || die "$1 answered '$code', not 200"
}

RESULTS=$TMP/results # lines: label rps p99_ms errors
: >"$RESULTS"

# run_wrk LABEL URL: warm-up, then the measured run; appends to $RESULTS.
run_wrk() {
    local label=$1 url=$2 out rps p99 non2xx sockerr
    check_url "$url"
    log "$label: warm-up $WARMUP, then $DURATION with $CONNS connections ($url)"
    timeout "$LIMIT" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
    out=$(timeout "$LIMIT" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url")
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    # "     99%    1.23ms": convert us / ms / s to ms.
    p99=$(echo "$out" | awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
        printf "%.2f", v * f }')
    non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    sockerr=$(echo "$out" | sed -n 's/.*Socket errors: *//p')
    if [ -z "$rps" ] || [ -z "$p99" ]; then
        echo "$out" >&2
        die "could not parse wrk output"
    fi
    if [ -n "$non2xx" ]; then
        echo "$out" >&2
        die "$label: $non2xx responses were not 2xx/3xx"
    fi
    [ -z "$sockerr" ] || log "$label: socket errors: $sockerr"
    echo "$label $rps $p99 ${sockerr:+errors}" >>"$RESULTS"
}

max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# Another busy process skews everything on a small machine: measure how busy the
# CPUs are over one second before starting (/proc/stat), and say so.
read -r busy0 idle0 <<<"$(cpu_ticks)"
sleep 1
read -r busy1 idle1 <<<"$(cpu_ticks)"
BUSY_BEFORE=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
if [ "$BUSY_BEFORE" -ge 10 ]; then
    log "warning: the CPUs were ${BUSY_BEFORE}% busy before the run; figures will be low and noisy"
fi

# Rounds interleave the targets, so that a slow spell of the machine does not
# land on one target only; the report takes each target's median round.
RSS_NGINX1=0
RSS_NGINXA=0
NGINX_AUTO_WORKERS=0
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" = 1 ] || log "round $round of $ROUNDS"

    # nginx, one worker (the anchor).
    start_nginx 1
    curl -s --max-time 10 "http://127.0.0.1:$NGINX_PORT/bench.txt" | cmp -s - "$TMP/www/bench.txt" ||
        die "nginx does not serve bench.txt intact"
    run_wrk nginx-1w-static "http://127.0.0.1:$NGINX_PORT/bench.txt"
    RSS_NGINX1=$(max "$RSS_NGINX1" "$(peak_rss_kib "$NGINX_PID")")
    stop_nginx

    # nginx, worker_processes auto.
    start_nginx auto
    NGINX_AUTO_WORKERS=$(pgrep -c -P "$NGINX_PID" || true)
    run_wrk nginx-auto-static "http://127.0.0.1:$NGINX_PORT/bench.txt"
    RSS_NGINXA=$(max "$RSS_NGINXA" "$(peak_rss_kib "$NGINX_PID")")
    stop_nginx

    # Tandem.
    curl -s --max-time 10 "$TANDEM_URL/static/bench.txt" | cmp -s - "$TMP/www/bench.txt" ||
        die "tandem does not serve bench.txt intact"
    run_wrk tandem-static "$TANDEM_URL/static/bench.txt"
    run_wrk tandem-healthz "$TANDEM_URL/healthz"
    run_wrk tandem-profile "$TANDEM_URL/@$USER_NAME"
    kill -0 "$TANDEM_PID" 2>/dev/null || die "tandem died during the benchmark"
done
RSS_TANDEM=$(peak_rss_kib "$TANDEM_PID")

# ---- report ----

# median LABEL: the round with the median requests/s (the lower middle one for an
# even count), as "rps p99 min max".
median() {
    awk -v l="$1" '$1 == l { print $2, $3 }' "$RESULTS" | sort -g | awk '
        { r[NR] = $1; p[NR] = $2 }
        END { m = int((NR + 1) / 2); print r[m], p[m], r[1], r[NR] }'
}

TARGETS="nginx-1w-static nginx-auto-static tandem-static tandem-healthz tandem-profile"
ANCHOR=$(median nginx-1w-static | awk '{ print $1 }')
echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP), 127.0.0.1," \
     "$(nproc) CPUs; nginx auto = $NGINX_AUTO_WORKERS workers; $ROUNDS round(s), median shown;" \
     "CPU busy before: ${BUSY_BEFORE}%"
echo
printf '| %-18s | %12s | %9s | %10s | %15s |\n' target requests/s "p99 (ms)" "x nginx 1w" \
    "range (req/s)"
printf '|%s|%s|%s|%s|%s|\n' -------------------- -------------: ----------: ------------: \
    -----------------:
for t in $TARGETS; do
    read -r rps p99 lo hi <<<"$(median "$t")"
    ratio=$(awk -v a="$rps" -v b="$ANCHOR" 'BEGIN { printf "%.2f", a / b }')
    printf '| %-18s | %12.0f | %9s | %10s | %15s |\n' "$t" "$rps" "$p99" "$ratio" \
        "$(printf '%.0f-%.0f' "$lo" "$hi")"
done
echo
echo "Peak RSS (VmHWM): tandem $RSS_TANDEM KiB; nginx 1 worker $RSS_NGINX1 KiB;" \
     "nginx auto $RSS_NGINXA KiB (nginx: master + workers)"

verdict() { # verdict LABEL MIN
    local r
    r=$(median "$1" | awk -v a="$ANCHOR" '{ printf "%.2f", $1 / a }')
    if awk -v r="$r" -v m="$2" 'BEGIN { exit !(r >= m) }'; then
        echo "target $1 >= $2x nginx 1w: ${r}x MET"
    else
        echo "target $1 >= $2x nginx 1w: ${r}x NOT MET"
        return 1
    fi
}
ok=0
verdict tandem-static 0.8 || ok=1
verdict tandem-profile 0.3 || ok=1
if [ "$STRICT" = 1 ]; then
    exit "$ok"
fi
exit 0
