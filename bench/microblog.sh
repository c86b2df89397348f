#!/bin/bash
# SPDX-License-Identifier: MIT
# Microblog benchmark: Tandem's Mastodon API and web pages over a large data set,
# measured with wrk over loopback, beside nginx serving a static file of the same
# size as one home timeline answer (the anchor: 1 worker process, as Tandem runs one
# loop thread).
#
# The data set (bench/microblog/mbgen.c, written into the store before the server
# starts): BENCH_ACTIVE (10,000) "active" accounts that post BENCH_POSTS (1,000,000)
# posts, skewed (a few prolific posters, a long tail), and follow each other (50-200
# each, preferential attachment); plus BENCH_READERS (100,000) lightweight "reader"
# accounts that never post and follow the celebrity u0 and a few others. The issue's
# "10,000 accounts" and "one account with 100,000 followers" cannot both hold: the
# readers are where the celebrity's followers come from. OAuth access tokens and web
# sessions are made directly in the store for BENCH_TOKENS active accounts and for
# every reader, so that wrk reads the home timelines of many accounts, not one.
#
# Targets (wrk -c BENCH_CONNS, BENCH_DURATION each, after BENCH_WARMUP):
#   home        GET /api/v1/timelines/home?limit=20, Bearer tokens rotated
#   html        GET / with a session cookie (the HTML home timeline once it is one)
#   public      GET /api/v1/timelines/public?limit=20
#   post        POST /api/v1/statuses (form body), as the token accounts
#   nginx       the anchor: a static file of a home answer's size, 1 worker
# Fan-out: the celebrity posts through the API (a) right after start, when no home
# timeline is in memory, and (b) after the home timelines of BENCH_WARM_READERS of its
# followers were read (so they sit in the in-memory rings the post is pushed into).
# The fan-out is done before the POST is answered, so the POST's response time is the
# time until the post is in every follower's home timeline; the script also reads
# tandem_mb_fanout_seconds from /metrics and checks that the post is the newest in the
# home timelines of BENCH_SAMPLE (1,000) random followers.
#
# Prints requests/s, p99 latency and the ratio to nginx for each target, the first
# reads (ring rebuilds), the fan-out times and whether the targets are met: home API
# >= 20,000 requests/s with p99 < 10 ms, fan-out to 100,000 followers < 1 s.
# Any answer other than 200 is counted and reported as an error (a 404 or 405 means
# the route does not exist in this build).
#
# Environment: BENCH_ACTIVE, BENCH_POSTS, BENCH_READERS, BENCH_TOKENS (10000: active
# accounts with a token and a session), BENCH_WARM_READERS (all readers), BENCH_SAMPLE
# (1000), BENCH_DURATION (10s), BENCH_CONNS (64), BENCH_THREADS (2), BENCH_WARMUP (2s),
# BENCH_TARGETS ("home html public post"), BENCH_SEED (42), TANDEM_BIN and MBGEN_BIN
# (skip the build), BENCH_KEEP=1 (keep the temp dir with the database), BENCH_STRICT=1
# (exit 1 when a target is missed or a run had errors). A quick check:
#   BENCH_ACTIVE=1000 BENCH_POSTS=100000 BENCH_READERS=10000 BENCH_DURATION=3s bash bench/microblog.sh
# Runs as root on Debian 12 (installs wrk, nginx, curl and python3 when missing).
# Everything it starts listens on 127.0.0.1 only and is stopped on exit.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/bench/microblog
ACTIVE=${BENCH_ACTIVE:-10000}
POSTS=${BENCH_POSTS:-1000000}
READERS=${BENCH_READERS:-100000}
TOKENS=${BENCH_TOKENS:-10000}
WARM_READERS=${BENCH_WARM_READERS:-$READERS}
SAMPLE=${BENCH_SAMPLE:-1000}
SEED=${BENCH_SEED:-42}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
TARGETS=${BENCH_TARGETS:-home html public post}
STRICT=${BENCH_STRICT:-0}
TARGET_HOME_RPS=20000
TARGET_HOME_P99_MS=10
TARGET_FANOUT_S=1

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
whole() { # whole NAME VALUE MIN MAX
    case $2 in '' | *[!0-9]*) die "$1 must be a whole number" ;; esac
    if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then die "$1 must be between $3 and $4"; fi
}
whole BENCH_ACTIVE "$ACTIVE" 2 10000000
whole BENCH_POSTS "$POSTS" 0 100000000
whole BENCH_READERS "$READERS" 0 10000000
whole BENCH_TOKENS "$TOKENS" 1 10000000
whole BENCH_WARM_READERS "$WARM_READERS" 0 "$READERS"
whole BENCH_SAMPLE "$SAMPLE" 1 1000000
whole BENCH_CONNS "$CONNS" 1 1000
whole BENCH_THREADS "$THREADS" 1 64
[ "$CONNS" -ge "$THREADS" ] || die "BENCH_CONNS must be at least BENCH_THREADS"
secs "$DURATION" >/dev/null && secs "$WARMUP" >/dev/null # validate in this shell
LIMIT=$(( $(secs "$DURATION") + $(secs "$WARMUP") + 60 )) # hard bound on one wrk run
for t in $TARGETS; do
    case $t in home | html | public | post) ;; *) die "unknown target '$t' in BENCH_TARGETS" ;; esac
