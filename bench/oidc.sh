#!/bin/bash
# SPDX-License-Identifier: MIT
# OAuth 2.0 / OpenID Connect benchmark: Tandem beside npm oidc-provider (v9, the
# anchor, bench/oidc-provider.mjs) on the same machine, measured with wrk over
# loopback. Both have one confidential client (client_secret_basic), the same
# lifetimes (access 3600 s, refresh 30 days), opaque access tokens and refresh-token
# rotation. Four targets on each server:
#   client_credentials  POST to the token endpoint (RFC 6749 §4.4), scope activities.read
#   refresh_token       POST to the token endpoint (RFC 6749 §6) with rotation: every
#                       answer carries the next refresh token, which the Lua script
#                       sends on that connection's next request (one chain per
#                       connection, each token redeemed once); an ID token (RS256) too
#   discovery           GET /.well-known/openid-configuration
#   jwks                GET the jwks_uri (three keys on each: RS256, ES256, EdDSA)
# Prints requests/s, p99 latency and server CPU time per request for each, the ratio
# Tandem / oidc-provider, the peak RSS (VmHWM) of both servers, and whether the
# target is met (token endpoint >= 5x oidc-provider).
#
# The starting refresh tokens: Tandem's come from its authorization code flow (a
# scripted log-in, consent remembered, then code -> token), oidc-provider's are minted
# in its process (see bench/oidc-provider.mjs) right before each run.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNS (64), BENCH_THREADS (2), BENCH_WARMUP
# (2s), BENCH_ROUNDS (1; rounds interleave the servers, the report shows each target's
# median round), BENCH_TARGETS (all four: "client_credentials refresh_token discovery
# jwks"), TANDEM_BIN (skip the build and use this binary), BENCH_STRICT=1 (exit 1 when
# the target is missed or a run had errors).
# Runs as root on Debian 12 (installs wrk, curl and python3 when missing; `npm ci` when
# oidc-provider is not in node_modules). Everything it starts listens on 127.0.0.1 only
# and is stopped on exit; its temp dir is removed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
STRICT=${BENCH_STRICT:-0}
ROUNDS=${BENCH_ROUNDS:-1}
TARGETS=${BENCH_TARGETS:-client_credentials refresh_token discovery jwks}
TARGET_RATIO=5
USER_NAME=benchuser
USER_PASSWORD='bench password'
SCOPE="openid profile offline_access activities.read"
REDIRECT_URI=http://127.0.0.1:9/cb

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
posint() { # posint NAME VALUE MAX
    case $2 in '' | *[!0-9]* | 0) die "$1 must be a positive integer" ;; esac
    [ "$2" -le "$3" ] || die "$1 is at most $3"
}
posint BENCH_ROUNDS "$ROUNDS" 20
posint BENCH_CONNS "$CONNS" 1000
posint BENCH_THREADS "$THREADS" 64
[ "$CONNS" -ge "$THREADS" ] || die "BENCH_CONNS must be at least BENCH_THREADS"
secs "$DURATION" >/dev/null && secs "$WARMUP" >/dev/null # validate in this shell
LIMIT=$(( $(secs "$DURATION") + $(secs "$WARMUP") + 60 )) # hard bound on one wrk run
for t in $TARGETS; do
    case $t in client_credentials | refresh_token | discovery | jwks) ;;
        *) die "unknown target '$t' in BENCH_TARGETS" ;; esac
done
# Refresh chains: each run starts with 2 tokens per connection (wrk gives each thread
# CONNS/THREADS connections; the spare ones cover an uneven split).
POOL=$((2 * CONNS))

# ---- dependencies (idempotent, like scripts/deps.sh) ----

missing=""
for p in wrk curl python3; do
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
command -v wrk >/dev/null || die "wrk not found"
command -v node >/dev/null || die "node not found (scripts/deps.sh installs it)"
if [ ! -f "$ROOT/node_modules/oidc-provider/package.json" ]; then
    command -v npm >/dev/null || die "npm not found (scripts/deps.sh installs it)"
    log "npm ci (oidc-provider is missing from node_modules)"
    (cd "$ROOT" && npm ci --no-audit --no-fund >&2) || die "npm ci failed"
fi

# ---- build ----

