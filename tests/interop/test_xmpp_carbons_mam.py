# SPDX-License-Identifier: MIT
"""Message Carbons (XEP-0280), Message Archive Management (XEP-0313) and
stanza ids (XEP-0359) driven by python3-slixmpp's xep_0280 and xep_0313
plugins: carbons between resources of different priorities, with and
without carbons, the <private/> hint, forged carbons refused; archives
filled by live and offline messages, paged forwards and backwards with RSM,
filtered by JID and time range, ids matching the live stanza-ids, the page
size cap, preferences, and the error cases on raw iqs. Absence is checked by
order, never by waiting: a later message proves an earlier one was not
sent."""
import asyncio
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import StanzaPath  # noqa: E402

from test_xmpp import Client, run, with_clients, xmpp_port  # noqa: E402

CARBONS = "urn:xmpp:carbons:2"
FWD = "{urn:xmpp:forward:0}"
SID = "{urn:xmpp:sid:0}stanza-id"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    for u in ("alice", "bob", "carol"):
        t.add_user(u)
    return t


class C(Client):
    """Records every message stanza in order (carbons included)."""

    def __init__(self, jid, carbons=False, **kw):
        super().__init__(jid, mech="PLAIN", **kw)
        for p in ("xep_0280", "xep_0297", "xep_0313", "xep_0059", "xep_0359"):
            self.register_plugin(p)
        self.want_carbons = carbons
        self.all = asyncio.Queue()
        self.register_handler(Callback("all messages", StanzaPath("message"),
                                       lambda m: self.all.put_nowait(m)))

    async def _start_async(self):
        if self.want_carbons:
            await self["xep_0280"].enable(timeout=5)
        Client._started(self, None)

    def _started(self, event):
        asyncio.ensure_future(self._start_async())

    async def next(self, timeout=5):
        """The next message that is not a MAM result."""
        while True:
            m = await asyncio.wait_for(self.all.get(), timeout)
            if m.xml.find("{%s}result" % MAM) is None:
                return m


def inner(m):
    """(kind, forwarded message element) of a carbon, or (None, m.xml)."""
    for kind in ("sent", "received"):
        w = m.xml.find("{%s}%s" % (CARBONS, kind))
        if w is not None:
            return kind, w.find(FWD + "forwarded").find("{jabber:client}message")
    return None, m.xml


def body(el):
    b = el.find("{jabber:client}body")
    return None if b is None else b.text


def sid(el, by):
    for e in el.findall(SID):
        if e.get("by") == by:
            return e.get("id")
    return None


def send(c, to, text, mtype="chat", extra=()):
    m = c.make_message(mto=to, mbody=text, mtype=mtype)
    for x in extra:
        m.append(ET.fromstring(x))
    m.send()


async def online(port, *clients):
    for c in clients:
        assert await c.online(port)


# ---- carbons ----

