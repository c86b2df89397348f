# SPDX-License-Identifier: MIT
"""XMPP over BOSH (XEP-0124, XEP-0206) on /http-bind.

Debian has no BOSH client library, so the client here is python3-requests
driven by hand the way Strophe or converse.js do it: the session creation
request (the response carries the stream features), SASL (PLAIN, or
SCRAM-SHA-1 computed here), the restart with xmpp:restart='true', bind,
presence, messages with a slixmpp client on the TCP port (the incoming one
arrives in a request the server held), a repeated rid answered with the same
body, a rid outside the window, type='terminate', the inactivity timeout
(shortened with TANDEM_TEST_BOSH_INACTIVITY_MS), and broken requests, which
get <body type='terminate' condition='...'/> while the server goes on."""
import asyncio
import base64
import hashlib
import hmac
import os
import random
import re
import signal
import threading
import xml.etree.ElementTree as ET

import pytest
import requests

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import Client, run, with_clients, next_message, xmpp_port  # noqa: E402
from test_xmpp_ws import wait_log  # noqa: E402

PASSWORD = "correct horse"
NS_BIND_HTTP = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_CLIENT = "jabber:client"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"


def q(tag, ns=NS_BIND_HTTP):
    return "{%s}%s" % (ns, tag)


class Bosh:
    """A BOSH client: one HTTP request per call, rids in order."""

    def __init__(self, t, wait=3, origin=None):
        self.url = t.url + "/http-bind"
        self.rid = random.randint(1000, 1 << 40)
        self.sid = None
        self.wait = wait
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}
        if origin:
            self.headers["Origin"] = origin

    def post_raw(self, data):
        r = requests.post(self.url, data=data.encode(), headers=self.headers,
                          timeout=self.wait + 15)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"] == "text/xml; charset=utf-8"
        return r

    def body(self, payload="", rid=None, **attrs):
        if rid is None:
            self.rid += 1
            rid = self.rid
        a = " ".join("%s='%s'" % (k.replace("__", ":"), v) for k, v in attrs.items())
        return ("<body xmlns='%s' xmlns:xmpp='%s' rid='%d' sid='%s' %s>%s</body>"
                % (NS_BIND_HTTP, NS_XBOSH, rid, self.sid, a, payload))

    def send(self, payload="", rid=None, **attrs):
        """One request; returns (the response's <body/>, its bytes)."""
        r = self.post_raw(self.body(payload, rid, **attrs))
        el = ET.fromstring(r.content)
        assert el.tag == q("body"), r.text
        return el, r.content

    def create(self, to="localhost"):
        r = self.post_raw(
            "<body xmlns='%s' xmlns:xmpp='%s' rid='%d' to='%s' xml:lang='en' wait='%d' "
            "hold='1' ver='1.6' xmpp:version='1.0'/>"
            % (NS_BIND_HTTP, NS_XBOSH, self.rid, to, self.wait))
        el = ET.fromstring(r.content)
        self.sid = el.get("sid")
        return el, r

    def until(self, pred, first=None, tries=10):
        """Children of responses (starting with first's) until pred(child) holds."""
        seen = []
        resp = first
        for _ in range(tries):
            if resp is None:
                resp, _ = self.send()
            assert resp.get("type") != "terminate", ET.tostring(resp)
            for c in resp:
                seen.append(c)
                if pred(c):
                    return c, seen
            resp = None
        raise AssertionError("not received; got %r" % [ET.tostring(c) for c in seen])


def mechanisms(feats):
    return [m.text for m in feats.iter("{%s}mechanism" % NS_SASL)]


def sasl_plain(b, user):
    tok = base64.b64encode(("\0%s\0%s" % (user, PASSWORD)).encode()).decode()
    resp, _ = b.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, tok))
    ok, _ = b.until(lambda c: c.tag.startswith("{%s}" % NS_SASL), resp)
    assert ok.tag == "{%s}success" % NS_SASL, ET.tostring(ok)


