# SPDX-License-Identifier: MIT
"""Rosters, presence subscriptions and offline messages (RFC 6121 §2, §3,
§4, §8.5.2; XEP-0160, XEP-0203) driven by python3-slixmpp: two users add
each other, subscribe, approve, see each other's presence come and go,
cancel, remove, and exchange messages while one of them is offline. The
clients answer nothing on their own (auto_authorize None), request their
roster before their initial presence (so they are interested resources,
RFC 6121 §2.1.6) and record presences, messages and roster pushes."""
import asyncio
import time

import pytest

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import Client, next_message, run, with_clients, xmpp_port  # noqa: E402

NS = "{jabber:iq:roster}"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    return t


class RClient(Client):
    def __init__(self, jid, **kw):
        super().__init__(jid, mech="PLAIN", **kw)
        self.auto_authorize = None
        self.auto_subscribe = False
        self.pushes = []
        self.add_event_handler("roster_update", self._pushed)

    def _pushed(self, iq):
        if iq["type"] == "set":
            for item in iq.xml.findall(NS + "query/" + NS + "item"):
                self.pushes.append((item.get("jid"), item.get("subscription"), item.get("ask")))

    async def _started(self, event):
        await self.get_roster(timeout=5)
        super()._started(event)


async def roster_of(c):
    iq = c.make_iq_get(queryxmlns="jabber:iq:roster")
    r = await iq.send(timeout=5)
    q = r.xml.find(NS + "query")
    assert q.get("ver") is None  # no roster versioning
    out = {}
    for item in q.findall(NS + "item"):
        out[item.get("jid")] = {"sub": item.get("subscription"), "ask": item.get("ask"),
                                "name": item.get("name"),
                                "groups": [g.text for g in item.findall(NS + "group")]}
    return out


