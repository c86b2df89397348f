# SPDX-License-Identifier: MIT
"""OAuth 2.0 / OpenID Connect provider driven by a real relying party
(authlib): discovery, authorization code + PKCE through the log-in and
consent pages, token, id_token verified against the JWKS, userinfo, refresh,
revocation; the device grant with a scripted user; RP-initiated logout; the
connected-apps page; and the negative cases (RFC 6749 §4.1.2.1 error page,
PKCE, code and refresh token reuse, scope, CSRF, prompt=none, tampering)."""
import base64
import hashlib
import html
import json
import re
import os
import secrets
import sqlite3
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import BadSignatureError, DecodeError
from authlib.oidc.core import CodeIDToken

from conftest import Browser

PW = "correct horse"
CB = "http://127.0.0.1:8123/cb"
LOGOUT_CB = "http://127.0.0.1:8123/bye"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid profile email offline_access"


def add_client(t, name, *args):
    r = t.cli("client", "add", name, *args)
    assert r.returncode == 0, r.stderr
    out = dict(re.findall(r"^(client_id|client_secret): (\S+)$", r.stdout, re.M))
    assert "client_id" in out, r.stdout
    return out["client_id"], out.get("client_secret")


class Provider:
    def __init__(self, t):
        self.t = t
        self.conf = requests.get(t.url + "/.well-known/openid-configuration", timeout=30).json()
        self.jwks = requests.get(self.conf["jwks_uri"], timeout=30).json()


@pytest.fixture
def op(make_tandem):
    """A server with alice, a confidential RP, a public RP and a narrow RP."""
    t = make_tandem(start=False)
    t.add_user("alice", PW)
    t.conf_id, t.conf_secret = add_client(
        t, "Photo Printer", "--redirect-uri", CB, "--post-logout-redirect-uri", LOGOUT_CB)
    t.pub_id, _ = add_client(t, "Pocket App", "--public", "--redirect-uri", CB,
                             "--grant", "authorization_code", "--grant", "refresh_token",
                             "--grant", DEVICE_GRANT)
    t.narrow_id, t.narrow_secret = add_client(t, "Narrow", "--redirect-uri", CB,
                                              "--scope", "openid profile")
    t.start()
    t.p = Provider(t)
    return t


def logged_in(t):
    b = Browser(t.url)
    r = b.login("alice", PW)
    assert r.status_code == 303, r.text
    return b


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_path(params):
    return "/oauth/authorize?" + urlencode(params)


def hidden_fields(page):
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        fields[html.unescape(name)] = html.unescape(value)
    return fields


def consent(b, page, decision="allow", remember=True, csrf=True):
    """Submit the consent form shown in page; returns the response (not followed)."""
    fields = hidden_fields(page)
    if not csrf:
        fields.pop("csrf", None)
    fields["decision"] = decision
    if remember:
        fields["remember"] = "1"
    return b.post("/oauth/authorize", fields)


def redirect_params(resp):
    """The query of a redirect to the client's callback."""
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    loc = resp.headers["Location"]
    assert loc.startswith(CB + "?"), loc
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}, loc


def get_code(t, b, url, decision="allow", remember=True):
    """Drive a logged-in browser through /oauth/authorize (and consent if asked)."""
    path = url[len(t.url):] if url.startswith(t.url) else url
    r = b.get(path)
    if r.status_code == 200:
        assert "Allow" in r.text and "consent" in r.text
        r = consent(b, r.text, decision, remember)
    return redirect_params(r)


def verify_id_token(t, id_token, client_id, nonce, access_token=None):
    keys = JsonWebKey.import_key_set(t.p.jwks)
    params = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = jwt.decode(id_token, keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": t.p.conf["issuer"]},
                                        "aud": {"essential": True, "value": client_id}},
                        claims_params=params)
    claims.validate()
    return claims


def userinfo(t, access_token):
    return requests.get(t.p.conf["userinfo_endpoint"], timeout=30,
                        headers={"Authorization": "Bearer " + access_token})