if [ -z "${TANDEM_BIN:-}" ]; then
    log "building Tandem (release)"
    # Only the server binary: a unit test that does not build must not stop the benchmark.
    build_log=$( { [ -f "$ROOT/build/build.ninja" ] ||
                   meson setup "$ROOT/build" "$ROOT" --buildtype=release; } 2>&1 &&
                 ninja -C "$ROOT/build" tandem 2>&1) ||
        { echo "$build_log" | tail -n 30 >&2; die "build failed (or set TANDEM_BIN)"; }
    TANDEM_BIN=$ROOT/build/tandem
fi
[ -x "$TANDEM_BIN" ] || die "no executable at TANDEM_BIN=$TANDEM_BIN"

# ---- temp dir, clean-up ----

TMP=$(mktemp -d /tmp/tandem-oidc-bench.XXXXXX)
TANDEM_PID=""
OP_PID=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pid "$OP_PID"
    stop_pid "$TANDEM_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$TMP/var" "$TMP/pool"
chmod 700 "$TMP" "$TMP/var"

# ---- helper scripts ----

# client_credentials: a static request; the credentials come from the environment.
cat >"$TMP/client_credentials.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=activities.read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
EOF

# refresh_token chains: wrk -s refresh.lua URL -- TOKEN_FILE. Thread k of n takes
# every n-th line of the file; each 200 answer carries the rotated refresh token, which
# goes back in the thread's queue and is sent by the next request (wrk calls response()
# before that connection's next request()), so no token is ever sent twice. A request
# with no token left sends a dummy one: it fails and shows up as a non-2xx answer.
cat >"$TMP/refresh.lua" <<'EOF'
local nthreads = 0

function setup(thread)
    nthreads = nthreads + 1
    thread:set("tid", nthreads)
end

function init(args)
    local n = tonumber(os.getenv("BENCH_THREADS"))
    local i = 0
    queue = {}
    for line in io.lines(args[1]) do
        if i % n == tid - 1 and line ~= "" then
            table.insert(queue, line)
        end
        i = i + 1
    end
    headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC"),
    }
end

function request()
    local token = table.remove(queue) or "none-left"
    return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, hdrs, body)
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
        table.insert(queue, token)
    end
end
EOF

# Tandem's starting refresh tokens: log in once, then the authorization code flow COUNT
# times (the first consent is remembered, so later authorizations redirect at once).
cat >"$TMP/tandem_pool.py" <<'EOF'
import base64, html, http.client, json, re, sys, time
from urllib.parse import parse_qs, urlencode, urlsplit

base, cid, secret, user, password, scope, cb, count, out = sys.argv[1:10]
count = int(count)
u = urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
cookies = {}
basic = "Basic " + base64.b64encode(("%s:%s" % (cid, secret)).encode()).decode()


def req(method, path, body=None, headers=None):
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join("%s=%s" % kv for kv in cookies.items())
    if body is not None:
        body = urlencode(body)
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
    return r.status, r.getheader("Location"), data


def csrf(page):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        sys.exit("pool: no CSRF token on the page")
    return html.unescape(m.group(1))


st, _, page = req("GET", "/login")
st, _, page = req("POST", "/login", {"username": user, "password": password, "csrf": csrf(page)})
if st != 303:
    sys.exit("pool: log-in answered %d" % st)
tokens = []
deadline = time.time() + 600
for i in range(count):
    if time.time() > deadline:
        sys.exit("pool: gave up after 600 s and %d tokens" % i)
    q = urlencode({"response_type": "code", "client_id": cid, "redirect_uri": cb,
                   "scope": scope, "state": "s%d" % i, "nonce": "n%d" % i})
    st, loc, page = req("GET", "/oauth/authorize?" + q)
    if st == 200:  # the consent page, the first time only
        fields = {html.unescape(n): html.unescape(v) for n, v in
                  re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}
        fields["decision"] = "allow"
        fields["remember"] = "1"
        st, loc, page = req("POST", "/oauth/authorize", fields)
    if st not in (302, 303) or not loc or not loc.startswith(cb + "?"):
        sys.exit("pool: authorize answered %d: %s" % (st, page[:300]))
    code = parse_qs(urlsplit(loc).query)["code"][0]
    st, _, body = req("POST", "/oauth/token",
                      {"grant_type": "authorization_code", "code": code, "redirect_uri": cb},
                      {"Authorization": basic})
    if st != 200:
        sys.exit("pool: token answered %d: %s" % (st, body[:300]))
    rt = json.loads(body).get("refresh_token")
    if not rt:
        sys.exit("pool: no refresh_token in %s" % body[:300])
    tokens.append(rt)
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
EOF

