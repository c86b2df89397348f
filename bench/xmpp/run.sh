#!/bin/bash
# SPDX-License-Identifier: MIT
# XMPP benchmark: Tandem's messenger beside Prosody and ejabberd (Debian 12's),
# one scenario against each, over plain TCP on 127.0.0.1: BENCH_USERS users log
# in with SCRAM-SHA-1, bind, send initial presence, wait at a barrier, then each
# sends BENCH_MESSAGES timestamped chat messages to random online users. Driven
# by bench/xmpp/xmppload.c (libuv, built here with cc) and, as a second opinion
# at the rate it can offer, by tsung. Prints logins/s, messages delivered/s with
# mean and p99 latency, server memory per idle session (VmRSS growth / sessions),
# the ratios between the servers, and Tandem's targets.
#
# Environment: BENCH_USERS (1000), BENCH_MESSAGES (20 per user), BENCH_RATE
# (5000: offered messages/s in the fixed-rate run), BENCH_RATE_MAX (300000:
# offered messages/s in the saturation run; 0 skips it), BENCH_IDLE_SESSIONS
# (18000: sessions opened and held idle; 0 skips), BENCH_IDLE_SERVERS (all three),
# BENCH_IDLE_HOLD (10 s), BENCH_SERVERS ("tandem prosody ejabberd"),
# BENCH_TSUNG (1: also run tsung; 0 skips), BENCH_TSUNG_USERS (500),
# BENCH_TSUNG_RATE (2000 messages/s offered), BENCH_THREADS (2 driver loops),
# BENCH_CONCURRENCY (200 logins in flight), TANDEM_BIN (skip the build),
# BENCH_TANDEM_LOG_LEVEL (warn; info logs every session), BENCH_MAM (on: every
# server archives messages; off: none does), BENCH_KEEP=1 (keep the temp dir). More in bench/xmpp/README.md.
# Runs as root on Debian 12 (installs prosody, ejabberd, tsung when missing).
# Each server runs from its own config in a temp dir on its own free loopback
# port, never as the system service; everything started is stopped on exit.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/xmpp
USERS=${BENCH_USERS:-1000}
MESSAGES=${BENCH_MESSAGES:-20}
RATE=${BENCH_RATE:-5000}
RATE_MAX=${BENCH_RATE_MAX:-300000}
MAX_MESSAGES=${BENCH_MAX_MESSAGES:-100}
IDLE=${BENCH_IDLE_SESSIONS:-18000}
IDLE_SERVERS=${BENCH_IDLE_SERVERS:-tandem prosody ejabberd}
IDLE_HOLD=${BENCH_IDLE_HOLD:-10}
SERVERS=${BENCH_SERVERS:-tandem prosody ejabberd}
TSUNG=${BENCH_TSUNG:-1}
TSUNG_USERS=${BENCH_TSUNG_USERS:-500}
TSUNG_RATE=${BENCH_TSUNG_RATE:-2000}
TSUNG_ARRIVAL=${BENCH_TSUNG_ARRIVAL:-10}
THREADS=${BENCH_THREADS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-200}
# Message archives (XEP-0313): "on" has all three servers archive every chat
# message (Prosody's mod_mam and ejabberd's mod_mam set to always; Tandem's
# MAM is always there, default always); "off" has none archive (no mod_mam in
# Prosody and ejabberd; the driver's clients set Tandem's preference to never
# before going online). Mixing the two measures different work.
MAM=${BENCH_MAM:-on}
case $MAM in on) MAM_ARGS=() ;; off) MAM_ARGS=(--mam-never) ;; *) echo "BENCH_MAM is on or off" >&2; exit 2 ;; esac
DOMAIN=localhost
PASSWORD='bench password'

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
for v in USERS MESSAGES RATE RATE_MAX MAX_MESSAGES IDLE IDLE_HOLD TSUNG_USERS TSUNG_RATE TSUNG_ARRIVAL THREADS CONCURRENCY; do
    case ${!v} in '' | *[!0-9]*) die "BENCH_$v must be a whole number" ;; esac
done
[ "$USERS" -ge 2 ] || die "BENCH_USERS must be at least 2"
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs servers as their users)"
NOFILE=$(ulimit -n)
MAX_SESSIONS=$(( NOFILE - 200 ))
for n in "$USERS" "$IDLE"; do
    [ "$n" -le "$MAX_SESSIONS" ] || die "$n sessions need more than the $NOFILE open files allowed"
