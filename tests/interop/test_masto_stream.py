# SPDX-License-Identifier: MIT
"""The Mastodon streaming API: server-sent events read with requests and with
Mastodon.py's StreamListener, the WebSocket with websocket-client, who gets
which event (followers-only and direct posts must not leak), notifications,
deletes, the browser session cookie on the WebSocket (only from the site's
own origin) and the open-streams gauge."""
import json
import queue
import socket
import threading
import time

import pytest
import requests

import masto

websocket = pytest.importorskip("websocket", reason="python3-websocket is not installed")
mastodon = pytest.importorskip("mastodon", reason="python3-mastodon is not installed")


class SSE:
    """One server-sent events stream read on a thread into a queue of
    (event, data) pairs; comments (heartbeats) are counted apart."""

    def __init__(self, t, path, tok=None, params=None):
        headers = {"Authorization": "Bearer " + tok} if tok else {}
        self.r = requests.get(t.url + path, headers=headers, params=params, stream=True,
                              timeout=(10, 60))
        self.q = queue.Queue()
        self.comments = 0
        if self.r.status_code == 200:
            self.th = threading.Thread(target=self._read, daemon=True)
            self.th.start()

    def _read(self):
        ev = {}
        try:
            for line in self.r.iter_lines(chunk_size=1, decode_unicode=True):
                if line is None:
                    continue
                if line.startswith(":"):
                    self.comments += 1
                elif line == "":
                    if ev:
                        self.q.put((ev.get("event"), ev.get("data")))
                    ev = {}
                else:
                    k, _, v = line.partition(": ")
                    ev[k] = v
        except Exception:  # the test closed it
            pass

    def next(self, timeout=10):
        """The next (event, payload) with JSON payloads decoded, or None."""
        try:
            name, data = self.q.get(timeout=timeout)
        except queue.Empty:
            return None
        return name, json.loads(data) if data and data[0] in "{[" else data

    def close(self):
        hang_up(self.r)


