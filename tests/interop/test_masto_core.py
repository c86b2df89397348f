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


def test_post_follow_home_paging(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice")
    t.add_user("bob")
    t.start()
    a = masto.Api(t, masto.token(t, "alice"))
    b = masto.Api(t, masto.token(t, "bob"))
    alice = a.get("/api/v1/accounts/verify_credentials").json()
    r = b.post("/api/v1/accounts/%s/follow" % alice["id"])
    assert r.status_code == 200 and r.json()["following"] is True, r.text
    ids = []
    for i in range(5):
        r = a.post("/api/v1/statuses", data={"status": "post %d #tandem" % i})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    st = r.json()
    assert st["content"].startswith("<p>post 4") and st["account"]["id"] == alice["id"]
    assert st["tags"][0]["name"] == "tandem" and st["visibility"] == "public"
    assert st["created_at"].endswith("Z") and "." in st["created_at"]
    r = b.get("/api/v1/timelines/home", params={"limit": 2})
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()] == ids[::-1][:2]
    nxt = r.links["next"]["url"]
    assert "limit=2" in nxt and "max_id=" + ids[3] in nxt
    r = b.get(nxt[len(t.url):])
    assert [s["id"] for s in r.json()] == [ids[2], ids[1]]
    # Paging abuse: malformed cursors and limits are refused, huge limits clamped.
    assert b.get("/api/v1/timelines/home", params={"max_id": "x'"}).status_code == 400
    assert b.get("/api/v1/timelines/home", params={"limit": "lots"}).status_code == 400
    assert len(b.get("/api/v1/timelines/home", params={"limit": 10**9}).json()) == 5
    # JSON bodies work as forms do; malformed ones are a 400.
    r = a.post("/api/v1/statuses", json={"status": "json", "visibility": "private"})
    assert r.status_code == 200 and r.json()["visibility"] == "private", r.text
    r = a.post("/api/v1/statuses", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    r = a.post("/api/v1/statuses", data={"status": "x", "visibility": "everyone"})
    assert r.status_code == 422


def test_timeline_text_matches_entities(make_tandem):
    """Timelines are assembled from cached, serialized pieces; each element
    must equal the entity GET /api/v1/statuses/:id builds, for the reader,
    also right after favourites, reblogs, edits and a profile change."""
    t = make_tandem(start=False)
    for u in ("alice", "bob", "carol"):
        t.add_user(u)
    t.start()
    a = masto.Api(t, masto.token(t, "alice"))
    b = masto.Api(t, masto.token(t, "bob"))
    c = masto.Api(t, masto.token(t, "carol"))
    ids = {n: x.get("/api/v1/accounts/verify_credentials").json()["id"]
           for n, x in (("alice", a), ("bob", b), ("carol", c))}
    b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    b.post("/api/v1/accounts/%s/follow" % ids["carol"])
    p1 = a.post("/api/v1/statuses", data={"status": "hello @carol #one"}).json()
    p2 = a.post("/api/v1/statuses", data={"status": "second", "spoiler_text": "cw"}).json()
    a.post("/api/v1/statuses", data={"status": "a reply", "in_reply_to_id": p1["id"]})
    c.post("/api/v1/statuses/%s/reblog" % p1["id"])
    b.post("/api/v1/statuses/%s/favourite" % p1["id"])
    b.post("/api/v1/statuses/%s/favourite" % p2["id"])

    def check():
        home = b.get("/api/v1/timelines/home").json()
        assert len(home) == 4
        for s in home:
            one = b.get("/api/v1/statuses/%s" % s["id"])
            assert one.status_code == 200, one.text
            assert s == one.json()
        # Lists built as JSON trees (a thread) agree with both.
        ctx = b.get("/api/v1/statuses/%s/context" % home[1]["id"]).json()
        assert [x["content"] for x in ctx["ancestors"]] == [home[3]["content"]]
        assert ctx["ancestors"][0] == home[3]
        return home

    home = check()
    assert home[0]["reblog"]["id"] == p1["id"] and home[0]["favourited"] is True
    assert home[0]["reblog"]["favourites_count"] == 1
    # Changes show at once, not when a cache expires.
    b.post("/api/v1/statuses/%s/unfavourite" % p1["id"])
    a.put("/api/v1/statuses/%s" % p2["id"], data={"status": "second, edited"})
    b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    home = check()
    assert home[0]["reblog"]["favourites_count"] == 0 and home[0]["favourited"] is False
    assert "edited" in home[2]["content"]
    assert home[2]["account"]["followers_count"] == 1
    # Another reader sees its own flags.
    pub = c.get("/api/v1/timelines/public").json()
    assert all(s["favourited"] is False for s in pub)
    # A profile change shows in cached timelines at once.
    r = a.patch("/api/v1/accounts/update_credentials", data={"display_name": "Alice A."})
    assert r.status_code == 200, r.text
    home = check()
    assert home[2]["account"]["display_name"] == "Alice A."