done

# ---- dependencies (idempotent) ----

missing=""
for p in prosody lua-unbound ejabberd tsung libuv1-dev libssl-dev sqlite3 gcc python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
    log "installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
# apt may start the system services; they keep their own ports and are left alone.

# ---- build ----

if [ -z "${TANDEM_BIN:-}" ]; then
    log "building Tandem (release)"
    build_log=$(make -C "$ROOT" build 2>&1) || { echo "$build_log" | tail -n 30 >&2;
                                                 die "build failed (or set TANDEM_BIN)"; }
    TANDEM_BIN=$ROOT/build/tandem
fi
[ -x "$TANDEM_BIN" ] || die "no executable at TANDEM_BIN=$TANDEM_BIN"

TMP=$(mktemp -d /tmp/tandem-xbench.XXXXXX)
chmod 755 "$TMP"
LOAD=$TMP/xmppload
cc -O2 -Wall -Wextra -Werror -o "$LOAD" "$HERE/xmppload.c" -luv -lcrypto -lpthread -lm ||
    die "xmppload did not build"

# ---- processes, clean-up ----

SERVER_PID=""   # the process we started (prosody, su for ejabberd, tandem)
MEASURE_PID=""  # the process whose memory counts (beam.smp for ejabberd)
EPMD_STARTED=0
TSUNG_PID=""    # timeout running tsung (its Erlang VM below)

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$TSUNG_PID" ]; then
        local vm
        vm=$(descendant "$TSUNG_PID" beam.smp || true)
        stop_pid "$vm"
        stop_pid "$TSUNG_PID"
    fi
    stop_server
    if [ "$EPMD_STARTED" = 1 ]; then epmd -kill >/dev/null 2>&1 || true; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait (at most $2 s, default 30) until something accepts TCP on 127.0.0.1:$1.