def test_carbons(server):
    async def go():
        a1 = C("alice@localhost/desk", carbons=True, priority=10)
        a2 = C("alice@localhost/phone", carbons=True, priority=0)
        a3 = C("alice@localhost/tv", priority=0)
        b = C("bob@localhost/laptop")

        async def body_():
            await online(server.xport, a1, a2, a3, b)
            info = await a1["xep_0030"].get_info(jid="localhost", timeout=5)
            assert CARBONS in info["disco_info"]["features"]

            # To the bare JID: only the top-priority desk gets it; the phone a
            # received carbon with alice's stanza-id; the tv nothing.
            send(b, "alice@localhost", "one")
            m = await a1.next()
            assert inner(m)[0] is None and body(m.xml) == "one"
            live_id = sid(m.xml, "alice@localhost")
            assert live_id
            m = await a2.next()
            kind, fw = inner(m)
            assert kind == "received" and body(fw) == "one"
            assert m["from"].full == "alice@localhost" and m["to"].full == a2.boundjid.full
            assert fw.get("from") == "bob@localhost/laptop"
            assert sid(fw, "alice@localhost") == live_id

            # To the phone's full JID: the desk gets the received carbon.
            send(b, "alice@localhost/phone", "two")
            m = await a2.next()
            assert inner(m)[0] is None and body(m.xml) == "two"
            kind, fw = inner(await a1.next())
            assert kind == "received" and body(fw) == "two"

            # Alice sends from the desk: the phone gets a sent carbon.
            send(a1, "bob@localhost", "three")
            assert body((await b.next()).xml) == "three"
            kind, fw = inner(await a2.next())
            assert kind == "sent" and body(fw) == "three"
            assert fw.get("from") == a1.boundjid.full and fw.get("to") == "bob@localhost"

            # <private/> with <no-copy/>: no carbons either way; the next
            # plain message is the next thing the phone sees.
            hints = ("<private xmlns='urn:xmpp:carbons:2'/>", "<no-copy xmlns='urn:xmpp:hints'/>")
            send(a1, "bob@localhost", "secret-out", extra=hints)
            assert body((await b.next()).xml) == "secret-out"
            send(b, "alice@localhost", "secret-in", extra=hints)
            assert body((await a1.next()).xml) == "secret-in"
            send(a1, "bob@localhost", "four")
            assert body((await b.next()).xml) == "four"
            kind, fw = inner(await a2.next())
            assert kind == "sent" and body(fw) == "four"

            # The tv (no carbons) saw none of it: its first message is a direct one.
            send(b, "alice@localhost/tv", "five")
            m = await a3.next()
            assert inner(m)[0] is None and body(m.xml) == "five"
            assert a3.all.empty()
            for other in (a1, a2):  # both carbons-enabled resources get the copy
                kind, fw = inner(await other.next())
                assert kind == "received" and body(fw) == "five"

            # Disabling stops the copies.
            await a2["xep_0280"].disable(timeout=5)
            send(a1, "bob@localhost", "six")
            assert body((await b.next()).xml) == "six"
            send(b, "alice@localhost/phone", "seven")
            m = await a2.next()
            assert inner(m)[0] is None and body(m.xml) == "seven"
            kind, fw = inner(await a1.next())  # the desk still has carbons on
            assert kind == "received" and body(fw) == "seven"

            # Forged carbons from a client are refused (XEP-0280 §11).
            forged = ("<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
                      "<message xmlns='jabber:client' from='alice@localhost/desk' "
                      "to='carol@localhost' type='chat'><body>fake</body></message>"
                      "</forwarded></received>")
            send(b, "alice@localhost", "forged", extra=(forged,))
            err = await b.next()
            assert err["type"] == "error" and err["error"]["condition"] == "not-acceptable"
            send(b, "alice@localhost", "after-forged")
            assert body((await a1.next()).xml) == "after-forged"
        await with_clients([a1, a2, a3, b], body_)

    run(go())


# ---- MAM ----

async def mam_pages(c, reverse=False, **kw):
    """Pages of alice's archive through slixmpp's RSM iterator, max 50."""
    pages = []
    it = c["xep_0313"].retrieve(jid=c.boundjid.bare, iterator=True, reverse=reverse,
                                rsm={"max": 50}, **kw)
    async for page in it:
        pages.append([r for r in page["mam"]["results"]])
    return pages


def result_of(m):
    r = m.xml.find("{%s}result" % MAM)
    fw = r.find(FWD + "forwarded")
    return {"id": r.get("id"), "stamp": fw.find("{urn:xmpp:delay}delay").get("stamp"),
            "msg": fw.find("{jabber:client}message")}


