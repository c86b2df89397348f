# SPDX-License-Identifier: MIT
"""vcard-temp (XEP-0054) and vCard avatars (XEP-0153) with python3-slixmpp:
alice publishes a vCard with a photo through xep_0054 and reads it back,
bob reads it at her bare JID, and alice's next presence carries the photo's
SHA-1 added by the server (her client does not do XEP-0153), which bob's
xep_0153 plugin reports. Errors: a vCard over the server's size limit, a
BINVAL that is not base64, a set for someone else, an unknown account."""
import base64
import hashlib
import os
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from test_xmpp import Client, run, with_clients, xmpp_port  # noqa: E402
from test_xmpp_roster import subscribe, until  # noqa: E402

UPD = "{vcard-temp:x:update}"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    return t


class VClient(Client):
    def __init__(self, jid, avatars=False):
        super().__init__(jid, mech="PLAIN")
        self.auto_authorize = None
        self.auto_subscribe = False
        self.register_plugin("xep_0054")
        self.avatar_updates = []
        if avatars:
            self.register_plugin("xep_0153")
            self.add_event_handler("vcard_avatar_update",
                                   lambda p: self.avatar_updates.append(
                                       (p["from"].bare, p["vcard_temp_update"]["photo"])))


def photo_of(p):
    el = p.xml.find(UPD + "x/" + UPD + "photo")
    return None if el is None else (el.text or "")


def test_vcard_and_photo_hash(server):
    image = os.urandom(3000)
    sha = hashlib.sha1(image).hexdigest()

    async def go():
        a = VClient("alice@localhost/home")
        b = VClient("bob@localhost/desk", avatars=True)

        async def body():
            assert await a.online(server.xport)
            assert await b.online(server.xport)
            await subscribe(b, a, "bob@localhost", "alice@localhost")
            # nobody stored a vCard yet: an empty one, and no <x/> added to presence
            r = await a["xep_0054"].get_vcard("alice@localhost", timeout=5)
            assert r["vcard_temp"]["FN"] == ""
            a.send_presence(pstatus="no card")
            assert await until(lambda: any(p["status"] == "no card" for p in b.presences))
            assert photo_of([p for p in b.presences if p["status"] == "no card"][0]) is None
            vc = a["xep_0054"].make_vcard()
            vc["FN"] = "Alice Liddell"
            vc["NICKNAME"] = "alice"
            vc["PHOTO"]["TYPE"] = "image/png"
            vc["PHOTO"]["BINVAL"] = image
            await a["xep_0054"].publish_vcard(vc, timeout=5)
            mine = await a["xep_0054"].get_vcard("alice@localhost", timeout=5)
            assert mine["vcard_temp"]["FN"] == "Alice Liddell"
            assert mine["vcard_temp"]["PHOTO"]["BINVAL"] == image
            theirs = await b["xep_0054"].get_vcard("alice@localhost", timeout=5)
            assert theirs["from"] == "alice@localhost"
            assert theirs["vcard_temp"]["NICKNAME"] == ["alice"]
            assert theirs["vcard_temp"]["PHOTO"]["BINVAL"] == image
            # XEP-0153: the server adds the hash to alice's next presence
            a.send_presence(pstatus="with card")
            assert await until(lambda: any(p["status"] == "with card" for p in b.presences))
            p = [p for p in b.presences if p["status"] == "with card"][0]
            assert photo_of(p) == sha
            assert await until(lambda: ("alice@localhost", sha) in b.avatar_updates)
            # a vCard without a photo: an empty <photo/> (the avatar is gone)
            vc2 = a["xep_0054"].make_vcard()
            vc2["FN"] = "Alice"
            await a["xep_0054"].publish_vcard(vc2, timeout=5)
            a.send_presence(pstatus="no photo")
            assert await until(lambda: any(p["status"] == "no photo" for p in b.presences))
            assert photo_of([p for p in b.presences if p["status"] == "no photo"][0]) == ""
            # a client's own <x/> is left alone
            pres = a.make_presence(pstatus="own x")
            pres.append(ET.fromstring("<x xmlns='vcard-temp:x:update'><photo>abc</photo></x>"))
            pres.send()
            assert await until(lambda: any(p["status"] == "own x" for p in b.presences))
            assert photo_of([p for p in b.presences if p["status"] == "own x"][0]) == "abc"
        await with_clients([a, b], body)

    run(go())


def test_vcard_errors(server):
    async def go():
        a = VClient("alice@localhost/home")

        async def err(xml, to=None, kind="set"):
            iq = a.make_iq_set(ito=to) if kind == "set" else a.make_iq_get(ito=to)
            iq.append(ET.fromstring(xml))
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await iq.send(timeout=10)
            return e.value.condition

        async def body():
            assert await a.online(server.xport)
            big = base64.b64encode(os.urandom(150 * 1024)).decode()
            assert await err("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>%s</BINVAL></PHOTO>"
                             "</vCard>" % big) == "not-acceptable"
            assert await err("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>!!notbase64!!</BINVAL>"
                             "</PHOTO></vCard>") == "bad-request"
            assert await err("<vCard xmlns='vcard-temp'><FN>x</FN></vCard>",
                             to="bob@localhost") == "forbidden"
            assert await err("<vCard xmlns='vcard-temp'/>", to="nobody@localhost",
                             kind="get") == "service-unavailable"
            assert await err("<vCard xmlns='vcard-temp'/>", to="localhost",
                             kind="get") == "service-unavailable"
            # nothing was stored by the refused sets; folded base64 is fine
            r = await a["xep_0054"].get_vcard("alice@localhost", timeout=5)
            assert r["vcard_temp"]["FN"] == ""
            folded = base64.encodebytes(b"\x89PNG" * 100).decode()
            iq = a.make_iq_set()
            iq.append(ET.fromstring("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>%s</BINVAL>"
                                    "</PHOTO></vCard>" % folded))
            await iq.send(timeout=5)
        await with_clients([a], body)

    run(go())
