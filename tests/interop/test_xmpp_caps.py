# SPDX-License-Identifier: MIT
"""Software Version (XEP-0092) and the server's Entity Capabilities
(XEP-0115) with python3-slixmpp: the version answer, the <c/> in the
stream features, its ver checked by slixmpp's own caps plugin (which asks
the server's disco#info at node#ver and verifies the hash, §5.4) and
recomputed here from the plain disco#info. Also the raw-socket login
helper the other XMPP extension tests use."""
import asyncio
import base64
import hashlib
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import (PASSWORD, Client, read_until, run, starttls,  # noqa: E402
                       with_clients, xmpp_port)


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    return t


class RawSession:
    """A logged-in, bound client stream on a raw TLS socket (PLAIN)."""

    def __init__(self, port, user, resource="raw"):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = starttls(s)
        cred = base64.b64encode(b"\0" + user.encode() + b"\0" + PASSWORD.encode())
        self.s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                       cred + b"</auth>")
        assert b"<success" in read_until(self.s, b"/>")
        self.s.sendall(b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
                       b"xmlns:stream='http://etherx.jabber.org/streams'>")
        self.features = read_until(self.s, b"</stream:features>")
        self.s.sendall(b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                       b"<resource>" + resource.encode() + b"</resource></bind></iq>")
        assert b"</jid>" in read_until(self.s, b"</iq>")
        self.buf = b""

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def until(self, pattern, timeout=5):
        """Read until the regex pattern (bytes) matches what arrived; return the match."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no %r in %r" % (pattern, self.buf[-2000:]))
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ssl.SSLError):
                continue
            if not d:
                raise AssertionError("closed; got %r" % self.buf[-2000:])
            self.buf += d

    def iq(self, xml, iq_id, timeout=5):
        """Send an iq and return the whole answer (bytes) with that id."""
        self.send(xml)
        return self.until(rb"<iq[^>]*id='" + re.escape(iq_id.encode()) +
                          rb"'[^>]*(?:/>|>.*?</iq>)", timeout).group(0)

    def close(self):
        try:
            self.s.sendall(b"</stream:stream>")
        except OSError:
            pass
        self.s.close()


def test_version(server):
    async def go():
        c = Client("alice@localhost/v", mech="PLAIN")
        c.register_plugin("xep_0092")

        async def body():
            assert await c.online(server.xport)
            r = await c["xep_0092"].get_version("localhost", timeout=5)
            sv = r["software_version"]
            assert sv["name"] == "Tandem"
            assert re.match(r"^\d+\.\d+\.\d+", sv["version"])
            assert not sv["os"]
            info = await c["xep_0030"].get_info(jid="localhost", timeout=5)
            assert "jabber:iq:version" in info["disco_info"]["features"]
            # a set is refused
            iq = c.make_iq_set(ito="localhost")
            iq.append(ET.fromstring("<query xmlns='jabber:iq:version'/>"))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            assert e.value.condition == "not-allowed"
        await with_clients([c], body)

    run(go())


def verstring(identities, features):
    s = "".join("%s/%s/%s/%s<" % i for i in sorted(identities))
    s += "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def test_server_caps_in_features_and_verified(server):
    raw = RawSession(server.xport, "alice")
    m = re.search(rb"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                  rb"node='([^']+)' ver='([^']+)'/>", raw.features)
    assert m, raw.features
    node, ver = m.group(1).decode(), m.group(2).decode()
    raw.close()

    async def go():
        c = Client("bob@localhost/caps", mech="PLAIN")
        c.register_plugin("xep_0115")

        async def body():
            assert await c.online(server.xport)
            info = await c["xep_0030"].get_info(jid="localhost", timeout=5)
            di = info["disco_info"]
            ids = [(cat, typ, lang or "", name or "") for cat, typ, lang, name in
                   di.get_identities(dedupe=False)]
            feats = di.get_features(dedupe=False)
            assert len(feats) == len(set(feats))
            assert "http://jabber.org/protocol/caps" in feats
            assert verstring(ids, feats) == ver
            # §6.2: the same answer at node#ver
            at = await c["xep_0030"].get_info(jid="localhost", node=node + "#" + ver, timeout=5)
            assert at["disco_info"]["node"] == node + "#" + ver
            assert sorted(at["disco_info"].get_features()) == sorted(feats)
            # slixmpp's own caps plugin fetched and verified it from the features
            deadline = time.time() + 5
            while time.time() < deadline:
                if await c["xep_0115"].get_verstring("localhost") == ver:
                    break
                await asyncio.sleep(0.05)
            assert await c["xep_0115"].get_verstring("localhost") == ver
            # another node is unknown
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await c["xep_0030"].get_info(jid="localhost", node=node + "#nope", timeout=5)
            assert e.value.condition == "item-not-found"
        await with_clients([c], body)

    run(go())
