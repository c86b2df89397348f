# SPDX-License-Identifier: MIT
"""Personal Eventing (XEP-0163) with avatars (XEP-0084) and nicknames
(XEP-0172), driven by python3-slixmpp's plugins, with entity capabilities
(XEP-0115) for filtered notifications: bob (subscribed to alice, +notify
for avatar metadata and nick through xep_0115) gets her publications,
carol (no subscription) cannot read presence-access nodes but can read the
open-access avatar data; a new resource gets the last items once its caps
are verified. A raw client checks the §5.4 side: caps whose ver does not
match the disco#info answer are not trusted (no notifications), matching
ones are. Raw errors: bad publishes, payload and node limits, options."""
import asyncio
import base64
import hashlib
import os
import re
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from slixmpp.plugins.xep_0004 import Form  # noqa: E402
from test_xmpp import Client, run, with_clients, xmpp_port  # noqa: E402
from test_xmpp_caps import RawSession, verstring  # noqa: E402
from test_xmpp_roster import subscribe, until  # noqa: E402

PUBSUB = "http://jabber.org/protocol/pubsub"
DATA = "urn:xmpp:avatar:data"
META = "urn:xmpp:avatar:metadata"
NICK = "http://jabber.org/protocol/nick"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    for u in ("alice", "bob", "carol"):
        t.add_user(u)
    return t


class PClient(Client):
    def __init__(self, jid):
        super().__init__(jid, mech="PLAIN")
        self.auto_authorize = None
        self.auto_subscribe = False
        for p in ("xep_0060", "xep_0163", "xep_0084", "xep_0172", "xep_0115"):
            self.register_plugin(p)
        self.events = []
        self.add_event_handler("avatar_metadata_publish", lambda m: self.events.append(
            ("meta", m["from"].bare, m["pubsub_event"]["items"]["item"]["id"])))
        self.add_event_handler("user_nick_publish", lambda m: self.events.append(
            ("nick", m["from"].bare, m["pubsub_event"]["items"]["item"]["nick"]["nick"])))
        self.add_event_handler("pubsub_publish", lambda m: self.events.append(
            ("any", m["from"].bare, m["pubsub_event"]["items"]["node"])))


def open_access():
    f = Form()
    f["type"] = "submit"
    f.add_field(var="FORM_TYPE", ftype="hidden", value=PUBSUB + "#publish-options")
    f.add_field(var="pubsub#access_model", value="open")
    return f


async def cond_of(fut):
    with pytest.raises(slixmpp.exceptions.IqError) as e:
        await fut
    return e.value.condition, e.value.iq.xml