wait_port() {
    local _
    for _ in $(seq 1 $(( ${2:-30} * 10 ))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The deepest descendant of $1 named $2 (ejabberd runs under su and sh).
descendant() {
    local p=$1 name=$2 c
    for c in $(pgrep -P "$p" 2>/dev/null || true); do
        if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$name" ]; then echo "$c"; return 0; fi
        descendant "$c" "$name" && return 0
    done
    return 1
}

# shellcheck disable=SC2317
stop_server() {
    [ -n "$MEASURE_PID" ] && [ "$MEASURE_PID" != "$SERVER_PID" ] && stop_pid "$MEASURE_PID"
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    MEASURE_PID=""
}

# ---- Tandem ----

tandem_setup() { # accounts user1..user$1: one through the CLI, the rest copied in SQL
    local n=$1 d=$TMP/tandem
    mkdir -p "$d/var"
    chmod 700 "$d/var"
    TANDEM_SERVER_DATA_DIR=$d/var TANDEM_LOG_LEVEL=warn "$TANDEM_BIN" user add user1 \
        --password-stdin <<<"$PASSWORD" >"$d/useradd.log" 2>&1 ||
        { cat "$d/useradd.log" >&2; die "tandem user add failed"; }
    # `tandem user add` runs argon2id and two PBKDF2 derivations per account
    # (~70 ms); thousands are copied from user1's rows instead: same password,
    # same salts, which changes nothing for the server's work per login.
    sqlite3 "$d/var/tandem.db" <<EOF || die "copying Tandem accounts failed"
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO accounts (id, username, username_lc, display_name, bio, email, password_hash,
                      is_admin, disabled, created_at, updated_at)
SELECT a.id + k.i, 'user' || k.i, 'user' || k.i, '', '', NULL, a.password_hash, 0, 0,
       a.created_at, a.updated_at
FROM k, accounts a WHERE a.username_lc = 'user1';
INSERT INTO account_scram (account_id, mechanism, credential)
SELECT a.id, s.mechanism, s.credential
FROM accounts a, account_scram s, accounts one
WHERE one.username_lc = 'user1' AND s.account_id = one.id AND a.id <> one.id;
COMMIT;
EOF
}

tandem_start() {
    local d=$TMP/tandem
    : >"$d/tandem.log"
    PORT=$(free_port)
    env TANDEM_SERVER_DATA_DIR="$d/var" TANDEM_SERVER_HTTP_HOST=127.0.0.1 \
        TANDEM_SERVER_HTTP_PORT=0 TANDEM_XMPP_C2S_PORT="$PORT" TANDEM_XMPP_ALLOW_PLAINTEXT=true \
        TANDEM_SERVER_MAX_CONNECTIONS="$MAX_SESSIONS" \
        TANDEM_SERVER_MAX_CONNECTIONS_PER_IP="$MAX_SESSIONS" \
        TANDEM_SERVER_TEMPLATES_DIR="$ROOT/templates" TANDEM_SERVER_STATIC_DIR="$ROOT/static" \
        TANDEM_LOG_ACCESS=false TANDEM_LOG_LEVEL="${BENCH_TANDEM_LOG_LEVEL:-warn}" \
        "$TANDEM_BIN" serve </dev/null >>"$d/tandem.log" 2>&1 &
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
    wait_port "$PORT" 30 || { cat "$d/tandem.log" >&2; die "tandem did not start"; }
}

# ---- Prosody ----

prosody_setup() {
    local n=$1 d=$TMP/prosody i
    mkdir -p "$d/data" "$d/certs"
    PROSODY_PORT=$(free_port)
    cat >"$d/prosody.cfg.lua" <<EOF
-- bench/xmpp/run.sh: a Prosody of its own on 127.0.0.1:$PROSODY_PORT
pidfile = "$d/prosody.pid"
data_path = "$d/data"
log = { { levels = { min = "warn" }, to = "file", filename = "$d/prosody.log" } }
c2s_ports = { $PROSODY_PORT }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
modules_enabled = { "roster", "saslauth", "disco", "ping", "register"$( [ "$MAM" = on ] && echo ', "mam"' || true) }
default_archive_policy = true
archive_expires_after = "never"
-- Archives in Prosody's default store ("internal", files). Its SQLite store
-- (storage = { archive = "sql" }, lua-dbi-sqlite3) was tried and delivered
-- far fewer messages (a transaction per message), so the faster one is used.
certificates = "$d/certs"
modules_disabled = { "s2s", "tls" }
allow_registration = true -- for tsung's accounts; loopback is allow-listed
VirtualHost "$DOMAIN"
EOF
    chown -R prosody:prosody "$d"
    prosodyctl --config "$d/prosody.cfg.lua" register user1 "$DOMAIN" "$PASSWORD" \
        >"$d/register.log" 2>&1 || { cat "$d/register.log" >&2; die "prosodyctl register failed"; }
    # prosodyctl hashes (PBKDF2) per account; the rest are copies of user1's
    # credentials file (same password and salt), written straight into the store.
    local acc=$d/data/$DOMAIN/accounts
    [ -f "$acc/user1.dat" ] || die "prosody did not store user1 where expected ($acc)"
    for i in $(seq 2 "$n"); do cp "$acc/user1.dat" "$acc/user$i.dat"; done
    chown -R prosody:prosody "$d"
}

prosody_start() {
    local d=$TMP/prosody
    # As its own user (Prosody refuses root); setpriv execs, so the pid is Prosody's.
    setpriv --reuid=prosody --regid=prosody --init-groups prosody -F --config "$d/prosody.cfg.lua" \
        </dev/null >>"$d/prosody.out" 2>&1 &
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
    PORT=$PROSODY_PORT
    wait_port "$PORT" 30 || { cat "$d/prosody.out" "$d/prosody.log" >&2 || true;
                              die "prosody did not start"; }
}

# ---- ejabberd ----

ejabberd_setup() {
    local n=$1 d=$TMP/ejabberd
    mkdir -p "$d/spool" "$d/logs"
    EJABBERD_PORT=$(free_port)
    EJABBERD_DIST=$(free_port)
    cat >"$d/ejabberd.yml" <<EOF
# bench/xmpp/run.sh: an ejabberd of its own on 127.0.0.1:$EJABBERD_PORT
hosts: ["$DOMAIN"]
loglevel: warning
log_rotate_count: 0
listen:
  - port: $EJABBERD_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    backlog: 4096
    shaper: none
    access: c2s
    starttls: false
    starttls_required: false
access_rules:
  c2s:
    allow: all
  register:
    allow: all
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 5000
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_offline: {}
$( [ "$MAM" = on ] && printf '  mod_mam:\n    default: always\n    db_type: mnesia\n' || true)
  mod_register:
    ip_access: all
    access: register
    welcome_message: {subject: "", body: ""}
EOF
    cat >"$d/ejabberdctl.cfg" <<EOF
ERLANG_NODE=xbench$$@localhost
ERL_DIST_PORT=$EJABBERD_DIST
INET_DIST_INTERFACE=127.0.0.1
ERL_MAX_PORTS=65536
ERL_PROCESSES=1000000
EOF
    chown -R ejabberd:ejabberd "$d"
    # In-band registration (XEP-0077) by the driver: ejabberdctl register
    # starts an Erlang node per account (about a second each).
    ejabberd_start
    "$LOAD" --port "$PORT" --domain "$DOMAIN" --users "$n" --register --threads "$THREADS" \
        --concurrency 50 --quiet >"$d/register.out" 2>&1 || { cat "$d/register.out" >&2;
                                                              die "registering on ejabberd failed"; }
    grep -q ' failed=0 ' "$d/register.out" || { cat "$d/register.out" >&2;
                                                die "some ejabberd registrations failed"; }
    log "ejabberd: $(grep registered= "$d/register.out")"
    stop_server
}

ejabberd_start() {
    local d=$TMP/ejabberd
    # As the ejabberd user from the start: ejabberdctl run as root would switch
    # with su, whose PAM session drops the open-files limit to 1024.
    HOME=$d setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
        ejabberdctl --config-dir "$d" --config "$d/ejabberd.yml" --ctl-config "$d/ejabberdctl.cfg" \
        --logs "$d/logs" --spool "$d/spool" foreground </dev/null >>"$d/ejabberd.out" 2>&1 &
    SERVER_PID=$!
    PORT=$EJABBERD_PORT
    wait_port "$PORT" 60 || { tail -n 40 "$d/ejabberd.out" "$d/logs/ejabberd.log" >&2 || true;
                              die "ejabberd did not start"; }
    MEASURE_PID=$SERVER_PID
    [ "$(cat "/proc/$SERVER_PID/comm" 2>/dev/null)" = beam.smp ] ||
        MEASURE_PID=$(descendant "$SERVER_PID" beam.smp) || die "ejabberd's beam.smp not found"
    local nofile
    nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$MEASURE_PID/limits")
    [ "$nofile" -ge "$MAX_SESSIONS" ] || log "warning: ejabberd may open only $nofile files"
}

# ---- running the scenario ----

RESULTS=$TMP/results # lines: server key=value...
: >"$RESULTS"
CACHE_DIR=$TMP/scram
mkdir -p "$CACHE_DIR"

# run_load SERVER LABEL ARGS...: one xmppload run; its key=value lines go to
# $RESULTS prefixed with SERVER LABEL.
run_load() {
    local srv=$1 label=$2 out
    shift 2
    out=$(timeout 900 "$LOAD" --port "$PORT" --domain "$DOMAIN" --password "$PASSWORD" \
          --threads "$THREADS" --concurrency "$CONCURRENCY" --mech sha1 \
          --scram-cache "$CACHE_DIR/$srv" --quiet "${MAM_ARGS[@]}" "$@") ||
        die "$srv $label: xmppload failed"
    # shellcheck disable=SC2001 # indent every line
    echo "$out" | sed "s/^/    /" >&2
    echo "$srv $label $(echo "$out" | tr '\n' ' ')" >>"$RESULTS"
}

# get SERVER LABEL KEY: a value from $RESULTS.
get() {
    awk -v s="$1" -v l="$2" -v k="$3" '$1 == s && $2 == l {
        for (i = 3; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' \
        "$RESULTS"
}

bench_server() {
    local srv=$1 n=$USERS
    case " $IDLE_SERVERS " in *" $srv "*) [ "$IDLE" -gt "$n" ] && n=$IDLE ;; esac
    log "$srv: creating $n accounts"
    "${srv}_setup" "$n"
    if [ "$TSUNG" = 1 ]; then tsung_accounts "$srv"; fi
    # Priming (unmeasured): one login per account fills the driver's cache of
    # SaltedPassword, so the measured runs spend no client CPU on PBKDF2. Then
    # a fresh server, so the memory baseline has not seen these sessions.
    log "$srv: priming the SCRAM cache ($n logins)"
    "${srv}_start"
    run_load "$srv" prime --users "$n" --messages 0
    stop_server
    "${srv}_start"
    sleep 3 # let start-up work (Erlang, Lua GC) settle before the memory baseline
    log "$srv: $USERS users, $MESSAGES messages each at $RATE/s offered"
    run_load "$srv" fixed --users "$USERS" --messages "$MESSAGES" --rate "$RATE" \
        --server-pid "$MEASURE_PID"
    if [ "$RATE_MAX" -gt 0 ]; then
        log "$srv: saturation: $USERS users, $MAX_MESSAGES messages each at $RATE_MAX/s offered"
        run_load "$srv" max --users "$USERS" --messages "$MAX_MESSAGES" --rate "$RATE_MAX" \
            --drain 20
    fi
    kill -0 "$MEASURE_PID" 2>/dev/null || die "$srv died during the run"
    stop_server
    case " $IDLE_SERVERS " in
    *" $srv "*)
        if [ "$IDLE" -gt 0 ]; then
            "${srv}_start"
            sleep 3
            log "$srv: $IDLE idle sessions held ${IDLE_HOLD}s"
            run_load "$srv" idle --users "$IDLE" --messages 0 --hold "$IDLE_HOLD" \
                --server-pid "$MEASURE_PID" --login-timeout 600
            stop_server
        fi ;;
    esac
}

# tsung's accounts: ts1..tsN, each with the password "$PASSWORD<N>" (tsung
# appends the user number to its passwd option). Tandem: through the CLI (each
# one hashed); Prosody and ejabberd: in-band registration by the driver.
tsung_accounts() {
    local srv=$1 i out
    log "$srv: creating $TSUNG_USERS tsung accounts"
    if [ "$srv" = tandem ]; then
        for i in $(seq 1 "$TSUNG_USERS"); do
            TANDEM_SERVER_DATA_DIR=$TMP/tandem/var TANDEM_LOG_LEVEL=warn "$TANDEM_BIN" user add \
                "ts$i" --password-stdin <<<"$PASSWORD$i" >/dev/null 2>>"$TMP/tandem/useradd.log" ||
                { cat "$TMP/tandem/useradd.log" >&2; die "tandem user add ts$i failed"; }
        done
        return 0
    fi
    "${srv}_start"
    out=$("$LOAD" --port "$PORT" --domain "$DOMAIN" --users "$TSUNG_USERS" --prefix ts \
          --password "$PASSWORD" --password-suffix --register --threads "$THREADS" \
          --concurrency 50 --quiet) || die "registering tsung accounts on $srv failed"
    stop_server
    case $out in *" failed=0 "*) ;; *) echo "$out" >&2; die "$srv: some tsung registrations failed" ;; esac
}