async def raw_query(c, to=None, form=None, rsm=None):
    """A MAM query built by hand; returns (fin element, results)."""
    q = ET.Element("{%s}query" % MAM)
    if form is not None:
        x = ET.SubElement(q, "{jabber:x:data}x", type="submit")
        for var, val in form:
            f = ET.SubElement(x, "{jabber:x:data}field", var=var)
            ET.SubElement(f, "{jabber:x:data}value").text = val
    if rsm is not None:
        s = ET.SubElement(q, "{%s}set" % RSM)
        for k, v in rsm:
            ET.SubElement(s, "{%s}%s" % (RSM, k)).text = v
    iq = c.make_iq_set(ito=to or c.boundjid.bare)
    q.set("queryid", iq["id"])
    iq.append(q)
    r = await iq.send(timeout=10)
    fin = r.xml.find("{%s}fin" % MAM)
    got = []
    while not c.all.empty():
        m = c.all.get_nowait()
        r = m.xml.find("{%s}result" % MAM)
        if r is not None and r.get("queryid") == q.get("queryid"):
            got.append(result_of(m))
    return fin, got


def fin_set(fin):
    s = fin.find("{%s}set" % RSM)
    return {k: (s.find("{%s}%s" % (RSM, k)).text if s.find("{%s}%s" % (RSM, k)) is not None
                else None) for k in ("first", "last", "count")}


def test_mam_paging_filters_ids(server):
    async def go():
        a = C("alice@localhost/desk")
        b = C("bob@localhost/laptop")
        c = C("carol@localhost/x")

        async def body_():
            await online(server.xport, a, b, c)
            info = await a["xep_0030"].get_info(jid="alice@localhost", timeout=5)
            for f in (MAM, "urn:xmpp:sid:0"):
                assert f in info["disco_info"]["features"]
            live = {}  # body -> alice's stanza-id as seen live
            for i in range(120):
                text = "m%03d" % i
                if i % 2 == 0:
                    send(b, "alice@localhost", text)
                    m = await a.next()
                    assert body(m.xml) == text
                    live[text] = sid(m.xml, "alice@localhost")
                    assert live[text]
                else:
                    send(a, "bob@localhost/laptop", text)
                    m = await b.next()
                    assert body(m.xml) == text
                    live[text] = sid(m.xml, "alice@localhost")  # the sender's archive id
                    assert sid(m.xml, "bob@localhost")
            send(c, "alice@localhost", "from-carol")
            assert body((await a.next()).xml) == "from-carol"
            # not archived: a headline and a bodyless chat state
            send(b, "alice@localhost", "news", mtype="headline")
            assert body((await a.next()).xml) == "news"

            # Forward paging with max=50 through the whole archive.
            pages = await mam_pages(a)
            assert [len(p) for p in pages] == [50, 50, 21]
            flat = [r for p in pages for r in p]
            bodies = [r["mam_result"]["forwarded"]["stanza"]["body"] for r in flat]
            assert bodies == ["m%03d" % i for i in range(120)] + ["from-carol"]
            for r in flat[:120]:
                text = r["mam_result"]["forwarded"]["stanza"]["body"]
                assert r["mam_result"]["id"] == live[text], text
            # Backwards from the end (<before/>), each page in chronological order.
            pages = await mam_pages(a, reverse=True)
            assert [len(p) for p in pages] == [50, 50, 21]
            assert pages[0][-1]["mam_result"]["forwarded"]["stanza"]["body"] == "from-carol"
            assert pages[0][0]["mam_result"]["forwarded"]["stanza"]["body"] == "m071"
            assert pages[2][0]["mam_result"]["forwarded"]["stanza"]["body"] == "m000"

            # fin: complete flags and the RSM set.
            fin, got = await raw_query(a, rsm=[("max", "50")])
            assert fin.get("complete") == "false" and len(got) == 50
            st = fin_set(fin)
            assert st["count"] == "121" and st["first"] == got[0]["id"]
            assert st["last"] == got[-1]["id"]
            fin, got2 = await raw_query(a, rsm=[("max", "100"), ("after", st["last"])])
            assert fin.get("complete") == "true" and len(got2) == 71
            fin, got3 = await raw_query(a, rsm=[("max", "10"), ("before", "")])
            assert fin.get("complete") == "false"
            assert [g["id"] for g in got3] == [g["id"] for g in got2[-10:]]
            fin, got4 = await raw_query(a, rsm=[("max", "10"), ("before", got[5]["id"])])
            assert fin.get("complete") == "true"
            assert [g["id"] for g in got4] == [g["id"] for g in got[:5]]

            # with: bob (bare), carol, a full JID, someone never talked to.
            pages = await mam_pages(a, with_jid=slixmpp.JID("carol@localhost"))
            assert [len(p) for p in pages] == [1]
            fin, got = await raw_query(a, form=[("FORM_TYPE", MAM), ("with", "bob@localhost")],
                                       rsm=[("max", "250")])
            assert len(got) == 120 and fin_set(fin)["count"] == "120"
            fin, got = await raw_query(a, form=[("with", "bob@localhost/laptop")],
                                       rsm=[("max", "250")])
            assert len(got) == 120
            fin, got = await raw_query(a, form=[("with", "bob@localhost/other")])
            assert got == [] and fin.get("complete") == "true"
            assert fin_set(fin)["count"] == "0"

            # Time range: the archive's own stamps pick the expected rows.
            fin, every = await raw_query(a, rsm=[("max", "250")])
            lo, hi = every[30]["stamp"], every[40]["stamp"]
            want = [e["id"] for e in every if lo <= e["stamp"] <= hi]
            fin, got = await raw_query(a, form=[("start", lo), ("end", hi)],
                                       rsm=[("max", "250")])
            assert [g["id"] for g in got] == want and len(want) >= 11
            # after-id/before-id from urn:xmpp:mam:2#extended
            fin, got = await raw_query(a, form=[("after-id", every[9]["id"]),
                                                ("before-id", every[15]["id"])])
            assert [g["id"] for g in got] == [e["id"] for e in every[10:15]]
            # A time range in the future matches nothing.
            fin, got = await raw_query(a, form=[("start", "2999-01-01T00:00:00Z")])
            assert got == [] and fin_set(fin)["count"] == "0"
            fin, got = await raw_query(a, form=[("end", "1999-12-31T23:59:59.999+02:00")])
            assert got == [] and fin_set(fin)["count"] == "0"

            # Bob's archive holds his side with his own ids.
            fin, bobs = await raw_query(b, rsm=[("max", "250")])
            assert len(bobs) == 120  # the headline is not archived
            assert {g["id"] for g in bobs}.isdisjoint({e["id"] for e in every})
        await with_clients([a, b, c], body_)

    run(go())