def test_avatar_and_nick(server):
    image = os.urandom(2000)
    aid = hashlib.sha1(image).hexdigest()

    async def go():
        a = PClient("alice@localhost/home")
        b = PClient("bob@localhost/desk")
        c = PClient("carol@localhost/pad")

        async def body():
            for x in (a, b, c):
                assert await x.online(server.xport)
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            # the account is a PEP service (XEP-0163 §4)
            info = await b["xep_0030"].get_info(jid="alice@localhost", timeout=5)
            assert ("pubsub", "pep", None, None) in info["disco_info"]["identities"]
            assert PUBSUB + "#publish-options" in info["disco_info"]["features"]
            # wait until the server trusts bob's and alice's caps (it asked them)
            await asyncio.sleep(0.5)
            await a["xep_0084"].publish_avatar(image, options=open_access(), timeout=5)
            await a["xep_0084"].publish_avatar_metadata(
                {"id": aid, "type": "image/png", "bytes": len(image)}, timeout=5)
            await a["xep_0172"].publish_nick("Alice in Wonderland", timeout=5)
            assert await until(lambda: ("meta", "alice@localhost", aid) in b.events)
            assert await until(lambda: ("nick", "alice@localhost", "Alice in Wonderland")
                               in b.events)
            # alice's own resource is notified too; carol (no subscription) is not
            assert await until(lambda: ("nick", "alice@localhost", "Alice in Wonderland")
                               in a.events)
            await asyncio.sleep(0.3)
            assert not [e for e in c.events if e[1] == "alice@localhost"]
            # filtered: nobody asked for avatar data notifications
            assert not [e for e in b.events if e[0] == "any" and e[2] == DATA]
            # bob fetches the data (open), carol too; carol cannot read the metadata
            r = await b["xep_0084"].retrieve_avatar("alice@localhost", aid, timeout=5)
            assert r["pubsub"]["items"]["item"]["avatar_data"]["value"] == image
            r = await c["xep_0084"].retrieve_avatar("alice@localhost", aid, timeout=5)
            assert r["pubsub"]["items"]["item"]["avatar_data"]["value"] == image
            cond, xml = await cond_of(c["xep_0060"].get_items("alice@localhost", META,
                                                              timeout=5))
            assert cond == "not-authorized"
            assert xml.find(".//{%s#errors}presence-subscription-required" % PUBSUB) is not None
            r = await b["xep_0060"].get_items("alice@localhost", META, timeout=5)
            assert r["pubsub"]["items"]["item"]["id"] == aid
            r = await b["xep_0060"].get_items("alice@localhost", NICK, timeout=5)
            assert r.xml.find(".//{%s}nick" % NICK).text == "Alice in Wonderland"
            # max_items 1 (the default): a new nick replaces the old one
            await a["xep_0172"].publish_nick("Alice", timeout=5)
            assert await until(lambda: ("nick", "alice@localhost", "Alice") in b.events)
            r = await a["xep_0060"].get_items("alice@localhost", NICK, timeout=5)
            assert len(r["pubsub"]["items"]) == 1
            # a precondition that does not hold (XEP-0060 §7.1.5)
            cond, xml = await cond_of(a["xep_0172"].publish_nick("x", options=open_access(),
                                                                 timeout=5))
            assert cond == "conflict"
            assert xml.find(".//{%s#errors}precondition-not-met" % PUBSUB) is not None
            # a new resource of bob gets the last items once its caps are known
            b2 = PClient("bob@localhost/tablet")
            try:
                assert await b2.online(server.xport)
                assert await until(lambda: ("nick", "alice@localhost", "Alice") in b2.events)
                assert await until(lambda: ("meta", "alice@localhost", aid) in b2.events)
            finally:
                await b2.stop()
            # owner delete
            await a["xep_0060"].delete_node(None, NICK, timeout=5)
            cond, _ = await cond_of(b["xep_0060"].get_items("alice@localhost", NICK, timeout=5))
            assert cond == "item-not-found"
        await with_clients([a, b, c], body)

    run(go())


CAPS_NODE = "https://raw.example"


def disco_answer(iq_id, node, features):
    feats = "".join("<feature var='%s'/>" % f for f in features)
    return ("<iq type='result' id='%s' to='localhost'><query xmlns='http://jabber.org/"
            "protocol/disco#info' node='%s'><identity category='client' type='pc' name='raw'/>"
            "%s</query></iq>" % (iq_id, node, feats))


def caps_presence(raw, features, ver):
    raw.send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' "
             "ver='%s'/></presence>" % (CAPS_NODE, ver))
    m = raw.until(rb"<iq[^>]*type='get'[^>]*id='([^']+)'[^>]*>.*?</iq>")
    assert b"disco#info" in m.group(0)
    assert ("node='%s#%s'" % (CAPS_NODE, ver)).encode() in m.group(0)
    raw.send(disco_answer(m.group(1).decode(), CAPS_NODE + "#" + ver, features))


