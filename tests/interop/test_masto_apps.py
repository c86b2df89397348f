# SPDX-License-Identifier: MIT
"""Mastodon apps against Tandem: app registration (POST /api/v1/apps), the OAuth
dance Mastodon apps do (out-of-band code, client_secret_post, no PKCE,
client_credentials, revoke, the opt-in password grant), the instance documents,
and the real clients Mastodon.py and toot logging in through all of that."""
import html
import os
import re
import subprocess
import tempfile
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from conftest import Browser
from masto import Api

OOB = "urn:ietf:wg:oauth:2.0:oob"
CB = "http://127.0.0.1:8123/cb"


def create_app(t, **fields):
    body = {"client_name": "Test App", "redirect_uris": OOB, "scopes": "read write follow push"}
    body.update(fields)
    r = requests.post(t.url + "/api/v1/apps", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def consent(b, url):
    """Open an authorize URL in browser b (logged in) and allow; returns the last response."""
    r = b.get(url[len(b.base):] if url.startswith(b.base) else url)
    if r.status_code == 200 and 'name="decision"' in r.text:
        fields = {html.unescape(n): html.unescape(v) for n, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text)}
        fields["decision"] = "allow"
        r = b.post("/oauth/authorize", fields)
    return r


def oob_code(page):
    m = re.search(r'id="code" class="code" value="([^"]+)"', page)
    assert m, page[:2000]
    return html.unescape(m.group(1))


def login_browser(t, user):
    b = Browser(t.url)
    assert b.login(user).status_code == 303
    return b


def code_flow_oob(t, app, user, scope="read write follow push", path="/oauth/authorize"):
    b = login_browser(t, user)
    q = {"client_id": app["client_id"], "response_type": "code", "redirect_uri": OOB,
         "scope": scope, "force_login": "False"}
    r = consent(b, path + "?" + urlencode(q))
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return oob_code(r.text)


# ---- registration ----

def test_register_json_and_form(tandem):
    j = create_app(tandem, website="https://app.example", redirect_uris=OOB + "\n" + CB)
    for k in ("id", "name", "website", "redirect_uri", "client_id", "client_secret",
              "vapid_key", "scopes", "redirect_uris"):
        assert k in j, k
    assert j["name"] == "Test App" and j["website"] == "https://app.example"
    assert j["redirect_uris"] == [OOB, CB]
    assert j["redirect_uri"] == OOB + "\n" + CB
    assert set(j["scopes"]) == {"read", "write", "follow", "push"}
    r = requests.post(tandem.url + "/api/v1/apps", data={
        "client_name": "Form App", "redirect_uris[]": [CB, OOB]}, timeout=30)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["redirect_uris"] == [CB, OOB] and j["scopes"] == ["read"]
    assert j["website"] is None
    j = create_app(tandem, redirect_uris=[CB], scopes="read:statuses write:media")
    assert j["redirect_uris"] == [CB] and j["scopes"] == ["read:statuses", "write:media"]


@pytest.mark.parametrize("body,what", [
    ({"redirect_uris": OOB}, "name"),
    ({"client_name": "  ", "redirect_uris": OOB}, "name"),
    ({"client_name": "x"}, "Redirect URI"),
    ({"client_name": "x", "redirect_uris": OOB, "scopes": "read admin:everything"}, "Scopes"),
    ({"client_name": "x", "redirect_uris": "http://evil.example/cb"}, "Redirect URI"),
    ({"client_name": "x", "redirect_uris": "javascript:alert(1)"}, "Redirect URI"),
    ({"client_name": "x", "redirect_uris": "https://a.example/cb#frag"}, "Redirect URI"),
    ({"client_name": "x", "redirect_uris": OOB, "website": "javascript:alert(1)"}, "Website"),
    ({"client_name": "x", "redirect_uris": OOB, "website": "https://a.example/<b>"}, "Website"),
    ({"client_name": "x", "redirect_uris": OOB, "website": "https://" + "a" * 2000}, "Website"),
])
def test_register_validation(tandem, body, what):
    r = requests.post(tandem.url + "/api/v1/apps", json=body, timeout=30)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith("Validation failed: ")
    assert what in r.json()["error"]