done

# ---- dependencies (idempotent, like scripts/deps.sh) ----

missing=""
for p in wrk nginx curl python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
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

if [ -z "${TANDEM_BIN:-}" ] || [ -z "${MBGEN_BIN:-}" ]; then
    log "building Tandem and mbgen (release)"
    # Only the two binaries: a unit test that does not build must not stop the benchmark.
    build_log=$( { [ -f "$ROOT/build/build.ninja" ] ||
                   meson setup "$ROOT/build" "$ROOT" --buildtype=release; } 2>&1 &&
                 ninja -C "$ROOT/build" tandem mbgen 2>&1) ||
        { echo "$build_log" | tail -n 30 >&2; die "build failed (or set TANDEM_BIN and MBGEN_BIN)"; }
    TANDEM_BIN=${TANDEM_BIN:-$ROOT/build/tandem}
    MBGEN_BIN=${MBGEN_BIN:-$ROOT/build/mbgen}
fi
[ -x "$TANDEM_BIN" ] || die "no executable at TANDEM_BIN=$TANDEM_BIN"
[ -x "$MBGEN_BIN" ] || die "no executable at MBGEN_BIN=$MBGEN_BIN"

# ---- temp dir, clean-up ----

TMP=$(mktemp -d /tmp/tandem-mb-bench.XXXXXX)
NGINX_PID=""
TANDEM_PID=""
WRK_PID=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pid "$WRK_PID"
    stop_pid "$NGINX_PID"
    stop_pid "$TANDEM_PID"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# nginx workers drop to user nobody: they must be able to reach the document root.
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/ngx_tmp" "$TMP/var" "$TMP/cred" "$TMP/done"
chmod 700 "$TMP/var" "$TMP/cred"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT: at most 10 s
    local _
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# Another busy process skews everything on a small machine: say so.
read -r busy0 idle0 <<<"$(cpu_ticks)"
sleep 1
read -r busy1 idle1 <<<"$(cpu_ticks)"
BUSY_BEFORE=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
if [ "$BUSY_BEFORE" -ge 10 ]; then
    log "warning: the CPUs were ${BUSY_BEFORE}% busy before the run; figures will be low and noisy"
fi

# ---- the data set ----

log "generating $ACTIVE active accounts, $POSTS posts, $READERS readers"
t0=$(date +%s.%N)
"$MBGEN_BIN" "$TMP/var/tandem.db" "$TMP/cred" --active "$ACTIVE" --posts "$POSTS" \
    --readers "$READERS" --tokens "$TOKENS" --seed "$SEED" 2>"$TMP/mbgen.log" ||
    { tail -n 20 "$TMP/mbgen.log" >&2; die "mbgen failed"; }
GEN_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep '^mbgen: done' "$TMP/mbgen.log" >&2 || true
celeb_name="" celeb_followers=0 celeb_posts=0
# shellcheck disable=SC1091 # key=value lines written by mbgen (celeb_*, counts)
. "$TMP/cred/info.txt"
DB_MB=$(( $(du -k "$TMP/var/tandem.db" | cut -f1) / 1024 ))

# ---- Tandem ----

