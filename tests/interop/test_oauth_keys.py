# SPDX-License-Identifier: MIT
"""Signing key rotation: `tandem keys rotate` publishes new keys at once, the
running server picks them up on SIGHUP, the old keys stay published while
their id_tokens may still be in use, and the new ones sign after the delay."""
import signal
import time

import requests


def jwks_kids(t):
    keys = requests.get(t.url + "/oauth/jwks", timeout=10).json()["keys"]
    return {k["kid"]: k["alg"] for k in keys}


def wait_log(t, needle, count):
    deadline = time.time() + 10
    while t.log().count(needle) < count and time.time() < deadline:
        time.sleep(0.05)
    assert t.log().count(needle) >= count, t.log()[-2000:]


def test_rotation_publishes_before_use(make_tandem):
    t = make_tandem()
    before = jwks_kids(t)
    assert sorted(before.values()) == ["ES256", "EdDSA", "RS256"]
    r = t.cli("keys", "rotate", "--delay", "3600")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.endswith(" published") for line in lines) == 3
    assert sum(line.endswith(" retiring") for line in lines) == 3
    t.proc.send_signal(signal.SIGHUP)
    wait_log(t, "event=oauth.keys_reloaded", 1)
    after = jwks_kids(t)
    assert len(after) == 6 and set(before) < set(after)
    # With no delay the newest keys sign at once; the previous ones stay published.
    r = t.cli("keys", "rotate", "--delay", "0")
    assert r.returncode == 0, r.stderr
    assert sum(line.endswith(" signing") for line in r.stdout.splitlines()) == 3
    t.proc.send_signal(signal.SIGHUP)
    wait_log(t, "event=oauth.keys_reloaded", 2)
    assert len(jwks_kids(t)) == 9


def test_keys_cli_misuse(make_tandem):
    t = make_tandem(start=False)
    assert t.cli("keys").returncode == 2
    assert t.cli("keys", "spin").returncode == 2
    assert t.cli("keys", "rotate", "--delay", "-5").returncode == 2
    r = t.cli("keys", "list")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