def test_register_rate_limited(tandem):
    codes = []
    for i in range(32):
        r = requests.post(tandem.url + "/api/v1/apps",
                          data={"client_name": "a%d" % i, "redirect_uris": OOB}, timeout=30)
        codes.append(r.status_code)
    assert codes[:30] == [200] * 30 and codes[30:] == [429, 429], codes
    assert "error" in r.json() and int(r.headers["Retry-After"]) > 0


def test_oob_not_for_other_clients(make_tandem):
    t = make_tandem({"TANDEM_OAUTH_REGISTRATION": "open"})
    r = requests.post(t.url + "/oauth/register", json={
        "client_name": "RFC 7591 app", "redirect_uris": [OOB]}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", r.text
    r = requests.post(t.url + "/oauth/register", json={
        "client_name": "RFC 7591 app", "redirect_uris": [CB], "grant_types": ["password"]},
        timeout=30)
    assert r.status_code == 400, r.text
    r = t.cli("client", "add", "CLI App", "--redirect-uri", OOB)
    assert r.returncode != 0


# ---- the OAuth dance ----

def test_code_flow_normal_redirect_no_pkce(tandem):
    tandem.add_user("alice")
    app = create_app(tandem, redirect_uris=CB)
    b = login_browser(tandem, "alice")
    # No scope: Mastodon's default "read"; force_login is accepted and ignored.
    q = {"client_id": app["client_id"], "response_type": "code", "redirect_uri": CB,
         "force_login": "true", "state": "xyz"}
    r = consent(b, "/oauth/authorize?" + urlencode(q))
    assert r.status_code in (302, 303), r.text[:500]
    qs = parse_qs(urlsplit(r.headers["Location"]).query)
    assert qs["state"] == ["xyz"]
    r = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": qs["code"][0], "redirect_uri": CB,
        "client_id": app["client_id"], "client_secret": app["client_secret"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read" and r.json()["token_type"] == "Bearer"
    assert r.json()["expires_in"] > 86400  # Mastodon apps never refresh
    assert abs(r.json()["created_at"] - time.time()) < 600
    me = Api(tandem, r.json()["access_token"]).get("/api/v1/accounts/verify_credentials")
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_code_flow_oob_and_basic_auth(tandem):
    tandem.add_user("alice")
    app = create_app(tandem)
    code = code_flow_oob(tandem, app, "alice", scope="read write")
    # client_secret_basic works for Mastodon apps too
    r = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=(app["client_id"], app["client_secret"]), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read write"
    # refresh_token with the secret in the body
    r2 = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
        "client_id": app["client_id"], "client_secret": app["client_secret"]}, timeout=30)
    assert r2.status_code == 200 and r2.json()["scope"] == "read write", r2.text
    # the code is spent
    r = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": OOB,
        "client_id": app["client_id"], "client_secret": app["client_secret"]}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_oob_page_escapes_and_is_not_cached(tandem):
    tandem.add_user("alice")
    app = create_app(tandem, client_name="<script>alert(1)</script>")
    b = login_browser(tandem, "alice")
    q = {"client_id": app["client_id"], "response_type": "code", "redirect_uri": OOB,
         "scope": "read"}
    r = b.get("/oauth/authorize?" + urlencode(q))
    assert r.status_code == 200 and "<script>alert" not in r.text
    assert "shows you a code" in r.text
    r = consent(b, "/oauth/authorize?" + urlencode(q))
    assert r.status_code == 200 and "<script>alert" not in r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert len(oob_code(r.text)) == 43


def test_oob_refused_when_not_registered(tandem):
    tandem.add_user("alice")
    app = create_app(tandem, redirect_uris=CB)
    b = login_browser(tandem, "alice")
    q = {"client_id": app["client_id"], "response_type": "code", "redirect_uri": OOB,
         "scope": "read"}
    r = b.get("/oauth/authorize?" + urlencode(q))
    assert r.status_code == 400 and "Location" not in r.headers