def test_caps_verified_before_trusted(server):
    feats = ["http://jabber.org/protocol/disco#info", NICK + "+notify"]
    good = verstring([("client", "pc", "", "raw")], feats)
    a = RawSession(server.xport, "alice", "home")
    b = RawSession(server.xport, "bob", "liar")
    try:
        # bob subscribes to alice, the raw way
        a.send("<presence/>")
        b.iq("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item "
             "jid='alice@localhost'/></query></iq>", "r1")
        b.send("<presence to='alice@localhost' type='subscribe'/>")
        a.until(rb"type='subscribe'")
        a.send("<presence to='bob@localhost' type='subscribed'/>")
        # bob claims a ver that is not the hash of what he answers: not trusted
        caps_presence(b, feats, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        a.iq("<iq type='set' id='p1'><pubsub xmlns='%s'><publish node='%s'><item id='n1'>"
             "<nick xmlns='%s'>one</nick></item></publish></pubsub></iq>" % (PUBSUB, NICK, NICK),
             "p1")
        with pytest.raises(AssertionError):
            b.until(rb"<message[^>]*>.*?</message>", timeout=1)
        # the right ver: trusted, and the last item arrives at once (§4.3.3)
        caps_presence(b, feats, good)
        m = b.until(rb"<message[^>]*>.*?</message>")
        assert b"<nick xmlns='%s'>one</nick>" % NICK.encode() in m.group(0)
        a.iq("<iq type='set' id='p2'><pubsub xmlns='%s'><publish node='%s'><item id='n2'>"
             "<nick xmlns='%s'>two</nick></item></publish></pubsub></iq>" % (PUBSUB, NICK, NICK),
             "p2")
        m = b.until(rb"<message[^>]*>.*?</message>")
        assert b">two</nick>" in m.group(0)
        # a second resource with the same ver is not asked again (cached)
        b2 = RawSession(server.xport, "bob", "second")
        try:
            b2.send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                    "node='%s' ver='%s'/></presence>" % (CAPS_NODE, good))
            m = b2.until(rb"<(?:message|iq type='get')[^>]*>.*?</(?:message|iq)>")
            assert m.group(0).startswith(b"<message") and b">two</nick>" in m.group(0)
        finally:
            b2.close()
    finally:
        a.close()
        b.close()


