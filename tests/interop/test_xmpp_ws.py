# SPDX-License-Identifier: MIT
"""XMPP over WebSocket (RFC 7395) on /xmpp-websocket, its discovery by
host-meta (XEP-0156), and the direct TLS port (XEP-0368).

The WebSocket client is python3-websocket (websocket-client), driven by hand
the way a browser library (Strophe, converse.js) does: <open/>, features,
SASL, a new <open/>, bind, presence, messages with a slixmpp client on the
TCP port. The hostile cases (two elements in one message, a wrong
sub-protocol, a binary frame, a stanza before <open/>, a foreign Origin)
each end in a clear refusal, after which the server goes on serving."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET

import pytest
import requests

websocket = pytest.importorskip("websocket")
slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import Client, run, with_clients, next_message, xmpp_port  # noqa: E402

PASSWORD = "correct horse"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_CLIENT = "jabber:client"
OPEN = "<open xmlns='%s' to='localhost' version='1.0'/>" % NS_FRAMING


def xmpps_port(t):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(rb"event=server.listening proto=xmpps addr=\S+ port=(\d+)", t.log_bytes())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no direct TLS listener:\n" + t.log())


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.sport = xmpps_port(t)
    return t


def ws_url(t):
    return "ws://127.0.0.1:%d/xmpp-websocket" % t.port


def ws_connect(t, **kw):
    kw.setdefault("subprotocols", ["xmpp"])
    return websocket.create_connection(ws_url(t), timeout=10, **kw)


def recv_el(ws):
    """One message: exactly one element (RFC 7395 §3.3.3)."""
    op, data = ws.recv_data()
    assert op == websocket.ABNF.OPCODE_TEXT, op
    return ET.fromstring(data.decode("utf-8")), data.decode("utf-8")


def recv_until_closed(ws):
    """Every text message until the server's close frame; returns them and the close code."""
    out = []
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            return out, code
        if frame.opcode == websocket.ABNF.OPCODE_TEXT:
            out.append(frame.data.decode("utf-8"))


def open_stream(ws):
    ws.send(OPEN)
    op, raw = recv_el(ws)
    assert op.tag == "{%s}open" % NS_FRAMING
    assert op.get("from") == "localhost" and op.get("version") == "1.0" and op.get("id")
    feats, _ = recv_el(ws)
    assert feats.tag == "{%s}features" % NS_STREAMS
    return feats


def mechanisms(feats):
    return [m.text for m in feats.iter("{%s}mechanism" % NS_SASL)]