# ---- tsung ----

# tsung logs in with SASL PLAIN (it has no SCRAM); the scenario is the same at
# the rate tsung can offer: TSUNG_USERS users arrive, log in, send presence,
# wait for each other (wait_global), send MESSAGES stamped messages each to
# online users spaced so the total is TSUNG_RATE/s, and leave.
run_tsung() {
    local srv=$1 d=$TMP/tsung/$1 think log
    mkdir -p "$d"
    think=$(awk -v u="$TSUNG_USERS" -v r="$TSUNG_RATE" 'BEGIN { printf "%.4f", u / r }')
    cat >"$d/tsung.xml" <<EOF
<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="warning" version="1.0" dumptraffic="${BENCH_TSUNG_DUMP:-false}">
  <clients><client host="localhost" use_controller_vm="true" maxusers="$((TSUNG_USERS + 10))"/></clients>
  <servers><server host="127.0.0.1" port="$PORT" type="tcp"/></servers>
  <load>
    <arrivalphase phase="1" duration="$((TSUNG_USERS / TSUNG_ARRIVAL + 10))" unit="second">
      <users maxnumber="$TSUNG_USERS" arrivalrate="$TSUNG_ARRIVAL" unit="second"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="global_number" value="$TSUNG_USERS"/>
    <option type="ts_jabber" name="userid_max" value="$TSUNG_USERS"/>
    <option type="ts_jabber" name="domain" value="$DOMAIN"/>
    <option type="ts_jabber" name="username" value="ts"/>
    <option type="ts_jabber" name="passwd" value="$PASSWORD"/>
    <option name="file_server" id="none" value="/dev/null"/>
  </options>
  <sessions>
    <session probability="100" name="xbench" type="ts_jabber" bidi="true">
      <request><jabber type="connect" ack="local"/></request>
      <transaction name="login">
        <request><jabber type="auth_sasl" ack="local"/></request>
        <request><jabber type="connect" ack="local"/></request>
        <request><jabber type="auth_sasl_bind" ack="local"/></request>
        <request><jabber type="auth_sasl_session" ack="local"/></request>
      </transaction>
      <request><jabber type="presence:initial" ack="no_ack"/></request>
      <thinktime value="wait_global"/>
      <for from="1" to="$MESSAGES" var="i">
        <request><jabber type="chat" ack="no_ack" size="32" destination="online" stamped="true"/></request>
        <thinktime value="$think" random="false"/>
      </for>
      <thinktime value="5" random="false"/>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
  </sessions>
</tsung>
EOF
    log "tsung -> $srv: $TSUNG_USERS users, $MESSAGES messages each, ~$TSUNG_RATE/s offered"
    if ! pgrep -x epmd >/dev/null; then EPMD_STARTED=1; fi
    (cd "$d" && exec timeout 900 tsung -f "$d/tsung.xml" -l "$d/log" -n start) \
        </dev/null >"$d/tsung.out" 2>&1 &
    TSUNG_PID=$!
    wait "$TSUNG_PID" || log "tsung -> $srv: tsung exited with an error (see $d/tsung.out)"
    TSUNG_PID=""
    log=$(find "$d/log" -name tsung.log | head -n 1)
    [ -n "$log" ] || { log "tsung -> $srv: no tsung.log"; return 0; }
    # tsung.log: one block per 10 s; "stats: NAME count mean stdvar max min ..." lines, and
    # for counters "stats: NAME count total". Sum counts, weight means by counts.
    awk -v s="$srv" '
        $1 == "stats:" && $2 == "xmpp_msg_latency" { n += $3; sum += $3 * $4; if ($5 + 0 > mx) mx = $5 }
        $1 == "stats:" && $2 == "tr_login" { ln += $3; lsum += $3 * $4 }
        $1 == "stats:" && $2 == "error_connect_econnrefused" { err += $3 }
        $1 == "stats:" && $2 ~ /^error_/ { errs += $3 }
        END { printf "%s tsung delivered=%d latency_ms_mean=%.3f login_ms_mean=%.3f logins=%d errors=%d\n",
                     s, n, n ? sum / n : 0, ln ? lsum / ln : 0, ln, errs }' "$log" >>"$RESULTS"
    # The messages phase lasts MESSAGES * think seconds; delivered/s over it.
    local n
    n=$(get "$srv" tsung delivered)
    awk -v s="$srv" -v n="$n" -v m="$MESSAGES" -v t="$think" \
        'BEGIN { printf "%s tsung_rate delivered_per_s=%.1f\n", s, n / (m * t) }' >>"$RESULTS"
}