# A member of a JSON document (discovery) on stdin.
json_get() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Wait (at most 30 s) for a line matching the sed expression in a log; prints the match.
wait_log() { # wait_log PID FILE SED_EXPR WHAT
    local v="" _
    for _ in $(seq 1 300); do
        v=$(sed -n "$3" "$2" | head -n 1)
        [ -n "$v" ] && break
        kill -0 "$1" 2>/dev/null || { cat "$2" >&2; die "$4 exited early"; }
        sleep 0.1
    done
    [ -n "$v" ] || { cat "$2" >&2; die "$4 did not start in 30 s"; }
    echo "$v"
}

# ---- Tandem ----

export TANDEM_SERVER_HTTP_PORT=0
export TANDEM_SERVER_DATA_DIR=$TMP/var
export TANDEM_SERVER_TEMPLATES_DIR=$ROOT/templates
export TANDEM_SERVER_STATIC_DIR=$ROOT/static
export TANDEM_LOG_ACCESS=false
export TANDEM_XMPP_C2S_PORT=0   # the messenger listener is not measured here; no fixed port
export TANDEM_XMPP_C2S_TLS_PORT=0

"$TANDEM_BIN" user add "$USER_NAME" --password-stdin <<<"$USER_PASSWORD" \
    >"$TMP/useradd.log" 2>&1 || { cat "$TMP/useradd.log" >&2; die "tandem user add failed"; }
"$TANDEM_BIN" client add bench --grant client_credentials --grant refresh_token \
    --grant authorization_code --redirect-uri "$REDIRECT_URI" --scope "$SCOPE" \
    >"$TMP/client.txt" 2>&1 || { cat "$TMP/client.txt" >&2; die "tandem client add failed"; }
T_ID=$(sed -n 's/^client_id: \(.*\)$/\1/p' "$TMP/client.txt")
T_SECRET=$(sed -n 's/^client_secret: \(.*\)$/\1/p' "$TMP/client.txt")
if [ -z "$T_ID" ] || [ -z "$T_SECRET" ]; then
    cat "$TMP/client.txt" >&2
    die "tandem client add printed no client_id/client_secret"
fi

"$TANDEM_BIN" serve </dev/null >"$TMP/tandem.log" 2>&1 &
TANDEM_PID=$!
T_PORT=$(wait_log "$TANDEM_PID" "$TMP/tandem.log" \
         's/.*event=server\.listening proto=http addr=[^ ]* port=\([0-9]*\).*/\1/p' tandem)
T_URL=http://127.0.0.1:$T_PORT

# ---- oidc-provider ----

OP_SECRET=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)
(cd "$ROOT" && exec env NODE_ENV=production OIDC_PORT=0 OIDC_CLIENT_ID=bench \
    OIDC_CLIENT_SECRET="$OP_SECRET" node bench/oidc-provider.mjs) </dev/null \
    >"$TMP/op.log" 2>&1 &
OP_PID=$!
OP_PORT=$(wait_log "$OP_PID" "$TMP/op.log" 's/^listening port=\([0-9]*\) .*/\1/p' oidc-provider)
OP_CONTROL=$(sed -n 's/^listening port=[0-9]* control=\([0-9]*\).*/\1/p' "$TMP/op.log")
OP_URL=http://127.0.0.1:$OP_PORT

# ---- endpoints, checked once by hand ----

basic_of() { printf '%s:%s' "$1" "$2" | base64 -w0; }
T_BASIC=$(basic_of "$T_ID" "$T_SECRET")
OP_BASIC=$(basic_of bench "$OP_SECRET")