# ---- the happy path, with a real relying party ----


def test_discovery(op):
    c = op.p.conf
    assert c["issuer"] == op.url
    assert c["authorization_endpoint"] == op.url + "/oauth/authorize"
    assert "code" in c["response_types_supported"]
    assert c["code_challenge_methods_supported"] == ["S256"]
    assert c.get("authorization_response_iss_parameter_supported") is True
    assert op.p.jwks["keys"], "JWKS is empty"


def test_code_flow_pkce_full(op):
    c = op.p.conf
    rp = OAuth2Session(op.conf_id, op.conf_secret, scope=SCOPE, redirect_uri=CB,
                       code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = rp.create_authorization_url(c["authorization_endpoint"],
                                             code_verifier=verifier, nonce=nonce)
    # Not logged in: sent to the log-in page, which comes back to this request.
    b = Browser(op.url)
    r = b.get(url[len(op.url):])
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc.startswith("/login?next=")
    nxt = parse_qs(urlsplit(loc).query)["next"][0]
    assert nxt.startswith("/oauth/authorize?")
    r = b.form_post(loc, "/login", {"username": "alice", "password": PW, "next": nxt})
    assert r.status_code == 303 and r.headers["Location"] == nxt
    page = b.get(nxt)
    assert page.status_code == 200
    assert "Photo Printer" in page.text
    assert "127.0.0.1:8123" in page.text
    assert "Remember this decision" in page.text
    assert "See your email address" in page.text
    assert "Stay connected while you are not using the app" in page.text
    r = consent(b, page.text)
    q, loc = redirect_params(r)
    assert r.status_code == 303
    assert q["state"] == state and q["iss"] == c["issuer"] and "code" in q

    tok = rp.fetch_token(c["token_endpoint"], authorization_response=loc,
                         code_verifier=verifier)
    assert tok["token_type"].lower() == "bearer"
    assert set(tok["scope"].split()) == set(SCOPE.split())
    claims = verify_id_token(op, tok["id_token"], op.conf_id, nonce, tok["access_token"])
    assert claims["sub"]
    assert claims["exp"] > claims["iat"]
    assert "auth_time" in claims

    ui = userinfo(op, tok["access_token"])
    assert ui.status_code == 200, ui.text
    info = ui.json()
    assert info["sub"] == claims["sub"]
    assert info["preferred_username"] == "alice"

    # Refresh: a new access token (and a rotated refresh token).
    tok2 = rp.refresh_token(c["token_endpoint"], refresh_token=tok["refresh_token"])
    assert tok2["access_token"] != tok["access_token"]
    assert userinfo(op, tok2["access_token"]).status_code == 200

    # Revocation (RFC 7009) ends the access token at once.
    rv = rp.revoke_token(c["revocation_endpoint"], tok2["access_token"],
                         token_type_hint="access_token")
    assert rv.status_code == 200
    assert userinfo(op, tok2["access_token"]).status_code == 401

    # The decision was remembered: the next request is answered without a page.
    b2verifier, b2challenge = pkce_pair()
    q, _ = get_code(op, b, authorize_path({
        "response_type": "code", "client_id": op.conf_id, "redirect_uri": CB, "scope": "openid",
        "state": "s2", "code_challenge": b2challenge, "code_challenge_method": "S256"}))
    assert "code" in q and q["state"] == "s2"
    # ... unless the client asks for consent again.
    r = b.get(authorize_path({
        "response_type": "code", "client_id": op.conf_id, "redirect_uri": CB, "scope": "openid",
        "prompt": "consent", "code_challenge": b2challenge, "code_challenge_method": "S256"}))
    assert r.status_code == 200 and "Allow" in r.text


def test_public_client_and_tampered_id_token(op):
    c = op.p.conf
    rp = OAuth2Session(op.pub_id, scope="openid profile", redirect_uri=CB,
                       code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = secrets.token_urlsafe(48)
    nonce = "n-" + secrets.token_hex(8)
    url, state = rp.create_authorization_url(c["authorization_endpoint"],
                                             code_verifier=verifier, nonce=nonce)
    b = logged_in(op)
    q, loc = get_code(op, b, url)
    tok = rp.fetch_token(c["token_endpoint"], authorization_response=loc,
                         code_verifier=verifier)
    verify_id_token(op, tok["id_token"], op.pub_id, nonce)
    # A wrong nonce is caught.
    with pytest.raises(Exception):
        verify_id_token(op, tok["id_token"], op.pub_id, "other-nonce")
    # Tamper with the payload: the signature no longer matches.
    h, p, s = tok["id_token"].split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["sub"] = "999999"
    p2 = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises((BadSignatureError, DecodeError)):
        verify_id_token(op, ".".join([h, p2, s]), op.pub_id, nonce)
    # Flip one bit of the signature.
    sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[0] ^= 1
    s2 = base64.urlsafe_b64encode(bytes(sig)).rstrip(b"=").decode()
    with pytest.raises((BadSignatureError, DecodeError)):
        verify_id_token(op, ".".join([h, p, s2]), op.pub_id, nonce)


# ---- errors on the authorization endpoint ----


def base_params(t, **kw):
    _, challenge = pkce_pair()
    p = {"response_type": "code", "client_id": t.conf_id, "redirect_uri": CB,
         "scope": "openid", "state": "st", "code_challenge": challenge,
         "code_challenge_method": "S256"}
    p.update(kw)
    return {k: v for k, v in p.items() if v is not None}


def test_bad_client_or_redirect_uri_is_a_page(op):
    b = logged_in(op)
    for params in [base_params(op, redirect_uri="http://127.0.0.1:8123/other"),
                   base_params(op, redirect_uri="https://evil.example/cb"),
                   base_params(op, client_id="nobody"),
                   base_params(op, client_id=None)]:
        r = b.get(authorize_path(params))
        assert r.status_code == 400, params
        assert "Location" not in r.headers
        assert "text/html" in r.headers["Content-Type"]
    # Repeated redirect_uri is refused too.
    r = b.get(authorize_path(base_params(op)) + "&redirect_uri=" + CB)
    assert r.status_code == 400 and "Location" not in r.headers


def test_errors_redirect_back(op):
    b = logged_in(op)
    cases = [
        (base_params(op, response_type="token"), "unsupported_response_type"),
        (base_params(op, scope="openid admin:everything"), "invalid_scope"),
        (base_params(op, client_id=op.narrow_id, scope="openid email"), "invalid_scope"),
        (base_params(op, code_challenge_method="plain"), "invalid_request"),
        (base_params(op, client_id=op.pub_id, code_challenge=None,
                     code_challenge_method=None), "invalid_request"),
        (base_params(op, request="eyJhbGciOiJub25lIn0.e30."), "request_not_supported"),
        (base_params(op, prompt="none login"), "invalid_request"),
        (base_params(op, max_age="soon"), "invalid_request"),
    ]
    for params, error in cases:
        r = b.get(authorize_path(params))
        q, _ = redirect_params(r)
        assert q["error"] == error, (params, q)
        assert q["state"] == "st" and q["iss"] == op.p.conf["issuer"]


def test_prompt_none_and_prompt_login(op):
    anon = Browser(op.url)
    q, _ = redirect_params(anon.get(authorize_path(base_params(op, prompt="none"))))
    assert q["error"] == "login_required"
    b = logged_in(op)
    q, _ = redirect_params(b.get(authorize_path(base_params(op, prompt="none"))))
    assert q["error"] == "consent_required"
    # prompt=login sends the user to log in again, and not back into a loop.
    r = b.get(authorize_path(base_params(op, prompt="login consent", login_hint="alice")))
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert urlsplit(r.headers["Location"]).path == "/login"
    nxt = parse_qs(urlsplit(q["next"][0]).query)
    assert nxt["prompt"] == ["consent"]
    assert q["username"] == ["alice"]


def test_max_age_and_repeats(op):
    b = logged_in(op)
    # max_age=0: the session is always too old, so the user logs in again.
    r = b.get(authorize_path(base_params(op, max_age="0")))
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.path == "/login" and parse_qs(loc.query)["reauth"] == ["1"]
    q, _ = redirect_params(b.get(authorize_path(base_params(op, max_age="0", prompt="none"))))
    assert q["error"] == "login_required"
    # A generous max_age is satisfied by the current session.
    r = b.get(authorize_path(base_params(op, max_age="3600")))
    assert r.status_code == 200 and "Allow" in r.text
    # RFC 6749 §3.1: parameters must not be repeated.
    q, _ = redirect_params(b.get(authorize_path(base_params(op)) + "&scope=openid"))
    assert q["error"] == "invalid_request"


def test_consent_escapes_and_query_redirect(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice", PW)
    cb = CB + "?tenant=a%20b"
    t.conf_id, _ = add_client(t, '<script>alert("x")</script>', "--redirect-uri", cb)
    t.start()
    t.p = Provider(t)
    b = logged_in(t)
    page = b.get(authorize_path(base_params(t, redirect_uri=cb)))
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert" in page.text
    r = consent(b, page.text)
    loc = r.headers["Location"]
    assert loc.startswith(cb + "&code="), loc
    q = parse_qs(urlsplit(loc).query)
    assert q["tenant"] == ["a b"] and q["state"] == ["st"] and q["iss"] == [t.url]
    # With a single registered redirect URI, redirect_uri may be left out.
    r = b.get(authorize_path(base_params(t, redirect_uri=None)))
    assert r.headers["Location"].startswith(cb + "&code=")


def test_deny_and_csrf(op):
    b = logged_in(op)
    page = b.get(authorize_path(base_params(op)))
    assert page.status_code == 200
    r = consent(b, page.text, csrf=False)
    assert r.status_code == 403 and "Location" not in r.headers
    r = consent(b, page.text, decision="deny")
    q, _ = redirect_params(r)
    assert q["error"] == "access_denied" and q["state"] == "st"
    # Tampering with the hidden redirect_uri is caught on POST as well.
    fields = hidden_fields(page.text)
    fields.update(decision="allow", redirect_uri="https://evil.example/cb")
    r = b.post("/oauth/authorize", fields)
    assert r.status_code == 400 and "Location" not in r.headers


# ---- the token endpoint's defences ----


def code_for(t, b, client_id, verifier=None, scope="openid"):
    if verifier is None:
        verifier, challenge = pkce_pair()
    else:
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q, _ = get_code(t, b, authorize_path(base_params(t, client_id=client_id, scope=scope,
                                                      code_challenge=challenge)))
    return q["code"], verifier


def token_req(t, data, auth=None):
    return requests.post(t.p.conf["token_endpoint"], data=data, auth=auth, timeout=30)


def test_wrong_verifier_and_code_reuse(op):
    b = logged_in(op)
    auth = (op.conf_id, op.conf_secret)
    code, verifier = code_for(op, b, op.conf_id)
    r = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                       "code_verifier": secrets.token_urlsafe(48)}, auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    code, verifier = code_for(op, b, op.conf_id)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
            "code_verifier": verifier}
    r1 = token_req(op, form, auth)
    assert r1.status_code == 200, r1.text
    at = r1.json()["access_token"]
    assert userinfo(op, at).status_code == 200
    r2 = token_req(op, form, auth)
    assert r2.status_code == 400 and r2.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from a reused code are revoked.
    assert userinfo(op, at).status_code == 401


def test_refresh_reuse_revokes_family(op):
    b = logged_in(op)
    auth = (op.conf_id, op.conf_secret)
    code, verifier = code_for(op, b, op.conf_id, scope="openid offline_access")
    r = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                       "code_verifier": verifier}, auth)
    assert r.status_code == 200, r.text
    rt1 = r.json()["refresh_token"]
    r = token_req(op, {"grant_type": "refresh_token", "refresh_token": rt1}, auth)
    assert r.status_code == 200, r.text
    at2, rt2 = r.json()["access_token"], r.json()["refresh_token"]
    assert userinfo(op, at2).status_code == 200
    r = token_req(op, {"grant_type": "refresh_token", "refresh_token": rt1}, auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert userinfo(op, at2).status_code == 401
    r = token_req(op, {"grant_type": "refresh_token", "refresh_token": rt2}, auth)
    assert r.status_code == 400


# ---- device grant (RFC 8628) ----


def test_device_grant(op):
    c = op.p.conf
    r = requests.post(c["device_authorization_endpoint"], timeout=30,
                      data={"client_id": op.pub_id, "scope": "openid profile"})
    assert r.status_code == 200, r.text
    d = r.json()
    poll = {"grant_type": DEVICE_GRANT, "device_code": d["device_code"], "client_id": op.pub_id}
    r = token_req(op, poll)
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"

    b = Browser(op.url)
    # Not logged in: the device page asks to log in first, and comes back.
    r = b.get("/device?user_code=" + d["user_code"])
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/login?next=")
    assert b.login("alice", PW).status_code == 303
    # An unknown code is a clear message, not a crash.
    r = b.get("/device?user_code=ZZZZ-ZZZZ")
    assert r.status_code == 404 and "not known" in r.text
    r = b.get("/device?user_code=" + urlencode({"x": "<>"})[2:])
    assert r.status_code == 422
    # The user types the code in lower case with a space instead of the dash.
    typed = d["user_code"].lower().replace("-", " ")
    r = b.get("/device?" + urlencode({"user_code": typed}))
    assert r.status_code == 200 and "Pocket App" in r.text and "Approve" in r.text
    fields = hidden_fields(r.text)
    fields["decision"] = "approve"
    r = b.post("/device", fields)
    assert r.status_code == 200 and "return to your device" in r.text
    # Deciding twice does nothing more.
    r = b.post("/device", fields)
    assert r.status_code == 410

    time.sleep(d.get("interval", 5) + 0.5)  # polling faster would earn slow_down
    r = token_req(op, poll)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert userinfo(op, tok["access_token"]).json()["preferred_username"] == "alice"
    r = token_req(op, poll)
    assert r.status_code == 400


def test_device_deny(op):
    c = op.p.conf
    d = requests.post(c["device_authorization_endpoint"], timeout=30,
                      data={"client_id": op.pub_id, "scope": "openid"}).json()
    b = logged_in(op)
    r = b.get("/device?" + urlencode({"user_code": d["user_code"]}))
    fields = hidden_fields(r.text)
    fields["decision"] = "deny"
    r = b.post("/device", fields)
    assert r.status_code == 200 and "denied" in r.text.lower()
    r = token_req(op, {"grant_type": DEVICE_GRANT, "device_code": d["device_code"],
                       "client_id": op.pub_id})
    assert r.status_code == 400 and r.json()["error"] == "access_denied"


# ---- connected apps and logout ----


def test_connected_apps_revoke(op):
    b = logged_in(op)
    auth = (op.conf_id, op.conf_secret)
    code, verifier = code_for(op, b, op.conf_id, scope="openid profile")
    r = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                       "code_verifier": verifier}, auth)
    at = r.json()["access_token"]
    page = b.get("/settings/apps")
    assert page.status_code == 200 and "Photo Printer" in page.text
    r = b.form_post("/settings/apps", "/settings/apps/revoke", {"client_id": op.conf_id})
    assert r.status_code == 303 and r.headers["Location"].startswith("/settings/apps")
    assert userinfo(op, at).status_code == 401
    page = b.get(r.headers["Location"])
    assert "Photo Printer" not in page.text
    assert "access was revoked" in page.text
    # Consent was forgotten: the next request asks again.
    r = b.get(authorize_path(base_params(op)))
    assert r.status_code == 200 and "Allow" in r.text
    # Without a CSRF token nothing happens.
    r = b.post("/settings/apps/revoke", {"client_id": op.conf_id})
    assert r.status_code == 403
    assert Browser(op.url).get("/settings/apps").status_code in (302, 303)


