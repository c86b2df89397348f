# SPDX-License-Identifier: MIT
"""Stream management (XEP-0198) and client state indication (XEP-0352).

python3-slixmpp's xep_0198 plugin enables stream management and exchanges
acks with the server. Resumption, the error cases and CSI are driven by a
raw-socket client (STARTTLS, SASL PLAIN, bind) that can drop its TCP
connection without closing the stream. Waiting is done on events (a marker
stanza, a log line), never on time: a stanza "held" by CSI is shown to be
held by what arrives before a later urgent stanza. Kept sessions that
time out use TANDEM_TEST_SM_TIMEOUT_MS, the test-only override of the
resumption time."""
import asyncio
import re
import socket
import time

import pytest

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import (PASSWORD, STREAM, Client, b64, run, starttls,  # noqa: E402
                       with_clients, xmpp_port)
from test_xmpp_roster import RClient, subscribe, until  # noqa: E402

SM = "urn:xmpp:sm:3"


def make_server(make_tandem, env=None):
    t = make_tandem(env_extra=env)
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    t.add_user("carol")
    return t


@pytest.fixture
def server(make_tandem):
    return make_server(make_tandem)


def wait_log(t, needle, count=1, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if t.log().count(needle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no %r in the log:\n%s" % (needle, t.log()[-4000:]))


class Raw:
    """A blocking client on a raw TLS socket; everything received is kept in
    order, and until() hands it out up to a marker."""

    def __init__(self, port, user, password=PASSWORD):
        self.user = user
        self.sock = starttls(socket.create_connection(("127.0.0.1", port), timeout=10))
        self.buf = b""
        creds = b64(b"\0" + user.encode() + b"\0" + password.encode())
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                  % creds)
        self.until(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self.send(STREAM)
        self.features = self.until(b"</stream:features>")
        self.seq = 0

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def until_re(self, pattern, timeout=10):
        rx = re.compile(pattern, re.S)
        self.sock.settimeout(timeout)
        while True:
            m = rx.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out, m
            d = self.sock.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d

    def until(self, marker, timeout=10):
        return self.until_re(re.escape(marker), timeout)[0]

    def bind(self, resource):
        self.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource)
        r = self.until(b"</iq>")
        assert b"<jid>%s@localhost/%s</jid>" % (self.user.encode(), resource.encode()) in r, r

    def enable(self):
        self.send("<enable xmlns='%s' resume='true'/>" % SM)
        _, m = self.until_re(rb"<enabled [^>]*/>")
        e = m.group(0)
        assert b"resume='true'" in e
        return re.search(rb"id='([0-9a-f]+)'", e).group(1).decode()

    def sync(self):
        """A ping to the server; returns everything received before its result."""
        self.seq += 1
        self.send("<iq type='get' id='sync%d'><ping xmlns='urn:xmpp:ping'/></iq>" % self.seq)
        out, _ = self.until_re(rb"<iq [^>]*id='sync%d'[^>]*/>" % self.seq)
        return out

    def drop(self):
        """Gone without </stream:stream> (and without a TLS close_notify)."""
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def close(self):
        try:
            self.send(b"</stream:stream>")
            self.until(b"</stream:stream>", timeout=5)
        except (OSError, EOFError):
            pass
        self.sock.close()


def online(port, user, resource, sm=False):
    c = Raw(port, user)
    c.bind(resource)
    sm_id = c.enable() if sm else None
    c.send("<presence/>")
    c.received = stanzas(c.sync())  # since <enabled/>: presence echo(es), result
    return c, sm_id


def befriend(server):
    """alice and bob subscribe to each other (slixmpp, then both log off)."""
    async def go():
        a = RClient("alice@localhost/setup")
        b = RClient("bob@localhost/setup")

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            await subscribe(a, b, "alice@localhost", "bob@localhost")
            await subscribe(b, a, "bob@localhost", "alice@localhost")
        await with_clients([a, b], body)
    run(go())


def stanzas(data):
    return len(re.findall(rb"<(?:message|presence|iq)[ >/]", data))


def bodies(data):
    return re.findall(rb"<body>([^<]*)</body>", data)


# ---- slixmpp ----

def test_slixmpp_enable_and_acks(server):
    async def go():
        c = Client("alice@localhost/sm", mech="PLAIN")
        c.register_plugin("xep_0198")
        enabled = []
        c.add_event_handler("sm_enabled", lambda s: enabled.append(s))

        async def body():
            assert await c.online(server.xport)
            assert await until(lambda: enabled)
            assert enabled[0]["resume"] and enabled[0]["id"]
            sm = c["xep_0198"]
            for _ in range(12):  # the plugin asks for an ack every 5 stanzas
                await c["xep_0199"].ping("localhost", timeout=5)
            sm.request_ack()
            # every stanza the client sent was counted and acknowledged
            assert await until(lambda: sm.last_ack == sm.seq and not sm.unacked_queue)
            assert sm.seq >= 12
        await with_clients([c], body)

    run(go())
    log = server.log()
    assert "event=xmpp.sm_enabled" in log and "resume=1" in log
    assert "event=xmpp.stream_error" not in log


def test_server_requests_acks_and_counts(server):
    c, _ = online(server.xport, "alice", "phone", sm=True)
    try:
        # <r/> is answered with the stanzas handled so far: presence + sync
        c.send("<r xmlns='%s'/>" % SM)
        _, m = c.until_re(rb"<a xmlns='urn:xmpp:sm:3' h='(\d+)'/>")
        assert m.group(1) == b"2"
        # the server asks for an ack after some stanzas; answering trims its queue
        data = b""
        for _ in range(6):
            data += c.sync()
        assert b"<r xmlns='urn:xmpp:sm:3'/>" in data + c.sync()
        c.send("<a xmlns='%s' h='%d'/>" % (SM, 1 + 8))  # presence echo + 8 results
        c.sync()
    finally:
        c.close()
    assert "event=xmpp.stream_error" not in server.log()


# ---- errors ----

def test_enable_before_bind_twice_and_h_too_high(server):
    c = Raw(server.xport, "alice")
    assert b"<sm xmlns='urn:xmpp:sm:3'/>" in c.features
    assert b"<csi xmlns='urn:xmpp:csi:0'/>" in c.features
    c.send("<enable xmlns='%s'/>" % SM)
    assert b"<unexpected-request" in c.until(b"</failed>")
    c.bind("phone")
    c.enable()
    c.send("<enable xmlns='%s'/>" % SM)
    assert b"<unexpected-request" in c.until(b"</failed>")
    c.sync()  # one result sent
    c.send("<a xmlns='%s' h='5'/>" % SM)
    end = c.until(b"</stream:stream>")
    assert b"<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in end
    assert b"<handled-count-too-high xmlns='urn:xmpp:sm:3' h='5' send-count='1'/>" in end
    c.sock.close()


def test_resume_wrong_id_and_other_user(server):
    a, sm_id = online(server.xport, "alice", "phone", sm=True)
    a.drop()
    wait_log(server, "event=xmpp.session_detached")
    # an unknown id: item-not-found, then the client binds as usual
    c = Raw(server.xport, "alice")
    c.send("<resume xmlns='%s' previd='00ff' h='0'/>" % SM)
    assert b"<item-not-found" in c.until(b"</failed>")
    c.bind("other")
    c.close()
    # another user's session: the same answer
    m = Raw(server.xport, "carol")
    m.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, sm_id))
    assert b"<item-not-found" in m.until(b"</failed>")
    m.close()
    # a resume after bind is out of order
    a2, _ = online(server.xport, "alice", "laptop")
    a2.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, sm_id))
    assert b"<unexpected-request" in a2.until(b"</failed>")
    a2.close()
    # its owner still resumes it; an h beyond what was sent would not do
    r = Raw(server.xport, "alice")
    r.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, sm_id))
    assert re.search(rb"<resumed xmlns='urn:xmpp:sm:3' previd='%s' h='2'/>" % sm_id.encode(),
                     r.until(b"/>"))
    r.close()