endpoints() { # endpoints PREFIX URL: sets PREFIX_TOKEN, PREFIX_DISCOVERY, PREFIX_JWKS
    local doc
    doc=$(curl -sf --max-time 10 "$2/.well-known/openid-configuration") ||
        die "$2: no discovery document"
    printf -v "$1_DISCOVERY" '%s' "$2/.well-known/openid-configuration"
    printf -v "$1_TOKEN" '%s' "$(echo "$doc" | json_get token_endpoint)"
    printf -v "$1_JWKS" '%s' "$(echo "$doc" | json_get jwks_uri)"
}
endpoints T "$T_URL"
endpoints OP "$OP_URL"
for u in "$T_TOKEN" "$T_JWKS" "$OP_TOKEN" "$OP_JWKS"; do
    case $u in http://127.0.0.1:*) ;; *) die "endpoint $u is not on 127.0.0.1" ;; esac
done

check_token() { # check_token URL BASIC BODY: must answer 200 with an access_token
    local out
    out=$(curl -s --max-time 10 -H "Authorization: Basic $2" -d "$3" "$1")
    echo "$out" | grep -q '"access_token"' || die "$1 answered: $out"
}
check_token "$T_TOKEN" "$T_BASIC" "grant_type=client_credentials&scope=activities.read"
check_token "$OP_TOKEN" "$OP_BASIC" "grant_type=client_credentials&scope=activities.read"

# Sizes of the GET answers, for the report.
size_of() { curl -s --max-time 10 "$1" | wc -c; }
SIZES="discovery: tandem $(size_of "$T_DISCOVERY") B, oidc-provider $(size_of "$OP_DISCOVERY") B;"
SIZES="$SIZES jwks: tandem $(size_of "$T_JWKS") B, oidc-provider $(size_of "$OP_JWKS") B"

# Tandem's refresh tokens for every run at once (2 runs per round: warm-up, measured).
T_POOL_N=0
case " $TARGETS " in *" refresh_token "*)
    T_POOL_N=$((ROUNDS * 2 * POOL))
    log "tandem: $T_POOL_N refresh tokens through the authorization code flow"
    timeout 900 python3 "$TMP/tandem_pool.py" "$T_URL" "$T_ID" "$T_SECRET" "$USER_NAME" \
        "$USER_PASSWORD" "$SCOPE" "$REDIRECT_URI" "$T_POOL_N" "$TMP/pool/tandem-all" ||
        die "could not make Tandem's refresh tokens"
    [ "$(grep -c . "$TMP/pool/tandem-all")" -eq "$T_POOL_N" ] || die "short Tandem pool"
    ;;
esac
T_POOL_NEXT=1

# next_pool SERVER FILE: a fresh set of POOL refresh tokens for one wrk run.
next_pool() {
    if [ "$1" = tandem ]; then
        sed -n "${T_POOL_NEXT},$((T_POOL_NEXT + POOL - 1))p" "$TMP/pool/tandem-all" >"$2"
        T_POOL_NEXT=$((T_POOL_NEXT + POOL))
    else
        # Minted just before the run: the in-memory store holds 100000 entries.
        curl -sf --max-time 60 -X POST "http://127.0.0.1:$OP_CONTROL/mint?n=$POOL" >"$2" ||
            die "oidc-provider did not mint refresh tokens"
    fi
    [ "$(grep -c . "$2")" -eq "$POOL" ] || die "$1: short refresh token pool"
}

# ---- measuring ----

# Peak and current resident set of a process, in KiB.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU time used so far by a process (all threads), in clock ticks.
cpu_ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# CPU time of this shell's finished children (wrk), in clock ticks. `times` must run in
# this shell, not in a $(...) subshell, which has children of its own.
child_ticks() {
    times >"$TMP/times"
    awk -v hz="$HZ" 'NR == 2 { t = 0
        for (i = 1; i <= 2; i++) { v = $i; sub(/s$/, "", v); split(v, p, "m"); t += p[1] * 60 + p[2] }
        printf "%.0f", t * hz }' "$TMP/times"
}

RESULTS=$TMP/results # lines: server target rps p99_ms cpu_us_per_req errors others_pct
: >"$RESULTS"
PROBLEMS=""

