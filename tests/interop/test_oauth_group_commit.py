# SPDX-License-Identifier: MIT
"""The token endpoint under concurrency, with group commit (one transaction per
loop turn) and id_tokens signed on the thread pool: many concurrent token
requests each get a token that works (introspection, userinfo, a valid
id_token); one refresh token sent by many clients at once is redeemed exactly
once and the reuse revokes the whole family (RFC 9700 §4.14.2); and every
token the server answered with survives kill -9, because answers wait for
their commit."""
import signal
import threading

import requests

from test_oauth_flow import (CB, PW, Provider, add_client, code_for, logged_in, token_req,
                             userinfo, verify_id_token)

THREADS = 12


def start(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice", PW)
    t.conf_id, t.conf_secret = add_client(
        t, "Busy App", "--redirect-uri", CB, "--grant", "authorization_code", "--grant",
        "refresh_token", "--grant", "client_credentials", "--scope",
        "openid profile offline_access blog.read")
    t.start()
    t.p = Provider(t)
    return t


def introspect(t, tok):
    r = requests.post(t.p.conf["introspection_endpoint"], data={"token": tok},
                      auth=(t.conf_id, t.conf_secret), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def run_threads(n, fn):
    """Run fn(i) on n threads started together; re-raise the first failure."""
    errors = []
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(timeout=30)
            fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    if errors:
        raise errors[0]


def first_refresh_token(t, b):
    code, verifier = code_for(t, b, t.conf_id, scope="openid offline_access")
    r = token_req(t, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                      "code_verifier": verifier}, (t.conf_id, t.conf_secret))
    assert r.status_code == 200, r.text
    return r.json()["refresh_token"]


def test_concurrent_tokens_all_work(make_tandem):
    t = start(make_tandem)
    auth = (t.conf_id, t.conf_secret)
    machine = []
    lock = threading.Lock()

    def client_credentials(i):
        with requests.Session() as s:
            for _ in range(20):
                r = s.post(t.p.conf["token_endpoint"], auth=auth, timeout=30,
                           data={"grant_type": "client_credentials", "scope": "blog.read"})
                assert r.status_code == 200, r.text
                with lock:
                    machine.append(r.json()["access_token"])

    run_threads(THREADS, client_credentials)
    assert len(machine) == THREADS * 20 and len(set(machine)) == len(machine)
    for tok in machine:
        body = introspect(t, tok)
        assert body["active"] is True and body["scope"] == "blog.read", body

    # Refresh chains rotated concurrently: every answer has a working access token, an
    # id_token signed (on the pool) over that access token, and the next refresh token.
    b = logged_in(t)
    chains = [first_refresh_token(t, b) for _ in range(THREADS)]
    issued = []

    def rotate(i):
        rt = chains[i]
        with requests.Session() as s:
            for _ in range(5):
                r = s.post(t.p.conf["token_endpoint"], auth=auth, timeout=30,
                           data={"grant_type": "refresh_token", "refresh_token": rt})
                assert r.status_code == 200, r.text
                body = r.json()
                rt = body["refresh_token"]
                with lock:
                    issued.append(body)

    run_threads(THREADS, rotate)
    assert len(issued) == THREADS * 5
    for body in issued:
        verify_id_token(t, body["id_token"], t.conf_id, None, body["access_token"])
        assert userinfo(t, body["access_token"]).status_code == 200


def test_refresh_token_raced_once(make_tandem):
    t = start(make_tandem)
    auth = (t.conf_id, t.conf_secret)
    b = logged_in(t)
    rt1 = first_refresh_token(t, b)
    answers = []
    lock = threading.Lock()

    def redeem(i):
        r = requests.post(t.p.conf["token_endpoint"], auth=auth, timeout=30,
                          data={"grant_type": "refresh_token", "refresh_token": rt1})
        with lock:
            answers.append(r)

    run_threads(THREADS, redeem)
    ok = [r for r in answers if r.status_code == 200]
    bad = [r for r in answers if r.status_code != 200]
    assert len(ok) == 1, [(r.status_code, r.text) for r in answers]
    for r in bad:
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # Someone else also held rt1: the family is revoked, the winner's tokens with it.
    win = ok[0].json()
    assert userinfo(t, win["access_token"]).status_code == 401
    assert introspect(t, win["access_token"])["active"] is False
    r = token_req(t, {"grant_type": "refresh_token", "refresh_token": win["refresh_token"]}, auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_answered_tokens_survive_kill9(make_tandem):
    t = start(make_tandem)
    auth = (t.conf_id, t.conf_secret)
    answered = []
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()

    def hammer(i):
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(t.p.conf["token_endpoint"], auth=auth, timeout=10,
                               data={"grant_type": "client_credentials", "scope": "blog.read"})
                except requests.RequestException:
                    return  # the server is gone
                assert r.status_code == 200, r.text
                with lock:
                    answered.append(r.json()["access_token"])
                    if len(answered) >= 300:
                        enough.set()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(THREADS)]
    for th in threads:
        th.start()
    assert enough.wait(timeout=120)
    # Killed while requests are in flight: whatever was answered must be on disk.
    t.stop(signal.SIGKILL)
    stop.set()
    for th in threads:
        th.join(timeout=60)
    with lock:
        tokens = list(answered)
    assert len(tokens) >= 300
    t.start()
    t.p = Provider(t)
    for tok in tokens:
        assert introspect(t, tok)["active"] is True