def test_pubsub_errors(server):
    raw = RawSession(server.xport, "alice")

    def err(inner, iq_id, kind="set", to=""):
        ans = raw.iq("<iq type='%s' id='%s'%s><pubsub xmlns='%s'>%s</pubsub></iq>" %
                     (kind, iq_id, to, PUBSUB, inner), iq_id)
        assert b"type='error'" in ans, ans
        cond = re.search(rb"<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", ans)
        app = re.search(rb"<([a-z-]+) xmlns='http://jabber.org/protocol/pubsub#errors'", ans)
        return cond.group(1).decode(), app.group(1).decode() if app else None

    try:
        pub = "<publish node='urn:x:n'>%s</publish>"
        assert err("<publish/>", "e1") == ("bad-request", "nodeid-required")
        assert err(pub % "", "e2") == ("bad-request", "item-required")
        assert err(pub % "<item id='1'/>", "e3") == ("bad-request", "payload-required")
        assert err(pub % "<item id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></item>", "e4") == \
            ("bad-request", "invalid-payload")
        assert err(pub % "<item id='1'><a xmlns=''/></item>", "e5") == \
            ("bad-request", "invalid-payload")
        big = base64.b64encode(os.urandom(100 * 1024)).decode()
        assert err(pub % ("<item id='1'><data xmlns='%s'>%s</data></item>" % (DATA, big)),
                   "e6") == ("not-acceptable", "payload-too-big")
        opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
                "type='hidden'><value>%s#publish-options</value></field><field var='%%s'>"
                "<value>%%s</value></field></x></publish-options>" % PUBSUB)
        item = pub % "<item id='1'><a xmlns='urn:a'/></item>"
        assert err(item + opts % ("pubsub#max_items", "1000"), "e7") == \
            ("not-acceptable", None)
        assert err(item + opts % ("pubsub#access_model", "authorize"), "e8") == \
            ("not-acceptable", "unsupported-access-model")
        assert err(item + opts % ("pubsub#max_items", "zero"), "e9") == ("bad-request", None)
        # publishing at someone else's JID, reading an unknown node or account
        assert err(item, "e10", to=" to='bob@localhost'") == ("forbidden", None)
        assert err("<items node='nope'/>", "e11", "get") == ("item-not-found", None)
        assert err("<items node='nope'/>", "e12", "get", " to='nobody@localhost'") == \
            ("service-unavailable", None)
        assert err("<subscribe node='x' jid='alice@localhost'/>", "e13")[0] == \
            "feature-not-implemented"
        assert err("<retract node='urn:x:n'><item id='1'/></retract>", "e14") == \
            ("item-not-found", None)
        # max_items 'max' (100) is kept; the newest N come back
        ans = raw.iq("<iq type='set' id='ok1'><pubsub xmlns='%s'>%s%s</pubsub></iq>" %
                     (PUBSUB, item, opts % ("pubsub#max_items", "max")), "ok1")
        assert b"type='result'" in ans and b"<item id='1'/>" in ans
        for i in range(2, 6):
            raw.iq("<iq type='set' id='ok%d'><pubsub xmlns='%s'><publish node='urn:x:n'><item "
                   "id='%d'><a xmlns='urn:a'/></item></publish></pubsub></iq>" % (i, PUBSUB, i),
                   "ok%d" % i)
        ans = raw.iq("<iq type='get' id='g1'><pubsub xmlns='%s'><items node='urn:x:n' "
                     "max_items='2'/></pubsub></iq>" % PUBSUB, "g1")
        assert re.findall(rb"<item id='(\d)'>", ans) == [b"5", b"4"]
        ans = raw.iq("<iq type='set' id='rt'><pubsub xmlns='%s'><retract node='urn:x:n'>"
                     "<item id='5'/></retract></pubsub></iq>" % PUBSUB, "rt")
        assert b"type='result'" in ans
        ans = raw.iq("<iq type='get' id='g2'><pubsub xmlns='%s'><items node='urn:x:n'>"
                     "<item id='5'/><item id='3'/></items></pubsub></iq>" % PUBSUB, "g2")
        assert re.findall(rb"<item id='(\d)'>", ans) == [b"3"]
        # configure: the form, then a change
        ans = raw.iq("<iq type='get' id='c1'><pubsub xmlns='%s#owner'><configure "
                     "node='urn:x:n'/></pubsub></iq>" % PUBSUB, "c1")
        assert b"<value>presence</value></field>" in ans and b"<value>100</value>" in ans
        ans = raw.iq("<iq type='set' id='c2'><pubsub xmlns='%s#owner'><configure node='urn:x:n'>"
                     "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                     "<value>%s#node_config</value></field><field var='pubsub#max_items'>"
                     "<value>1</value></field></x></configure></pubsub></iq>" % (PUBSUB, PUBSUB),
                     "c2")
        assert b"type='result'" in ans
        ans = raw.iq("<iq type='get' id='g3'><pubsub xmlns='%s'><items node='urn:x:n'/>"
                     "</pubsub></iq>" % PUBSUB, "g3")
        assert re.findall(rb"<item id='(\d)'>", ans) == [b"4"]
        # the node limit (64 per account)
        for i in range(63):
            ans = raw.iq("<iq type='set' id='n%d'><pubsub xmlns='%s'><publish node='urn:n:%d'>"
                         "<item id='1'><a xmlns='urn:a'/></item></publish></pubsub></iq>" %
                         (i, PUBSUB, i), "n%d" % i)
            assert b"type='result'" in ans
        assert err("<publish node='urn:n:last'><item id='1'><a xmlns='urn:a'/></item>"
                   "</publish>", "e15") == ("not-allowed", "max-nodes-exceeded")
    finally:
        raw.close()
