# SPDX-License-Identifier: MIT
"""Blocking Command (XEP-0191) with python3-slixmpp's xep_0191: alice and
bob are mutual contacts; alice blocks bob: bob sees her go unavailable and
she him (§3.3), his messages do not reach her (he gets service-unavailable,
as if she did not exist) and hers to him come back with <blocked/>; the
list is pushed to her other resource that fetched it; unblocking restores
presence and messages (§3.4); unblock-all empties the list (§3.5). Errors:
no items, malformed JIDs, and a block past the server's limit."""
import asyncio
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import next_message, run, with_clients, xmpp_port  # noqa: E402
from test_xmpp_roster import RClient, got, subscribe, until  # noqa: E402

NS = "urn:xmpp:blocking"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    return t


class BClient(RClient):
    def __init__(self, jid, **kw):
        super().__init__(jid, **kw)
        self.register_plugin("xep_0191")
        self.block_pushes = []
        self.add_event_handler("blocked", lambda iq: self.block_pushes.append(
            ("block", sorted(str(j) for j in iq["block"]["items"]))))
        self.add_event_handler("unblocked", lambda iq: self.block_pushes.append(
            ("unblock", sorted(str(j) for j in iq["unblock"]["items"]))))


async def blocked_of(c):
    r = await c["xep_0191"].get_blocked(timeout=5)
    return sorted(str(j) for j in r["blocklist"]["items"])


def test_block_and_unblock(server):
    async def go():
        a = BClient("alice@localhost/home")
        a2 = BClient("alice@localhost/phone")
        b = BClient("bob@localhost/desk")

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            await subscribe(a, b, "alice@localhost", "bob@localhost")
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            assert await until(lambda: any(p["from"].full == "bob@localhost/desk" and
                                           p["type"] == "available" for p in a.presences))
            assert await a2.online(server.xport)
            assert await blocked_of(a) == []
            assert await blocked_of(a2) == []
            a.presences.clear()
            b.presences.clear()
            await a["xep_0191"].block(["bob@localhost", "spam.example"], timeout=5)
            # §3.3: bob sees both of alice's resources go, alice sees bob go
            assert await until(lambda: {p["from"].full for p in got(b, "unavailable",
                                                                    "alice@localhost")} ==
                               {"alice@localhost/home", "alice@localhost/phone"})
            assert await until(lambda: got(a, "unavailable", "bob@localhost"))
            # pushed to both resources that fetched the list
            want = ("block", ["bob@localhost", "spam.example"])
            assert await until(lambda: want in a.block_pushes and want in a2.block_pushes)
            assert await blocked_of(a2) == ["bob@localhost", "spam.example"]
            # bob writes: refused as if alice did not exist, nothing delivered
            b.send_message(mto="alice@localhost", mbody="hello?", mtype="chat")
            m = await next_message(b)
            assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
            # alice writes: <blocked/> (§3.3)
            a.send_message(mto="bob@localhost", mbody="hi", mtype="chat")
            m = await next_message(a)
            assert m["type"] == "error" and m["error"]["condition"] == "not-acceptable"
            assert m.xml.find(".//{urn:xmpp:blocking:errors}blocked") is not None
            await asyncio.sleep(0.3)
            assert a.messages.empty() and a2.messages.empty() and b.messages.empty()
            # bob's presence update does not reach alice
            a.presences.clear()
            b.send_presence(pstatus="still here")
            await asyncio.sleep(0.3)
            assert not got(a, "available", "bob@localhost")
            # unblock bob: presence comes back both ways, messages flow
            b.presences.clear()
            await a["xep_0191"].unblock(["bob@localhost"], timeout=5)
            assert await until(lambda: any(p["from"].full == "alice@localhost/home"
                                           for p in got(b, "available", "alice@localhost")))
            assert await until(lambda: any(p["status"] == "still here"
                                           for p in got(a, "available", "bob@localhost")))
            assert await until(lambda: ("unblock", ["bob@localhost"]) in a2.block_pushes)
            b.send_message(mto="alice@localhost/home", mbody="back", mtype="chat")
            m = await next_message(a)
            assert m["body"] == "back"
            assert await blocked_of(a) == ["spam.example"]
            # §3.5: unblock everything (an empty <unblock/>)
            iq = a.make_iq_set()
            iq.append(ET.fromstring("<unblock xmlns='%s'/>" % NS))
            await iq.send(timeout=5)
            assert await until(lambda: ("unblock", []) in a2.block_pushes)
            assert await blocked_of(a) == []
        await with_clients([a, a2, b], body)

    run(go())


def test_blocking_errors(server):
    async def go():
        a = BClient("alice@localhost/home")

        async def err(xml, kind="set"):
            iq = a.make_iq_set() if kind == "set" else a.make_iq_get()
            iq.append(ET.fromstring(xml))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            return e.value.condition

        async def body():
            assert await a.online(server.xport)
            assert await err("<block xmlns='%s'/>" % NS) == "bad-request"
            assert await err("<block xmlns='%s'><item jid='a@@b'/></block>" % NS) == \
                "jid-malformed"
            assert await err("<block xmlns='%s'><item/></block>" % NS) == "bad-request"
            assert await err("<block xmlns='%s'/>" % NS, "get") == "bad-request"
            assert await err("<blocklist xmlns='%s'/>" % NS) == "bad-request"
            # the limit (1000): a block past it is refused whole
            items = "".join("<item jid='u%d@spam.example'/>" % i for i in range(600))
            await a["xep_0191"].block(["u%d@spam.example" % i for i in range(600)], timeout=10)
            items = "".join("<item jid='v%d@spam.example'/>" % i for i in range(401))
            assert await err("<block xmlns='%s'>%s</block>" % (NS, items)) == "not-allowed"
            assert len(await blocked_of(a)) == 600
            await a["xep_0191"].block(["v%d@spam.example" % i for i in range(400)], timeout=10)
            assert len(await blocked_of(a)) == 1000
            # someone else's list is not ours to read
            iq = a.make_iq_get(ito="bob@localhost")
            iq.append(ET.fromstring("<blocklist xmlns='%s'/>" % NS))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=5)
            assert e.value.condition == "service-unavailable"
        await with_clients([a], body)

    run(go())
