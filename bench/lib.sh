# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers shared by the bench/*.sh scripts (sourced, bash). Each script keeps
# its own targets, servers and report; this file holds what they do alike.

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# A wrk duration (10, 10s, 2m) in whole seconds.
secs() {
    local n=${1%[sm]}
    case $n in '' | *[!0-9]*) die "bad duration '$1' (use e.g. 10s or 1m)" ;; esac
    case $1 in *m) echo $((n * 60)) ;; *) echo "$n" ;; esac
}

# Stop one process we started: TERM, wait up to 10 s, then KILL.
# shellcheck disable=SC2317 # called from the scripts' EXIT traps
stop_pid() {
    local pid=$1 _
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# The machine's CPU ticks: "busy idle" (to tell how busy it was around a run).
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat; }
