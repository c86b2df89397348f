# SPDX-License-Identifier: MIT
"""The JSON endpoints of the OAuth 2.0 authorization server / OpenID Connect
provider, driven over HTTP: discovery (RFC 8414), JWKS, the token endpoint
(RFC 6749 §5: client_credentials, error cases of every grant), introspection
(RFC 7662), revocation (RFC 7009), userinfo challenges (RFC 6750 §3), the
device authorization endpoint (RFC 8628) and dynamic client registration
(RFC 7591) in its three modes. The browser flow (authorize + consent) is
tested in its own file."""
import base64
import hashlib
import os
import re
import sqlite3
import time

import requests

REG_TOKEN = "initial-access-token-0123456789abcdef"


def add_client(t, name, *args):
    """Register a client with the CLI; returns (client_id, client_secret or None)."""
    r = t.cli("client", "add", name, *args)
    assert r.returncode == 0, r.stderr
    cid = re.search(r"^client_id: (\S+)$", r.stdout, re.M).group(1)
    m = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    return cid, m.group(1) if m else None


def start_with_clients(make_tandem, env=None):
    """A server with a machine client, a web client, a public device client and a second
    machine client; returns (tandem, clients)."""
    t = make_tandem(env_extra=env, start=False)
    c = {
        "machine": add_client(t, "Machine", "--grant", "client_credentials", "--scope",
                              "blog.read microblog.read openid"),
        "other": add_client(t, "Other machine", "--grant", "client_credentials",
                            "--scope", "blog.read"),
        "web": add_client(t, "Web app", "--redirect-uri", "https://app.example/cb"),
        "device": add_client(t, "TV", "--public", "--grant",
                             "urn:ietf:params:oauth:grant-type:device_code", "--grant",
                             "refresh_token", "--scope", "openid profile"),
        "public": add_client(t, "Native", "--public", "--redirect-uri",
                             "http://127.0.0.1/cb"),
    }
    t.start()
    return t, c


def post(t, path, data, auth=None, **kw):
    return requests.post(t.url + path, data=data, auth=auth, timeout=30, **kw)


def token(t, data, auth=None):
    return post(t, "/oauth/token", data, auth)


def assert_error(r, status, error):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] == error, body
    assert r.headers.get("Cache-Control") == "no-store"
    return body


# ---- discovery and keys ----

