# SPDX-License-Identifier: MIT
"""Contacts and chat on the web pages: GET /xmpp/credentials gives a logged-in
page its JID and a short-lived access token with scope `chat` (issued to the
built-in "Tandem web chat" client), refuses anonymous and cross-origin
requests (Origin, Fetch Metadata), and the token logs in to XMPP with SASL
OAUTHBEARER (RFC 7628) and nothing else; /contacts lists the roster from the
store without JavaScript."""
import re
import time

import pytest
import requests

from conftest import Browser
from test_oauth_flow import add_client
from test_xmpp_admin import bearer_auth
from test_xmpp import xmpp_port

PW = "correct horse"


@pytest.fixture
def site(make_tandem):
    t = make_tandem(start=False)
    t.add_user("Alice", PW)
    t.add_user("bob", PW)
    t.rs_id, t.rs_secret = add_client(t, "Resource server", "--redirect-uri",
                                      "http://127.0.0.1:8123/cb")
    t.start()
    t.xport = xmpp_port(t)
    t.conf = requests.get(t.url + "/.well-known/openid-configuration", timeout=30).json()
    return t


def logged_in(t, name="Alice"):
    b = Browser(t.url)
    r = b.login(name, PW)
    assert r.status_code == 303, r.text
    return b


def credentials(b, **headers):
    return b.get("/xmpp/credentials", headers=headers)


def introspect(t, token):
    r = requests.post(t.conf["introspection_endpoint"], auth=(t.rs_id, t.rs_secret),
                      data={"token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_credentials_refused_to_anonymous_and_foreign_origins(site):
    anon = Browser(site.url)
    r = credentials(anon)
    assert r.status_code == 401
    assert r.json()["error"] == "login_required"
    assert r.headers["Cache-Control"] == "no-store"

    b = logged_in(site)
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": "null"},
                    {"Origin": site.url + ".evil.example"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"},
                    {"Sec-Fetch-Site": "same-origin", "Origin": "https://127.0.0.1:%d" % site.port}):
        r = credentials(b, **headers)
        assert r.status_code == 403, headers
        assert r.json()["error"] == "forbidden"
        assert "password" not in r.json()
    # The browser's own same-origin fetch: Origin may be there or not.
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"},
                    {"Sec-Fetch-Site": "same-origin", "Origin": site.url},
                    {"Origin": "http://localhost:%d" % site.port,
                     "Host": "localhost:%d" % site.port,
                     "Cookie": "; ".join("%s=%s" % (k, v) for k, v in b.s.cookies.items())}):
        r = credentials(b, **headers)
        assert r.status_code == 200, (headers, r.text)
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Cache-Control"] == "no-store"
        assert r.json()["jid"] == "alice@localhost"  # localparts are folded like XMPP's


def test_token_is_short_lived_chat_only_and_logs_in_to_xmpp(site):
    b = logged_in(site)
    before = int(time.time())
    creds = credentials(b, **{"Sec-Fetch-Site": "same-origin"}).json()
    token = creds["password"]
    assert creds["expires_in"] == 600

    info = introspect(site, token)
    assert info["active"] is True
    assert info["scope"] == "chat"
    assert info["client_id"] == "tandem-web-chat"
    assert info["sub"]
    assert before + 590 <= info["exp"] <= int(time.time()) + 600

    # chat only: no userinfo (needs openid), and each page gets a token of its own
    r = requests.get(site.conf["userinfo_endpoint"], timeout=30,
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code in (401, 403)
    assert credentials(b).json()["password"] != token

    # OAUTHBEARER with the token and alice's JID logs in; bob's JID does not
    s, answer = bearer_auth(site.xport, token)
    s.close()
    assert b"<success" in answer, answer
    s, answer = bearer_auth(site.xport, token, authzid=b"bob@localhost")
    s.close()
    assert b"<success" not in answer, answer

    # Connected apps names the first-party client plainly while a token is live
    apps = b.get("/settings/apps").text
    assert "Tandem web chat" in apps
    assert introspect(site, token)["active"] is True


def test_first_party_client_cannot_be_used_by_anyone(site):
    # no secret was ever made, no redirect URI, no grant type
    r = requests.post(site.conf["token_endpoint"], auth=("tandem-web-chat", "x" * 43),
                      data={"grant_type": "client_credentials", "scope": "chat"}, timeout=30)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    b = logged_in(site)
    r = b.get("/oauth/authorize?response_type=code&client_id=tandem-web-chat&scope=chat"
              "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%2Fcb&code_challenge=" + "a" * 43 +
              "&code_challenge_method=S256")
    assert r.status_code == 400
    assert "Location" not in r.headers
    # the client survives a restart unchanged (made once, then found)
    site.stop()
    site.start()
    site.xport = xmpp_port(site)
    b = logged_in(site)
    assert credentials(b).status_code == 200
    clients = site.cli("client", "list").stdout
    assert clients.count("tandem-web-chat") == 1


def test_contacts_page_lists_roster_without_javascript(site):
    anon = Browser(site.url)
    r = anon.get("/contacts")
    assert r.status_code == 303 and r.headers["Location"] == "/login?next=/contacts"

    b = logged_in(site)
    page = b.get("/contacts").text
    assert "Your contact list is empty." in page
    assert "alice@localhost" in page
    # the panel's assets are linked from every page when logged in, from this site only
    assert '<script type="module" src="/static/vendor/converse/converse.min.js"></script>' in page
    assert '<script type="module" src="/static/chat.js"></script>' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "/static/chat.js" not in anon.get("/").text
    # only pages that load the chat allow inline styles (its bundle injects them); no page
    # allows inline scripts or eval
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe" not in csp
    csp = b.get("/contacts").headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp
    assert "script-src" not in csp and "unsafe-eval" not in csp

    # bob asks alice over XMPP (OAUTHBEARER as his web page would): a pending request
    bob = logged_in(site, "bob")
    token = credentials(bob).json()["password"]
    s, answer = bearer_auth(site.xport, token, authzid=b"bob@localhost")
    assert b"<success" in answer
    from test_xmpp import read_until
    s.sendall(b"<stream:stream xmlns='jabber:client' xmlns:stream="
              b"'http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
    read_until(s, b"</stream:features>")
    s.sendall(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    read_until(s, b"</iq>")
    s.sendall(b"<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>"
              b"<item jid='alice@localhost' name='Al &lt;i&gt;'/></query></iq>")
    read_until(s, b"id='r1'")
    s.sendall(b"<presence to='alice@localhost' type='subscribe'/>")
    deadline = time.time() + 10
    while time.time() < deadline:
        page = b.get("/contacts").text
        if "Asking to see your presence" in page:
            break
        time.sleep(0.1)
    assert "Asking to see your presence" in page
    assert re.search(r'<span class="jid">bob@localhost</span>', page)
    page = bob.get("/contacts").text
    assert "Al &lt;i&gt; · alice@localhost" in page  # escaped
    assert "no presence shared; waiting for them to" in page
    s.close()