def sasl_scram_sha1(b, user):
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)
    resp, _ = b.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                     % (NS_SASL, base64.b64encode(("n,," + bare).encode()).decode()))
    ch, _ = b.until(lambda c: c.tag.startswith("{%s}" % NS_SASL), resp)
    assert ch.tag == "{%s}challenge" % NS_SASL, ET.tostring(ch)
    first = base64.b64decode(ch.text).decode()
    attrs = dict(kv.split("=", 1) for kv in first.split(","))
    salted = hashlib.pbkdf2_hmac("sha1", PASSWORD.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha1").digest()
    skey = hmac.new(salted, b"Server Key", "sha1").digest()
    final_bare = "c=biws,r=%s" % attrs["r"]
    auth_msg = ",".join([bare, first, final_bare]).encode()
    sig = hmac.new(hashlib.sha1(ckey).digest(), auth_msg, "sha1").digest()
    proof = bytes(x ^ y for x, y in zip(ckey, sig))
    final = "%s,p=%s" % (final_bare, base64.b64encode(proof).decode())
    resp, _ = b.send("<response xmlns='%s'>%s</response>"
                     % (NS_SASL, base64.b64encode(final.encode()).decode()))
    ok, _ = b.until(lambda c: c.tag.startswith("{%s}" % NS_SASL), resp)
    assert ok.tag == "{%s}success" % NS_SASL, ET.tostring(ok)
    want = base64.b64encode(hmac.new(skey, auth_msg, "sha1").digest()).decode()
    assert base64.b64decode(ok.text).decode() == "v=" + want


def bosh_login(t, user, mech="PLAIN", resource="bosh", **kw):
    """Create, authenticate, restart, bind; returns (client, full JID)."""
    b = Bosh(t, **kw)
    el, _ = b.create()
    # XEP-0124 §7.1 session creation response, XEP-0206 §5 features in it
    assert el.get("sid") and el.get("type") is None, ET.tostring(el)
    assert el.get("hold") == "1" and el.get("requests") == "2"
    assert int(el.get("wait")) == b.wait
    assert el.get("inactivity") and el.get("polling") and el.get("maxpause")
    assert el.get("from") == "localhost"
    assert el.get("ver") == "1.6"  # §7.1: the lower of the client's and ours
    assert el.get("{%s}version" % NS_XBOSH) == "1.0"
    feats = el.find("{%s}features" % NS_STREAMS)
    assert feats is not None, ET.tostring(el)
    mechs = mechanisms(feats)
    # loopback counts as secure (as for WebSocket): SASL, no STARTTLS, no -PLUS
    assert "PLAIN" in mechs and "SCRAM-SHA-1" in mechs, mechs
    assert not [m for m in mechs if m.endswith("-PLUS")], mechs
    assert feats.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None
    if mech == "PLAIN":
        sasl_plain(b, user)
    else:
        sasl_scram_sha1(b, user)
    resp, _ = b.send(xmpp__restart="true")
    feats, _ = b.until(lambda c: c.tag == "{%s}features" % NS_STREAMS, resp)
    assert feats.find("{%s}bind" % NS_BIND) is not None
    resp, _ = b.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                     "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
    res, _ = b.until(lambda c: c.tag == "{%s}iq" % NS_CLIENT, resp)
    assert res.get("type") == "result" and res.get("id") == "b1"
    jid = res.find(".//{%s}jid" % NS_BIND).text
    assert jid == "%s@localhost/%s" % (user, resource)
    return b, jid


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    return t


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1"])
def test_bosh_session_with_tcp_client(server, mech):
    server.add_user("alice")
    server.add_user("bob")

    async def go():
        loop = asyncio.get_event_loop()
        b, jid = await loop.run_in_executor(None, lambda: bosh_login(server, "alice", mech))
        bob = Client("bob@localhost/tcp")

        async def body():
            assert await bob.online(server.xport)
            # alice comes online; bob subscribes to her presence, she approves it
            await loop.run_in_executor(None, lambda: b.send("<presence xmlns='jabber:client'/>"))
            bob.send_presence_subscription(pto="alice@localhost")
            await loop.run_in_executor(None, lambda: b.until(
                lambda c: c.tag == "{%s}presence" % NS_CLIENT and c.get("type") == "subscribe"))
            # the approval, then a message to bob
            await loop.run_in_executor(None, lambda: b.send(
                "<presence xmlns='jabber:client' to='bob@localhost' type='subscribed'/>"
                "<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat' id='m1'>"
                "<body>hi over bosh</body></message>"))
            m = await next_message(bob)
            assert m["body"] == "hi over bosh"
            assert m["from"].full == jid

            # an empty request is held; bob's message answers it
            held = {}

            def poll():
                held["resp"] = b.send()

            th = threading.Thread(target=poll)
            th.start()
            await asyncio.sleep(0)  # let the request go out (order does not matter)
            bob.send_message(mto=jid, mbody="hello bosh", mtype="chat")

            def wait_message():
                th.join()
                resp, _ = held["resp"]
                return b.until(lambda c: c.tag == "{%s}message" % NS_CLIENT, resp)[0]
            msg = await loop.run_in_executor(None, wait_message)
            assert msg.findtext("{%s}body" % NS_CLIENT) == "hello bosh"
            assert msg.get("from") == "bob@localhost/tcp"

            # XEP-0124 §14.3: the same rid again gets the same response
            def ping():
                resp, raw = b.send("<iq xmlns='jabber:client' type='get' id='p1' "
                                   "to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
                if resp.find("{%s}iq" % NS_CLIENT) is None:
                    pong, _ = b.until(lambda c: c.tag == "{%s}iq" % NS_CLIENT)
                    return pong, None
                return resp.find("{%s}iq" % NS_CLIENT), raw
            pong, raw = await loop.run_in_executor(None, ping)
            assert pong.get("type") == "result" and pong.get("id") == "p1"
            again = await loop.run_in_executor(None, lambda: b.send(rid=b.rid))
            if raw is not None:
                assert again[1] == raw
            else:
                assert again[0].tag == q("body")

            # type='terminate' ends the session; bob sees alice go
            resp, _ = await loop.run_in_executor(None, lambda: b.send(type="terminate"))
            assert resp.get("type") == "terminate"
            for _ in range(100):
                if any(p["from"].full == jid and p["type"] == "unavailable"
                       for p in bob.presences):
                    break
                await asyncio.sleep(0.05)
            assert any(p["from"].full == jid and p["type"] == "unavailable"
                       for p in bob.presences)
            # the sid is gone
            resp, _ = await loop.run_in_executor(None, b.send)
            assert resp.get("type") == "terminate"
            assert resp.get("condition") == "item-not-found"
        await with_clients([bob], body)

    run(go())
    log = server.log()
    assert "event=xmpp.bosh_open" in log
    assert "event=xmpp.bosh_end" in log


def test_repeated_rid_same_response(server):
    server.add_user("alice")
    b, _ = bosh_login(server, "alice")
    resp, raw = b.send("<iq xmlns='jabber:client' type='get' id='v1' to='localhost'>"
                       "<ping xmlns='urn:xmpp:ping'/></iq>")
    assert resp.find("{%s}iq" % NS_CLIENT) is not None, raw
    _, again = b.send(rid=b.rid)
    assert again == raw
    # and the session goes on
    resp, _ = b.send()
    assert resp.get("type") is None


def test_early_rid_waits_for_the_one_before(server):
    """XEP-0124 §14.1: rid+2 sent before rid+1 is processed after it."""
    server.add_user("alice")
    b, _ = bosh_login(server, "alice")
    first = b.rid + 1
    out = {}

    def later():
        out["later"] = b.send("<iq xmlns='jabber:client' type='get' id='p2' to='localhost'>"
                              "<ping xmlns='urn:xmpp:ping'/></iq>", rid=first + 1)

    th = threading.Thread(target=later)
    th.start()
    wait_log(server, "event=xmpp.bosh_early sid=%s rid=%d" % (b.sid, first + 1))
    resp, _ = b.send("<iq xmlns='jabber:client' type='get' id='p1' to='localhost'>"
                     "<ping xmlns='urn:xmpp:ping'/></iq>", rid=first)
    th.join(30)
    b.rid = first + 1
    ids = [c.get("id") for r in (resp, out["later"][0]) for c in r
           if c.tag == "{%s}iq" % NS_CLIENT]
    while "p2" not in ids:
        r, _ = b.send()
        assert r.get("type") is None, ET.tostring(r)
        ids += [c.get("id") for c in r if c.tag == "{%s}iq" % NS_CLIENT]
    assert ids.index("p1") < ids.index("p2"), ids


def test_pause_answers_held_requests(server):
    server.add_user("alice")
    b, _ = bosh_login(server, "alice", wait=30)
    # §12: a pause request is answered at once, not after the 30 s wait (the
    # HTTP timeout below is shorter than the wait)
    r = requests.post(b.url, data=b.body(pause="5").encode(), headers=b.headers, timeout=15)
    assert ET.fromstring(r.content).get("type") is None
    # and the session is there after the pause
    resp, _ = b.send(pause="1")
    assert resp.get("type") is None


def held_requests(t, n):
    """Wait until n requests are in flight besides the metrics request itself."""
    for _ in range(200):
        m = requests.get(t.url + "/metrics", timeout=10).text
        if re.search(r"^tandem_http_inflight_requests %d(\.0*)?$" % (n + 1), m, re.M):
            return
    raise AssertionError("%d requests were not held" % n)


def test_repeated_rid_of_a_held_request(server):
    """A client that gave up on a held request and sent it again: the new
    one takes its place, the old one gets an empty body, the session goes on."""
    server.add_user("alice")
    b, _ = bosh_login(server, "alice", wait=30)
    rid = b.rid + 1
    out = {}

    def post(key):
        out[key] = b.send(rid=rid)

    t1 = threading.Thread(target=post, args=("first",))
    t1.start()
    held_requests(server, 1)
    t2 = threading.Thread(target=post, args=("again",))
    t2.start()
    t1.join(30)
    first, raw = out["first"]
    assert first.get("type") is None and len(first) == 0, raw
    held_requests(server, 1)
    b.rid = rid
    # answers the held one (hold 1); pause (§12) has this one answered at once too
    resp, _ = b.send("<iq xmlns='jabber:client' type='get' id='p3' to='localhost'>"
                     "<ping xmlns='urn:xmpp:ping'/></iq>", pause="1")
    t2.join(30)
    again = out["again"][0]
    assert again.get("type") is None
    # the pong is in the first answer that went out after it: either of them
    pong = again.find("{%s}iq" % NS_CLIENT)
    if pong is None:
        pong = resp.find("{%s}iq" % NS_CLIENT)
    assert pong.get("id") == "p3" and pong.get("type") == "result"


def test_rid_outside_window_terminates(server):
    server.add_user("alice")
    b, _ = bosh_login(server, "alice")
    resp, _ = b.send(rid=b.rid + 5)
    assert resp.get("type") == "terminate"
    assert resp.get("condition") == "item-not-found"
    resp, _ = b.send()
    assert resp.get("condition") == "item-not-found"
    wait_log(server, "event=xmpp.session_ended")


def test_inactivity_ends_session(make_tandem):
    # the test-only variable shortens the 60 s inactivity (documented in xmpp_bosh.c)
    t = make_tandem(env_extra={"TANDEM_TEST_BOSH_INACTIVITY_MS": "300"})
    t.add_user("alice")
    b, _ = bosh_login(t, "alice")
    wait_log(t, "event=xmpp.bosh_inactive")
    wait_log(t, "event=xmpp.session_ended")
    resp, _ = b.send()
    assert resp.get("type") == "terminate"
    assert resp.get("condition") == "item-not-found"


def still_serves(t):
    b = Bosh(t)
    el, _ = b.create()
    assert el.find("{%s}features" % NS_STREAMS) is not None


@pytest.mark.parametrize("data,cond", [
    ("<body xmlns='%s' rid='1' to='localhost'" % NS_BIND_HTTP, "bad-request"),
    ("<body xmlns='urn:example:wrong' rid='1' to='localhost'/>", "bad-request"),
    ("<!DOCTYPE x><body xmlns='%s' rid='1'/>" % NS_BIND_HTTP, "bad-request"),
    ("not xml at all", "bad-request"),
    ("<body xmlns='%s' to='localhost' xmpp:version='1.0' xmlns:xmpp='%s'/>"
     % (NS_BIND_HTTP, NS_XBOSH), "bad-request"),  # no rid
    ("<body xmlns='%s' rid='7' to='elsewhere.example' xmpp:version='1.0' xmlns:xmpp='%s'/>"
     % (NS_BIND_HTTP, NS_XBOSH), "host-unknown"),
    ("<body xmlns='%s' rid='7' sid='nosuchsid'/>" % NS_BIND_HTTP, "item-not-found"),
])
def test_bad_requests_terminate(server, data, cond):
    r = Bosh(server).post_raw(data)
    el = ET.fromstring(r.content)
    assert el.tag == q("body")
    assert el.get("type") == "terminate" and el.get("condition") == cond, r.text
    still_serves(server)


def test_bad_xml_in_a_session_ends_it(server):
    server.add_user("alice")
    b, _ = bosh_login(server, "alice")
    b.rid += 1
    r = b.post_raw("<body xmlns='%s' rid='%d' sid='%s'><message" % (NS_BIND_HTTP, b.rid, b.sid))
    assert ET.fromstring(r.content).get("condition") == "bad-request"
    # a stanza in the wrong namespace is the core's stream error, reported in the body
    b2, _ = bosh_login(server, "alice", resource="two")
    resp, _ = b2.send("<message xmlns='urn:example:wrong'/>")
    if resp.get("type") != "terminate":
        resp, _ = b2.send()
    assert resp.get("type") == "terminate"
    assert resp.get("condition") == "remote-stream-error"
    err = resp.find("{%s}error" % NS_STREAMS)
    assert err is not None and len(err) >= 1
    still_serves(server)


def test_cors_and_origins(server):
    own = "http://127.0.0.1:%d" % server.port
    r = requests.options(server.url + "/http-bind", timeout=10,
                         headers={"Origin": own, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == own
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    b = Bosh(server, origin=own)
    el, resp = b.create()
    assert resp.headers["Access-Control-Allow-Origin"] == own
    assert el.find("{%s}features" % NS_STREAMS) is not None
    r = requests.post(server.url + "/http-bind", timeout=10, data=b"<body/>",
                      headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_host_meta_lists_bosh(server):
    r = requests.get(server.url + "/.well-known/host-meta", timeout=10)
    root = ET.fromstring(r.content)
    links = {l.get("rel"): l.get("href")
             for l in root.iter("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")}
    want = "http://127.0.0.1:%d/http-bind" % server.port
    assert links["urn:xmpp:alt-connections:xbosh"] == want
    doc = requests.get(server.url + "/.well-known/host-meta.json", timeout=10).json()
    assert {"rel": "urn:xmpp:alt-connections:xbosh", "href": want} in doc["links"]


def test_shutdown_answers_held_request(server):
    server.add_user("alice")
    b, _ = bosh_login(server, "alice", wait=30)
    held = {}

    def poll():
        held["resp"] = b.send()

    th = threading.Thread(target=poll)
    th.start()
    held_requests(server, 1)
    server.proc.send_signal(signal.SIGTERM)
    th.join(30)
    resp, _ = held["resp"]
    assert resp.get("type") == "terminate"
    assert resp.get("condition") == "remote-stream-error"
    assert resp.find("{%s}error/{urn:ietf:params:xml:ns:xmpp-streams}system-shutdown"
                     % NS_STREAMS) is not None, ET.tostring(resp)
    assert server.proc.wait(timeout=30) == 0