def test_discovery_document(tandem):
    r = requests.get(tandem.url + "/.well-known/openid-configuration", timeout=30)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    d = r.json()
    iss = d["issuer"]
    assert iss.startswith("http") and not iss.endswith("/")
    for key, path in [("authorization_endpoint", "/oauth/authorize"),
                      ("token_endpoint", "/oauth/token"),
                      ("userinfo_endpoint", "/oauth/userinfo"),
                      ("jwks_uri", "/oauth/jwks"),
                      ("revocation_endpoint", "/oauth/revoke"),
                      ("introspection_endpoint", "/oauth/introspect"),
                      ("device_authorization_endpoint", "/oauth/device_authorization"),
                      ("end_session_endpoint", "/oauth/logout")]:
        assert d[key] == iss + path, key
    assert "registration_endpoint" not in d  # registration is off by default
    assert "openid" in d["scopes_supported"] and "offline_access" in d["scopes_supported"]
    assert d["response_types_supported"] == ["code"]
    assert d["response_modes_supported"] == ["query"]
    assert set(d["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code"}
    assert d["subject_types_supported"] == ["public"]
    assert d["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert set(d["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "none"}
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert "sub" in d["claims_supported"] and "email" in d["claims_supported"]
    assert d["authorization_response_iss_parameter_supported"] is True
    assert d["request_parameter_supported"] is False
    assert d["claims_parameter_supported"] is False
    # RFC 8414 §3: the same document at the OAuth well-known address.
    r2 = requests.get(tandem.url + "/.well-known/oauth-authorization-server", timeout=30)
    assert r2.status_code == 200 and r2.json() == d


def test_jwks(tandem):
    r = requests.get(tandem.url + "/oauth/jwks", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    keys = r.json()["keys"]
    algs = {k["alg"]: k for k in keys}
    assert {"RS256", "ES256", "EdDSA"} <= set(algs)
    assert algs["RS256"]["kty"] == "RSA" and algs["RS256"]["e"] and algs["RS256"]["n"]
    assert algs["ES256"]["kty"] == "EC" and algs["ES256"]["crv"] == "P-256"
    assert algs["EdDSA"]["kty"] == "OKP" and algs["EdDSA"]["crv"] == "Ed25519"
    for k in keys:
        assert k["use"] == "sig" and k["kid"]
        for private in ("d", "p", "q", "dp", "dq", "qi"):
            assert private not in k, "private key material published"
    assert len({k["kid"] for k in keys}) == len(keys)


# ---- client_credentials, introspection, revocation ----

def test_client_credentials_introspect_revoke(make_tandem):
    t, c = start_with_clients(make_tandem)
    cid, secret = c["machine"]
    r = token(t, {"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600
    # Default scope: the client's scope without the user-only scopes.
    assert set(tok["scope"].split()) == {"blog.read", "microblog.read"}
    assert "refresh_token" not in tok and "id_token" not in tok
    at = tok["access_token"]

    r = post(t, "/oauth/introspect", {"token": at}, auth=(cid, secret))
    assert r.status_code == 200
    info = r.json()
    assert info["active"] is True
    assert info["client_id"] == cid and info["aud"] == cid
    assert info["token_type"] == "Bearer" and info["scope"] == tok["scope"]
    assert info["exp"] - info["iat"] == 3600
    assert info["iss"] == requests.get(t.url + "/.well-known/openid-configuration",
                                       timeout=30).json()["issuer"]
    assert "sub" not in info and "username" not in info

    # Another confidential client (a resource server) may introspect it too, but not
    # revoke it (RFC 7009 §2.1); the answer is still 200.
    ocid, osecret = c["other"]
    r = post(t, "/oauth/introspect", {"token": at}, auth=(ocid, osecret))
    assert r.json()["active"] is True
    r = post(t, "/oauth/revoke", {"token": at}, auth=(ocid, osecret))
    assert r.status_code == 200
    assert post(t, "/oauth/introspect", {"token": at}, auth=(cid, secret)).json()["active"]

    r = post(t, "/oauth/revoke", {"token": at, "token_type_hint": "access_token"},
             auth=(cid, secret))
    assert r.status_code == 200 and r.content == b""
    r = post(t, "/oauth/introspect", {"token": at}, auth=(cid, secret))
    assert r.json() == {"active": False}
    # Revoked tokens no longer open userinfo either.
    r = requests.get(t.url + "/oauth/userinfo", headers={"Authorization": "Bearer " + at},
                     timeout=30)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]

    # Unknown tokens: inactive, and revocation still answers 200 (RFC 7009 §2.2).
    r = post(t, "/oauth/introspect", {"token": "x" * 43}, auth=(cid, secret))
    assert r.json() == {"active": False}
    assert post(t, "/oauth/revoke", {"token": "nope"}, auth=(cid, secret)).status_code == 200
    assert_error(post(t, "/oauth/revoke", {}, auth=(cid, secret)), 400, "invalid_request")


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_token_format_tampering_and_legacy_tokens(make_tandem):
    """Tokens carry their row id (8 bytes, big-endian) before 28 random bytes; the id
    alone opens nothing, malformed strings are unknown tokens, and a token of the old
    format (43 characters, found by hash) still works until it expires."""
    t, c = start_with_clients(make_tandem)
    cid, secret = c["machine"]
    auth = (cid, secret)
    r = token(t, {"grant_type": "client_credentials"}, auth=auth)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", at), at
    raw = base64.urlsafe_b64decode(at + "==")
    assert len(raw) == 36 and 0 < int.from_bytes(raw[:8], "big") < 2 ** 63
    at2 = token(t, {"grant_type": "client_credentials"}, auth=auth).json()["access_token"]
    raw2 = base64.urlsafe_b64decode(at2 + "==")
    assert int.from_bytes(raw2[:8], "big") > int.from_bytes(raw[:8], "big")  # appended

    def active(tok):
        return post(t, "/oauth/introspect", {"token": tok}, auth=auth).json()["active"]

    def bearer(tok):
        return requests.get(t.url + "/oauth/userinfo",
                            headers={"Authorization": "Bearer " + tok}, timeout=30)

    assert active(at)
    # The right id with a wrong secret: unknown everywhere, and revoking it is a no-op.
    forged = b64url(raw[:8] + bytes(b ^ 0x5A for b in raw[8:]))
    assert len(forged) == 48 and not active(forged)
    assert bearer(forged).status_code == 401
    dev, _ = c["device"]
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": forged,
                           "client_id": dev}), 400, "invalid_grant")
    assert post(t, "/oauth/revoke", {"token": forged}, auth=auth).status_code == 200
    assert active(at)
    # Malformed strings: other lengths, characters outside base64url, ids 0 and negative.
    for bad in (at[:-1], at + "A", at[:47] + "=", at[:47] + "+", at[:47] + "/",
                b64url(bytes(8) + raw[8:]), b64url(b"\x80" + raw[1:]), "%" * 48):
        assert not active(bad), bad
        assert bearer(bad).status_code == 401, bad
    # A client_credentials token has no user, so userinfo says insufficient_scope: the
    # token itself was accepted.
    r = bearer(at)
    assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]

    # An old-format token, as a previous version stored it (its SHA-256 in the table the
    # 0009 migration renamed).
    old = b64url(os.urandom(32))
    assert len(old) == 43
    now = int(time.time() * 1000)
    db = sqlite3.connect(os.path.join(t.data, "tandem.db"), timeout=10)
    db.execute("INSERT INTO oauth_tokens_legacy (token_hash, kind, client_id, account_id, scope,"
               " grant_id, auth_time, created_at, expires_at) VALUES (?, 1, ?, NULL, "
               "'blog.read', 42, 0, ?, ?)",
               (hashlib.sha256(old.encode()).digest(), cid, now, now + 3600000))
    db.commit()
    db.close()
    assert active(old)
    r = bearer(old)
    assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]
    assert not active(old[:-1] + ("A" if old[-1] != "A" else "B"))
    assert post(t, "/oauth/revoke", {"token": old}, auth=auth).status_code == 200
    assert not active(old)
    assert bearer(old).status_code == 401

    # Issued tokens are counted by grant type instead of logged one line each.
    m = requests.get(t.url + "/metrics", timeout=10).text
    n = re.search(r'^tandem_oauth_tokens_issued_total\{grant="client_credentials"\} (\S+)$',
                  m, re.M)
    assert n and float(n.group(1)) >= 2, m
    assert "# TYPE tandem_oauth_tokens_issued_total counter" in m


