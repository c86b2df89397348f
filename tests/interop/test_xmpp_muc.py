# SPDX-License-Identifier: MIT
"""Multi-User Chat (XEP-0045) on conference.localhost and Direct MUC
Invitations (XEP-0249), driven by python3-slixmpp's xep_0045 and xep_0249
plugins for three users: discovery of the service and of rooms, an instant
room (§10.1.2), joining and seeing each other, groupchat messages, history
for a late joiner (§7.2.15), the subject (§8.1), nick change (§7.6),
private messages (§7.5), kick and ban with their status codes (§8.2,
§9.1), members-only refusal (§7.2.6), nick conflict (§7.2.9), mediated
(§7.8.2) and direct invitations, leaving by disconnecting, destruction
(§10.9); then the error cases over a raw socket."""
import asyncio
import re
import socket
import time

import pytest

slixmpp = pytest.importorskip("slixmpp")

from slixmpp.exceptions import IqError, PresenceError  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import StanzaPath  # noqa: E402

from test_xmpp import Client, run, starttls, read_until, with_clients, xmpp_port  # noqa: E402

SERVICE = "conference.localhost"
ROOM = "lounge@" + SERVICE
MUC_USER = "{http://jabber.org/protocol/muc#user}"


@pytest.fixture
def server(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    for u in ("alice", "bob", "carol"):
        t.add_user(u)
    return t


class MClient(Client):
    def __init__(self, jid):
        super().__init__(jid, mech="PLAIN")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0045")
        self.register_plugin("xep_0249")
        self.gc = []
        self.chats = []
        self.invites = []
        self.subjects = []
        self.mucp = []
        self.errors = []
        self.add_event_handler("groupchat_message_error", lambda m: self.errors.append(m))
        self.add_event_handler("message_error", lambda m: self.errors.append(m))
        self.minv = []
        # the plugin hides invitations to rooms the client is in; see them all
        self.register_handler(Callback("mediated invite", StanzaPath("message/muc/invite"),
                                       lambda m: self.minv.append(m)))
        self.add_event_handler("groupchat_presence", lambda p: self.mucp.append(p))
        self.add_event_handler("groupchat_subject", lambda m: self.subjects.append(m))
        self.add_event_handler("groupchat_message", lambda m: self.gc.append(m))
        self.add_event_handler("message", self._msg)
        self.add_event_handler("groupchat_direct_invite", lambda m: self.invites.append(m))

    def _msg(self, m):
        if m["type"] != "groupchat":
            self.chats.append(m)


async def until(fn, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        await asyncio.sleep(0.05)
    return fn()


def roominfo(info):
    x = "{jabber:x:data}"
    form = info.xml.find("{http://jabber.org/protocol/disco#info}query/" + x + "x")
    return {f.get("var"): f.findtext(x + "value") for f in form.findall(x + "field")}


def others(occupants, me):
    """slixmpp counts the self-presence among the occupants."""
    return [p for p in occupants if p["from"].resource != me]


def codes(p):
    return set(p["muc"]["status_codes"])


def muc_presences(c, nick, ptype=None):
    return [p for p in c.mucp if p["from"].bare == ROOM and p["from"].resource == nick and
            (ptype is None or p["type"] == ptype)]


def bodies(msgs, nick=None):
    return [m["body"] for m in msgs if m["body"] and (nick is None or m["from"].resource == nick)]


async def disco_items(c, jid):
    r = await c["xep_0030"].get_items(jid=jid, timeout=5)
    return [i[0] for i in r["disco_items"]["items"]]


def test_muc_three_users(server):
    async def go():
        a = MClient("alice@localhost/desk")
        b = MClient("bob@localhost/phone")
        c = MClient("carol@localhost/laptop")

        async def body():
            for x in (a, b, c):
                assert await x.online(server.xport)
            muc = a["xep_0045"]

            # discovery of the service
            assert SERVICE in await disco_items(a, "localhost")
            info = await a["xep_0030"].get_info(jid=SERVICE, timeout=5)
            assert ("conference", "text", "Chatrooms", None) in \
                info["disco_info"]["identities"] or any(
                    i[0] == "conference" and i[1] == "text"
                    for i in info["disco_info"]["identities"])
            assert "http://jabber.org/protocol/muc" in info["disco_info"]["features"]

            # alice creates the room: locked, owner, status 201; then instant
            pres, subject, occupants, history = await muc.join_muc_wait(ROOM, "Alice",
                                                                        maxstanzas=0)
            assert {110, 201} <= codes(pres)
            assert pres["muc"]["affiliation"] == "owner"
            assert pres["muc"]["role"] == "moderator"
            assert subject["subject"] == ""
            assert others(occupants, "Alice") == [] and history == []
            # locked: bob is refused until it is configured (§10.1.1)
            with pytest.raises(PresenceError) as e:
                await b["xep_0045"].join_muc_wait(ROOM, "Bob", timeout=5)
            assert e.value.condition == "item-not-found"
            await muc.set_room_config(ROOM, a["xep_0004"].make_form(ftype="submit"))
            assert ROOM in await disco_items(a, SERVICE)
            info = await b["xep_0030"].get_info(jid=ROOM, timeout=5)
            feats = info["disco_info"]["features"]
            for f in ("http://jabber.org/protocol/muc", "muc_public", "muc_temporary",
                      "muc_open", "muc_unmoderated", "muc_semianonymous", "muc_unsecured"):
                assert f in feats
            assert roominfo(info)["muc#roominfo_occupants"] == "1"

            # messages and a subject before bob comes
            for t in ("one", "two"):
                a.send_message(mto=ROOM, mbody=t, mtype="groupchat")
            muc.set_subject(ROOM, "Plans")
            assert await until(lambda: bodies(a.gc, "Alice") == ["one", "two"])
            assert await until(lambda: any(m["subject"] == "Plans" for m in a.subjects))

            # bob joins: sees alice, the history with delay, the subject
            pres, subject, occupants, history = await b["xep_0045"].join_muc_wait(
                ROOM, "Bob", maxstanzas=20)
            assert 110 in codes(pres) and 201 not in codes(pres)
            assert pres["muc"]["role"] == "participant"
            assert [p["from"].resource for p in others(occupants, "Bob")] == ["Alice"]
            assert others(occupants, "Bob")[0]["muc"]["jid"].full == ""  # semi-anonymous
            assert [m["body"] for m in history] == ["one", "two"]
            assert all(m["delay"]["from"] == ROOM for m in history)
            assert subject["subject"] == "Plans"
            assert await until(lambda: muc_presences(a, "Bob", "available"))
            # the moderator sees bob's real JID
            assert muc_presences(a, "Bob")[-1]["muc"]["jid"].full == "bob@localhost/phone"

            # groupchat to everybody, from room/nick
            b.send_message(mto=ROOM, mbody="hello", mtype="groupchat")
            assert await until(lambda: "hello" in bodies(a.gc, "Bob"))
            assert await until(lambda: "hello" in bodies(b.gc, "Bob"))

            # a nick taken is a conflict; carol gets one line of history
            with pytest.raises(PresenceError) as e:
                await c["xep_0045"].join_muc_wait(ROOM, "Bob", timeout=5)
            assert e.value.condition == "conflict"
            pres, subject, occupants, history = await c["xep_0045"].join_muc_wait(
                ROOM, "Carol", maxstanzas=1)
            assert sorted(p["from"].resource for p in others(occupants, "Carol")) == \
                ["Alice", "Bob"]
            assert [m["body"] for m in history] == ["hello"]
            assert a["xep_0045"].get_roster(ROOM) is not None
            assert await until(lambda: set(a["xep_0045"].get_roster(ROOM)) ==
                               {"Alice", "Bob", "Carol"})

            # nick change: unavailable with 303 and the new nick, then available
            c.send_presence(pto=ROOM + "/Caroline")
            assert await until(lambda: muc_presences(a, "Caroline", "available"))
            gone = muc_presences(a, "Carol", "unavailable")[-1]
            assert 303 in codes(gone)
            assert gone.xml.find(MUC_USER + "x/" + MUC_USER + "item").get("nick") == "Caroline"
            assert await until(lambda: any(110 in codes(p) and 303 in codes(p)
                                           for p in muc_presences(c, "Carol", "unavailable")))

            # private message through the room
            b.send_message(mto=ROOM + "/Alice", mbody="psst", mtype="chat")
            assert await until(lambda: any(m["body"] == "psst" for m in a.chats))
            pm = [m for m in a.chats if m["body"] == "psst"][0]
            assert pm["from"].full == ROOM + "/Bob"

            # mediated invitation (§7.8.2) and a direct one (XEP-0249)
            muc.invite(ROOM, "carol@localhost", reason="join us")
            assert await until(lambda: c.minv)
            inv = c.minv[0]
            assert inv["from"].full == ROOM
            assert inv.xml.find(MUC_USER + "x/" + MUC_USER + "invite").get("from") == \
                "alice@localhost/desk"
            a["xep_0249"].send_invitation("bob@localhost", ROOM, reason="come")
            assert await until(lambda: b.invites)
            assert b.invites[0]["groupchat_invite"]["jid"] == ROOM
            assert b.invites[0]["from"].full == "alice@localhost/desk"

            # kick (307) by the moderator, with the reason
            await muc.set_role(ROOM, "Caroline", "none", reason="quiet please")
            assert await until(lambda: muc_presences(c, "Caroline", "unavailable"))
            k = muc_presences(c, "Caroline", "unavailable")[-1]
            assert {307, 110} <= codes(k)
            assert k.xml.find(MUC_USER + "x/" + MUC_USER + "item/" + MUC_USER +
                              "reason").text == "quiet please"
            assert await until(lambda: any(307 in codes(p) for p in
                                           muc_presences(b, "Caroline", "unavailable")))
            # the kicked one is out: groupchat refused (406)
            c.send_message(mto=ROOM, mbody="still here?", mtype="groupchat")
            assert await until(lambda: c.errors)
            assert c.errors[0]["error"]["condition"] == "not-acceptable"
            # a participant cannot kick
            with pytest.raises(IqError) as ie:
                await b["xep_0045"].set_role(ROOM, "Alice", "none")
            assert ie.value.condition in ("forbidden", "not-allowed")

            # ban (301): bob is out and cannot come back
            await muc.set_affiliation(ROOM, "outcast", jid="bob@localhost", reason="spam")
            assert await until(lambda: any(301 in codes(p) for p in
                                           muc_presences(b, "Bob", "unavailable")))
            assert "bob@localhost" in [str(j) for j in
                                       await muc.get_affiliation_list(ROOM, "outcast")]
            with pytest.raises(PresenceError) as e:
                await b["xep_0045"].join_muc_wait(ROOM, "Bob", timeout=5)
            assert e.value.condition == "forbidden"

            # members-only: carol refused until made a member
            form = await muc.get_room_config(ROOM)
            fields = form.get_fields()
            assert "muc#roomconfig_membersonly" in fields
            submit = a["xep_0004"].make_form(ftype="submit")
            submit.add_field(var="FORM_TYPE", ftype="hidden",
                             value="http://jabber.org/protocol/muc#roomconfig")
            submit.add_field(var="muc#roomconfig_membersonly", ftype="boolean", value=True)
            submit.add_field(var="muc#roomconfig_roomname", value="The Lounge")
            await muc.set_room_config(ROOM, submit)
            with pytest.raises(PresenceError) as e:
                await c["xep_0045"].join_muc_wait(ROOM, "Carol", timeout=5)
            assert e.value.condition == "registration-required"
            await muc.set_affiliation(ROOM, "member", jid="carol@localhost")
            pres, _, _, _ = await c["xep_0045"].join_muc_wait(ROOM, "Carol", maxstanzas=0)
            assert pres["muc"]["affiliation"] == "member"
            info = await a["xep_0030"].get_info(jid=ROOM, timeout=5)
            assert "muc_membersonly" in info["disco_info"]["features"]

            # carol's session ends: the others see her leave
            await c.stop()
            assert await until(lambda: any(p["type"] == "unavailable" for p in
                                           muc_presences(a, "Carol")[-1:]))

            # the owner destroys the room
            await muc.destroy(ROOM, reason="done")
            assert await until(lambda: any(
                p.xml.find(MUC_USER + "x/" + MUC_USER + "destroy") is not None
                for p in muc_presences(a, "Alice", "unavailable")))
            assert ROOM not in await disco_items(a, SERVICE)
            with pytest.raises(IqError) as ie:
                await a["xep_0030"].get_info(jid=ROOM, timeout=5)
            assert ie.value.condition == "item-not-found"
        await with_clients([a, b, c], body)

    run(go())


def test_temporary_room_goes_when_empty(server):
    async def go():
        a = MClient("alice@localhost/desk")

        async def body():
            assert await a.online(server.xport)
            room = "brief@" + SERVICE
            await a["xep_0045"].join_muc_wait(room, "A", maxstanzas=0)
            await a["xep_0045"].set_room_config(room, a["xep_0004"].make_form(ftype="submit"))
            assert room in await disco_items(a, SERVICE)
            a["xep_0045"].leave_muc(room, "A")
            # the leave is handled before the next request (one stream, in order)
            assert room not in await disco_items(a, SERVICE)
            with pytest.raises(IqError) as ie:
                await a["xep_0030"].get_info(jid=room, timeout=5)
            assert ie.value.condition == "item-not-found"
        await with_clients([a], body)

    run(go())


# ---- raw sockets: the error cases ----

def raw_session(port, user, resource="raw"):
    s = starttls(socket.create_connection(("127.0.0.1", port), timeout=5))
    import base64
    tok = base64.b64encode(b"\0" + user.encode() + b"\0correct horse").decode()
    s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
               % tok).encode())
    assert b"<success" in read_until(s, b"/>")
    s.sendall(b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams'>")
    read_until(s, b"</stream:features>")
    s.sendall(("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>%s</resource></bind></iq>" % resource).encode())
    assert b"<jid>" in read_until(s, b"</iq>")
    return s


def ask(s, stanza, marker):
    s.sendall(stanza.encode())
    return read_until(s, marker.encode())


def test_raw_errors(server):
    s = raw_session(server.xport, "alice")
    t = raw_session(server.xport, "bob")
    try:
        # a message to a room that does not exist
        r = ask(s, "<message to='none@%s' type='groupchat' id='m1'><body>x</body></message>"
                % SERVICE, "</message>")
        assert b"type='error'" in r and b"item-not-found" in r
        # presence without a nick
        r = ask(s, "<presence to='r1@%s'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % SERVICE, "</presence>")
        assert b"jid-malformed" in r
        # an overlong nick
        r = ask(s, "<presence to='r1@%s/%s'/>" % (SERVICE, "n" * 100), "</presence>")
        assert b"not-acceptable" in r
        # iq to a room that does not exist
        r = ask(s, "<iq type='get' id='i1' to='none@%s'><query "
                "xmlns='http://jabber.org/protocol/disco#info'/></iq>" % SERVICE, "</iq>")
        assert b"item-not-found" in r
        # alice makes a room with one seat and a password
        r = ask(s, "<presence to='r1@%s/A'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % SERVICE, "</message>")
        assert b"code='201'" in r and (b"<subject/>" in r or b"<subject></subject>" in r)
        # a password room needs a password
        r = ask(s, "<iq type='set' id='c0' to='r1@%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1"
                "</value></field></x></query></iq>" % SERVICE, "</iq>")
        assert b"not-acceptable" in r
        r = ask(s, "<iq type='set' id='c1' to='r1@%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1"
                "</value></field><field var='muc#roomconfig_roomsecret'><value>sesame</value>"
                "</field><field var='muc#roomconfig_maxusers'><value>1</value></field>"
                "</x></query></iq>" % SERVICE, "/>")
        assert b"type='result'" in r
        # bob: not the owner, no configuration form
        r = ask(t, "<iq type='get' id='c2' to='r1@%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'/></iq>" % SERVICE, "</iq>")
        assert b"forbidden" in r
        # bob: groupchat without being in the room (406)
        r = ask(t, "<message to='r1@%s' type='groupchat' id='m2'><body>hi</body></message>"
                % SERVICE, "</message>")
        assert b"not-acceptable" in r
        # bob: wrong password (401), then the room is full (503)
        r = ask(t, "<presence to='r1@%s/B'><x xmlns='http://jabber.org/protocol/muc'>"
                "<password>nope</password></x></presence>" % SERVICE, "</presence>")
        assert b"not-authorized" in r
        r = ask(t, "<presence to='r1@%s/B'><x xmlns='http://jabber.org/protocol/muc'>"
                "<password>sesame</password></x></presence>" % SERVICE, "</presence>")
        assert b"service-unavailable" in r
        # private message to a nick that is not there, from a non-occupant
        r = ask(s, "<message to='r1@%s/Nobody' type='chat' id='m3'><body>x</body></message>"
                % SERVICE, "</message>")
        assert b"item-not-found" in r
        r = ask(t, "<message to='r1@%s/A' type='chat' id='m4'><body>x</body></message>"
                % SERVICE, "</message>")
        assert b"not-acceptable" in r
        # the subject is too long
        r = ask(s, "<message to='r1@%s' type='groupchat' id='m5'><subject>%s</subject>"
                "</message>" % (SERVICE, "s" * 2000), "</message>")
        assert b"not-acceptable" in r
        # a room turned members-only sends its non-members away (322)
        r = ask(s, "<presence to='r2@%s/A'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % SERVICE, "</message>")
        r = ask(s, "<iq type='set' id='c3' to='r2@%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'/></query></iq>" % SERVICE, "/>")
        assert b"type='result'" in r
        r = ask(t, "<presence to='r2@%s/B'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % SERVICE, "</message>")
        assert b"code='110'" in r
        s.sendall(("<iq type='set' id='c4' to='r2@%s'><query "
                   "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                   "type='submit'><field var='muc#roomconfig_membersonly'><value>1</value>"
                   "</field></x></query></iq>" % SERVICE).encode())
        r = read_until(t, b"</presence>")
        assert b"type='unavailable'" in r and b"code='322'" in r and b"code='110'" in r
        # an oversized presence payload
        r = ask(t, "<presence to='r3@%s/B'><status>%s</status></presence>"
                % (SERVICE, "x" * 5000), "</presence>")
        assert b"policy-violation" in r
        r = ask(t, "<iq type='get' id='i4' to='r3@%s'><query "
                "xmlns='http://jabber.org/protocol/disco#info'/></iq>" % SERVICE, "</iq>")
        assert b"item-not-found" in r  # the refused entry made no room
        # an iq to the service with no payload, a message to the service itself
        r = ask(t, "<iq type='get' id='i3' to='%s'/>" % SERVICE, "</iq>")
        assert b"bad-request" in r
        r = ask(t, "<message to='%s' id='m6'><body>x</body></message>" % SERVICE,
                "</message>")
        assert b"service-unavailable" in r
        # iq to an occupant is not forwarded
        r = ask(t, "<iq type='get' id='i2' to='r1@%s/A'><query "
                "xmlns='http://jabber.org/protocol/disco#info'/></iq>" % SERVICE, "</iq>")
        assert b"service-unavailable" in r
    finally:
        s.close()
        t.close()


def test_broadcast_unavailable_leaves_rooms(server):
    s = raw_session(server.xport, "alice")
    t = raw_session(server.xport, "bob")
    try:
        ask(s, "<presence to='r4@%s/A'><x xmlns='http://jabber.org/protocol/muc'/>"
            "</presence>" % SERVICE, "</message>")
        r = ask(s, "<iq type='set' id='c' to='r4@%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'/></query></iq>" % SERVICE, "/>")
        assert b"type='result'" in r
        t.sendall(b"<presence/>")
        r = ask(t, "<presence to='r4@%s/B'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % SERVICE, "</message>")
        assert b"code='110'" in r
        r = read_until(s, b"r4@%s/B" % SERVICE.encode())
        # bob goes unavailable without leaving the room himself
        t.sendall(b"<presence type='unavailable'/>")
        r = read_until(s, b"type='unavailable'")
        assert b"r4@%s/B" % SERVICE.encode() in r and b"type='unavailable'" in r
    finally:
        s.close()
        t.close()


def test_rooms_per_user_limit(server):
    s = raw_session(server.xport, "carol")
    try:
        for i in range(100):
            s.sendall(("<presence to='many%d@%s/C'><x xmlns='http://jabber.org/protocol/muc'/>"
                       "</presence>" % (i, SERVICE)).encode())
        s.sendall(("<presence to='onemore@%s/C'><x xmlns='http://jabber.org/protocol/muc'/>"
                   "</presence>" % SERVICE).encode())
        r = read_until(s, b"resource-constraint", timeout=10)
        assert b"resource-constraint" in r
        assert r.count(b"code='201'") == 100
    finally:
        s.close()


def test_muc_off(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_MUC_DOMAIN": ""})
    t.xport = xmpp_port(t)
    t.add_user("alice")
    s = raw_session(t.xport, "alice")
    try:
        r = ask(s, "<iq type='get' id='d' to='localhost'><query "
                "xmlns='http://jabber.org/protocol/disco#items'/></iq>", "</iq>")
        assert SERVICE.encode() not in r
        r = ask(s, "<message to='x@%s' type='groupchat' id='m'><body>x</body></message>"
                % SERVICE, "</message>")
        assert b"remote-server-not-found" in r
    finally:
        s.close()


def test_persistent_room_survives_restart(make_tandem):
    t = make_tandem()
    t.xport = xmpp_port(t)
    t.add_user("alice")
    t.add_user("bob")
    room = "club@" + SERVICE
    s = raw_session(t.xport, "alice")
    try:
        r = ask(s, "<presence to='%s/A'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % room, "</message>")
        assert b"code='201'" in r
        r = ask(s, "<iq type='set' id='c1' to='%s'><query "
                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                "type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value>"
                "</field><field var='muc#roomconfig_membersonly'><value>1</value></field>"
                "<field var='muc#roomconfig_roomname'><value>Book club</value></field>"
                "</x></query></iq>" % room, "/>")
        assert b"type='result'" in r
        r = ask(s, "<iq type='set' id='c2' to='%s'><query "
                "xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@localhost' "
                "affiliation='member'/></query></iq>" % room, "/>")
        assert b"type='result'" in r
        r = ask(s, "<message to='%s' type='groupchat' id='s1'><subject>Chapter 3</subject>"
                "</message>" % room, "</message>")
        assert b"Chapter 3" in r
    finally:
        s.close()
    assert t.stop() == 0
    before = len(t.log_bytes())
    t.start()
    deadline = time.time() + 10
    m = None
    while m is None and time.time() < deadline:
        m = re.search(rb"event=server.listening proto=xmpp addr=\S+ port=(\d+)",
                      t.log_bytes()[before:])
        time.sleep(0.05)
    assert m, t.log()
    s = raw_session(int(m.group(1)), "bob")
    try:
        r = ask(s, "<iq type='get' id='d1' to='%s'><query "
                "xmlns='http://jabber.org/protocol/disco#items'/></iq>" % SERVICE, "</iq>")
        assert room.encode() in r and b"Book club" in r
        r = ask(s, "<iq type='get' id='d2' to='%s'><query "
                "xmlns='http://jabber.org/protocol/disco#info'/></iq>" % room, "</iq>")
        assert b"muc_persistent" in r and b"muc_membersonly" in r
        # bob is still a member, the subject is still there, alice still owns it
        r = ask(s, "<presence to='%s/B'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>" % room, "</message>")
        assert b"affiliation='member'" in r and b"Chapter 3" in r
    finally:
        s.close()