def test_oob_scope_beyond_app(tandem):
    tandem.add_user("alice")
    app = create_app(tandem, scopes="read")
    b = login_browser(tandem, "alice")
    q = {"client_id": app["client_id"], "response_type": "code", "redirect_uri": OOB,
         "scope": "read write"}
    r = b.get("/oauth/authorize?" + urlencode(q))
    assert r.status_code == 400 and "invalid_scope" in r.text


def test_client_credentials_and_app_verify(tandem):
    app = create_app(tandem, website="https://app.example")
    r = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "scope": "read"}, timeout=30)
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]
    api = Api(tandem, tok)
    v = api.get("/api/v1/apps/verify_credentials")
    assert v.status_code == 200, v.text
    assert v.json()["name"] == "Test App" and v.json()["redirect_uri"] == OOB
    assert v.json()["website"] == "https://app.example"  # stored with the app
    assert "client_secret" not in v.json()
    # JSON bodies, as toot's fetch_app_token sends them (Mastodon accepts both)
    r = requests.post(tandem.url + "/oauth/token", json={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "redirect_uri": OOB, "scope": "read write"},
        timeout=30)
    assert r.status_code == 200 and r.json()["scope"] == "read write", r.text
    r = requests.post(tandem.url + "/oauth/revoke", json={
        "client_id": app["client_id"], "client_secret": app["client_secret"],
        "token": r.json()["access_token"]}, timeout=30)
    assert r.status_code == 200 and r.json() == {}
    r = requests.post(tandem.url + "/oauth/token", json=["x"], timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # an app token has no user
    assert api.get("/api/v1/accounts/verify_credentials").status_code in (401, 403, 422)
    assert requests.get(tandem.url + "/api/v1/apps/verify_credentials",
                        timeout=30).status_code == 401
    assert Api(tandem, "x" * 48).get("/api/v1/apps/verify_credentials").status_code == 401


def test_revoke_with_body_credentials(tandem):
    tandem.add_user("alice")
    app = create_app(tandem)
    code = code_flow_oob(tandem, app, "alice")
    r = requests.post(tandem.url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": OOB,
        "client_id": app["client_id"], "client_secret": app["client_secret"]}, timeout=30)
    tok = r.json()["access_token"]
    api = Api(tandem, tok)
    assert api.get("/api/v1/apps/verify_credentials").status_code == 200
    r = requests.post(tandem.url + "/oauth/revoke", data={
        "client_id": app["client_id"], "client_secret": app["client_secret"], "token": tok},
        timeout=30)
    assert r.status_code == 200, r.text
    assert api.get("/api/v1/apps/verify_credentials").status_code == 401
    # a wrong secret is refused
    r = requests.post(tandem.url + "/oauth/revoke", data={
        "client_id": app["client_id"], "client_secret": "nope", "token": tok}, timeout=30)
    assert r.status_code == 401


def password_token(t, app, user, password, **extra):
    data = {"grant_type": "password", "client_id": app["client_id"],
            "client_secret": app["client_secret"], "username": user, "password": password}
    data.update(extra)
    return requests.post(t.url + "/oauth/token", data=data, timeout=30)