def test_client_credentials_scope(make_tandem):
    t, c = start_with_clients(make_tandem)
    auth = c["machine"]
    r = token(t, {"grant_type": "client_credentials", "scope": "blog.read"}, auth=auth)
    assert r.status_code == 200 and r.json()["scope"] == "blog.read"
    for bad in ("blog.write", "openid", "offline_access", "blog.read nonsense"):
        r = token(t, {"grant_type": "client_credentials", "scope": bad}, auth=auth)
        assert_error(r, 400, "invalid_scope")


def test_client_authentication_failures(make_tandem):
    t, c = start_with_clients(make_tandem)
    cid, secret = c["machine"]
    r = token(t, {"grant_type": "client_credentials"}, auth=(cid, secret + "x"))
    assert_error(r, 401, "invalid_client")
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    r = token(t, {"grant_type": "client_credentials"}, auth=("no-such-client", "x"))
    assert_error(r, 401, "invalid_client")
    # The client is registered for client_secret_basic: client_secret_post is refused,
    # and without a Basic header there is no Basic challenge.
    r = token(t, {"grant_type": "client_credentials", "client_id": cid,
                  "client_secret": secret})
    assert_error(r, 401, "invalid_client")
    assert "WWW-Authenticate" not in r.headers
    r = token(t, {"grant_type": "client_credentials"})
    assert_error(r, 401, "invalid_client")
    # Public clients may not introspect.
    pid, _ = c["public"]
    r = post(t, "/oauth/introspect", {"token": "x", "client_id": pid})
    assert_error(r, 401, "invalid_client")


