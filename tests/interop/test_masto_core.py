# SPDX-License-Identifier: MIT
"""The Mastodon API's shared parts: tokens and Mastodon's scopes, error
shapes, CORS."""
import masto


def test_auth_and_scopes(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice")
    t.start()
    tok = masto.token(t, "alice")
    me = masto.Api(t, tok).get("/api/v1/accounts/verify_credentials")
    assert me.status_code == 200, me.text
    j = me.json()
    assert j["username"] == "alice" and j["acct"] == "alice" and isinstance(j["id"], str)
    assert j["source"]["privacy"] == "public"
    assert j["created_at"].endswith("T00:00:00.000Z")
    assert me.headers["Access-Control-Allow-Origin"] == "*"

    # No token, a wrong token: 401 in Mastodon's shape.
    r = masto.Api(t).get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}
    r = masto.Api(t, tok + "x").get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 401 and "error" in r.json()

    # A token without read:accounts: 403.
    narrow = masto.token(t, "alice", scope="write:statuses")
    r = masto.Api(t, narrow).get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 403
    assert r.json()["error"] == "This action is outside the authorized scopes"
    # Tandem's own microblog.read covers Mastodon's read:* scopes.
    own = masto.token(t, "alice", scope="microblog.read")
    assert masto.Api(t, own).get("/api/v1/accounts/verify_credentials").status_code == 200

    # CORS preflight for browser clients.
    r = masto.Api(t).s.options(t.url + "/api/v1/timelines/home", timeout=30)
    assert r.status_code == 204
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