# ---- main ----

read -r busy0 idle0 <<<"$(cpu_ticks)"
sleep 1
read -r busy1 idle1 <<<"$(cpu_ticks)"
BUSY_BEFORE=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
[ "$BUSY_BEFORE" -lt 10 ] ||
    log "warning: the CPUs were ${BUSY_BEFORE}% busy before the run; figures will be low and noisy"

for srv in $SERVERS; do
    case $srv in tandem | prosody | ejabberd) ;; *) die "unknown server '$srv'" ;; esac
    bench_server "$srv"
done

if [ "$TSUNG" = 1 ]; then
    for srv in $SERVERS; do
        "${srv}_start"
        run_tsung "$srv"
        stop_server
    done
fi

# ---- report ----

fmt() { if [ -z "$1" ]; then echo "-"; else printf "%.${2:-0}f" "$1"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo
echo "xmppload (libuv, $THREADS loops, SCRAM-SHA-1, $CONCURRENCY logins in flight), 127.0.0.1," \
     "$(nproc) CPUs shared by driver and server; CPU busy before: ${BUSY_BEFORE}%"
echo "fixed: $USERS users x $MESSAGES messages at $RATE/s offered;" \
     "max: $USERS users x $MAX_MESSAGES messages at $RATE_MAX/s offered (saturation)"
echo
ROW='| %-9s | %9s | %11s | %11s | %9s | %9s | %10s | %10s | %8s |\n'
# shellcheck disable=SC2059 # the format is ROW
printf "$ROW" server logins/s KiB/session "fixed msg/s" "mean ms" "p99 ms" "max msg/s" \
    "max p99 ms" failures
# shellcheck disable=SC2059
printf "$ROW" | tr ' ' '-' | sed 's/-|-/-|-/g'
for srv in $SERVERS; do
    lost=$(awk -v a="$(get "$srv" fixed lost)" -v b="$(get "$srv" fixed login_failures)" \
           'BEGIN { print a + b }')
    # shellcheck disable=SC2059
    printf "$ROW" "$srv" \
        "$(fmt "$(get "$srv" fixed logins_per_s)")" "$(fmt "$(get "$srv" fixed kib_per_session)" 1)" \
        "$(fmt "$(get "$srv" fixed delivered_per_s)")" "$(fmt "$(get "$srv" fixed latency_ms_mean)" 2)" \
        "$(fmt "$(get "$srv" fixed latency_ms_p99)" 2)" "$(fmt "$(get "$srv" max delivered_per_s)")" \
        "$(fmt "$(get "$srv" max latency_ms_p99)" 1)" "$lost"
done
if [ "$IDLE" -gt 0 ]; then
    echo
    for srv in $IDLE_SERVERS; do
        [ -n "$(get "$srv" idle online)" ] || continue
        echo "idle: $srv held $(get "$srv" idle still_online) of $IDLE sessions for ${IDLE_HOLD}s;" \
             "$(fmt "$(get "$srv" idle kib_per_session)" 2) KiB/session" \
             "(RSS $(get "$srv" idle rss_before_kib) -> $(get "$srv" idle rss_online_kib) KiB);" \
             "logins/s $(fmt "$(get "$srv" idle logins_per_s)")"
    done
fi
if [ "$TSUNG" = 1 ]; then
    echo
    echo "tsung 1.7 (SASL PLAIN: the server runs its password check per login), $TSUNG_USERS users x" \
         "$MESSAGES messages at ~$TSUNG_RATE/s offered"
    for srv in $SERVERS; do
        echo "tsung: $srv: delivered $(get "$srv" tsung delivered)" \
             "($(fmt "$(get "$srv" tsung_rate delivered_per_s)")/s)," \
             "latency mean $(get "$srv" tsung latency_ms_mean) ms; logins $(get "$srv" tsung logins)," \
             "login mean $(get "$srv" tsung login_ms_mean) ms; errors $(get "$srv" tsung errors)"
    done
fi

case " $SERVERS " in *" tandem "*)
    echo
    for other in prosody ejabberd; do
        case " $SERVERS " in *" $other "*) ;; *) continue ;; esac
        echo "tandem / $other: logins/s $(ratio "$(get tandem fixed logins_per_s)" "$(get "$other" fixed logins_per_s)")x," \
             "max msg/s $(ratio "$(get tandem max delivered_per_s)" "$(get "$other" max delivered_per_s)")x," \
             "KiB/session $(ratio "$(get tandem fixed kib_per_session)" "$(get "$other" fixed kib_per_session)")x"
    done
    verdict() { # verdict TEXT OK
        if [ "$2" = 1 ]; then echo "target $1: MET"; else echo "target $1: NOT MET"; fi
    }
    ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && b != "" && a + 0 >= b + 0) ? 1 : 0 }'; }
    tmax=$(get tandem max delivered_per_s)
    [ -n "$tmax" ] || echo "messages/s targets: not measured (BENCH_RATE_MAX=0)"
    [ -n "$tmax" ] && case " $SERVERS " in *" prosody "*)
        verdict ">= 10x Prosody's messages/s ($(ratio "$tmax" "$(get prosody max delivered_per_s)")x)" \
            "$(ge "$(ratio "$tmax" "$(get prosody max delivered_per_s)")" 10)" ;; esac
    [ -n "$tmax" ] && case " $SERVERS " in *" ejabberd "*)
        verdict ">= 4x ejabberd's messages/s ($(ratio "$tmax" "$(get ejabberd max delivered_per_s)")x)" \
            "$(ge "$(ratio "$tmax" "$(get ejabberd max delivered_per_s)")" 4)" ;; esac
    lps=$(get tandem idle logins_per_s)
    [ -n "$lps" ] || lps=$(get tandem fixed logins_per_s)
    verdict ">= 5000 logins/s ($(fmt "$lps")/s)" "$(ge "$lps" 5000)"
    kps=$(get tandem idle kib_per_session)
    [ -n "$kps" ] || kps=$(get tandem fixed kib_per_session)
    verdict "<= 8 KiB per idle session ($(fmt "$kps" 2))" "$(ge 8 "$kps")"
    if [ "$IDLE" -gt 0 ]; then
        verdict ">= 18000 sessions held ($(get tandem idle still_online) of $IDLE)" \
            "$(ge "$(get tandem idle still_online)" 18000)"
    fi ;;
esac
