# SPDX-License-Identifier: MIT
"""The messenger and the rest of the site: SASL OAUTHBEARER (RFC 7628) with
access tokens from Tandem's own OAuth provider (scope `chat`), sessions of an
account disabled with `tandem user disable` ended by the running server, and
the online-session gauge in /metrics."""
import asyncio
import base64
import re
import time

import requests

from test_oauth_flow import (CB, Provider, add_client, base_params, get_code, authorize_path,
                             logged_in, pkce_pair)
from test_xmpp import STREAM, Client, read_until, run, starttls, with_clients, xmpp_port

PW = "correct horse"
SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"


def user_token(t, client_id, secret, scope):
    """An access token for alice through the authorization code flow."""
    b = logged_in(t)
    verifier, challenge = pkce_pair()
    q, _ = get_code(t, b, authorize_path(base_params(t, client_id=client_id, scope=scope,
                                                      code_challenge=challenge)))
    r = requests.post(t.p.conf["token_endpoint"], auth=(client_id, secret), timeout=30,
                      data={"grant_type": "authorization_code", "code": q["code"],
                            "redirect_uri": CB, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer_auth(port, token, authzid=b"alice@localhost"):
    """STARTTLS, then OAUTHBEARER; returns (socket, first server answer)."""
    import socket
    s = starttls(socket.create_connection(("127.0.0.1", port), timeout=10))
    msg = b"n,a=" + authzid + b",\x01host=localhost\x01auth=Bearer " + token.encode() + b"\x01\x01"
    s.sendall(b"<auth xmlns='" + SASL + b"' mechanism='OAUTHBEARER'>" +
              base64.b64encode(msg) + b"</auth>")
    return s, read_sasl(s)


def read_sasl(s, timeout=10):
    """Read until one whole SASL answer (success, challenge or failure) is in."""
    s.settimeout(timeout)
    data = b""
    while not re.search(rb"<success[^>]*/>|</success>|</challenge>|</failure>", data):
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data


def start(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice", PW)
    t.add_user("bob", PW)
    t.conf_id = None
    t.chat_id, t.chat_secret = add_client(t, "Chat App", "--redirect-uri", CB,
                                          "--scope", "openid chat")
    t.web_id, t.web_secret = add_client(t, "Reader", "--redirect-uri", CB,
                                        "--scope", "openid profile")
    t.start()
    t.p = Provider(t)
    t.xport = xmpp_port(t)
    return t


def test_oauthbearer_login_and_refusals(make_tandem):
    t = start(make_tandem)
    # offered only after TLS, next to SCRAM
    import socket
    plain = socket.create_connection(("127.0.0.1", t.xport), timeout=10)
    plain.sendall(STREAM)
    assert b"OAUTHBEARER" not in read_until(plain, b"</stream:features>")
    plain.close()

    token = user_token(t, t.chat_id, t.chat_secret, "openid chat")
    s, answer = bearer_auth(t.xport, token)
    assert b"<success" in answer, answer
    # the stream restarts and alice binds and talks like any client
    s.sendall(STREAM)
    assert b"<bind" in read_until(s, b"</stream:features>")
    s.sendall(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              b"<resource>web</resource></bind></iq>")
    assert b"alice@localhost/web" in read_until(s, b"</iq>")
    s.sendall(b"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert b"id='p1'" in read_until(s, b"/>")
    s.close()

    # a token without the chat scope: the RFC 7628 error challenge, then failure
    other = user_token(t, t.web_id, t.web_secret, "openid profile")
    s, answer = bearer_auth(t.xport, other)
    m = re.search(rb"<challenge xmlns='[^']+'>([^<]+)</challenge>", answer)
    assert m, answer
    err = base64.b64decode(m.group(1))
    assert b'"status":"invalid_token"' in err and b'"scope":"chat"' in err
    assert b"/.well-known/openid-configuration" in err
    s.sendall(b"<response xmlns='" + SASL + b"'>AQ==</response>")
    assert b"<not-authorized/>" in read_until(s, b"</failure>")
    s.close()

    # alice's token cannot log in as bob; a revoked token no longer works
    s, answer = bearer_auth(t.xport, token, authzid=b"bob@localhost")
    assert b"<invalid-authzid/>" in answer, answer
    s.close()
    r = requests.post(t.p.conf["revocation_endpoint"], auth=(t.chat_id, t.chat_secret),
                      data={"token": token}, timeout=30)
    assert r.status_code == 200
    s, answer = bearer_auth(t.xport, token)
    assert b"<challenge" in answer and b"<success" not in answer
    s.close()
    # garbage is a malformed request, not a crash
    s, answer = bearer_auth(t.xport, "x\x01y")
    assert b"<malformed-request/>" in answer, answer
    s.close()
    assert "event=xmpp.authenticated" in t.log()


def test_disabled_account_sessions_end(make_tandem):
    t = start(make_tandem)

    def metric():
        text = requests.get(t.url + "/metrics", timeout=10).text
        return float(re.search(r"^tandem_xmpp_sessions (\S+)$", text, re.M).group(1))

    async def go():
        a = Client("alice@localhost/desk", password=PW, mech="SCRAM-SHA-256")
        b = Client("bob@localhost/desk", password=PW, mech="SCRAM-SHA-256")

        async def body():
            assert await a.online(t.xport) and await b.online(t.xport)
            assert metric() == 2
            r = t.cli("user", "disable", "alice")
            assert r.returncode == 0, r.stderr
            await asyncio.wait_for(a.disconnected, 15)
            assert b.is_connected()
            deadline = time.time() + 5
            while metric() != 1 and time.time() < deadline:
                await asyncio.sleep(0.1)
            assert metric() == 1

        await with_clients([a, b], body)

    run(go())
    assert "event=xmpp.account_disabled" in t.log()
    assert "cond=not-authorized" in t.log()


def plain_login(port, user, resource):
    """A raw client over STARTTLS with PLAIN, bound; returns the TLS socket."""
    import socket
    s = starttls(socket.create_connection(("127.0.0.1", port), timeout=10))
    cred = base64.b64encode(b"\0" + user.encode() + b"\0" + PW.encode())
    s.sendall(b"<auth xmlns='" + SASL + b"' mechanism='PLAIN'>" + cred + b"</auth>")
    assert b"<success" in read_sasl(s)
    s.sendall(STREAM)
    read_until(s, b"</stream:features>")
    s.sendall(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
              resource.encode() + b"</resource></bind></iq>")
    read_until(s, b"</iq>")
    return s


def test_flood_is_slowed_not_lost(make_tandem):
    """xmpp.rate_limit: a client sending faster than the limit is read more
    slowly; everything it sent arrives, and others are served meanwhile."""
    t = make_tandem(start=False, env_extra={"TANDEM_XMPP_RATE_LIMIT": "16384"})
    for u in ("alice", "bob", "carol"):
        t.add_user(u, PW)
    t.start()
    port = xmpp_port(t)

    async def go():
        bob = Client("bob@localhost/in", password=PW, mech="SCRAM-SHA-256")
        carol = Client("carol@localhost/c", password=PW, mech="SCRAM-SHA-256")

        async def body():
            assert await bob.online(port) and await carol.online(port)
            flooder = await asyncio.to_thread(plain_login, port, "alice", "flood")
            n = 64
            pad = "x" * 1000
            batch = b"".join(b"<message to='bob@localhost/in' type='chat' id='m%d'><body>%d %s"
                             b"</body></message>" % (i, i, pad.encode()) for i in range(n))
            # ~69 KB at once: what is read is handled, and the deficit (the
            # bytes over the 32 KB burst) holds the next reads back
            await asyncio.to_thread(flooder.sendall, batch)
            got = []
            while len(got) < n:
                m = await asyncio.wait_for(bob.messages.get(), 20)
                got.append(int(m["body"].split()[0]))
            assert got == list(range(n))  # all of it, in order
            started = time.monotonic()
            await asyncio.to_thread(flooder.sendall, b"<message to='bob@localhost/in' "
                                    b"type='chat'><body>last</body></message>")
            # carol is answered at once while alice's bytes wait
            await carol["xep_0199"].ping("localhost", timeout=5)
            assert time.monotonic() - started < 1.0
            m = await asyncio.wait_for(bob.messages.get(), 20)
            assert m["body"] == "last"
            assert time.monotonic() - started > 1.0  # ~37 KB of deficit at 16 KB/s
            flooder.close()

        await with_clients([bob, carol], body)

    run(go())
    assert "event=xmpp.throttled" in t.log()


def test_busy_streams_keep_their_parser(make_tandem):
    """A bound stream gives its XML parser back after each read (an idle
    session keeps a few KiB); one whose client sends quickly, read after read,
    keeps it until quiet for 50 ms; a hibernated stream wakes on the next
    stanza."""
    t = start(make_tandem)

    def awake():
        text = requests.get(t.url + "/metrics", timeout=10).text
        return float(re.search(r"^tandem_xmpp_awake_sessions (\S+)$", text, re.M).group(1))

    async def settle():
        deadline = time.time() + 5
        while awake() != 0 and time.time() < deadline:
            await asyncio.sleep(0.1)
        return awake()

    async def go():
        a = Client("alice@localhost/desk", password=PW)
        b = Client("bob@localhost/desk", password=PW)

        async def body():
            assert await a.online(t.xport) and await b.online(t.xport)
            assert await settle() == 0
            # one message now and then: the stream hibernates at once
            for i in range(3):
                await asyncio.sleep(0.2)
                a.send_message(mto="bob@localhost", mbody=f"hello {i}", mtype="chat")
                m = await asyncio.wait_for(b.messages.get(), 5)
                assert m["body"] == f"hello {i}"
                assert awake() == 0
            # a burst: alice's stream stays awake while it lasts
            seen = []

            async def burst():
                for i in range(150):
                    a.send_message(mto="bob@localhost", mbody=f"burst {i}", mtype="chat")
                    await asyncio.sleep(0.005)

            task = asyncio.ensure_future(burst())
            while not task.done():
                seen.append(await asyncio.to_thread(awake))
            await task
            assert max(seen) >= 1, seen
            for i in range(150):
                m = await asyncio.wait_for(b.messages.get(), 5)
                assert m["body"] == f"burst {i}"
            assert await settle() == 0
            b.send_message(mto="alice@localhost", mbody="back", mtype="chat")
            m = await asyncio.wait_for(a.messages.get(), 5)
            assert m["body"] == "back"

        await with_clients([a, b], body)

    run(go())