# ---- resumption ----

def test_resume_gets_unacked_and_missed_messages(server):
    befriend(server)
    b, _ = online(server.xport, "bob", "desk")
    a, sm_id = online(server.xport, "alice", "phone", sm=True)
    try:
        b.until(b"from='alice@localhost/phone'")  # bob sees alice arrive
        for i in (1, 2, 3):
            b.send("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>" % i)
        got = a.until(b"<body>m3</body>")
        assert bodies(got) == [b"m1", b"m2", b"m3"]
        # alice acknowledges up to m1 (echo, bob's presence, sync result, m1)
        assert a.received == 3
        h = a.received + 1
        a.send("<a xmlns='%s' h='%d'/>" % (SM, h))
        a.sync()
        a.drop()
        wait_log(server, "event=xmpp.session_detached")
        # messages while alice is away are queued for her session
        for i in (4, 5):
            b.send("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>" % i)
        b.send("<message to='alice@localhost' type='chat'><body>m6</body></message>")
        b.sync()
        # back: authenticate, resume; the unacknowledged and the missed come again
        r = Raw(server.xport, "alice")
        r.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (SM, sm_id, h))
        _, m = r.until_re(rb"<resumed xmlns='urn:xmpp:sm:3' previd='%s' h='(\d+)'/>"
                          % sm_id.encode())
        assert m.group(1) == b"3"  # presence, sync, sync
        again = r.until(b"<body>m6</body>")
        assert bodies(again) == [b"m2", b"m3", b"m4", b"m5", b"m6"]
        # the session is the same resource, still available to bob
        r.send("<message to='bob@localhost/desk' type='chat'><body>back</body></message>")
        seen_by_bob = b.until(b"<body>back</body>")
        assert b"type='unavailable'" not in seen_by_bob
        assert b"from='alice@localhost/phone'" in seen_by_bob
        # counting goes on from the old stream: 3 + the message just sent
        r.send("<r xmlns='%s'/>" % SM)
        _, m = r.until_re(rb"<a xmlns='urn:xmpp:sm:3' h='(\d+)'/>")
        assert m.group(1) == b"4"
        r.close()
        assert b"type='unavailable'" in b.until(b"type='unavailable'/>")
    finally:
        b.close()
    log = server.log()
    assert "event=xmpp.sm_resumed" in log
    # graceful close: the resent messages never acknowledged went to offline storage
    assert "event=xmpp.sm_unacked" in log