def test_token_endpoint_request_errors(make_tandem):
    t, c = start_with_clients(make_tandem)
    auth = c["machine"]
    assert_error(token(t, {"grant_type": "password", "username": "a", "password": "b"},
                       auth=auth), 400, "unsupported_grant_type")
    assert_error(token(t, {}, auth=auth), 400, "invalid_request")
    # The machine client is not registered for the code grant.
    assert_error(token(t, {"grant_type": "authorization_code", "code": "x"}, auth=auth),
                 400, "unauthorized_client")
    # JSON bodies are not accepted (RFC 6749 §3.2).
    r = requests.post(t.url + "/oauth/token", json={"grant_type": "client_credentials"},
                      auth=auth, timeout=30)
    assert_error(r, 400, "invalid_request")
    # Repeated parameters (RFC 6749 §3.2).
    r = requests.post(t.url + "/oauth/token", auth=auth, timeout=30,
                      data="grant_type=client_credentials&scope=blog.read&scope=openid",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalid_request")
    r = requests.get(t.url + "/oauth/token", timeout=30)
    assert r.status_code == 405


def test_public_client_refused_client_credentials(make_tandem):
    t, c = start_with_clients(make_tandem)
    # The CLI (and the core) refuse to register a public client for the grant ...
    r = t.cli("client", "add", "Bad", "--public", "--grant", "client_credentials")
    assert r.returncode != 0 and "public" in r.stderr
    # ... and a public client that asks for it anyway is turned away.
    pid, _ = c["public"]
    r = token(t, {"grant_type": "client_credentials", "client_id": pid})
    assert_error(r, 400, "unauthorized_client")


def test_code_and_refresh_grant_errors(make_tandem):
    t, c = start_with_clients(make_tandem)
    auth = c["web"]
    pid, _ = c["public"]
    r = token(t, {"grant_type": "authorization_code", "code": "A" * 43,
                  "redirect_uri": "https://app.example/cb"}, auth=auth)
    assert_error(r, 400, "invalid_grant")
    assert_error(token(t, {"grant_type": "authorization_code"}, auth=auth),
                 400, "invalid_request")
    r = token(t, {"grant_type": "authorization_code", "code": "A" * 43, "client_id": pid,
                  "redirect_uri": "http://127.0.0.1/cb", "code_verifier": "v" * 43})
    assert_error(r, 400, "invalid_grant")
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": "B" * 43},
                       auth=auth), 400, "invalid_grant")
    assert_error(token(t, {"grant_type": "refresh_token"}, auth=auth), 400, "invalid_request")
    # An access token is not a refresh token.
    at = token(t, {"grant_type": "client_credentials"}, auth=c["machine"]).json()
    r = token(t, {"grant_type": "refresh_token", "refresh_token": at["access_token"]},
              auth=auth)
    assert_error(r, 400, "invalid_grant")


# ---- userinfo challenges ----