async def until(fn, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        await asyncio.sleep(0.05)
    return fn()


def got(c, ptype, frm):
    return [p for p in c.presences if p["type"] == ptype and p["from"].bare == frm]


async def subscribe(a, b, a_jid, b_jid):
    """a asks b, b approves; both clients online."""
    a.send_presence(pto=b_jid, ptype="subscribe")
    assert await until(lambda: got(b, "subscribe", a_jid))
    b.send_presence(pto=a_jid, ptype="subscribed")
    assert await until(lambda: got(a, "subscribed", b_jid))


def test_add_subscribe_approve_and_presence(server):
    async def go():
        a = RClient("alice@localhost/home")
        b = RClient("bob@localhost/phone")

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            # roster set → push to the interested resource, then in the roster
            await a.update_roster("bob@localhost", name="Bob", groups=["Friends", "Work"])
            assert await until(lambda: ("bob@localhost", "none", None) in a.pushes)
            r = await roster_of(a)
            assert r["bob@localhost"] == {"sub": "none", "ask": None, "name": "Bob",
                                          "groups": ["Friends", "Work"]}
            # alice asks: bob gets the request from her bare JID, alice's item shows ask
            a.send_presence(pto="bob@localhost", ptype="subscribe")
            assert await until(lambda: got(b, "subscribe", "alice@localhost"))
            assert got(b, "subscribe", "alice@localhost")[0]["from"].full == "alice@localhost"
            assert await until(lambda: ("bob@localhost", "none", "subscribe") in a.pushes)
            # bob's roster does not get alice from a mere request (RFC 6121 §3.1.3)
            assert "alice@localhost" not in await roster_of(b)
            # bob approves: alice 'to', bob 'from'; alice gets bob's presence
            b.send_presence(pto="alice@localhost", ptype="subscribed")
            assert await until(lambda: got(a, "subscribed", "bob@localhost"))
            assert await until(lambda: ("bob@localhost", "to", None) in a.pushes)
            assert await until(lambda: ("alice@localhost", "from", None) in b.pushes)
            assert (await roster_of(a))["bob@localhost"]["sub"] == "to"
            assert (await roster_of(b))["alice@localhost"]["sub"] == "from"
            assert await until(lambda: any(p["from"].full == "bob@localhost/phone" and
                                           p["type"] == "available" for p in a.presences))
            # only one direction so far: bob does not see alice
            assert not any(p["from"].full == "alice@localhost/home" for p in b.presences)
            # mutual: bob asks, alice approves
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            assert (await roster_of(a))["bob@localhost"]["sub"] == "both"
            assert (await roster_of(b))["alice@localhost"]["sub"] == "both"
            assert await until(lambda: any(p["from"].full == "alice@localhost/home" and
                                           p["type"] == "available" for p in b.presences))
            # a presence update reaches the contact
            a.send_presence(pstatus="busy")
            assert await until(lambda: any(p["status"] == "busy" for p in b.presences))
            # bob goes away: alice sees him unavailable
            await b.stop()
            assert await until(lambda: any(p["from"].full == "bob@localhost/phone" and
                                           p["type"] == "unavailable" for p in a.presences))
            # bob comes back: each sees the other's presence again (probe, §4.3)
            b2 = RClient("bob@localhost/tablet")
            try:
                assert await b2.online(server.xport)
                assert await until(lambda: any(p["from"].full == "alice@localhost/home"
                                               for p in b2.presences))
                assert await until(lambda: any(p["from"].full == "bob@localhost/tablet"
                                               for p in a.presences))
            finally:
                await b2.stop()
        await with_clients([a, b], body)

    run(go())


def test_request_to_offline_user_delivered_at_login(server):
    async def go():
        a = RClient("alice@localhost/home")
        b = RClient("bob@localhost/phone")

        async def body():
            assert await a.online(server.xport)
            a.send_presence(pto="bob@localhost", ptype="subscribe")
            assert await until(lambda: ("bob@localhost", "none", "subscribe") in a.pushes)
            # someone who does not exist answers unsubscribed (RFC 6121 §3.1.3)
            a.send_presence(pto="nobody@localhost", ptype="subscribe")
            assert await until(lambda: got(a, "unsubscribed", "nobody@localhost"))
            # another domain: no s2s
            a.send_presence(pto="carol@elsewhere.example", ptype="subscribe")
            assert await until(lambda: any(p["type"] == "error" and
                                           p["error"]["condition"] == "remote-server-not-found"
                                           for p in a.presences))
            # ... but it can sit in the roster
            await a.update_roster("carol@elsewhere.example", name="Carol")
            assert "carol@elsewhere.example" in await roster_of(a)
            # bob logs in later and gets the pending request
            assert await b.online(server.xport)
            assert await until(lambda: got(b, "subscribe", "alice@localhost"))
            b.send_presence(pto="alice@localhost", ptype="subscribed")
            assert await until(lambda: ("bob@localhost", "to", None) in a.pushes)
            # answered: not delivered again at the next login
            await b.stop()
            b2 = RClient("bob@localhost/phone2")
            try:
                assert await b2.online(server.xport)
                await asyncio.sleep(0.5)
                assert not got(b2, "subscribe", "alice@localhost")
                assert (await roster_of(b2))["alice@localhost"]["sub"] == "from"
            finally:
                await b2.stop()
        await with_clients([a, b], body)

    run(go())


def test_unsubscribe_unsubscribed_and_remove(server):
    async def go():
        a = RClient("alice@localhost/home")
        b = RClient("bob@localhost/phone")

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            await subscribe(a, b, "alice@localhost", "bob@localhost")
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            assert (await roster_of(a))["bob@localhost"]["sub"] == "both"
            # alice cancels her subscription to bob: alice 'from', bob 'to'
            a.send_presence(pto="bob@localhost", ptype="unsubscribe")
            assert await until(lambda: got(b, "unsubscribe", "alice@localhost"))
            assert await until(lambda: ("bob@localhost", "from", None) in a.pushes)
            assert await until(lambda: ("alice@localhost", "to", None) in b.pushes)
            # alice gets bob's unavailable (RFC 6121 §3.3.3)
            assert await until(lambda: got(a, "unavailable", "bob@localhost"))
            # alice cancels bob's subscription to her: none on both sides
            a.send_presence(pto="bob@localhost", ptype="unsubscribed")
            assert await until(lambda: got(b, "unsubscribed", "alice@localhost"))
            assert await until(lambda: ("bob@localhost", "none", None) in a.pushes)
            assert await until(lambda: ("alice@localhost", "none", None) in b.pushes)
            assert await until(lambda: got(b, "unavailable", "alice@localhost"))
            # a denied request: bob asks, alice refuses
            b.presences.clear()
            b.send_presence(pto="alice@localhost", ptype="subscribe")
            assert await until(lambda: got(a, "subscribe", "bob@localhost"))
            a.send_presence(pto="bob@localhost", ptype="unsubscribed")
            assert await until(lambda: got(b, "unsubscribed", "alice@localhost"))
            assert (await roster_of(b))["alice@localhost"] == {
                "sub": "none", "ask": None, "name": None, "groups": []}
            # back to both, then alice removes bob: bob gets unsubscribe + unsubscribed
            await subscribe(a, b, "alice@localhost", "bob@localhost")
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            b.presences.clear()
            await a.del_roster_item("bob@localhost")
            assert await until(lambda: ("bob@localhost", "remove", None) in a.pushes)
            assert await until(lambda: got(b, "unsubscribe", "alice@localhost") and
                               got(b, "unsubscribed", "alice@localhost"))
            assert "bob@localhost" not in await roster_of(a)
            assert (await roster_of(b))["alice@localhost"]["sub"] == "none"
            # removing it again: item-not-found
            iq = a.make_iq_set()
            iq.append(__import__("xml.etree.ElementTree", fromlist=["x"]).fromstring(
                "<query xmlns='jabber:iq:roster'>"
                "<item jid='bob@localhost' subscription='remove'/></query>"))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            assert e.value.condition == "item-not-found"
        await with_clients([a, b], body)

    run(go())


def test_roster_set_errors(server):
    import xml.etree.ElementTree as ET

    async def go():
        a = RClient("alice@localhost/home")

        async def set_err(xml):
            iq = a.make_iq_set()
            iq.append(ET.fromstring(xml))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            return e.value.condition

        async def body():
            assert await a.online(server.xport)
            q = "<query xmlns='jabber:iq:roster'>%s</query>"
            assert await set_err(q % "") == "bad-request"
            assert await set_err(q % ("<item jid='a@localhost'/>" * 2)) == "bad-request"
            assert await set_err(q % "<item jid='a@localhost'><group>g</group>"
                                     "<group>g</group></item>") == "bad-request"
            assert await set_err(q % "<item jid='a@localhost'><group/></item>") == \
                "not-acceptable"
            assert await set_err(q % ("<item jid='a@localhost' name='%s'/>" % ("n" * 300))) \
                == "not-acceptable"
            assert await set_err(q % "<item jid='a@@localhost'/>") == "jid-malformed"
            assert await roster_of(a) == {}
        await with_clients([a], body)

    run(go())


def test_offline_messages(server):
    async def go():
        a = Client("alice@localhost/home", mech="PLAIN")

        async def body():
            assert await a.online(server.xport)
            a.send_message(mto="bob@localhost", mbody="while you were out", mtype="chat")
            a.send_message(mto="bob@localhost/gone", mbody="to a gone resource", mtype="chat")
            a.send_message(mto="bob@localhost", mbody="headline", mtype="headline")
            # the unknown user still gets an error
            a.send_message(mto="nobody@localhost", mbody="anyone?", mtype="chat")
            m = await next_message(a)
            assert m["type"] == "error"
            assert m["error"]["condition"] == "service-unavailable"
            await asyncio.sleep(0.3)
            b = Client("bob@localhost/phone", mech="PLAIN")
            try:
                assert await b.online(server.xport)
                m1 = await next_message(b)
                m2 = await next_message(b)
                assert [m1["body"], m2["body"]] == ["while you were out", "to a gone resource"]
                assert m1["from"].full == "alice@localhost/home"
                d = m1.xml.find("{urn:xmpp:delay}delay")
                assert d is not None and d.get("from") == "localhost"
                assert d.get("stamp").endswith("Z") and d.get("stamp")[:2] == "20"
                await asyncio.sleep(0.3)
                assert b.messages.empty()  # the headline was not kept
            finally:
                await b.stop()
            # not delivered twice
            b2 = Client("bob@localhost/phone", mech="PLAIN")
            try:
                assert await b2.online(server.xport)
                await asyncio.sleep(0.5)
                assert b2.messages.empty()
                # online now: messages go straight through, without delay
                a.send_message(mto="bob@localhost", mbody="live", mtype="chat")
                m = await next_message(b2)
                assert m["body"] == "live"
                assert m.xml.find("{urn:xmpp:delay}delay") is None
            finally:
                await b2.stop()
        await with_clients([a], body)

    run(go())
    assert "event=xmpp.offline_stored" in server.log()
    assert "event=xmpp.offline_delivered" in server.log()