def test_password_grant_off_by_default(tandem):
    tandem.add_user("alice")
    app = create_app(tandem)
    r = password_token(tandem, app, "alice", "correct horse")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_password_grant_when_enabled(make_tandem):
    t = make_tandem({"TANDEM_MICROBLOG_PASSWORD_GRANT": "1",
                     "TANDEM_ACCOUNTS_LOGIN_MAX_FAILURES": "3"})
    t.add_user("alice")
    t.add_user("bob")
    app = create_app(t)
    r = password_token(t, app, "alice", "correct horse", scope="read write")
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read write"
    me = Api(t, r.json()["access_token"]).get("/api/v1/accounts/verify_credentials")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    # default scope: read
    r = password_token(t, app, "alice", "correct horse")
    assert r.status_code == 200 and r.json()["scope"] == "read"
    # scope beyond the app's
    app2 = create_app(t, scopes="read")
    r = password_token(t, app2, "alice", "correct horse", scope="write")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # a wrong password, an unknown user: invalid_grant
    r = password_token(t, app, "nobody", "correct horse")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    for _ in range(3):
        r = password_token(t, app, "bob", "wrong")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # the web log-in's per-account limit applies: even the right password waits now
    r = password_token(t, app, "bob", "correct horse")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, r.text
    # Mastodon.py's log_in(username, password)
    from mastodon import Mastodon
    m = Mastodon(client_id=app["client_id"], client_secret=app["client_secret"],
                 api_base_url=t.url)
    m.log_in("alice", "correct horse", scopes=["read", "write"])
    assert m.account_verify_credentials()["username"] == "alice"
    # only Mastodon apps may use it, even when it is on
    r = t.cli("client", "add", "CLI App", "--redirect-uri", CB)
    out = dict(re.findall(r"^(client_id|client_secret): (\S+)$", r.stdout, re.M))
    r = password_token(t, {"client_id": out["client_id"], "client_secret": out["client_secret"]},
                       "alice", "correct horse")
    assert r.status_code in (400, 401) and r.json()["error"] in (
        "unauthorized_client", "invalid_client"), r.text


# ---- instance metadata ----

def test_instance_v1(tandem):
    tandem.add_user("alice")
    r = requests.get(tandem.url + "/api/v1/instance", timeout=30)
    assert r.status_code == 200, r.text
    assert "max-age" in r.headers["Cache-Control"]
    j = r.json()
    assert re.match(r"^4\.2\.0 \(compatible; Tandem \S+\)$", j["version"])
    assert j["uri"] and j["title"]
    assert j["urls"]["streaming_api"].startswith("ws://127.0.0.1:")
    assert j["stats"]["user_count"] == 1 and j["stats"]["domain_count"] == 1
    c = j["configuration"]
    assert c["statuses"]["max_characters"] == 500
    assert c["statuses"]["max_media_attachments"] == 4
    assert c["statuses"]["characters_reserved_per_url"] == 23
    assert "image/png" in c["media_attachments"]["supported_mime_types"]
    assert c["media_attachments"]["image_size_limit"] == 16777216
    assert c["media_attachments"]["video_size_limit"] == 0
    assert "max_options" in c["polls"] and "max_featured_tags" in c["accounts"]
    assert j["registrations"] is True and j["approval_required"] is False
    assert j["rules"] == [] and j["contact_account"] is None


def test_instance_v2_and_config(make_tandem):
    t = make_tandem({"TANDEM_MICROBLOG_MAX_CHARS": "1000", "TANDEM_ACCOUNTS_SIGNUP": "closed"})
    j = requests.get(t.url + "/api/v2/instance", timeout=30).json()
    assert j["version"].startswith("4.2.0 (compatible; Tandem ")
    assert j["domain"] and j["title"] and j["source_url"].startswith("https://")
    assert j["usage"]["users"]["active_month"] == 0
    assert j["thumbnail"]["url"].startswith(t.url)
    c = j["configuration"]
    assert c["urls"]["streaming"].startswith("ws://")
    assert c["statuses"]["max_characters"] == 1000
    assert c["translation"] == {"enabled": False}
    assert j["registrations"]["enabled"] is False
    assert j["contact"]["account"] is None and j["rules"] == []
    j1 = requests.get(t.url + "/api/v1/instance", timeout=30).json()
    assert j1["registrations"] is False