def hang_up(resp):
    """Close a streamed response at once: shut the socket down first, since
    closing the buffered reader waits for a read blocked on another thread
    (until the next heartbeat)."""
    conn = getattr(resp.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    resp.close()


def users(t, *names):
    for n in names:
        t.add_user(n)
    t.start()
    apis = {n: masto.Api(t, masto.token(t, n)) for n in names}
    ids = {n: a.get("/api/v1/accounts/verify_credentials").json()["id"]
           for n, a in apis.items()}
    return apis, ids


def post(api, text, visibility="public"):
    r = api.post("/api/v1/statuses", data={"status": text, "visibility": visibility})
    assert r.status_code == 200, r.text
    return r.json()


def follow(api, target_id):
    r = api.post("/api/v1/accounts/%s/follow" % target_id)
    assert r.status_code == 200, r.text


def test_health_and_refusals(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice")
    r = requests.get(t.url + "/api/v1/streaming/health", timeout=10)
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["Content-Type"].startswith("text/plain")
    # user streams need a token; a bad token is a 401 in Mastodon's shape
    r = requests.get(t.url + "/api/v1/streaming/user", timeout=10)
    assert r.status_code == 401 and "error" in r.json()
    r = requests.get(t.url + "/api/v1/streaming/public",
                     headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "The access token is invalid"
    r = requests.get(t.url + "/api/v1/streaming/hashtag", timeout=10)
    assert r.status_code == 400 and "tag" in r.json()["error"]
    # a token without read:statuses may not read the home stream
    narrow = masto.token(t, "alice", scope="write:statuses")
    r = requests.get(t.url + "/api/v1/streaming/user",
                     params={"access_token": narrow}, timeout=10)
    assert r.status_code == 403


def test_sse_audiences(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob", "carol")
    a, b, c = apis["alice"], apis["bob"], apis["carol"]
    tb, tc = (x.s.headers["Authorization"][7:] for x in (b, c))
    follow(b, ids["alice"])

    bob_user = SSE(t, "/api/v1/streaming/user", tb)
    assert bob_user.r.status_code == 200
    assert bob_user.r.headers["Content-Type"].startswith("text/event-stream")
    assert "Content-Length" not in bob_user.r.headers
    assert bob_user.r.headers.get("Transfer-Encoding") == "chunked"
    bob_notif = SSE(t, "/api/v1/streaming/user/notification", params={"access_token": tb})
    carol_user = SSE(t, "/api/v1/streaming/user", tc)
    carol_direct = SSE(t, "/api/v1/streaming/direct", tc)
    bob_direct = SSE(t, "/api/v1/streaming/direct", tb)
    public = SSE(t, "/api/v1/streaming/public")          # anonymous
    local = SSE(t, "/api/v1/streaming/public/local")
    remote = SSE(t, "/api/v1/streaming/public/remote")
    tag = SSE(t, "/api/v1/streaming/hashtag", params={"tag": "Tandem"})
    tag_local = SSE(t, "/api/v1/streaming/hashtag/local", params={"tag": "#tandem"})
    for s in (bob_notif, carol_user, carol_direct, bob_direct, public, local, remote, tag,
              tag_local):
        assert s.r.status_code == 200, s.r.text
    time.sleep(0.3)

    # the gauge counts them
    m = requests.get(t.url + "/metrics", timeout=10).text
    assert "tandem_masto_streams 10" in m

    p1 = post(a, "hello #tandem")
    ev = bob_user.next()
    assert ev and ev[0] == "update" and ev[1]["id"] == p1["id"], ev
    assert ev[1]["account"]["username"] == "alice" and ev[1]["favourited"] is False
    for s in (public, local, tag, tag_local):
        ev = s.next()
        assert ev and ev[0] == "update" and ev[1]["id"] == p1["id"], ev

    # followers-only: to the follower, never to a stranger or a public stream
    p2 = post(a, "for followers #tandem", "private")
    ev = bob_user.next()
    assert ev and ev[1]["id"] == p2["id"] and ev[1]["visibility"] == "private"
    # direct: only to the mentioned account's direct stream
    p3 = post(a, "@carol psst", "direct")
    ev = carol_direct.next()
    assert ev and ev[0] == "conversation", ev
    assert ev[1]["last_status"]["id"] == p3["id"]
    assert [x["username"] for x in ev[1]["accounts"]] == ["alice"]
    p4 = post(a, "@bob hi", "direct")
    ev = bob_direct.next()
    assert ev and ev[0] == "conversation" and ev[1]["last_status"]["id"] == p4["id"], ev
    # bob follows alice and is mentioned: the direct post is in his home too,
    # and the mention is a notification
    got = sorted([bob_user.next(), bob_user.next()], key=lambda e: e[0])
    assert [e[0] for e in got] == ["notification", "update"], got
    assert got[0][1]["type"] == "mention" and got[0][1]["status"]["id"] == p4["id"]
    assert got[1][1]["id"] == p4["id"]
    ev = bob_notif.next()
    assert ev and ev[0] == "notification" and ev[1]["type"] == "mention", ev
    # sequence marks: what arrives next proves nothing came in between
    p5 = post(a, "public again #tandem")
    for s in (public, local, tag, tag_local):
        ev = s.next()
        assert ev and ev[1]["id"] == p5["id"], (ev, p2["id"], p3["id"])
    ev = bob_user.next()
    assert ev and ev[1]["id"] == p5["id"], ev
    # carol was mentioned in p3: a notification; its post is not in her home (she
    # does not follow alice) and p2 (followers-only) never reaches her
    ev = carol_user.next()
    assert ev and ev[0] == "notification" and ev[1]["type"] == "mention", ev
    assert ev[1]["status"]["id"] == p3["id"]
    mine = post(c, "carol's own")
    ev = carol_user.next()
    assert ev and ev[1]["id"] == mine["id"], (ev, p2["id"], p3["id"])
    assert carol_direct.next(timeout=0.5) is None
    assert remote.next(timeout=0.5) is None  # no federation
    # carol's own public post reaches the public streams, not bob's home
    assert public.next()[1]["id"] == mine["id"]

    # a notification: alice follows bob
    follow(a, ids["bob"])
    ev = bob_user.next()
    assert ev and ev[0] == "notification", ev
    assert ev[1]["type"] == "follow" and ev[1]["account"]["id"] == ids["alice"]
    ev = bob_notif.next()
    assert ev and ev[0] == "notification" and ev[1]["type"] == "follow"
    # user:notification carries no updates
    post(a, "not for the notification stream")
    assert bob_user.next()[0] == "update"
    assert bob_notif.next(timeout=0.5) is None

    for s in (bob_user, bob_notif, carol_user, carol_direct, bob_direct, public, local,
              remote, tag, tag_local):
        s.close()


def test_sse_delete(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob", "carol")
    a, b, c = apis["alice"], apis["bob"], apis["carol"]
    follow(b, ids["alice"])
    bob_user = SSE(t, "/api/v1/streaming/user", b.s.headers["Authorization"][7:])
    carol_user = SSE(t, "/api/v1/streaming/user", c.s.headers["Authorization"][7:])
    public = SSE(t, "/api/v1/streaming/public")
    time.sleep(0.3)
    p1 = post(a, "soon gone")
    assert bob_user.next()[1]["id"] == p1["id"]
    assert public.next()[1]["id"] == p1["id"]
    r = a.delete("/api/v1/statuses/%s" % p1["id"])
    if r.status_code in (404, 405) and "Record not found" not in r.text:
        pytest.skip("DELETE /api/v1/statuses/:id is not in this tree (statuses endpoints)")
    assert r.status_code == 200, r.text
    # the follower and the public stream that had it are told; a stranger is not
    ev = bob_user.next()
    assert ev and ev[0] == "delete" and str(ev[1]) == p1["id"], ev
    ev = public.next()
    assert ev and ev[0] == "delete" and str(ev[1]) == p1["id"], ev
    assert carol_user.next(timeout=0.5) is None
    # A public stream opened after the post was made (its client read the post
    # from the public timeline) is told of a public post's delete; not of a
    # followers-only one it could not have seen.
    p2 = post(a, "read from the timeline")
    hidden = post(a, "for followers", visibility="private")
    late = SSE(t, "/api/v1/streaming/public")
    time.sleep(0.3)
    assert a.delete("/api/v1/statuses/%s" % hidden["id"]).status_code == 200
    assert a.delete("/api/v1/statuses/%s" % p2["id"]).status_code == 200
    ev = late.next()
    assert ev and ev[0] == "delete" and str(ev[1]) == p2["id"], ev
    assert late.next(timeout=0.5) is None
    for s in (bob_user, carol_user, public, late):
        s.close()


def test_sse_edit_per_viewer(make_tandem):
    """status.update on an edit, rendered for each viewer: bob, who favourited
    the post, sees favourited true; the anonymous public stream does not."""
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob")
    a, b = apis["alice"], apis["bob"]
    follow(b, ids["alice"])
    bob_user = SSE(t, "/api/v1/streaming/user", b.s.headers["Authorization"][7:])
    public = SSE(t, "/api/v1/streaming/public")
    time.sleep(0.3)
    p = post(a, "first words")
    assert bob_user.next()[1]["id"] == p["id"]
    assert public.next()[1]["id"] == p["id"]
    r = b.post("/api/v1/statuses/%s/favourite" % p["id"])
    r2 = a.put("/api/v1/statuses/%s" % p["id"], data={"status": "second words"})
    if r.status_code in (404, 405) or r2.status_code in (404, 405):
        pytest.skip("favourite or PUT /api/v1/statuses/:id is not in this tree "
                    "(statuses endpoints)")
    assert r.status_code == 200 and r2.status_code == 200, (r.text, r2.text)
    ev = bob_user.next()
    while ev and ev[0] == "notification":  # none expected, but not this test's point
        ev = bob_user.next()
    assert ev and ev[0] == "status.update", ev
    assert ev[1]["id"] == p["id"] and "second words" in ev[1]["content"]
    assert ev[1]["favourited"] is True
    ev = public.next()
    # (an anonymous viewer's Status has no favourited field at all, as Mastodon's)
    assert ev and ev[0] == "status.update" and not ev[1].get("favourited"), ev
    for s in (bob_user, public):
        s.close()


def test_sse_heartbeat_and_gauge(make_tandem):
    """The ":)" greeting, a ":thump" comment about every 15 s, and the gauge
    falling back when the client leaves."""
    t = make_tandem()
    s = SSE(t, "/api/v1/streaming/public")
    assert s.r.status_code == 200
    deadline = time.time() + 25
    while s.comments < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert s.comments >= 2, "no heartbeat within 25 s"
    s.close()

    def gauge():
        m = requests.get(t.url + "/metrics", timeout=10).text
        return [ln for ln in m.splitlines() if ln.startswith("tandem_masto_streams ")]
    deadline = time.time() + 10
    while gauge() != ["tandem_masto_streams 0"] and time.time() < deadline:
        time.sleep(0.1)
    assert gauge() == ["tandem_masto_streams 0"]


def test_mastodon_py_stream_user(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob")
    tb = apis["bob"].s.headers["Authorization"][7:]
    follow(apis["bob"], ids["alice"])
    api = mastodon.Mastodon(access_token=tb, api_base_url=t.url, version_check_mode="none")
    if requests.get(t.url + "/api/v1/instance", timeout=10).status_code != 200:
        # Mastodon.py asks /api/v1/instance for urls.streaming_api first; without it
        # (another part of the API) the stream is on this host.
        api._Mastodon__get_streaming_base = lambda: t.url
    got = queue.Queue()

    class Listener(mastodon.StreamListener):
        def on_update(self, status):
            got.put(("update", status))

        def on_notification(self, notification):
            got.put(("notification", notification))

        def on_abort(self, err):
            got.put(("abort", err))

    handle = api.stream_user(Listener(), run_async=True)
    try:
        deadline = time.time() + 10
        while not handle.is_receiving() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        p = post(apis["alice"], "hello from alice")
        kind, status = got.get(timeout=10)
        assert kind == "update" and str(status["id"]) == p["id"], (kind, status)
        assert status["account"]["acct"] == "alice"
        follow(apis["alice"], ids["bob"])
        kind, n = got.get(timeout=10)
        assert kind == "notification" and n["type"] == "follow", (kind, n)
        assert n["account"]["username"] == "alice"
    finally:
        handle.closed = True  # what close() sets first: the reader then ends quietly
        if handle.connection is not None:
            hang_up(handle.connection)
        handle.close()


def ws_url(t):
    return "ws://127.0.0.1:%d/api/v1/streaming" % t.port


def ws_next(ws, timeout=10):
    ws.settimeout(timeout)
    try:
        m = json.loads(ws.recv())
    except websocket.WebSocketTimeoutException:
        return None
    if "payload" in m and isinstance(m["payload"], str) and m["payload"][:1] in "{[":
        m["payload"] = json.loads(m["payload"])
    return m


def test_websocket(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob")
    tb = apis["bob"].s.headers["Authorization"][7:]
    follow(apis["bob"], ids["alice"])

    ws = websocket.create_connection(ws_url(t) + "?stream=user&access_token=" + tb, timeout=10)
    p = post(apis["alice"], "ws one")
    m = ws_next(ws)
    assert m["stream"] == ["user"] and m["event"] == "update", m
    assert m["payload"]["id"] == p["id"]
    # subscribe to a hashtag, leave user: only the tag's posts come
    ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "cats"}))
    ws.send(json.dumps({"type": "unsubscribe", "stream": "user"}))
    time.sleep(0.2)
    post(apis["alice"], "no tag")
    p = post(apis["alice"], "i like #cats")
    m = ws_next(ws)
    assert m["stream"] == ["hashtag", "cats"] and m["payload"]["id"] == p["id"], m
    # bad messages get an error and the socket stays usable
    for bad in ("not json", json.dumps([1]), json.dumps({"type": "dance"}),
                json.dumps({"type": "subscribe", "stream": "nope"}),
                json.dumps({"type": "subscribe", "stream": "hashtag"})):
        ws.send(bad)
        m = ws_next(ws)
        assert m and m["status"] == 400 and "error" in m, (bad, m)
    ws.send_binary(b"\x00\x01")
    assert ws_next(ws)["status"] == 400
    # the subscriptions are capped
    errors = 0
    for i in range(20):
        ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "t%d" % i}))
    while (m := ws_next(ws, timeout=1)) is not None:
        errors += 1
        assert m["error"] == "Too many subscriptions"
    assert errors == 5  # 16 allowed, one was taken by #cats
    ws.close()

    # the token as the sub-protocol (Mastodon's web client), echoed back
    ws = websocket.create_connection(ws_url(t) + "?stream=public", subprotocols=[tb],
                                     timeout=10)
    assert ws.getsubprotocol() == tb.lower()  # websocket-client lower-cases it
    ws.send(json.dumps({"type": "subscribe", "stream": "user:notification"}))
    time.sleep(0.2)
    p = post(apis["alice"], "public for ws")
    m = ws_next(ws)
    assert m["stream"] == ["public"] and m["payload"]["id"] == p["id"], m
    follow(apis["alice"], ids["bob"])
    m = ws_next(ws)
    assert m["stream"] == ["user:notification"] and m["event"] == "notification", m
    assert m["payload"]["type"] == "follow"
    ws.close()

    # with a trailing slash too (Mastodon accepts both)
    ws = websocket.create_connection(ws_url(t) + "/?stream=public:local", timeout=10)
    time.sleep(0.2)
    p = post(apis["alice"], "local")
    m = ws_next(ws)
    assert m["stream"] == ["public:local"] and m["payload"]["id"] == p["id"], m
    ws.close()

    # anonymous: public yes, user no; a bad token fails the handshake
    ws = websocket.create_connection(ws_url(t), timeout=10)
    ws.send(json.dumps({"type": "subscribe", "stream": "user"}))
    m = ws_next(ws)
    assert m["status"] == 401 and m["error"] == "Missing access token"
    ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url(t) + "?access_token=bad", timeout=10)
    assert e.value.status_code == 401