def test_kept_session_times_out(make_tandem):
    server = make_server(make_tandem, {"TANDEM_TEST_SM_TIMEOUT_MS": "1500"})
    befriend(server)
    b, _ = online(server.xport, "bob", "desk")
    try:
        a, sm_id = online(server.xport, "alice", "phone", sm=True)
        b.until(b"from='alice@localhost/phone'")
        a.drop()
        wait_log(server, "event=xmpp.session_detached")
        b.send("<message to='alice@localhost/phone' type='chat'><body>late</body></message>")
        b.send("<iq type='get' id='q1' to='alice@localhost/phone'>"
               "<ping xmlns='urn:xmpp:ping'/></iq>")
        # nobody resumes: alice becomes unavailable to her contact; the iq
        # that was never acknowledged is bounced
        got = b.until(b"type='unavailable'/>", timeout=20)
        assert b"from='alice@localhost/phone'" in got
        err = b.until(b"</iq>")
        assert b"id='q1'" in err and b"<service-unavailable" in err
        wait_log(server, "event=xmpp.sm_expired")
        # the id is gone
        r = Raw(server.xport, "alice")
        r.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, sm_id))
        assert b"<item-not-found" in r.until(b"</failed>")
        # the unacknowledged message went to offline storage
        r.bind("tablet")
        r.send("<presence/>")
        late = r.until(b"</message>")
        assert b"<body>late</body>" in late and b"urn:xmpp:delay" in late
        r.close()
    finally:
        b.close()