export TANDEM_SERVER_HTTP_HOST=127.0.0.1 # loopback only (the default, said again)
export TANDEM_SERVER_HTTP_PORT=0
export TANDEM_SERVER_DATA_DIR=$TMP/var
export TANDEM_SERVER_TEMPLATES_DIR=$ROOT/templates
export TANDEM_SERVER_STATIC_DIR=$ROOT/static
export TANDEM_LOG_ACCESS=false
export TANDEM_SERVER_MAX_CONNECTIONS_PER_IP=2000
export TANDEM_SERVER_MAX_CONNECTIONS=10000
export TANDEM_XMPP_C2S_PORT=0 # the messenger is not measured here; no fixed port
export TANDEM_XMPP_C2S_TLS_PORT=0

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
URL=http://127.0.0.1:$TANDEM_PORT
wait_port "$TANDEM_PORT" || die "tandem does not accept connections"

# ---- helpers ----

RESULTS=$TMP/results # lines: label rps p99_ms non200 first_non200 requests
: >"$RESULTS"
export BENCH_WRK_THREADS=$THREADS
export BENCH_DONE_DIR=$TMP/done

ms() { # "1.23ms" / "850.00us" / "1.02s" in ms
    awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
        printf "%.2f", v * f }'
}

# wrk_parse LABEL OUTPUT: append a result line.
wrk_parse() {
    local label=$1 out=$2 rps p99 bad first n
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
    bad=$(echo "$out" | awk '/^non-200:/ { print $2 }')
    first=$(echo "$out" | awk '/^first-non-200:/ { print $2 }')
    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    if [ -z "$rps" ] || [ -z "$bad" ]; then
        echo "$out" >&2
        die "$label: could not parse wrk output"
    fi
    p99=$(ms "${p99:-0ms}")
    echo "$label $rps $p99 $bad ${first:-0} ${n:-0}" >>"$RESULTS"
    if [ "$bad" != 0 ]; then
        log "ERROR: $label: $bad of $n answers were not 200 (the first: $first)"
        case $first in 404 | 405) log "ERROR: $label: $first means this build has no such route" ;; esac
    fi
    return 0
}

# run_wrk LABEL URL MODE FILE: warm-up, then the measured run.
run_wrk() {
    local label=$1 url=$2 mode=$3 file=$4 out
    log "$label: warm-up $WARMUP, then $DURATION with $CONNS connections"
    timeout "$LIMIT" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$HERE/mb.lua" "$url" -- \
        "$mode" "$file" >/dev/null
    out=$(timeout "$LIMIT" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
          -s "$HERE/mb.lua" "$url" -- "$mode" "$file")
    wrk_parse "$label" "$out"
}