def test_rp_initiated_logout(op):
    c = op.p.conf
    b = logged_in(op)
    code, verifier = code_for(op, b, op.conf_id)
    tok = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                         "code_verifier": verifier}, (op.conf_id, op.conf_secret)).json()
    end = c.get("end_session_endpoint", op.url + "/oauth/logout")
    path = end[len(op.url):]
    # An unregistered post-logout URI is never followed.
    r = b.get(path + "?" + urlencode({"id_token_hint": tok["id_token"],
                                      "post_logout_redirect_uri": "https://evil.example/"}))
    assert r.status_code == 400 and "Location" not in r.headers
    # A forged hint is refused.
    h, p, s = tok["id_token"].split(".")
    r = b.get(path + "?" + urlencode({"id_token_hint": h + "." + p + ".AAAA",
                                      "post_logout_redirect_uri": LOGOUT_CB}))
    assert r.status_code == 400
    # The RP may POST its parameters too: the user is still asked first.
    r = b.post("/oauth/logout", {"client_id": op.conf_id,
                                 "post_logout_redirect_uri": LOGOUT_CB})
    assert r.status_code == 200 and "Log out of" in r.text and "Photo Printer" in r.text
    r = b.get(path + "?" + urlencode({"id_token_hint": tok["id_token"],
                                      "post_logout_redirect_uri": LOGOUT_CB, "state": "bye1"}))
    assert r.status_code == 200 and "Log out of" in r.text
    fields = hidden_fields(r.text)
    assert fields["client_id"] == op.conf_id
    r = b.post("/oauth/logout", {k: v for k, v in fields.items() if k != "csrf"})
    assert r.status_code == 403
    r = b.post("/oauth/logout", fields)
    assert r.status_code == 303
    assert r.headers["Location"] == LOGOUT_CB + "?state=bye1"
    assert "Log in" in b.get("/").text
    # Logged out already, without a redirect: a plain page.
    r = b.get(path)
    assert r.status_code == 200 and "logged out" in r.text