def test_userinfo_challenges(make_tandem):
    t, c = start_with_clients(make_tandem)
    r = requests.get(t.url + "/oauth/userinfo", timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="tandem"'
    r = requests.get(t.url + "/oauth/userinfo", headers={"Authorization": "Bearer nope"},
                     timeout=30)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # A client_credentials token has no user and no openid scope.
    at = token(t, {"grant_type": "client_credentials"}, auth=c["machine"]).json()
    r = requests.get(t.url + "/oauth/userinfo",
                     headers={"Authorization": "Bearer " + at["access_token"]}, timeout=30)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    r = requests.post(t.url + "/oauth/userinfo", data={"access_token": at["access_token"]},
                      timeout=30)
    assert r.status_code == 403
    # Two methods at once (RFC 6750 §2).
    r = requests.post(t.url + "/oauth/userinfo", data={"access_token": at["access_token"]},
                      headers={"Authorization": "Bearer " + at["access_token"]}, timeout=30)
    assert r.status_code == 400


# ---- device authorization (RFC 8628) ----

def test_device_authorization_and_polling(make_tandem):
    t, c = start_with_clients(make_tandem)
    did, _ = c["device"]
    r = post(t, "/oauth/device_authorization", {"client_id": did, "scope": "openid"})
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    d = r.json()
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", d["user_code"])
    assert d["verification_uri"].endswith("/device")
    assert d["verification_uri_complete"] == d["verification_uri"] + "?user_code=" + \
        d["user_code"]
    assert d["expires_in"] == 600 and d["interval"] == 5 and len(d["device_code"]) == 43
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    poll = {"grant_type": grant, "device_code": d["device_code"], "client_id": did}
    assert_error(token(t, poll), 400, "authorization_pending")
    body = assert_error(token(t, poll), 400, "slow_down")  # polled again at once
    assert "10" in body["error_description"]
    assert_error(token(t, dict(poll, device_code="C" * 43)), 400, "invalid_grant")
    assert_error(token(t, {"grant_type": grant, "client_id": did}), 400, "invalid_request")
    # Scope beyond the client's, and clients without the grant.
    assert_error(post(t, "/oauth/device_authorization", {"client_id": did, "scope": "email"}),
                 400, "invalid_scope")
    pid, _ = c["public"]
    assert_error(post(t, "/oauth/device_authorization", {"client_id": pid}),
                 400, "unauthorized_client")
    # A client without the device grant cannot poll.
    assert_error(token(t, dict(poll, client_id=pid, grant_type=grant)), 400,
                 "unauthorized_client")


# ---- dynamic client registration (RFC 7591) ----

def register(t, body, token=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return requests.post(t.url + "/oauth/register", json=body, headers=headers, timeout=30)


def test_registration_off(tandem):
    r = register(tandem, {"client_name": "x", "redirect_uris": ["https://a.example/cb"]})
    assert_error(r, 403, "access_denied")


def test_registration_open(make_tandem):
    t = make_tandem(env_extra={"TANDEM_OAUTH_REGISTRATION": "open"})
    d = requests.get(t.url + "/.well-known/openid-configuration", timeout=30).json()
    assert d["registration_endpoint"] == d["issuer"] + "/oauth/register"
    r = register(t, {"client_name": "My App", "redirect_uris": ["https://a.example/cb"],
                     "scope": "openid profile", "client_uri": "https://a.example/about",
                     "unknown_field": 1})
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store"
    reg = r.json()
    assert reg["client_id"] and len(reg["client_secret"]) == 43
    assert reg["client_secret_expires_at"] == 0 and reg["client_id_issued_at"] > 0
    assert reg["redirect_uris"] == ["https://a.example/cb"]
    assert reg["token_endpoint_auth_method"] == "client_secret_basic"
    assert "authorization_code" in reg["grant_types"] and reg["response_types"] == ["code"]
    assert set(reg["scope"].split()) == {"openid", "profile"} and reg["client_name"] == "My App"
    assert reg["client_uri"] == "https://a.example/about"

    # A machine client registered at run time works at once, with client_secret_post.
    r = register(t, {"client_name": "Bot", "grant_types": ["client_credentials"],
                     "token_endpoint_auth_method": "client_secret_post",
                     "scope": "blog.read"})
    assert r.status_code == 201, r.text
    bot = r.json()
    assert "redirect_uris" in bot and bot["response_types"] == []
    r = token(t, {"grant_type": "client_credentials", "client_id": bot["client_id"],
                  "client_secret": bot["client_secret"]})
    assert r.status_code == 200 and r.json()["scope"] == "blog.read"

    # A public client gets no secret.
    r = register(t, {"client_name": "SPA", "redirect_uris": ["http://127.0.0.1:8080/cb"],
                     "token_endpoint_auth_method": "none"})
    assert r.status_code == 201 and "client_secret" not in r.json()

    # Refusals.
    assert_error(register(t, {"client_name": "x", "redirect_uris": ["http://evil.example/"]}),
                 400, "invalid_redirect_uri")
    assert_error(register(t, {"client_name": "x"}), 400, "invalid_redirect_uri")
    assert_error(register(t, {"client_name": "x", "redirect_uris": "https://a.example/cb"}),
                 400, "invalid_redirect_uri")
    assert_error(register(t, {"client_name": "x", "redirect_uris": ["https://a.example/cb"],
                              "response_types": ["token"]}), 400, "invalid_client_metadata")
    assert_error(register(t, {"client_name": "x", "redirect_uris": ["https://a.example/cb"],
                              "grant_types": ["password"]}), 400, "invalid_client_metadata")
    assert_error(register(t, {"client_name": "x", "redirect_uris": ["https://a.example/cb"],
                              "scope": "root"}), 400, "invalid_client_metadata")
    assert_error(register(t, {"client_name": 5, "redirect_uris": ["https://a.example/cb"]}),
                 400, "invalid_client_metadata")
    assert_error(register(t, {"client_name": "x", "redirect_uris": ["https://a.example/cb"],
                              "client_uri": "javascript:alert(1)"}), 400,
                 "invalid_client_metadata")
    assert_error(register(t, ["not", "an", "object"]), 400, "invalid_client_metadata")
    r = requests.post(t.url + "/oauth/register", data="client_name=x", timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


def test_registration_token(make_tandem):
    t = make_tandem(env_extra={"TANDEM_OAUTH_REGISTRATION": "token",
                               "TANDEM_OAUTH_REGISTRATION_TOKEN": REG_TOKEN})
    body = {"client_name": "x", "redirect_uris": ["https://a.example/cb"]}
    r = register(t, body)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = register(t, body, token=REG_TOKEN + "x")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = register(t, body, token=REG_TOKEN)
    assert r.status_code == 201, r.text
    assert r.json()["client_id"]



def device_login(t, c, scope):
    """Start a device flow for the TV client and approve it as user alice (never polling
    before the approval, so the first poll is not too fast). Returns the token response."""
    from conftest import Browser
    did, _ = c["device"]
    t.add_user("alice")
    d = post(t, "/oauth/device_authorization", {"client_id": did, "scope": scope}).json()
    b = Browser(t.url)
    assert b.login("alice").status_code == 303
    r = b.form_post("/device?user_code=" + d["user_code"], "/device",
                    {"user_code": d["user_code"], "decision": "approve"})
    assert r.status_code == 200, r.text
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": d["device_code"], "client_id": did}
    r = token(t, poll)
    assert r.status_code == 200, r.text
    # The device code is spent.
    assert_error(token(t, poll), 400, "invalid_grant")
    return r.json()


def userinfo(t, at):
    return requests.get(t.url + "/oauth/userinfo", headers={"Authorization": "Bearer " + at},
                        timeout=30)


def test_device_flow_refresh_rotation_and_reuse(make_tandem):
    t, c = start_with_clients(make_tandem)
    did, _ = c["device"]
    tok = device_login(t, c, "openid profile")
    assert set(tok["scope"].split()) == {"openid", "profile"}
    assert tok["refresh_token"] and tok["id_token"].count(".") == 2
    r = userinfo(t, tok["access_token"])
    assert r.status_code == 200, r.text
    claims = r.json()
    assert claims["sub"] and claims["preferred_username"] == "alice"
    r = post(t, "/oauth/introspect", {"token": tok["access_token"]}, auth=c["machine"])
    info = r.json()
    assert info["active"] and info["username"] == "alice" and info["sub"] == claims["sub"]
    assert info["client_id"] == did
    r = post(t, "/oauth/introspect", {"token": tok["refresh_token"]}, auth=c["machine"])
    assert r.json()["token_type"] == "refresh_token"

    # Rotation with a narrower scope; a wider one is refused without spending the token.
    rt = tok["refresh_token"]
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": rt,
                           "client_id": did, "scope": "openid email"}), 400, "invalid_scope")
    # Another client cannot redeem it.
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": rt},
                       auth=c["web"]), 400, "invalid_grant")
    r = token(t, {"grant_type": "refresh_token", "refresh_token": rt, "client_id": did,
                  "scope": "openid"})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["scope"] == "openid" and new["refresh_token"] != rt and new["id_token"]
    assert userinfo(t, new["access_token"]).status_code == 200
    assert "preferred_username" not in userinfo(t, new["access_token"]).json()
    # RFC 6749 §6: the new refresh token keeps the original scope; only the access
    # token was narrowed.
    r = post(t, "/oauth/introspect", {"token": new["refresh_token"]}, auth=c["machine"])
    assert set(r.json()["scope"].split()) == {"openid", "profile"}

    # Reuse of the rotated-away token revokes the whole family (RFC 9700 §4.14.2).
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": rt,
                           "client_id": did}), 400, "invalid_grant")
    assert userinfo(t, new["access_token"]).status_code == 401
    assert userinfo(t, tok["access_token"]).status_code == 401
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": new["refresh_token"],
                           "client_id": did}), 400, "invalid_grant")
    assert "event=oauth.refresh_reuse" in t.log()


