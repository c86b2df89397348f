#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every build, run and test dependency of Tandem. Idempotent: a
# package already present is not fetched again, and `npm ci` runs only when
# node_modules does not match package-lock.json.
set -eu

cd "$(dirname "$0")/.."

# Debian packages: libraries (build), tools (build, test), real clients (test).
PKGS="build-essential pkg-config meson ninja-build clang
libuv1-dev libhttp-parser-dev libwslay-dev libssl-dev libsodium-dev
libsqlite3-dev libjansson-dev libexpat1-dev libcurl4-openssl-dev
libmd4c-dev libmd4c-html0-dev libinih-dev zlib1g-dev libvips-dev
libcmocka-dev python3 python3-pytest python3-requests python3-authlib python3-slixmpp
profanity tmux
python3-websocket python3-aiohttp python3-blurhash
toot python3-mastodon python3-feedparser
openssl curl sqlite3 chromium nodejs npm"

[ "${TANDEM_DEPS_QUIET:-0}" = 1 ] || echo "deps: checking Debian packages"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
# node and npm may come from elsewhere than Debian on some machines: accept them.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
    echo "deps: installing $missing"
    if [ "$(id -u)" != 0 ]; then
        echo "deps: not root; run: sudo apt-get install $missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

# npm packages for the browser tests (playwright-core drives Debian's chromium).
if [ -f package-lock.json ]; then
    stamp=node_modules/.tandem-lock
    if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
        echo "deps: npm ci"
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json "$stamp"
    fi
fi

# converse.js, the chat panel of the web pages: the files the pages load are
# copied from the npm package into static/vendor/converse/ (git-ignored), so
# the server serves them like its own static files (no CDN, no node_modules
# route). Copied again whenever the package's script differs from the copy.
conv=node_modules/converse.js/dist
vendor=static/vendor/converse
if [ -f "$conv/converse.min.js" ] && ! cmp -s "$conv/converse.min.js" "$vendor/converse.min.js"; then
    echo "deps: copying converse.js to $vendor"
    rm -rf "$vendor.tmp"
    mkdir -p "$vendor.tmp"
    cp "$conv/converse.min.js" "$conv/converse.min.css" "$conv/emoji.json" "$vendor.tmp/"
    cp -R "$conv/webfonts" "$conv/images" "$vendor.tmp/"
    cp node_modules/converse.js/LICENSE "$vendor.tmp/LICENSE"
    rm -rf "$vendor"
    mv "$vendor.tmp" "$vendor"
fi
[ "${TANDEM_DEPS_QUIET:-0}" = 1 ] || echo "deps: all present"