def test_websocket_session_cookie_origin(make_tandem):
    t = make_tandem(start=False)
    apis, ids = users(t, "alice", "bob")
    follow(apis["bob"], ids["alice"])
    b = masto.Browser(t.url)
    assert b.login("bob").status_code == 303
    cookie = "tandem_session=" + b.s.cookies["tandem_session"]

    # the site's own page: the cookie logs the WebSocket in
    ws = websocket.create_connection(ws_url(t) + "?stream=user", timeout=10,
                                     header=["Cookie: " + cookie], origin=t.url)
    p = post(apis["alice"], "for bob's page")
    m = ws_next(ws)
    assert m and m["stream"] == ["user"] and m["payload"]["id"] == p["id"], m
    ws.close()

    # another site (cross-site WebSocket hijacking) or no Origin: no login
    for origin in ("http://evil.example", "http://127.0.0.1:1", None):
        hdr = ["Cookie: " + cookie] + (["Origin: " + origin] if origin else [])
        # (websocket-client sends an Origin of its own unless told not to)
        ws = websocket.create_connection(ws_url(t) + "?stream=user", timeout=10, header=hdr,
                                         suppress_origin=True)
        m = ws_next(ws)
        assert m and m["status"] == 401 and m["error"] == "Missing access token", (origin, m)
        post(apis["alice"], "not for the other site")
        assert ws_next(ws, timeout=0.5) is None
        ws.close()