# run_wrk SERVER TARGET: warm-up, then the measured run; appends to $RESULTS.
run_wrk() {
    local server=$1 target=$2 pid url basic out rps p99 non2xx sockerr reqs c0 c1 cpu
    local m0b m0i m1b m1i w0 w1 others
    local script=() args=()
    if [ "$server" = tandem ]; then
        pid=$TANDEM_PID basic=$T_BASIC
    else
        pid=$OP_PID basic=$OP_BASIC
    fi
    case $server/$target in
        tandem/discovery) url=$T_DISCOVERY ;;
        tandem/jwks) url=$T_JWKS ;;
        tandem/*) url=$T_TOKEN ;;
        oidc-provider/discovery) url=$OP_DISCOVERY ;;
        oidc-provider/jwks) url=$OP_JWKS ;;
        oidc-provider/*) url=$OP_TOKEN ;;
    esac
    case $target in
        client_credentials) script=(-s "$TMP/client_credentials.lua") ;;
        refresh_token) script=(-s "$TMP/refresh.lua") ;;
    esac
    log "$server $target: warm-up $WARMUP, then $DURATION with $CONNS connections ($url)"
    if [ "$target" = refresh_token ]; then
        next_pool "$server" "$TMP/pool/warm"
        args=(-- "$TMP/pool/warm")
    fi
    BENCH_BASIC=$basic BENCH_THREADS=$THREADS timeout "$LIMIT" \
        wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${script[@]}" "$url" "${args[@]}" >/dev/null ||
        die "$server $target: wrk failed (warm-up)"
    if [ "$target" = refresh_token ]; then
        next_pool "$server" "$TMP/pool/run"
        args=(-- "$TMP/pool/run")
    fi
    read -r m0b m0i <<<"$(cpu_ticks)"
    child_ticks >"$TMP/w0"
    c0=$(cpu_ticks_of "$pid")
    out=$(BENCH_BASIC=$basic BENCH_THREADS=$THREADS timeout "$LIMIT" \
          wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${script[@]}" "$url" "${args[@]}") ||
        die "$server $target: wrk failed"
    c1=$(cpu_ticks_of "$pid")
    child_ticks >"$TMP/w1"
    w0=$(cat "$TMP/w0")
    w1=$(cat "$TMP/w1")
    read -r m1b m1i <<<"$(cpu_ticks)"
    # What the rest of the machine used meanwhile, in % of all CPUs: busy time minus
    # the server's and wrk's.
    others=$(awk -v b=$((m1b - m0b)) -v i=$((m1i - m0i)) -v s=$((c1 - c0)) -v w=$((w1 - w0)) \
             'BEGIN { o = (b - s - w) / (b + i + 1) * 100; printf "%.0f", o < 0 ? 0 : o }')
    [ "$others" -lt 10 ] || log "$server $target: other processes used ${others}% of the CPUs"
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    reqs=$(echo "$out" | awk '/ requests in / { print $1 }')
    # "     99%    1.23ms": convert us / ms / s to ms.
    p99=$(echo "$out" | awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
        printf "%.2f", v * f }')
    non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    sockerr=$(echo "$out" | sed -n 's/.*Socket errors: *//p')
    if [ -z "$rps" ] || [ -z "$p99" ] || [ -z "$reqs" ]; then
        echo "$out" >&2
        die "could not parse wrk output"
    fi
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }')
    if [ -n "$non2xx" ] || [ -n "$sockerr" ]; then
        log "$server $target: ${non2xx:-0} non-2xx answers; socket errors: ${sockerr:-none}"
        PROBLEMS="$PROBLEMS $server/$target"
    fi
    echo "$server $target $rps $p99 $cpu ${non2xx:-0} $others" >>"$RESULTS"
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 30 "$TMP/tandem.log" "$TMP/op.log" >&2
        die "$server died during the benchmark"
    fi
}

# Another busy process skews everything on a small machine: measure how busy the CPUs
# are over one second before starting (/proc/stat), and say so.
read -r busy0 idle0 <<<"$(cpu_ticks)"
sleep 1
read -r busy1 idle1 <<<"$(cpu_ticks)"
BUSY_BEFORE=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
if [ "$BUSY_BEFORE" -ge 10 ]; then
    log "warning: the CPUs were ${BUSY_BEFORE}% busy before the run; figures will be low and noisy"
fi