def test_revoking_refresh_token_revokes_grant(make_tandem):
    t, c = start_with_clients(make_tandem)
    did, _ = c["device"]
    tok = device_login(t, c, "openid")
    assert userinfo(t, tok["access_token"]).status_code == 200
    r = post(t, "/oauth/revoke", {"token": tok["refresh_token"], "client_id": did})
    assert r.status_code == 200
    assert userinfo(t, tok["access_token"]).status_code == 401
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                           "client_id": did}), 400, "invalid_grant")


def authorize(b, client_id, redirect_uri, challenge, scope="openid profile"):
    """Run /oauth/authorize as a logged-in browser (consenting if asked); returns the
    redirect's query parameters."""
    from urllib.parse import parse_qs, urlencode, urlsplit
    q = urlencode({"response_type": "code", "client_id": client_id, "scope": scope,
                   "redirect_uri": redirect_uri, "state": "st", "nonce": "nn",
                   "code_challenge": challenge, "code_challenge_method": "S256"})
    r = b.get("/oauth/authorize?" + q)
    if r.status_code == 200:
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', r.text))
        fields = {k: v.replace("&amp;", "&").replace("&#x2F;", "/").replace("&#x3D;", "=")
                  for k, v in fields.items()}
        fields["decision"] = "allow"
        r = b.post("/oauth/authorize", fields)
    assert r.status_code in (302, 303), (r.status_code, r.text[:2000])
    loc = r.headers["Location"]
    assert loc.startswith(redirect_uri), loc
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def test_code_grant_errors_and_replay(make_tandem):
    import base64
    import hashlib
    from conftest import Browser
    t, c = start_with_clients(make_tandem)
    pid, _ = c["public"]
    cb = "http://127.0.0.1/cb"
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    t.add_user("bob")
    b = Browser(t.url)
    assert b.login("bob").status_code == 303

    def code_request(code, **over):
        data = {"grant_type": "authorization_code", "code": code, "client_id": pid,
                "redirect_uri": cb, "code_verifier": verifier}
        data.update(over)
        return token(t, {k: v for k, v in data.items() if v is not None})

    p = authorize(b, pid, cb, challenge)
    assert p["state"] == "st" and "code" in p
    r = code_request(p["code"])
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["id_token"] and tok["refresh_token"]
    assert userinfo(t, tok["access_token"]).json()["preferred_username"] == "bob"
    # Replay: refused, and every token issued from the code is revoked (RFC 6749 §4.1.2).
    assert_error(code_request(p["code"]), 400, "invalid_grant")
    assert userinfo(t, tok["access_token"]).status_code == 401
    assert_error(token(t, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                           "client_id": pid}), 400, "invalid_grant")

    cases = [
        ({"redirect_uri": "http://127.0.0.1/other"}, "redirect_uri"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"code_verifier": None}, "code_verifier is missing"),
        ({"code_verifier": "w" * 50}, "code_verifier does not match"),
    ]
    for over, why in cases:
        p = authorize(b, pid, cb, challenge)
        body = assert_error(code_request(p["code"], **over), 400, "invalid_grant")
        assert why in body["error_description"], (over, body)
    # A code is bound to its client.
    p = authorize(b, pid, cb, challenge)
    assert_error(code_request(p["code"], client_id=None), 401, "invalid_client")
    body = assert_error(token(t, {"grant_type": "authorization_code", "code": p["code"],
                                  "redirect_uri": cb, "code_verifier": verifier},
                              auth=c["web"]), 400, "invalid_grant")