# run_once LABEL MODE FILE: every line of FILE once (wrk stops each thread at the end of
# its share; the script then interrupts wrk, whose -d is only an upper bound).
run_once() {
    local label=$1 mode=$2 file=$3 n _
    n=$(grep -c . "$file" || true)
    [ "$n" -ge "$THREADS" ] || { log "$label: fewer lines than threads; skipped"; return 0; }
    rm -f "$BENCH_DONE_DIR"/*
    log "$label: $n requests, one per account"
    wrk -t"$THREADS" -c"$CONNS" -d3600s --latency -s "$HERE/mb.lua" "$URL" -- \
        "$mode" "$file" 1 >"$TMP/once.out" 2>&1 &
    WRK_PID=$!
    for _ in $(seq 1 36000); do
        [ "$(find "$BENCH_DONE_DIR" -type f | wc -l)" -ge "$THREADS" ] && break
        kill -0 "$WRK_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || true
    WRK_PID=""
    wrk_parse "$label" "$(cat "$TMP/once.out")"
}

# metric NAME: its value in /metrics (0 when absent).
metric() {
    curl -s --max-time 10 "$URL/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

# celeb_post LABEL: the celebrity posts; prints "post_id seconds fanout_seconds".
celeb_post() {
    local sum0 cnt0 sum1 cnt1 out id t
    sum0=$(metric tandem_mb_fanout_seconds_sum)
    cnt0=$(metric tandem_mb_fanout_seconds_count)
    out=$(curl -s --max-time 60 -w '\n%{http_code} %{time_total}' \
          -H "Authorization: Bearer $(cat "$TMP/cred/celeb.txt")" \
          --data-urlencode "status=$1: a post from the celebrity to $celeb_followers followers #fanout" \
          "$URL/api/v1/statuses")
    t=$(echo "$out" | tail -n 1)
    [ "${t%% *}" = 200 ] || { echo "$out" >&2; die "the celebrity's post was answered ${t%% *}"; }
    id=$(echo "$out" | head -n 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    sum1=$(metric tandem_mb_fanout_seconds_sum)
    cnt1=$(metric tandem_mb_fanout_seconds_count)
    if [ "$cnt1" = "$cnt0" ]; then
        echo "$id ${t#* } -"
    else
        echo "$id ${t#* } $(awk -v a="$sum0" -v b="$sum1" 'BEGIN { printf "%.6f", b - a }')"
    fi
}

# verify POST_ID COUNT: COUNT random readers' home timelines must start with POST_ID.
cat >"$TMP/verify.py" <<'EOF'
import http.client, json, random, sys, time
port, post, count, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
tokens = [l.strip() for l in open(path) if l.strip()]
random.seed(7)
sample = random.sample(tokens, min(count, len(tokens)))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
ok = bad = 0
t0 = time.monotonic()
for tok in sample:
    conn.request("GET", "/api/v1/timelines/home?limit=1", headers={"Authorization": "Bearer " + tok})
    resp = conn.getresponse()
    body = resp.read()
    try:
        top = json.loads(body)[0]["id"] if resp.status == 200 else None
    except (ValueError, IndexError, KeyError, TypeError):
        top = None
    if top == post:
        ok += 1
    else:
        bad += 1
print(ok, bad, "%.2f" % (time.monotonic() - t0))
EOF
verify() {
    python3 "$TMP/verify.py" "$TANDEM_PORT" "$1" "$2" "$TMP/cred/readers.txt"
}

# ---- fan-out (a): nothing in memory yet ----

FAN_A="" FAN_B="" VER_A="" VER_B=""
if [ "$READERS" -gt 0 ]; then
    log "fan-out (a): the celebrity ($celeb_followers followers) posts, no home timeline in memory"
    FAN_A=$(celeb_post "cold")
    VER_A=$(verify "${FAN_A%% *}" $(( SAMPLE < 100 ? SAMPLE : 100 )))
fi

# ---- the first read of each token account's home (ring rebuilds), and the anchor ----

run_once home-first-read home "$TMP/cred/tokens.txt"

# One home answer, as wrk gets it, is the anchor's file.
curl -s --max-time 10 -H "Authorization: Bearer $(head -n 1 "$TMP/cred/tokens.txt")" \
    -o "$TMP/www/home.json" "$URL/api/v1/timelines/home?limit=20"
HOME_BYTES=$(wc -c <"$TMP/www/home.json")
[ "$HOME_BYTES" -gt 100 ] || die "the home timeline answer is only $HOME_BYTES bytes"
chmod 644 "$TMP/www/home.json"

NGINX_PORT=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
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
    types { application/json json; }
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
curl -s --max-time 10 "http://127.0.0.1:$NGINX_PORT/home.json" | cmp -s - "$TMP/www/home.json" ||
    die "nginx does not serve home.json intact"
run_wrk nginx-1w-static "http://127.0.0.1:$NGINX_PORT/home.json" static ""
stop_pid "$NGINX_PID"
NGINX_PID=""

# ---- Tandem's targets ----

for t in $TARGETS; do
    case $t in
        home) run_wrk home-api "$URL" home "$TMP/cred/tokens.txt" ;;
        html) run_wrk home-html "$URL" html "$TMP/cred/sessions.txt" ;;
        public) run_wrk public-api "$URL" public "$TMP/cred/tokens.txt" ;;
        post) run_wrk post-api "$URL" post "$TMP/cred/tokens.txt" ;;
    esac
    kill -0 "$TANDEM_PID" 2>/dev/null || die "tandem died during $t"
done

# ---- fan-out (b): the followers' home timelines are in memory ----

if [ "$READERS" -gt 0 ]; then
    if [ "$WARM_READERS" -gt 0 ]; then
        head -n "$WARM_READERS" "$TMP/cred/readers.txt" >"$TMP/warm.txt"
        run_once readers-first-read home "$TMP/warm.txt"
    fi
    log "fan-out (b): the celebrity posts, $WARM_READERS followers' home timelines in memory"
    FAN_B=$(celeb_post "warm")
    VER_B=$(verify "${FAN_B%% *}" "$SAMPLE")
fi
kill -0 "$TANDEM_PID" 2>/dev/null || die "tandem died during the fan-out"
RSS_TANDEM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TANDEM_PID/status")

# ---- report ----

row() { awk -v l="$1" '$1 == l' "$RESULTS" | tail -n 1; }
ANCHOR=$(row nginx-1w-static | awk '{ print $2 }')
echo
echo "Microblog benchmark: $ACTIVE active accounts, $POSTS posts, $READERS readers;" \
     "the celebrity $celeb_name has $celeb_followers followers and $celeb_posts posts;" \
     "database $DB_MB MiB, generated in $GEN_S s"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP), 127.0.0.1, $(nproc) CPUs;" \
     "home answer $HOME_BYTES bytes; CPU busy before: ${BUSY_BEFORE}%"
echo
printf '| %-20s | %12s | %9s | %10s | %9s |\n' target requests/s "p99 (ms)" "x nginx 1w" non-200
printf '|%s|%s|%s|%s|%s|\n' ---------------------- -------------: ----------: -----------: \
    ----------:
while read -r label rps p99 bad first n; do
    case $label in
        *-first-read) ratio=- ;; # not a like-for-like figure: each read rebuilds a ring
        *) ratio=$(awk -v a="$rps" -v b="$ANCHOR" 'BEGIN { printf "%.2f", a / b }') ;;
    esac
    [ "$bad" = 0 ] || bad="$bad ($first)"
    printf '| %-20s | %12.0f | %9s | %10s | %9s |\n' "$label" "$rps" "$p99" "$ratio" "$bad"
done <"$RESULTS"
echo
echo "home-first-read and readers-first-read: each account's first home read after start" \
     "(the in-memory ring is rebuilt from the store); p99 there is over all of them."
echo "Peak RSS (VmHWM) of tandem: $RSS_TANDEM KiB"

ok=0
fanout_line() { # fanout_line LABEL "id seconds fanout" "ok bad secs"
    local id t f vok vbad
    read -r id t f <<<"$2"
    read -r vok vbad _ <<<"$3"
    echo "fan-out $1: POST answered in $(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }') ms" \
         "(tandem_mb_fanout_seconds: $(awk -v f="$f" 'BEGIN { if (f == "-") print "-";
                                                    else printf "%.1f ms", f * 1000 }'));" \
         "newest in $vok of $((vok + vbad)) sampled followers' home timelines"
    [ "$vbad" = 0 ] || { echo "ERROR: $vbad sampled followers do not see the post first"; ok=1; }
}
echo
if [ -n "$FAN_A" ]; then
    fanout_line "(a) no ring in memory" "$FAN_A" "$VER_A"
    fanout_line "(b) $WARM_READERS follower rings in memory" "$FAN_B" "$VER_B"
fi

verdict() { # verdict TEXT OK(0/1)
    if [ "$2" = 0 ]; then echo "target $1: MET"; else echo "target $1: NOT MET"; ok=1; fi
}
echo
if home=$(row home-api) && [ -n "$home" ]; then
    read -r _ rps p99 bad _ <<<"$home"
    verdict "home API >= $TARGET_HOME_RPS requests/s (${rps%.*})" \
        "$(awk -v r="$rps" -v m="$TARGET_HOME_RPS" 'BEGIN { print (r >= m) ? 0 : 1 }')"
    verdict "home API p99 < $TARGET_HOME_P99_MS ms at $CONNS connections ($p99 ms)" \
        "$(awk -v r="$p99" -v m="$TARGET_HOME_P99_MS" 'BEGIN { print (r < m) ? 0 : 1 }')"
fi
if [ -n "$FAN_B" ]; then
    t=$(echo "$FAN_B" | awk '{ print $2 }')
    verdict "fan-out to $celeb_followers followers < $TARGET_FANOUT_S s (${t} s)" \
        "$(awk -v t="$t" -v m="$TARGET_FANOUT_S" 'BEGIN { print (t < m) ? 0 : 1 }')"
fi
if awk '$4 != 0 { found = 1 } END { exit !found }' "$RESULTS"; then
    echo "ERROR: some runs had answers other than 200 (see the non-200 column)"
    ok=1
fi
if [ "$STRICT" = 1 ]; then
    exit "$ok"
fi
exit 0
