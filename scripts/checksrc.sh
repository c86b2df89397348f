#!/bin/sh
# SPDX-License-Identifier: MIT
# Refuse banned calls in the sources (the idea of curl's checksrc.pl):
# strcpy, strcat, sprintf, vsprintf, gets, strtok, atoi, atol, atoll — they
# cannot report truncation or bad input. Exit 1 and name each hit.
set -eu
cd "$(dirname "$0")/.."
hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll)[[:space:]]*\(' \
    src fuzz tests/unit --include='*.c' --include='*.h' | grep -vE '\b(sn|vsn|as|vas)printf' || true)
if [ -n "$hits" ]; then
    echo "checksrc: banned calls:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "checksrc: ok"
