# SPDX-License-Identifier: MIT
"""The XMPP client listener (RFC 6120/6121) driven by a real client library,
python3-slixmpp, over STARTTLS with SCRAM and PLAIN, plus a hostile battery
on raw sockets (stream errors of RFC 6120 §4.9) after each of which the
server must go on serving a well-behaved client.

slixmpp 1.8 knows only the tls-unique channel binding, which TLS 1.3 does
not define (RFC 9266); with binding data at hand it sends the gs2 flag 'y'
for non-PLUS mechanisms, which a server that offered -PLUS must refuse as a
downgrade (RFC 5802 §6). The clients here therefore hide the binding data
from slixmpp's SASL layer; the -PLUS exchange is covered by a raw SCRAM
client with tls-exporter below."""
import asyncio
import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import time

import pytest

slixmpp = pytest.importorskip("slixmpp")

PASSWORD = "correct horse"
STREAM = (b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams'>")


def xmpp_port(t):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(rb"event=server.listening proto=xmpp addr=\S+ port=(\d+)", t.log_bytes())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no xmpp listener:\n" + t.log())


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    return t


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records what it receives."""

    def __init__(self, jid, password=PASSWORD, mech=None, priority=None):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        fm = self["feature_mechanisms"]
        if mech:
            fm.use_mech = mech
        default = fm._default_credentials

        def creds(required, optional):
            r = default(required, optional)
            if "channel_binding" in r:
                r["channel_binding"] = None
            return r

        fm.sasl_callback = creds
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.priority = priority
        self.messages = asyncio.Queue()
        self.presences = []
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("failed_all_auth", self._failed)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence", lambda p: self.presences.append(p))
        self.stream_errors = []
        self.add_event_handler("stream_error", lambda e: self.stream_errors.append(e))

    def _started(self, event):
        if self.priority is not None:
            self.send_presence(ppriority=self.priority)
        else:
            self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def _failed(self, event):
        if not self.ready.done():
            self.ready.set_result(False)

    async def online(self, port, timeout=10):
        self.connect(address=("127.0.0.1", port))
        done, _ = await asyncio.wait([self.ready, self.disconnected], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        return self.ready.done() and self.ready.result()

    async def stop(self):
        if self.is_connected():
            self.disconnect()
            try:
                await asyncio.wait_for(self.disconnected, 5)
            except asyncio.TimeoutError:
                self.abort()


def run(coro):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 20))
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


async def with_clients(clients, fn):
    try:
        return await fn()
    finally:
        for c in clients:
            await c.stop()


async def next_message(c, timeout=5):
    return await asyncio.wait_for(c.messages.get(), timeout)


# ---- log-in ----

@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_login_ping_disco(server, mech):
    server.add_user("alice")

    async def go():
        c = Client("alice@localhost/desk", mech=mech)

        async def body():
            assert await c.online(server.xport)
            assert c["feature_mechanisms"].mech.name == mech
            assert c.boundjid.full == "alice@localhost/desk"
            rtt = await c["xep_0199"].ping("localhost", timeout=5)
            assert rtt is not None and rtt < 5
            info = await c["xep_0030"].get_info(jid="localhost", timeout=5)
            assert ("server", "im", None, "Tandem") in info["disco_info"]["identities"]
            assert "urn:xmpp:ping" in info["disco_info"]["features"]
            # An unknown query to the server: service-unavailable (RFC 6120 §8.3.3.19).
            iq = c.make_iq_get(queryxmlns="urn:example:nothing", ito="localhost")
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            assert e.value.condition == "service-unavailable"
        await with_clients([c], body)

    run(go())
    assert "event=xmpp.authenticated" in server.log()


def test_default_mechanism_choice_logs_in(server):
    server.add_user("alice")

    async def go():
        c = Client("alice@localhost/r")
        await with_clients([c], lambda: _assert_online(c, server.xport))

    run(go())


async def _assert_online(c, port):
    assert await c.online(port)


def test_wrong_password_and_unknown_and_disabled(server):
    server.add_user("alice")
    server.add_user("carol")
    assert server.cli("user", "disable", "carol").returncode == 0

    async def go():
        for jid, pw, mech in [("alice@localhost/r", "wrong horse", "SCRAM-SHA-256"),
                              ("alice@localhost/r", "wrong horse", "PLAIN"),
                              ("nobody@localhost/r", PASSWORD, "SCRAM-SHA-1"),
                              ("carol@localhost/r", PASSWORD, "SCRAM-SHA-256"),
                              ("carol@localhost/r", PASSWORD, "PLAIN")]:
            c = Client(jid, password=pw, mech=mech)
            try:
                assert not await c.online(server.xport), (jid, mech)
            finally:
                await c.stop()

    run(go())
    assert "event=xmpp.auth_failed" in server.log()
    assert "event=xmpp.authenticated" not in server.log()


def test_web_signup_and_password_change_set_scram(server):
    from conftest import Browser
    b = Browser(server.url)
    assert b.signup("webby").status_code == 303
    r = b.form_post("/settings", "/settings/password",
                    {"current": PASSWORD, "password": "battery staple", "password2":
                     "battery staple"})
    assert r.status_code == 303, r.text

    async def go():
        for pw, ok, mech in [(PASSWORD, False, "SCRAM-SHA-256"),
                             ("battery staple", True, "SCRAM-SHA-256"),
                             # PLAIN is checked against the same SCRAM keys
                             (PASSWORD, False, "PLAIN"), ("battery staple", True, "PLAIN")]:
            c = Client("webby@localhost/r", password=pw, mech=mech)
            try:
                assert await c.online(server.xport) == ok, (pw, mech)
            finally:
                await c.stop()

    run(go())


def test_plain_without_scram_keys_uses_the_password_hash(server):
    """An account whose SCRAM keys are missing (made before they existed)
    still logs in with PLAIN, against its argon2id hash."""
    import sqlite3
    server.add_user("olde")
    db = sqlite3.connect(os.path.join(server.data, "tandem.db"))
    with db:
        db.execute("DELETE FROM account_scram WHERE account_id = "
                   "(SELECT id FROM accounts WHERE username_lc = 'olde')")
    db.close()

    async def go():
        for pw, ok, mech in [(PASSWORD, True, "PLAIN"), ("wrong horse", False, "PLAIN"),
                             (PASSWORD, False, "SCRAM-SHA-256")]:
            c = Client("olde@localhost/r", password=pw, mech=mech)
            try:
                assert await c.online(server.xport) == ok, (pw, mech)
            finally:
                await c.stop()

    run(go())


# ---- messages and presence ----

def test_chat_both_ways(server):
    server.add_user("alice")
    server.add_user("bob")

    async def go():
        a = Client("alice@localhost/home", mech="SCRAM-SHA-256")
        b = Client("bob@localhost/phone", mech="SCRAM-SHA-256")

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            # to a full JID
            a.send_message(mto="bob@localhost/phone", mbody="hi bob", mtype="chat")
            m = await next_message(b)
            assert m["body"] == "hi bob"
            assert m["from"].full == "alice@localhost/home"
            # to a bare JID, with a forged from that the server must overwrite
            msg = b.make_message(mto="alice@localhost", mbody="hi alice", mtype="chat")
            msg["from"] = "mallory@localhost/evil"
            msg.send()
            m = await next_message(a)
            assert m["body"] == "hi alice"
            assert m["from"].full == "bob@localhost/phone"
            # a message to someone who does not exist comes back as an error
            a.send_message(mto="nobody@localhost", mbody="anyone?", mtype="chat")
            m = await next_message(a)
            assert m["type"] == "error"
            assert m["error"]["condition"] == "service-unavailable"
            # iq ping routed to another user's full JID is answered by that client
            rtt = await a["xep_0199"].ping("bob@localhost/phone", timeout=5)
            assert rtt is not None
        await with_clients([a, b], body)

    run(go())


def test_bare_jid_goes_to_highest_priority(server):
    server.add_user("alice")
    server.add_user("bob")

    async def go():
        low = Client("bob@localhost/low", mech="PLAIN", priority=1)
        high = Client("bob@localhost/high", mech="PLAIN", priority=10)
        a = Client("alice@localhost/x", mech="PLAIN")

        async def body():
            assert await low.online(server.xport)
            assert await high.online(server.xport)
            assert await a.online(server.xport)
            await asyncio.sleep(0.3)  # let the presences land
            # the two resources see each other's presence (RFC 6121 §4.2.2)
            assert any(p["from"].full == "bob@localhost/high" for p in low.presences)
            assert any(p["from"].full == "bob@localhost/low" for p in high.presences)
            a.send_message(mto="bob@localhost", mbody="to the best", mtype="chat")
            m = await next_message(high)
            assert m["body"] == "to the best"
            await asyncio.sleep(0.3)
            assert low.messages.empty()
            # high goes away: low hears it, and now gets bare-JID messages
            await high.stop()
            await asyncio.sleep(0.3)
            assert any(p["from"].full == "bob@localhost/high" and p["type"] == "unavailable"
                       for p in low.presences)
            a.send_message(mto="bob@localhost", mbody="second", mtype="chat")
            m = await next_message(low)
            assert m["body"] == "second"
        await with_clients([low, high, a], body)

    run(go())


def test_resource_conflict_replaces_old_session(server):
    server.add_user("alice")

    async def go():
        old = Client("alice@localhost/same", mech="PLAIN")
        new = Client("alice@localhost/same", mech="PLAIN")

        async def body():
            assert await old.online(server.xport)
            assert await new.online(server.xport)
            for _ in range(50):
                if old.stream_errors:
                    break
                await asyncio.sleep(0.1)
            assert old.stream_errors and old.stream_errors[0]["condition"] == "conflict"
            rtt = await new["xep_0199"].ping("localhost", timeout=5)
            assert rtt is not None
        await with_clients([old, new], body)

    run(go())
    assert "event=xmpp.resource_conflict" in server.log()


# ---- raw sockets ----

def raw_xmpp(port, chunks, tls=False, timeout=5):
    """Send chunks (STARTTLS first when tls) and read until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        if tls:
            s = starttls(s)
        for c in chunks:
            s.sendall(c)
        while True:
            try:
                d = s.recv(65536)
            except (socket.timeout, ssl.SSLError, ConnectionResetError):
                break
            if not d:
                break
            out += d
    finally:
        s.close()
    return out


def read_until(s, marker, timeout=5):
    s.settimeout(timeout)
    data = b""
    while marker not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data


def starttls(s):
    s.sendall(STREAM)
    assert b"<required/>" in read_until(s, b"</stream:features>")
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert b"<proceed" in read_until(s, b"/>")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(STREAM)
    feats = read_until(t, b"</stream:features>")
    assert b"<mechanism>SCRAM-SHA-256</mechanism>" in feats
    return t


def still_serves(server):
    async def go():
        c = Client("alice@localhost/after", mech="SCRAM-SHA-1")
        await with_clients([c], lambda: _assert_online(c, server.xport))
    run(go())


def test_hostile_streams(server):
    server.add_user("alice")
    port = server.xport
    # a stanza before authentication (RFC 6120 §4.9.3.12), plaintext and after TLS
    out = raw_xmpp(port, [STREAM, b"<message to='alice@localhost'><body>x</body></message>"])
    assert b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in out
    assert out.endswith(b"</stream:stream>")
    out = raw_xmpp(port, [b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"],
                   tls=True)
    assert b"<not-authorized" in out
    # a DOCTYPE (billion laughs) is refused before any entity is expanded
    bomb = (b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
            b"<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>")
    out = raw_xmpp(port, [bomb + STREAM + b"<message>&lol2;</message>"])
    assert b"<restricted-xml" in out
    # a huge stanza: policy-violation long before it is buffered
    out = raw_xmpp(port, [STREAM, b"<message><body>" + b"A" * 100000 + b"</body></message>"])
    assert b"<policy-violation" in out
    # garbage
    out = raw_xmpp(port, [STREAM, b"<<<>>>&&&\x00\xff"])
    assert b"<not-well-formed" in out
    out = raw_xmpp(port, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert b"<stream:error>" in out
    # the wrong domain and version
    out = raw_xmpp(port, [STREAM.replace(b"localhost", b"example.org")])
    assert b"<host-unknown" in out
    out = raw_xmpp(port, [STREAM.replace(b"version='1.0'", b"version='0.9'")])
    assert b"<unsupported-version" in out
    # SASL before TLS is refused (encryption-required), PLAIN is not offered
    out = raw_xmpp(port, [STREAM, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                                  b"mechanism='PLAIN'>AGFsaWNlAGNvcnJlY3QgaG9yc2U=</auth>"],
                   timeout=2)
    assert b"<encryption-required/>" in out
    assert b"<mechanism>" not in out
    # bad base64 and an unknown mechanism after TLS
    out = raw_xmpp(port, [b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                          b"mechanism='DIGEST-MD5'/>",
                          b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                          b"mechanism='PLAIN'>!!!!</auth>"], tls=True, timeout=2)
    assert b"<invalid-mechanism/>" in out
    assert b"<incorrect-encoding/>" in out
    still_serves(server)
    assert "ERROR" not in server.log()


# ---- SCRAM-SHA-256-PLUS by hand (RFC 5802, RFC 7677) ----
# Python's ssl has no RFC 5705 exporter (tls-exporter) before 3.13, so the
# client forces TLS 1.2, where the server binds with tls-server-end-point
# (RFC 5929 §4.1: SHA-256 of the certificate for an ECDSA-SHA256 cert).

def starttls12(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(STREAM)
    read_until(s, b"</stream:features>")
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(s, b"/>")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(STREAM)
    return t, read_until(t, b"</stream:features>")


def b64(b):
    return base64.b64encode(b).decode()


def scram_plus(port, password, flag=b"p=tls-server-end-point", cb_override=None):
    t, feats = starttls12(port)
    try:
        assert b"<mechanism>SCRAM-SHA-256-PLUS</mechanism>" in feats
        assert b"type='tls-server-end-point'" in feats
        cb = hashlib.sha256(t.getpeercert(binary_form=True)).digest()
        if cb_override is not None:
            cb = cb_override
        gs2 = flag + b",,"
        cnonce = b64(os.urandom(18)).encode()
        first_bare = b"n=alice,r=" + cnonce
        t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>"
                  + b64(gs2 + first_bare).encode() + b"</auth>")
        ch = read_until(t, b"</challenge>")
        m = re.search(rb"<challenge[^>]*>([^<]+)</challenge>", ch)
        assert m, ch
        server_first = base64.b64decode(m.group(1))
        attrs = dict(kv.split(b"=", 1) for kv in server_first.split(b","))
        assert attrs[b"r"].startswith(cnonce)
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs[b"s"]),
                                     int(attrs[b"i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        final_wo = b"c=" + b64(gs2 + cb).encode() + b",r=" + attrs[b"r"]
        auth_msg = first_bare + b"," + server_first + b"," + final_wo
        sig = hmac.new(stored, auth_msg, "sha256").digest()
        proof = bytes(x ^ y for x, y in zip(client_key, sig))
        t.sendall(b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                  + b64(final_wo + b",p=" + b64(proof).encode()).encode() + b"</response>")
        t.settimeout(5)
        out = t.recv(4096)
        if b"<success" not in out:
            return False
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        v = b64(hmac.new(server_key, auth_msg, "sha256").digest()).encode()
        m = re.search(rb"<success[^>]*>([^<]+)</success>", out)
        assert base64.b64decode(m.group(1)) == b"v=" + v
        return True
    finally:
        t.close()


def test_scram_sha256_plus_channel_binding(server):
    server.add_user("alice")
    assert scram_plus(server.xport, PASSWORD)
    assert not scram_plus(server.xport, "wrong horse")
    # a binding of another connection (a MITM's) fails
    assert not scram_plus(server.xport, PASSWORD, cb_override=b"\0" * 32)
    still_serves(server)


def test_negotiation_timeout_and_whitespace_keepalive(server):
    server.add_user("alice")
    s = socket.create_connection(("127.0.0.1", server.xport), timeout=5)
    try:
        s.sendall(STREAM)
        read_until(s, b"</stream:features>")
        s.sendall(b" \n ")  # whitespace keepalive is not an error
        s.settimeout(1)
        with pytest.raises(socket.timeout):
            s.recv(100)
    finally:
        s.close()
    still_serves(server)