# Rounds interleave the servers target by target, so that a slow spell of the machine
# does not land on one server only; the report takes each target's median round.
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" = 1 ] || log "round $round of $ROUNDS"
    for t in $TARGETS; do
        run_wrk oidc-provider "$t"
        run_wrk tandem "$t"
    done
done
RSS_T=$(peak_rss_kib "$TANDEM_PID")
RSS_OP=$(peak_rss_kib "$OP_PID")
NOW_T=$(rss_kib "$TANDEM_PID")
NOW_OP=$(rss_kib "$OP_PID")

# ---- report ----

# median SERVER TARGET: the round with the median requests/s (the lower middle one for
# an even count), as "rps p99 cpu others".
median() {
    awk -v s="$1" -v t="$2" '$1 == s && $2 == t { print $3, $4, $5, $7 }' "$RESULTS" | sort -g |
        awk '{ r[NR] = $1; p[NR] = $2; c[NR] = $3; o[NR] = $4 }
             END { m = int((NR + 1) / 2); print r[m], p[m], c[m], o[m] }'
}

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP), 127.0.0.1, $(nproc) CPUs" \
     "(shared by wrk and the server); $ROUNDS round(s), median shown; CPU busy before: ${BUSY_BEFORE}%"
echo "oidc-provider $(node -p 'require(process.argv[1]).version' \
     "$ROOT/node_modules/oidc-provider/package.json") on node $(node --version);" \
     "$("$TANDEM_BIN" version 2>/dev/null | head -n 1)"
echo
printf '| %-18s | %12s | %8s | %10s | %12s | %8s | %10s | %9s | %6s |\n' target \
    "op req/s" "op p99" "op CPU/req" "Tandem req/s" "T p99" "T CPU/req" "Tandem/op" "others"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' -------------------- -------------: ---------: \
    -----------: -------------: ---------: -----------: ----------: -------:
ok=0
for t in $TARGETS; do
    read -r o_rps o_p99 o_cpu o_oth <<<"$(median oidc-provider "$t")"
    read -r t_rps t_p99 t_cpu t_oth <<<"$(median tandem "$t")"
    ratio=$(awk -v a="$t_rps" -v b="$o_rps" 'BEGIN { printf "%.2f", a / b }')
    printf '| %-18s | %12.0f | %8s | %10s | %12.0f | %8s | %10s | %8sx | %6s |\n' "$t" \
        "$o_rps" "$o_p99" "$o_cpu" "$t_rps" "$t_p99" "$t_cpu" "$ratio" "$o_oth/$t_oth"
done
echo
echo "op = oidc-provider, T = Tandem; p99 in ms; CPU/req = the server's CPU time (user +" \
     "system, all threads) over the measured run divided by its requests, in µs;" \
     "others = % of the machine's CPU time used by other processes during the op/T run"
echo "Peak RSS (VmHWM): tandem $RSS_T KiB; oidc-provider $RSS_OP KiB. At the end (VmRSS):" \
     "tandem $NOW_T KiB; oidc-provider $NOW_OP KiB"
[ "$T_POOL_N" = 0 ] ||
    echo "(Tandem's peak includes the password log-in made for the refresh tokens: Argon2id, 64 MiB)"
echo "Answer sizes: $SIZES"
[ -z "$PROBLEMS" ] || { echo "Runs with errors (non-2xx or socket errors):$PROBLEMS"; ok=1; }
for t in client_credentials refresh_token; do
    case " $TARGETS " in *" $t "*) ;; *) continue ;; esac
    r=$(awk -v a="$(median tandem "$t" | cut -d' ' -f1)" \
            -v b="$(median oidc-provider "$t" | cut -d' ' -f1)" 'BEGIN { printf "%.2f", a / b }')
    if awk -v r="$r" -v m="$TARGET_RATIO" 'BEGIN { exit !(r >= m) }'; then
        echo "target token endpoint ($t) >= ${TARGET_RATIO}x oidc-provider: ${r}x MET"
    else
        echo "target token endpoint ($t) >= ${TARGET_RATIO}x oidc-provider: ${r}x NOT MET"
        ok=1
    fi
done
if [ "$STRICT" = 1 ]; then
    exit "$ok"
fi
exit 0