def age(t, sql):
    """Move expiry times into the past in the server's database (WAL: safe while it runs)."""
    db = sqlite3.connect(os.path.join(t.data, "tandem.db"), timeout=10)
    db.execute(sql)
    db.commit()
    db.close()


def test_expired_code_and_tokens(op):
    b = logged_in(op)
    auth = (op.conf_id, op.conf_secret)
    # A code past its 60 s lifetime is refused.
    code, verifier = code_for(op, b, op.conf_id, scope="openid offline_access")
    age(op, "UPDATE oauth_codes SET expires_at = expires_at - 120000")
    r = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                       "code_verifier": verifier}, auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # An expired access token fails at userinfo and is inactive at introspection; the
    # refresh token still works until it expires too.
    code, verifier = code_for(op, b, op.conf_id, scope="openid offline_access")
    r = token_req(op, {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
                       "code_verifier": verifier}, auth)
    assert r.status_code == 200, r.text
    at, rt = r.json()["access_token"], r.json()["refresh_token"]
    assert userinfo(op, at).status_code == 200
    age(op, "UPDATE oauth_tokens SET expires_at = 1 WHERE kind = 1")
    r = userinfo(op, at)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = requests.post(op.p.conf["introspection_endpoint"], data={"token": at}, auth=auth,
                      timeout=30)
    assert r.status_code == 200 and r.json() == {"active": False}
    r = token_req(op, {"grant_type": "refresh_token", "refresh_token": rt}, auth)
    assert r.status_code == 200, r.text
    rt2 = r.json()["refresh_token"]
    age(op, "UPDATE oauth_tokens SET expires_at = 1 WHERE kind = 2")
    r = token_req(op, {"grant_type": "refresh_token", "refresh_token": rt2}, auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