def test_enabled_max_follows_timeout(make_tandem):
    server = make_server(make_tandem, {"TANDEM_TEST_SM_TIMEOUT_MS": "1500"})
    c = Raw(server.xport, "alice")
    c.bind("phone")
    c.send("<enable xmlns='%s' resume='true'/>" % SM)
    _, m = c.until_re(rb"<enabled [^>]*/>")
    assert b"max='2'" in m.group(0)
    c.close()


def test_shutdown_ends_kept_sessions(server):
    a, _ = online(server.xport, "alice", "phone", sm=True)
    b, _ = online(server.xport, "bob", "desk")
    b.send("<message to='alice@localhost/phone' type='chat'><body>x</body></message>")
    a.until(b"<body>x</body>")
    a.drop()
    wait_log(server, "event=xmpp.session_detached")
    b.close()
    assert server.stop() == 0  # the fixture also checks for sanitizer reports
    assert "event=xmpp.sm_unacked" in server.log()


# ---- client state indication ----

def test_csi_holds_presence_and_chat_states(server):
    befriend(server)
    b, _ = online(server.xport, "bob", "desk")
    a, _ = online(server.xport, "alice", "phone")
    try:
        b.until(b"from='alice@localhost/phone'")
        a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
        a.sync()
        for i in range(1, 6):
            b.send("<presence><status>s%d</status></presence>" % i)
        for st in ("composing", "paused"):
            b.send("<message to='alice@localhost/phone' type='chat'><%s xmlns="
                   "'http://jabber.org/protocol/chatstates'/></message>" % st)
        b.sync()
        # a message with a body is urgent: the latest presence and chat state first
        b.send("<message to='alice@localhost/phone' type='chat'><body>wake</body></message>")
        got = a.until(b"<body>wake</body>")
        statuses = re.findall(rb"<status>(s\d)</status>", got)
        assert statuses == [b"s5"], got
        assert b"<paused" in got and b"<composing" not in got
        assert got.index(b"s5") < got.index(b"<paused") < got.index(b"wake")
        # held again; <active/> flushes, and then presence flows at once
        for i in (6, 7):
            b.send("<presence><status>s%d</status></presence>" % i)
        b.sync()
        a.send("<active xmlns='urn:xmpp:csi:0'/>")
        flushed = a.sync()
        assert re.findall(rb"<status>(s\d)</status>", flushed) == [b"s7"], flushed
        b.send("<presence><status>s8</status></presence>")
        a.until(b"<status>s8</status>")
    finally:
        a.close()
        b.close()


def test_csi_iq_is_urgent_and_resume_resets_state(server):
    befriend(server)
    b, _ = online(server.xport, "bob", "desk")
    a, sm_id = online(server.xport, "alice", "phone", sm=True)
    try:
        b.until(b"from='alice@localhost/phone'")
        a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
        a.sync()
        b.send("<presence><status>away1</status></presence>")
        b.sync()
        # an iq from bob to alice: urgent, preceded by the held presence
        b.send("<iq type='get' id='p1' to='alice@localhost/phone'>"
               "<ping xmlns='urn:xmpp:ping'/></iq>")
        got = a.until(b"</iq>")
        assert b"away1" in got and got.index(b"away1") < got.index(b"id='p1'")
        a.send("<iq type='result' id='p1' to='bob@localhost/desk'/>")
        b.until(b"id='p1'")
        b.send("<presence><status>away2</status></presence>")
        b.sync()
        a.drop()
        wait_log(server, "event=xmpp.session_detached")
        # XEP-0352 §5.2: a resumed stream is active; the held presence comes
        r = Raw(server.xport, "alice")
        r.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, sm_id))
        r.until(b"<resumed")
        r.until(b"<status>away2</status>")
        b.send("<presence><status>away3</status></presence>")
        r.until(b"<status>away3</status>")
        r.close()
    finally:
        b.close()
