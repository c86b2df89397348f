# SPDX-License-Identifier: MIT
"""Helpers for the Mastodon API tests: an access token for a user, got the
way a Mastodon app gets one (a registered client, the authorization code
flow through the consent page, the token endpoint), and a small JSON
client. Tests that exercise one group of endpoints use these; the tests with
real clients (toot, Mastodon.py, masto.js) do the whole dance themselves."""
import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from conftest import Browser

CB = "http://127.0.0.1:8123/cb"
SCOPE = "read write follow push"


def add_client(t, name="Test App", scope=SCOPE):
    """Register a confidential client with the CLI (the server may be running)."""
    r = t.cli("client", "add", name, "--redirect-uri", CB, "--scope", scope)
    assert r.returncode == 0, r.stderr
    out = dict(re.findall(r"^(client_id|client_secret): (\S+)$", r.stdout, re.M))
    return out["client_id"], out["client_secret"]


def token(t, user, password="correct horse", scope=SCOPE, client=None):
    """An access token for user (who must exist) with scope."""
    cid, secret = client or add_client(t, scope=scope)
    b = Browser(t.url)
    r = b.login(user, password)
    assert r.status_code == 303, r.text
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = {"response_type": "code", "client_id": cid, "redirect_uri": CB, "scope": scope,
         "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    r = b.get("/oauth/authorize?" + urlencode(q))
    if r.status_code == 200:
        fields = {html.unescape(n): html.unescape(v) for n, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text)}
        fields["decision"] = "allow"
        r = b.post("/oauth/authorize", fields)
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    r = requests.post(t.url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CB,
        "code_verifier": verifier}, auth=(cid, secret), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


class Api:
    """requests with a Bearer token against t's /api/."""

    def __init__(self, t, tok=None):
        self.base = t.url
        self.s = requests.Session()
        if tok:
            self.s.headers["Authorization"] = "Bearer " + tok

    def get(self, path, **kw):
        return self.s.get(self.base + path, timeout=30, **kw)

    def post(self, path, **kw):
        return self.s.post(self.base + path, timeout=30, **kw)

    def put(self, path, **kw):
        return self.s.put(self.base + path, timeout=30, **kw)

    def patch(self, path, **kw):
        return self.s.patch(self.base + path, timeout=30, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.base + path, timeout=30, **kw)