async def iq_error(c, iq):
    with pytest.raises(slixmpp.exceptions.IqError) as e:
        await iq.send(timeout=5)
    return e.value.condition


def test_mam_offline_cap_prefs_errors(server):
    async def go():
        a = C("alice@localhost/desk")
        c = C("carol@localhost/x")

        async def body_():
            await online(server.xport, a, c)
            # 260 messages to bob while he is offline: kept offline and archived on both sides.
            for i in range(260):
                send(a, "bob@localhost", "o%03d" % i)
            # A ping after them: the server handled all before answering.
            await a["xep_0199"].ping("localhost", timeout=10)
            fin, got = await raw_query(a, rsm=[("max", "1000")])  # capped at 250
            assert len(got) == 250 and fin.get("complete") == "false"
            assert fin_set(fin)["count"] == "260"
            fin, got = await raw_query(a, rsm=[("max", "0")])  # just the count
            assert got == [] and fin_set(fin)["count"] == "260"

            b = C("bob@localhost/laptop")
            try:
                assert await b.online(server.xport)
                live = []
                for i in range(260):
                    m = await b.next()
                    assert body(m.xml) == "o%03d" % i
                    assert m.xml.find("{urn:xmpp:delay}delay") is not None
                    live.append(sid(m.xml, "bob@localhost"))
                fin, got = await raw_query(b, rsm=[("max", "250"), ("before", "")])
                assert [g["id"] for g in got] == live[10:]
                assert all(body(g["msg"]) == "o%03d" % (i + 10) for i, g in enumerate(got))
                # the archived form carries neither ids nor the offline delay
                assert got[0]["msg"].find(SID) is None
                assert got[0]["msg"].find("{urn:xmpp:delay}delay") is None
            finally:
                await b.stop()

            # Someone else's archive: forbidden (XEP-0313 §4.1).
            iq = a.make_iq_set(ito="bob@localhost")
            iq.append(ET.fromstring("<query xmlns='urn:xmpp:mam:2'/>"))
            assert await iq_error(a, iq) == "forbidden"
            # Malformed forms: bad-request; an unknown id: item-not-found.
            for form in ([("start", "yesterday")], [("FORM_TYPE", "urn:example")],
                         [("colour", "red")], [("with", "a@b@c")],
                         [("end", "2024-13-01T00:00:00Z")]):
                with pytest.raises(slixmpp.exceptions.IqError) as e:
                    await raw_query(a, form=form)
                assert e.value.condition == "bad-request", form
            for rsm in ([("max", "-1")], [("max", "lots")]):
                with pytest.raises(slixmpp.exceptions.IqError) as e:
                    await raw_query(a, rsm=rsm)
                assert e.value.condition == "bad-request", rsm
            for rsm in ([("after", "12345")], [("before", "nope")]):
                with pytest.raises(slixmpp.exceptions.IqError) as e:
                    await raw_query(a, rsm=rsm)
                assert e.value.condition == "item-not-found", rsm
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await raw_query(a, form=[("after-id", "1")])
            assert e.value.condition == "item-not-found"

            # The form's fields (§4.1.1).
            iq = a.make_iq_get(ito="alice@localhost")
            iq.append(ET.fromstring("<query xmlns='urn:xmpp:mam:2'/>"))
            r = await iq.send(timeout=5)
            fields = {f.get("var") for f in r.xml.iter("{jabber:x:data}field")}
            assert {"FORM_TYPE", "with", "start", "end", "after-id", "before-id"} <= fields

            # Preferences (§7): default always; never stops archiving and the
            # stanza-ids; roster keeps only roster contacts.
            async def prefs(default=None):
                iq = a.make_iq_set() if default else a.make_iq_get()
                p = ET.Element("{%s}prefs" % MAM)
                if default:
                    p.set("default", default)
                iq.append(p)
                r = await iq.send(timeout=5)
                return r.xml.find("{%s}prefs" % MAM).get("default")
            assert await prefs() == "always"
            assert await prefs("never") == "never"
            assert await prefs() == "never"
            send(c, "alice@localhost", "unarchived")
            m = await a.next()
            assert body(m.xml) == "unarchived" and sid(m.xml, "alice@localhost") is None
            fin, got = await raw_query(a, form=[("with", "carol@localhost")])
            assert got == []
            assert await prefs("roster") == "roster"
            await a.get_roster(timeout=5)
            r = a.make_iq_set()
            r.append(ET.fromstring("<query xmlns='jabber:iq:roster'>"
                                   "<item jid='bob@localhost' name='Bob'/></query>"))
            await r.send(timeout=5)
            send(c, "alice@localhost", "stranger")
            m = await a.next()
            assert sid(m.xml, "alice@localhost") is None
            bob2 = C("bob@localhost/two")
            try:
                assert await bob2.online(server.xport)
                send(bob2, "alice@localhost", "contact")
                m = await a.next()
                while body(m.xml) != "contact":  # roster push, presences
                    m = await a.next()
                assert sid(m.xml, "alice@localhost") is not None
            finally:
                await bob2.stop()
            iq = a.make_iq_set()
            iq.append(ET.fromstring("<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>"))
            assert await iq_error(a, iq) == "bad-request"
            assert await prefs("always") == "always"
        await with_clients([a, c], body_)

    run(go())