def test_empty_endpoints_and_preferences(tandem):
    from masto import token
    tandem.add_user("alice")
    for p in ("/api/v1/instance/peers", "/api/v1/instance/activity", "/api/v1/instance/rules",
              "/api/v1/custom_emojis", "/api/v1/trends/tags", "/api/v1/trends/statuses"):
        r = requests.get(tandem.url + p, timeout=30)
        assert r.status_code == 200 and r.json() == [], p
    for p in ("/api/v1/preferences", "/api/v1/filters", "/api/v2/filters", "/api/v1/lists",
              "/api/v1/followed_tags", "/api/v1/announcements"):
        assert requests.get(tandem.url + p, timeout=30).status_code == 401, p
    api = Api(tandem, token(tandem, "alice"))
    for p in ("/api/v1/filters", "/api/v2/filters", "/api/v1/lists", "/api/v1/followed_tags",
              "/api/v1/announcements"):
        r = api.get(p)
        assert r.status_code == 200 and r.json() == [], p
    r = api.get("/api/v1/preferences")
    assert r.json() == {"posting:default:visibility": "public",
                        "posting:default:sensitive": False,
                        "posting:default:language": None, "reading:expand:media": "default",
                        "reading:expand:spoilers": False}
    # scope checks: a token without read:lists
    narrow = Api(tandem, token(tandem, "alice", scope="read:statuses"))
    assert narrow.get("/api/v1/lists").status_code == 403