def scram_sha1(ws, user, password):
    """A SCRAM-SHA-1 client (RFC 5802), without channel binding ('n,,')."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)
    ws.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
            % (NS_SASL, base64.b64encode(("n,," + bare).encode()).decode()))
    ch, _ = recv_el(ws)
    assert ch.tag == "{%s}challenge" % NS_SASL, ET.tostring(ch)
    first = base64.b64decode(ch.text).decode()
    attrs = dict(kv.split("=", 1) for kv in first.split(","))
    assert attrs["r"].startswith(cnonce)
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha1").digest()
    skey = hmac.new(salted, b"Server Key", "sha1").digest()
    final_bare = "c=biws,r=%s" % attrs["r"]
    auth_msg = ",".join([bare, first, final_bare]).encode()
    sig = hmac.new(hashlib.sha1(ckey).digest(), auth_msg, "sha1").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    final = "%s,p=%s" % (final_bare, base64.b64encode(proof).decode())
    ws.send("<response xmlns='%s'>%s</response>" % (NS_SASL,
                                                   base64.b64encode(final.encode()).decode()))
    ok, _ = recv_el(ws)
    assert ok.tag == "{%s}success" % NS_SASL, ET.tostring(ok)
    v = base64.b64decode(ok.text).decode()
    want = base64.b64encode(hmac.new(skey, auth_msg, "sha1").digest()).decode()
    assert v == "v=" + want


def plain(ws, user, password):
    tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    ws.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, tok))
    ok, _ = recv_el(ws)
    assert ok.tag == "{%s}success" % NS_SASL, ET.tostring(ok)


def ws_login(t, user, mech="SCRAM-SHA-1", resource="web", **kw):
    """Open, authenticate, restart, bind; returns (ws, full JID)."""
    ws = ws_connect(t, **kw)
    assert ws.getsubprotocol() == "xmpp"
    feats = open_stream(ws)
    mechs = mechanisms(feats)
    # Loopback counts as secure: SASL is offered, STARTTLS and -PLUS are not.
    assert "SCRAM-SHA-1" in mechs and "PLAIN" in mechs, mechs
    assert not [m for m in mechs if m.endswith("-PLUS")], mechs
    assert feats.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None
    if mech == "PLAIN":
        plain(ws, user, PASSWORD)
    else:
        scram_sha1(ws, user, PASSWORD)
    feats = open_stream(ws)
    assert feats.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>%s</resource></bind></iq>" % resource)
    res, raw = recv_el(ws)
    # RFC 7395 §3.3.3: stanzas carry their namespace in every message.
    assert res.tag == "{%s}iq" % NS_CLIENT, raw
    assert res.get("type") == "result" and res.get("id") == "b1"
    jid = res.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid").text
    assert jid == "%s@localhost/%s" % (user, resource)
    return ws, jid


def ws_close(ws):
    ws.send("<close xmlns='%s'/>" % NS_FRAMING)
    msgs, code = recv_until_closed(ws)
    assert any(ET.fromstring(m).tag == "{%s}close" % NS_FRAMING for m in msgs), msgs
    assert code == 1000
    ws.close()


# ---- a session over WebSocket ----

@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "PLAIN"])
def test_websocket_session_messages_with_tcp_client(server, mech):
    server.add_user("alice")
    server.add_user("bob")

    async def go():
        loop = asyncio.get_event_loop()
        ws, jid = await loop.run_in_executor(None, lambda: ws_login(server, "alice", mech))
        bob = Client("bob@localhost/tcp")

        async def body():
            assert await bob.online(server.xport)
            # presence from the WebSocket session, then a message each way
            await loop.run_in_executor(None, ws.send, "<presence xmlns='jabber:client'/>")
            await loop.run_in_executor(
                None, ws.send,
                "<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat' id='m1'><body>hi from the web"
                "</body></message>")
            m = await next_message(bob)
            assert m["body"] == "hi from the web"
            assert m["from"].full == jid
            bob.send_message(mto=jid, mbody="hello browser", mtype="chat")

            def wait_message():
                while True:
                    el, raw = recv_el(ws)
                    if el.tag == "{%s}message" % NS_CLIENT:
                        return el, raw
            el, raw = await loop.run_in_executor(None, wait_message)
            assert el.findtext("{%s}body" % NS_CLIENT) == "hello browser"
            assert el.get("from") == "bob@localhost/tcp"
            # an iq to the server works over the framing too
            await loop.run_in_executor(
                None, ws.send, "<iq xmlns='jabber:client' type='get' id='p1' to='localhost'>"
                               "<ping xmlns='urn:xmpp:ping'/></iq>")

            def wait_pong():
                while True:
                    el, raw = recv_el(ws)
                    if el.tag == "{%s}iq" % NS_CLIENT and el.get("id") == "p1":
                        return el
            pong = await loop.run_in_executor(None, wait_pong)
            assert pong.get("type") == "result"
            await loop.run_in_executor(None, ws_close, ws)
        await with_clients([bob], body)

    run(go())
    log = server.log()
    assert "event=xmpp.ws_open" in log
    assert "event=xmpp.bound conn=" in log
    # the WebSocket session counts with the others
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert re.search(r"^tandem_xmpp_sessions \d", metrics, re.M)


def test_websocket_session_counts_in_metrics(server):
    server.add_user("alice")
    ws, _ = ws_login(server, "alice")
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert re.search(r"^tandem_xmpp_sessions 1(\.0*)?$", metrics, re.M), metrics
    ws_close(ws)


def test_browser_origin_rules(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_WEBSOCKET_ORIGINS":
                               "https://chat.example.org http://other.example:8000"})
    t.add_user("alice")
    # same origin as the page (what a browser on the site sends)
    ws, _ = ws_login(t, "alice", origin="http://127.0.0.1:%d" % t.port)
    ws_close(ws)
    # a listed origin
    ws, _ = ws_login(t, "alice", resource="r2", origin="https://chat.example.org")
    ws_close(ws)
    # no Origin at all: not a browser
    ws, _ = ws_login(t, "alice", resource="r3", suppress_origin=True)
    ws_close(ws)
    # someone else's page
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        ws_connect(t, origin="https://evil.example")
    assert e.value.status_code == 403
    assert "event=xmpp.ws_refused" in t.log() and "why=origin" in t.log()


# ---- framing errors ----

def stream_error_of(msgs):
    """The condition of the <stream:error/> among msgs, checking <close/> follows it."""
    els = [ET.fromstring(m) for m in msgs]
    errs = [e for e in els if e.tag == "{%s}error" % NS_STREAMS]
    assert errs, msgs
    assert els[-1].tag == "{%s}close" % NS_FRAMING, msgs
    return [c.tag.split("}")[1] for c in errs[0]][0]


def still_serves(t):
    """A fresh WebSocket gets a stream with SASL offered."""
    ws = ws_connect(t)
    assert "SCRAM-SHA-1" in mechanisms(open_stream(ws))
    ws_close(ws)


def test_two_elements_in_one_message(server):
    server.add_user("alice")
    ws, _ = ws_login(server, "alice")
    ws.send("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>")
    msgs, code = recv_until_closed(ws)
    assert stream_error_of(msgs) == "not-well-formed"
    assert code == 1000
    ws.close()
    still_serves(server)


def test_stanza_before_open(server):
    ws = ws_connect(server)
    ws.send("<message xmlns='jabber:client' to='bob@localhost'><body>x</body></message>")
    msgs, code = recv_until_closed(ws)
    # the server opens its side first so that the error is understood
    assert ET.fromstring(msgs[0]).tag == "{%s}open" % NS_FRAMING
    assert stream_error_of(msgs) == "invalid-namespace"
    ws.close()
    still_serves(server)


def test_binary_message(server):
    ws = ws_connect(server)
    open_stream(ws)
    ws.send_binary(OPEN.encode())
    msgs, code = recv_until_closed(ws)
    assert stream_error_of(msgs) == "bad-format"
    ws.close()
    still_serves(server)


def test_stream_level_junk_and_unauthenticated_stanza(server):
    ws = ws_connect(server)
    open_stream(ws)
    ws.send("<iq xmlns='jabber:client' type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>")
    msgs, code = recv_until_closed(ws)
    assert stream_error_of(msgs) == "not-authorized"
    ws.close()
    still_serves(server)


@pytest.mark.parametrize("proto", [None, ["chat"], ["XMPP"]])
def test_subprotocol_required(server, proto):
    kw = {"subprotocols": proto} if proto else {"subprotocols": None}
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url(server), timeout=10, **kw)
    assert e.value.status_code == 400
    # the refusal says what is missing
    r = requests.get(server.url + "/xmpp-websocket", timeout=10, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Protocol": "chat"})
    assert r.status_code == 400 and "xmpp" in r.text and "RFC 7395" in r.text
    still_serves(server)


def test_plain_get_is_refused(server):
    r = requests.get(server.url + "/xmpp-websocket", timeout=10,
                     headers={"Sec-WebSocket-Protocol": "xmpp"})
    assert r.status_code == 426


# ---- XEP-0156 ----

def test_host_meta_xml_and_json(server):
    want = "ws://127.0.0.1:%d/xmpp-websocket" % server.port
    r = requests.get(server.url + "/.well-known/host-meta", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/xrd+xml")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    root = ET.fromstring(r.content)
    assert root.tag == "{http://docs.oasis-open.org/ns/xri/xrd-1.0}XRD"
    links = {l.get("rel"): l.get("href")
             for l in root.iter("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")}
    assert links["urn:xmpp:alt-connections:websocket"] == want

    r = requests.get(server.url + "/.well-known/host-meta.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    doc = r.json()
    assert {"rel": "urn:xmpp:alt-connections:websocket", "href": want} in doc["links"]

    # the advertised URL is the one that works
    server.add_user("alice")
    ws = websocket.create_connection(want, timeout=10, subprotocols=["xmpp"])
    open_stream(ws)
    ws.close()


def test_host_meta_follows_base_url(make_tandem):
    t = make_tandem(env_extra={"TANDEM_SERVER_BASE_URL": "https://chat.example.org"})
    doc = requests.get(t.url + "/.well-known/host-meta.json", timeout=10).json()
    assert doc["links"][0]["href"] == "wss://chat.example.org/xmpp-websocket"
    # that origin is the site's own
    t.add_user("alice")
    ws, _ = ws_login(t, "alice", origin="https://chat.example.org")
    ws_close(ws)


# ---- XEP-0368 direct TLS ----

def tls_features(port, alpn=("xmpp-client",)):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname="localhost")
    s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
              b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    data = b""
    while b"</stream:features>" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    chosen = s.selected_alpn_protocol()
    s.close()
    return data.decode(), chosen


def test_direct_tls_features_and_alpn(server):
    feats, chosen = tls_features(server.sport)
    assert chosen == "xmpp-client"
    assert "starttls" not in feats
    assert "<mechanism>SCRAM-SHA-256-PLUS</mechanism>" in feats
    assert "<mechanism>PLAIN</mechanism>" in feats
    # a client without ALPN is served too (RFC 7301 §3.2: no overlap, no ALPN)
    feats, chosen = tls_features(server.sport, alpn=None)
    assert chosen is None and "SCRAM-SHA-256" in feats


def test_direct_tls_slixmpp_bind_and_message(server):
    server.add_user("alice")
    server.add_user("bob")

    async def go():
        a = Client("alice@localhost/direct")
        b = Client("bob@localhost/starttls")

        async def body():
            a.connect(address=("127.0.0.1", server.sport), use_ssl=True,
                      force_starttls=False, disable_starttls=True)
            await asyncio.wait_for(a.ready, 10)
            assert a.ready.result()
            assert a.boundjid.full == "alice@localhost/direct"
            assert await b.online(server.xport)
            a.send_message(mto="bob@localhost/starttls", mbody="over direct TLS", mtype="chat")
            m = await next_message(b)
            assert m["body"] == "over direct TLS"
            b.send_message(mto="alice@localhost/direct", mbody="back", mtype="chat")
            m = await next_message(a)
            assert m["body"] == "back"
        await with_clients([a, b], body)

    run(go())


def test_direct_tls_port_off(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_C2S_TLS_PORT": "-1"})
    xmpp_port(t)
    assert requests.get(t.url + "/healthz", timeout=10).status_code == 200
    deadline = time.time() + 10
    while b"event=server.started" not in t.log_bytes() and time.time() < deadline:
        time.sleep(0.05)
    assert b"event=server.started" in t.log_bytes()
    assert b"proto=xmpps" not in t.log_bytes()


# ---- the end of a WebSocket ----

def wait_log(t, needle, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in t.log():
            return
        time.sleep(0.05)
    raise AssertionError("%r not in log:\n%s" % (needle, t.log()))


def test_dropped_websocket_leaves_and_resource_is_free(server):
    server.add_user("alice")
    ws, jid = ws_login(server, "alice")
    ws.send("<presence xmlns='jabber:client'/>")
    ws.shutdown()  # the TCP connection goes, with no <close/> and no close frame
    wait_log(server, 'event=xmpp.session_ended conn=')
    ws, jid2 = ws_login(server, "alice")
    assert jid2 == jid
    assert "event=xmpp.resource_conflict" not in server.log()
    ws_close(ws)


def test_shutdown_ends_websocket_sessions(server):
    import signal
    server.add_user("alice")
    ws, _ = ws_login(server, "alice")
    server.proc.send_signal(signal.SIGTERM)
    msgs, code = recv_until_closed(ws)
    assert stream_error_of(msgs) == "system-shutdown"
    assert code == 1000
    ws.close()
    assert server.proc.wait(timeout=30) == 0
