# SPDX-License-Identifier: MIT
"""External components (XEP-0114): python3-slixmpp's ComponentXMPP connects
to xmpp.component_port with its secret and exchanges messages and iqs with a
local slixmpp client; raw sockets check the refusals (wrong secret,
unknown domain, a forged from, a second connection for the same domain)
and what a client gets when the component is gone."""
import asyncio
import hashlib
import re
import socket
import time

import pytest

slixmpp = pytest.importorskip("slixmpp")

from slixmpp.componentxmpp import ComponentXMPP  # noqa: E402
from test_xmpp import Client, next_message, run, with_clients, xmpp_port  # noqa: E402

DOMAIN = "echo.localhost"
SECRET = "s3cret-echo"
COMPONENTS = "%s:%s idle.localhost:other-secret" % (DOMAIN, SECRET)


def component_port(t):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(rb"event=server.listening proto=xmpp-component addr=\S+ port=(\d+)",
                      t.log_bytes())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no component listener:\n" + t.log())


@pytest.fixture
def server(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_COMPONENT_PORT": "0",
                               "TANDEM_XMPP_COMPONENTS": COMPONENTS})
    t.xport = xmpp_port(t)
    t.cport = component_port(t)
    t.add_user("alice")
    return t


class Echo(ComponentXMPP):
    """A component that answers every chat message twice: to the sender's
    full JID and to its bare JID, and answers pings (XEP-0199)."""

    def __init__(self, secret=SECRET):
        super().__init__(DOMAIN, secret)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.got = []
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("message", self._message)

    def _started(self, event):
        if not self.ready.done():
            self.ready.set_result(True)

    def _message(self, msg):
        self.got.append(msg)
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.send_message(mto=msg["from"], mbody="full: " + msg["body"], mtype="chat",
                              mfrom=DOMAIN)
            self.send_message(mto=msg["from"].bare, mbody="bare: " + msg["body"],
                              mtype="chat", mfrom="bot@" + DOMAIN)

    async def online(self, port, timeout=10):
        self.connect("127.0.0.1", port)
        await asyncio.wait([self.ready, self.disconnected], timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        return self.ready.done()

    async def stop(self):
        if self.is_connected():
            self.disconnect()
            try:
                await asyncio.wait_for(self.disconnected, 5)
            except asyncio.TimeoutError:
                self.abort()


def disco_items(c):
    return c["xep_0030"].get_items(jid="localhost", timeout=5)


def test_component_and_client_talk(server):
    async def go():
        comp = Echo()
        alice = Client("alice@localhost/phone")

        async def body():
            assert await comp.online(server.cport)
            assert await alice.online(server.xport)
            # a message to the component; its answers to the full and the bare JID
            alice.send_message(mto=DOMAIN, mbody="hello", mtype="chat")
            bodies = set()
            for _ in range(2):
                m = await next_message(alice)
                assert m["type"] == "chat"
                bodies.add((str(m["from"]), m["body"]))
            assert bodies == {(DOMAIN, "full: hello"), ("bot@" + DOMAIN, "bare: hello")}
            assert str(comp.got[0]["from"]) == "alice@localhost/phone"
            # an iq to the component, answered by it
            rtt = await alice["xep_0199"].ping(jid=DOMAIN, timeout=5)
            assert rtt is not None
            # an iq from the component to the user's full JID, answered by the client
            info = await comp["xep_0030"].get_info(jid="alice@localhost/phone", ifrom=DOMAIN,
                                                   timeout=5)
            assert info["type"] == "result"
            assert "urn:xmpp:ping" in info["disco_info"]["features"]
            # the server answers the component's ping
            r = await comp["xep_0199"].send_ping("localhost", ifrom=DOMAIN, timeout=5)
            assert r["type"] == "result"
            # the server lists the connected component, not the idle one
            items = await disco_items(alice)
            jids = {i[0] for i in items["disco_items"]["items"]}
            assert DOMAIN in jids and "idle.localhost" not in jids

        await with_clients([alice, comp], body)

    run(go())


def test_component_gone_and_unconfigured(server):
    async def go():
        comp = Echo()
        alice = Client("alice@localhost/phone")

        async def body():
            assert await comp.online(server.cport)
            assert await alice.online(server.xport)
            await comp.stop()
            # the component is gone: its domain answers service-unavailable
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await alice["xep_0199"].send_ping(DOMAIN, timeout=5)
            assert e.value.condition == "service-unavailable"
            alice.send_message(mto="x@" + DOMAIN, mbody="anyone?", mtype="chat")
            m = await next_message(alice)
            assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
            # a domain nobody serves: remote-server-not-found (no s2s)
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await alice["xep_0199"].send_ping("nowhere.example", timeout=5)
            assert e.value.condition == "remote-server-not-found"
            items = await disco_items(alice)
            assert DOMAIN not in {i[0] for i in items["disco_items"]["items"]}

        await with_clients([alice, comp], body)

    run(go())


# ---- raw sockets ----

def open_stream(port, domain):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"<stream:stream xmlns='jabber:component:accept' "
              b"xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % domain.encode())
    return s


def read_until(s, marker):
    data = b""
    while marker not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data


def read_all(s):
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return data


def handshake(s, secret):
    hdr = read_until(s, b"'>")
    sid = re.search(rb"id='([0-9a-f]+)'", hdr).group(1)
    s.sendall(b"<handshake>%s</handshake>" % hashlib.sha1(sid + secret.encode())
              .hexdigest().encode())
    return hdr


def test_wrong_secret_and_unknown_domain(server):
    s = open_stream(server.cport, DOMAIN)
    handshake(s, "wrong")
    out = read_all(s)
    assert b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in out
    assert out.endswith(b"</stream:stream>")

    s = open_stream(server.cport, "unknown.localhost")
    out = read_all(s)
    assert b"<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in out

    # a stanza before the handshake is refused too
    s = open_stream(server.cport, DOMAIN)
    read_until(s, b"'>")
    s.sendall(b"<message from='%s' to='alice@localhost'><body>x</body></message>"
              % DOMAIN.encode())
    assert b"<not-authorized " in read_all(s)


def test_handshake_upper_case_hex_and_forged_from(server):
    s = open_stream(server.cport, DOMAIN)
    hdr = read_until(s, b"'>")
    assert b"xmlns='jabber:component:accept'" in hdr
    sid = re.search(rb"id='([0-9a-f]+)'", hdr).group(1)
    digest = hashlib.sha1(sid + SECRET.encode()).hexdigest().upper().encode()
    s.sendall(b"<handshake>%s</handshake>" % digest)
    assert read_until(s, b"<handshake/>").endswith(b"<handshake/>")
    # the server answers a ping from the component's domain
    s.sendall(b"<iq type='get' id='p1' from='%s' to='localhost'>"
              b"<ping xmlns='urn:xmpp:ping'/></iq>" % DOMAIN.encode())
    assert b"id='p1'" in read_until(s, b"/>")
    # a stanza claiming another domain ends the stream
    s.sendall(b"<message from='bob@idle.localhost' to='alice@localhost'><body>x</body>"
              b"</message>")
    out = read_all(s)
    assert b"<invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in out
    # and the domain is free again for a new connection
    s = open_stream(server.cport, DOMAIN)
    handshake(s, SECRET)
    assert b"<handshake/>" in read_until(s, b"<handshake/>")
    s.close()


def test_second_connection_conflicts(server):
    first = open_stream(server.cport, DOMAIN)
    handshake(first, SECRET)
    assert b"<handshake/>" in read_until(first, b"<handshake/>")
    second = open_stream(server.cport, DOMAIN)
    handshake(second, SECRET)
    assert b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in read_all(second)
    # the first one still works
    first.sendall(b"<iq type='get' id='p2' from='%s' to='localhost'>"
                  b"<ping xmlns='urn:xmpp:ping'/></iq>" % DOMAIN.encode())
    assert b"id='p2'" in read_until(first, b"/>")
    # a stopping server ends the component's stream with system-shutdown
    assert server.stop() == 0
    assert b"<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in read_all(first)


def test_malformed_components_option_refused(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_COMPONENT_PORT": "0",
                               "TANDEM_XMPP_COMPONENTS": "echo.localhost:x bad@user.localhost:y"},
                    start=False)
    r = t.cli("serve")
    assert r.returncode != 0
    assert "xmpp.components: 'bad@user.localhost' is not a domain" in r.stderr
    r = t.cli("config", "check")
    assert r.returncode == 0  # the shape is right; the domain is checked at start
    t.env["TANDEM_XMPP_COMPONENTS"] = "echo.localhost"
    r = t.cli("config", "check")
    assert r.returncode != 0 and "xmpp.components: 'echo.localhost' is not domain:secret" \
        in r.stderr