def test_nodeinfo_and_webfinger(tandem):
    tandem.add_user("alice")
    r = requests.get(tandem.url + "/.well-known/nodeinfo", timeout=30)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    href = r.json()["links"][0]["href"]
    assert href.endswith("/nodeinfo/2.0")
    j = requests.get(href, timeout=30).json()
    assert j["software"]["name"] == "tandem" and j["usage"]["users"]["total"] == 1
    domain = requests.get(tandem.url + "/api/v1/instance", timeout=30).json()["uri"]
    r = requests.get(tandem.url + "/.well-known/webfinger",
                     params={"resource": "acct:alice@" + domain}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/jrd+json")
    assert r.json()["subject"] == "acct:alice@" + domain
    assert any(link["rel"] == "http://webfinger.net/rel/profile-page" and
               link["href"].endswith("/@alice") for link in r.json()["links"])
    for res in ("acct:nobody@" + domain, "acct:alice@other.example", "https://x/", "acct:"):
        r = requests.get(tandem.url + "/.well-known/webfinger", params={"resource": res},
                         timeout=30)
        assert r.status_code == 404, res
    assert requests.get(tandem.url + "/.well-known/webfinger", timeout=30).status_code == 400


# ---- real clients ----

def test_mastodon_py(tandem):
    from mastodon import Mastodon
    tandem.add_user("alice")
    cid, secret = Mastodon.create_app("Mastodon.py test", api_base_url=tandem.url,
                                      redirect_uris=OOB, website="https://py.example/app")
    m = Mastodon(client_id=cid, client_secret=secret, api_base_url=tandem.url)
    assert (m.mastodon_major, m.mastodon_minor, m.mastodon_patch) == (4, 2, 0)
    url = m.auth_request_url(redirect_uris=OOB)
    b = login_browser(tandem, "alice")
    r = consent(b, url)
    assert r.status_code == 200, r.text[:500]
    m.log_in(code=oob_code(r.text))
    me = m.account_verify_credentials()
    assert me["username"] == "alice"
    assert m.retrieve_mastodon_version() == "4.2.0"
    assert m.instance()["version"].startswith("4.2.0")
    app = m.app_verify_credentials()
    assert app["name"] == "Mastodon.py test" and app["website"] == "https://py.example/app"
    m.revoke_access_token()
    m2 = Mastodon(access_token=m.access_token, api_base_url=tandem.url,
                  version_check_mode="none")
    with pytest.raises(Exception):
        m2.account_verify_credentials()


def toot_env(tmp):
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = tmp
    env["HOME"] = tmp
    env.pop("BROWSER", None)
    return env


def toot_login(t, user, tmp):
    """toot login: it prints the authorize URL, asks whether to open a browser (no), and
    reads the code from stdin. The test plays the browser with the URL toot printed."""
    instance = t.url.split("://", 1)[1]
    p = subprocess.Popen(["/usr/bin/toot", "login", "--instance", instance, "--disable-https"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=toot_env(tmp), text=True)
    out = ""
    url = None
    while url is None:
        line = p.stdout.readline()
        assert line, "toot ended early: " + out + p.stderr.read()
        out += line
        m = re.search(r"(http://\S+/oauth/authorize/\?\S+)", line)
        if m:
            url = m.group(1)
    r = consent(login_browser(t, user), url)
    assert r.status_code == 200, r.text[:500]
    rest, err = p.communicate("n\n" + oob_code(r.text) + "\n", timeout=60)
    assert p.returncode == 0, out + rest + err
    return out + rest


def test_toot_login_and_whoami(tandem):
    tandem.add_user("alice")
    with tempfile.TemporaryDirectory() as tmp:
        out = toot_login(tandem, "alice", tmp)
        assert "Successfully logged in" in out, out
        r = subprocess.run(["/usr/bin/toot", "whoami"], env=toot_env(tmp), text=True,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "@alice" in r.stdout
        r = subprocess.run(["/usr/bin/toot", "instance", "--disable-https",
                            tandem.url.split("://", 1)[1]],
                           env=toot_env(tmp), text=True, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "4.2.0" in r.stdout


def test_toot_login_cli_password_grant(make_tandem):
    """toot login_cli: the password grant, with the address as the e-mail."""
    t = make_tandem({"TANDEM_MICROBLOG_PASSWORD_GRANT": "true"})
    t.add_user("alice")
    domain = requests.get(t.url + "/api/v1/instance", timeout=30).json()["uri"]
    instance = t.url.split("://", 1)[1]
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["/usr/bin/toot", "login_cli", "--instance", instance,
                            "--disable-https", "--email", "alice@" + domain],
                           input="wrong password\n", env=toot_env(tmp), text=True,
                           capture_output=True, timeout=60)
        assert r.returncode != 0 and "Login failed" in r.stdout + r.stderr
        r = subprocess.run(["/usr/bin/toot", "login_cli", "--instance", instance,
                            "--disable-https", "--email", "alice@" + domain],
                           input="correct horse\n", env=toot_env(tmp), text=True,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run(["/usr/bin/toot", "whoami"], env=toot_env(tmp), text=True,
                           capture_output=True, timeout=60)
        assert r.returncode == 0 and "@alice" in r.stdout, r.stdout + r.stderr


def missing(t, paths):
    """Skip unless every path has a route (another helper's endpoints, merged later).
    A path without a route answers 404, or 405 under /api/ (the CORS preflight route
    matches every path there for OPTIONS)."""
    for path, what in paths.items():
        if requests.get(t.url + path, timeout=30).status_code in (404, 405):
            pytest.skip("needs %s: another helper's routes, not merged yet" % what)


def toot_run(tmp, *args):
    r = subprocess.run(["/usr/bin/toot", *args], env=toot_env(tmp), text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout + r.stderr)
    return r.stdout


def test_toot_post_and_timeline(tandem):
    """toot post and toot timeline, through the statuses endpoints."""
    tandem.add_user("alice")
    missing(tandem, {"/api/v1/timelines/public": "the statuses and timelines endpoints"})
    with tempfile.TemporaryDirectory() as tmp:
        toot_login(tandem, "alice", tmp)
        out = toot_run(tmp, "post", "Hello from toot")
        assert "Toot posted" in out, out
        assert "Hello from toot" in toot_run(tmp, "timeline", "--once")
        assert "Hello from toot" in toot_run(tmp, "timeline", "--public", "--once")


def test_toot_follow_and_notifications(tandem):
    """toot follow (account search), the followed account's posts in the follower's
    timeline, and the follow notification."""
    tandem.add_user("alice")
    tandem.add_user("bob")
    missing(tandem, {"/api/v1/timelines/public": "the statuses and timelines endpoints",
                     "/api/v1/accounts/search": "the account search endpoint (toot follow)",
                     "/api/v1/notifications": "the notifications endpoint"})
    with tempfile.TemporaryDirectory() as tmp_a, tempfile.TemporaryDirectory() as tmp_b:
        toot_login(tandem, "alice", tmp_a)
        toot_login(tandem, "bob", tmp_b)
        toot_run(tmp_b, "follow", "alice")
        assert "Toot posted" in toot_run(tmp_a, "post", "Hello followers")
        assert "Hello followers" in toot_run(tmp_b, "timeline", "--once")
        assert "bob" in toot_run(tmp_a, "notifications")
