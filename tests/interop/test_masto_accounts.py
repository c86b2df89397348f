# SPDX-License-Identifier: MIT
"""The Mastodon API's accounts, relationships, follows, blocks, mutes,
follow requests, favourites, notifications, markers and search, with
requests and with Mastodon.py."""
import json
import os
import shutil
import subprocess

import pytest

import masto

NOT_FOUND = {"error": "Record not found"}


def me(api):
    return api.get("/api/v1/accounts/verify_credentials").json()


def start(make_tandem, *names):
    t = make_tandem(start=False)
    for n in names:
        t.add_user(n)
    t.start()
    apis = {n: masto.Api(t, masto.token(t, n)) for n in names}
    ids = {n: me(a)["id"] for n, a in apis.items()}
    return t, apis, ids


def missing_route(r):
    """The answer of a route that is not there (yet): the web layer's 404 or
    405 page, not a JSON error of the API."""
    return r.status_code in (404, 405) and "json" not in r.headers.get("Content-Type", "")


def post(api, text, **kw):
    r = api.post("/api/v1/statuses", data=dict(status=text, **kw))
    assert r.status_code == 200, r.text
    return r.json()


def test_accounts_and_lists(make_tandem):
    t, u, ids = start(make_tandem, "alice", "bob", "carol")
    a, b, c = u["alice"], u["bob"], u["carol"]
    anon = masto.Api(t)
    # The site's own name (its base_url), which need not be where the test connects.
    host = a.get("/api/v1/accounts/" + ids["alice"]).json()["url"].split("/")[2]

    # An account, anonymous too; lookup by name and name@ourhost.
    r = anon.get("/api/v1/accounts/" + ids["alice"])
    assert r.status_code == 200 and r.json()["username"] == "alice"
    assert anon.get("/api/v1/accounts/lookup", params={"acct": "alice"}).json()["id"] == ids["alice"]
    r = anon.get("/api/v1/accounts/lookup", params={"acct": "alice@" + host})
    assert r.status_code == 200 and r.json()["id"] == ids["alice"]
    for bad in ("alice@elsewhere.example", "nobody", ""):
        r = anon.get("/api/v1/accounts/lookup", params={"acct": bad})
        assert r.status_code == 404 and r.json() == NOT_FOUND
    # Unknown and malformed ids.
    for bad in ("999999999", "abc", "-1"):
        r = a.get("/api/v1/accounts/" + bad)
        assert r.status_code == 404 and r.json() == NOT_FOUND, bad
        r = a.post("/api/v1/accounts/%s/follow" % bad)
        assert r.status_code == 404 and r.json() == NOT_FOUND
    for sub in ("featured_tags", "lists", "identity_proofs"):
        assert a.get("/api/v1/accounts/%s/%s" % (ids["bob"], sub)).json() == []
    assert a.get("/api/v1/endorsements").json() == []
    assert a.get("/api/v1/domain_blocks").json() == []

    # Follow yourself: refused; a read-only token cannot follow.
    r = a.post("/api/v1/accounts/%s/follow" % ids["alice"])
    assert r.status_code in (403, 422) and "error" in r.json()
    ro = masto.Api(t, masto.token(t, "alice", scope="read"))
    r = ro.post("/api/v1/accounts/%s/follow" % ids["bob"])
    assert r.status_code == 403 and r.json()["error"] == "This action is outside the authorized scopes"

    # Followers and following, paged with Link headers whose cursor is the follow.
    for n in ("bob", "carol"):
        r = u[n].post("/api/v1/accounts/%s/follow" % ids["alice"], data={"reblogs": "false",
                                                                         "notify": "true"})
        assert r.status_code == 200 and r.json()["following"] is True, r.text
        assert r.json()["showing_reblogs"] is False
    r = anon.get("/api/v1/accounts/%s/followers" % ids["alice"], params={"limit": 1})
    assert [x["username"] for x in r.json()] == ["carol"]
    nxt = r.links["next"]["url"]
    assert "limit=1" in nxt and "max_id=" in nxt and ids["carol"] not in nxt.split("max_id=")[1]
    r = anon.get(nxt[len(t.url):])
    assert [x["username"] for x in r.json()] == ["bob"]
    r = anon.get(r.links["next"]["url"][len(t.url):])
    assert r.json() == []
    r = a.get("/api/v1/accounts/%s/following" % ids["bob"])
    assert [x["username"] for x in r.json()] == ["alice"]
    assert a.get("/api/v1/accounts/" + ids["alice"]).json()["followers_count"] == 2

    # Relationships: several ids, unknown and bad ones left out, capped at 80.
    r = a.get("/api/v1/accounts/relationships",
              params={"id[]": [ids["bob"], ids["carol"], "abc", "12345", ids["bob"]]})
    rel = r.json()
    assert [x["id"] for x in rel] == [ids["bob"], ids["carol"]]
    assert rel[0]["followed_by"] is True and rel[0]["following"] is False
    r = a.get("/api/v1/accounts/relationships", params={"id[]": [ids["bob"]] * 200})
    assert r.status_code == 200 and len(r.json()) == 1
    many = "&".join("id[]=%d" % (i + 1) for i in range(1000))
    r = a.get("/api/v1/accounts/relationships?" + many)
    assert r.status_code in (400, 414, 422)
    many = "&".join("id[]=%d" % (i + 1) for i in range(300))
    r = a.get("/api/v1/accounts/relationships?" + many)
    assert r.status_code in (400, 422) and "error" in r.json()

    # Unfollow, remove_from_followers.
    r = b.post("/api/v1/accounts/%s/unfollow" % ids["alice"])
    assert r.status_code == 200 and r.json()["following"] is False
    r = a.post("/api/v1/accounts/%s/remove_from_followers" % ids["carol"])
    assert r.status_code == 200 and r.json()["followed_by"] is False
    assert a.get("/api/v1/accounts/%s/followers" % ids["alice"]).json() == []

    # Account statuses: filters, pinned, tagged, visibility.
    b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    p1 = post(a, "hello #tandem")
    p2 = post(a, "followers only", visibility="private")
    p3 = post(a, "a reply", in_reply_to_id=p1["id"])
    p4 = post(a, "other #misc")
    path = "/api/v1/accounts/%s/statuses" % ids["alice"]
    assert [s["id"] for s in b.get(path).json()] == [p4["id"], p3["id"], p2["id"], p1["id"]]
    assert [s["id"] for s in c.get(path).json()] == [p4["id"], p3["id"], p1["id"]]
    assert [s["id"] for s in anon.get(path).json()] == [p4["id"], p3["id"], p1["id"]]
    pb = post(b, "bob's own")
    p5 = post(a, "answering bob", in_reply_to_id=pb["id"])
    r = b.get(path, params={"exclude_replies": "true"})
    # a reply to oneself is a thread, which Mastodon keeps; replies to others go
    assert [s["id"] for s in r.json()] == [p4["id"], p3["id"], p2["id"], p1["id"]]
    assert b.get(path).json()[0]["id"] == p5["id"]
    assert b.get(path, params={"pinned": "true"}).json() == []
    assert [s["id"] for s in b.get(path, params={"tagged": "tandem"}).json()] == [p1["id"]]
    assert [s["id"] for s in b.get(path, params={"tagged": "#TANDEM"}).json()] == [p1["id"]]
    assert b.get(path, params={"tagged": "nothing"}).json() == []
    assert b.get(path, params={"tagged": "tandem", "min_id": p1["id"]}).json() == []
    assert b.get(path, params={"tagged": "misc", "max_id": p4["id"]}).json() == []
    r = b.get(path, params={"limit": 2, "exclude_replies": "1"})
    assert [s["id"] for s in r.json()] == [p4["id"], p3["id"]]
    assert "max_id=" + p3["id"] in r.links["next"]["url"]
    assert "exclude_replies=1" in r.links["next"]["url"]

    # Favourites: the Link header pages by the favourite, not the status.
    r = b.post("/api/v1/statuses/%s/favourite" % p1["id"])
    if missing_route(r):
        pytest.skip("needs the statuses helper's favourite/reblog endpoints")
    assert r.status_code == 200, r.text
    assert b.post("/api/v1/statuses/%s/favourite" % p4["id"]).status_code == 200
    assert b.post("/api/v1/statuses/%s/favourite" % p2["id"]).status_code == 200
    r = b.get("/api/v1/favourites", params={"limit": 2})
    assert [s["id"] for s in r.json()] == [p2["id"], p4["id"]]
    cursor = r.links["next"]["url"].split("max_id=")[1].split("&")[0]
    assert cursor not in (p2["id"], p4["id"], p1["id"])
    r = b.get("/api/v1/favourites", params={"max_id": cursor})
    assert [s["id"] for s in r.json()] == [p1["id"]]


def test_blocks_mutes_locked(make_tandem):
    t, u, ids = start(make_tandem, "alice", "bob", "carol")
    a, b, c = u["alice"], u["bob"], u["carol"]

    # A locked account: follows become requests, listed and authorized.
    r = a.patch("/api/v1/accounts/update_credentials",
                data={"locked": "true", "display_name": "Alice A.", "note": "line1\nline2"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["locked"] is True and j["display_name"] == "Alice A."
    assert j["source"]["note"] == "line1\nline2" and "<br>" in j["note"]
    r = a.patch("/api/v1/accounts/update_credentials", data={"display_name": "x" * 200})
    assert r.status_code == 422 and "error" in r.json()
    r = a.patch("/api/v1/accounts/update_credentials",
                files={"avatar": ("a.txt", b"not an image", "text/plain")})
    assert r.status_code == 422
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
           b"\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
           b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    r = a.patch("/api/v1/accounts/update_credentials", files={"avatar": ("a.png", png, "image/png")})
    assert r.status_code == 200 and r.json()["avatar"].endswith("/avatars/alice"), r.text
    assert r.json()["locked"] is True  # untouched fields stay

    r = b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    assert r.status_code == 200 and r.json()["requested"] is True and r.json()["following"] is False
    r = c.post("/api/v1/accounts/%s/follow" % ids["alice"])
    reqs = a.get("/api/v1/follow_requests").json()
    assert [x["username"] for x in reqs] == ["carol", "bob"]
    assert me(a)["source"]["follow_requests_count"] == 2
    r = a.post("/api/v1/follow_requests/%s/authorize" % ids["bob"])
    assert r.status_code == 200 and r.json()["followed_by"] is True, r.text
    r = a.post("/api/v1/follow_requests/%s/reject" % ids["carol"])
    assert r.status_code == 200 and r.json()["requested_by"] is False
    r = a.post("/api/v1/follow_requests/%s/reject" % ids["carol"])
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert a.get("/api/v1/follow_requests").json() == []
    n = a.get("/api/v1/notifications").json()
    assert [(x["type"], x["account"]["username"]) for x in n] == [
        ("follow", "bob"), ("follow_request", "carol"), ("follow_request", "bob")]

    # Block: follows go both ways, statuses are hidden both ways.
    a.patch("/api/v1/accounts/update_credentials", data={"locked": "false"})
    assert a.post("/api/v1/accounts/%s/follow" % ids["bob"]).json()["following"] is True
    pb = post(b, "from bob")
    pa = post(a, "from alice")
    r = a.post("/api/v1/accounts/%s/block" % ids["bob"])
    assert r.status_code == 200, r.text
    rel = r.json()
    assert rel["blocking"] and not rel["following"] and not rel["followed_by"]
    assert b.get("/api/v1/accounts/relationships", params={"id[]": ids["alice"]}).json()[0][
        "blocked_by"] is True
    assert b.get("/api/v1/accounts/%s/statuses" % ids["alice"]).json() == []
    assert a.get("/api/v1/accounts/%s/statuses" % ids["bob"]).json() == []
    assert pb["id"] not in [s["id"] for s in a.get("/api/v1/timelines/home").json()]
    assert pa["id"] not in [s["id"] for s in b.get("/api/v1/timelines/home").json()]
    r = b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    assert r.status_code == 403 and "error" in r.json()
    c.post("/api/v1/accounts/%s/follow" % ids["alice"])
    assert b.get("/api/v1/accounts/%s/followers" % ids["alice"]).json() == []
    assert len(c.get("/api/v1/accounts/%s/followers" % ids["alice"]).json()) == 1
    assert [x["id"] for x in a.get("/api/v1/blocks").json()] == [ids["bob"]]
    r = a.post("/api/v1/accounts/%s/unblock" % ids["bob"])
    assert r.status_code == 200 and r.json()["blocking"] is False
    assert a.get("/api/v1/blocks").json() == []

    # Mute: hidden from home; with a duration it carries an expiry.
    assert a.post("/api/v1/accounts/%s/follow" % ids["carol"]).json()["following"]
    pc = post(c, "carol speaks")
    assert pc["id"] in [s["id"] for s in a.get("/api/v1/timelines/home").json()]
    r = a.post("/api/v1/accounts/%s/mute" % ids["carol"],
               data={"notifications": "false", "duration": "3600"})
    assert r.status_code == 200, r.text
    assert r.json()["muting"] is True and r.json()["muting_notifications"] is False
    assert pc["id"] not in [s["id"] for s in a.get("/api/v1/timelines/home").json()]
    muted = a.get("/api/v1/mutes").json()
    assert [x["id"] for x in muted] == [ids["carol"]]
    assert muted[0]["mute_expires_at"].endswith("Z")
    r = a.post("/api/v1/accounts/%s/mute" % ids["bob"])
    assert a.get("/api/v1/mutes").json()[0]["mute_expires_at"] is None
    a.post("/api/v1/accounts/%s/unmute" % ids["bob"])
    r = a.post("/api/v1/accounts/%s/mute" % ids["carol"], data={"duration": "soon"})
    assert r.status_code == 422
    r = a.post("/api/v1/accounts/%s/mute" % ids["alice"])
    assert r.status_code in (403, 422)
    r = a.post("/api/v1/accounts/%s/unmute" % ids["carol"])
    assert r.status_code == 200 and r.json()["muting"] is False
    assert a.get("/api/v1/mutes").json() == []
    assert pc["id"] in [s["id"] for s in a.get("/api/v1/timelines/home").json()]


def test_notifications_and_markers(make_tandem):
    t, u, ids = start(make_tandem, "alice", "bob", "carol")
    a, b, c = u["alice"], u["bob"], u["carol"]

    b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    c.post("/api/v1/accounts/%s/follow" % ids["alice"])
    m1 = post(b, "hi @alice")
    m2 = post(c, "hello @alice")
    n = a.get("/api/v1/notifications").json()
    assert [(x["type"], x["account"]["username"]) for x in n] == [
        ("mention", "carol"), ("mention", "bob"), ("follow", "carol"), ("follow", "bob")]
    assert n[0]["status"]["id"] == m2["id"] and n[1]["status"]["id"] == m1["id"]

    # types[], exclude_types[], account_id, unknown types.
    r = a.get("/api/v1/notifications", params={"types[]": ["follow"]})
    assert [x["type"] for x in r.json()] == ["follow", "follow"]
    r = a.get("/api/v1/notifications", params={"exclude_types[]": ["follow", "favourite"]})
    assert [x["type"] for x in r.json()] == ["mention", "mention"]
    r = a.get("/api/v1/notifications", params={"account_id": ids["bob"]})
    assert [(x["type"], x["account"]["username"]) for x in r.json()] == [
        ("mention", "bob"), ("follow", "bob")]
    assert a.get("/api/v1/notifications", params={"types[]": ["poll"]}).json() == []

    # Paging by notification id.
    r = a.get("/api/v1/notifications", params={"limit": 3})
    assert len(r.json()) == 3
    assert "max_id=" + r.json()[2]["id"] in r.links["next"]["url"]
    rest = a.get(r.links["next"]["url"][len(t.url):]).json()
    assert [x["id"] for x in rest] == [n[3]["id"]]
    r = a.get("/api/v1/notifications", params={"min_id": n[2]["id"]})
    assert [x["id"] for x in r.json()] == [n[0]["id"], n[1]["id"]]

    # One, unread count, markers.
    r = a.get("/api/v1/notifications/" + n[0]["id"])
    assert r.status_code == 200 and r.json()["id"] == n[0]["id"]
    assert b.get("/api/v1/notifications/" + n[0]["id"]).status_code == 404
    assert a.get("/api/v1/notifications/abc").json() == NOT_FOUND
    assert a.get("/api/v1/notifications/unread_count").json() == {"count": 4}
    r = a.get("/api/v1/notifications/unread_count", params={"limit": 3})
    assert r.json() == {"count": 3}
    assert a.get("/api/v1/markers", params={"timeline[]": ["notifications", "home"]}).json() == {}
    r = a.post("/api/v1/markers", data={"notifications[last_read_id]": n[1]["id"],
                                        "home[last_read_id]": m2["id"]})
    assert r.status_code == 200, r.text
    mk = r.json()
    assert mk["notifications"]["last_read_id"] == n[1]["id"]
    assert mk["notifications"]["version"] == 1 and mk["home"]["last_read_id"] == m2["id"]
    assert mk["home"]["updated_at"].endswith("Z")
    assert a.get("/api/v1/notifications/unread_count").json() == {"count": 1}
    r = a.post("/api/v1/markers", json={"notifications": {"last_read_id": n[0]["id"]}})
    assert r.status_code == 200 and r.json()["notifications"]["version"] == 2
    assert "home" not in r.json()
    assert a.get("/api/v1/notifications/unread_count").json() == {"count": 0}
    r = a.get("/api/v1/markers", params={"timeline[]": ["notifications", "home"]}).json()
    assert r["notifications"]["last_read_id"] == n[0]["id"] and r["home"]["version"] == 1
    assert a.post("/api/v1/markers", data={"home[last_read_id]": "x"}).status_code == 422
    assert a.post("/api/v1/markers", data={}).status_code == 400

    # Favourite and reblog notifications (the statuses helper's endpoints).
    p = post(a, "like me")
    r = b.post("/api/v1/statuses/%s/favourite" % p["id"])
    if missing_route(r):
        fav = False
    else:
        assert r.status_code == 200, r.text
        assert c.post("/api/v1/statuses/%s/reblog" % p["id"]).status_code == 200
        fav = True

    # Dismiss one, clear all.
    r = a.post("/api/v1/notifications/%s/dismiss" % n[0]["id"])
    assert r.status_code == 200 and r.json() == {}
    assert a.get("/api/v1/notifications/" + n[0]["id"]).status_code == 404
    assert a.post("/api/v1/notifications/%s/dismiss" % n[0]["id"]).status_code == 404
    if fav:
        got = [x["type"] for x in a.get("/api/v1/notifications").json()]
        assert got[:2] == ["reblog", "favourite"], got
        r = a.get("/api/v1/notifications", params={"types[]": ["favourite", "reblog"]})
        assert [x["status"]["id"] for x in r.json()] == [p["id"], p["id"]]
    assert a.post("/api/v1/notifications/clear").json() == {}
    assert a.get("/api/v1/notifications").json() == []
    ro = masto.Api(t, masto.token(t, "alice", scope="read"))
    assert ro.post("/api/v1/notifications/clear").status_code == 403
    if not fav:
        pytest.skip("needs the statuses helper's favourite/reblog endpoints")


def test_search(make_tandem):
    t, u, ids = start(make_tandem, "alice", "bob", "carol", "alfred")
    a, b, c = u["alice"], u["bob"], u["carol"]
    anon = masto.Api(t)
    b.post("/api/v1/accounts/%s/follow" % ids["alice"])
    pub = post(a, "The quick brown fox jumps #Foxes")
    priv = post(a, "secret rendezvous at the fox den", visibility="private")
    dm = post(a, "@bob direct fox whisper", visibility="direct")
    post(c, "carol likes #foxtrot")

    def v2(api, **q):
        r = api.get("/api/v2/search", params=q)
        assert r.status_code == 200, r.text
        return r.json()

    # Accounts by prefix, "@name" too; hashtags by prefix, "#tag" too.
    r = v2(a, q="al", type="accounts")
    assert [x["username"] for x in r["accounts"]] == ["alfred", "alice"]
    assert r["hashtags"] == [] and r["statuses"] == []
    assert [x["username"] for x in v2(a, q="@bob")["accounts"]] == ["bob"]
    assert [x["name"] for x in v2(a, q="#fox", type="hashtags")["hashtags"]] == ["foxes",
                                                                                  "foxtrot"]
    assert [x["name"] for x in v2(a, q="foxt", type="hashtags")["hashtags"]] == ["foxtrot"]
    assert v2(a, q="al", type="accounts", limit=1, offset=1)["accounts"][0]["username"] == "alice"
    r = a.get("/api/v1/search", params={"q": "#fox", "type": "hashtags"})
    assert r.json()["hashtags"] == ["foxes", "foxtrot"]
    r = a.get("/api/v1/accounts/search", params={"q": "car"})
    assert [x["username"] for x in r.json()] == ["carol"]

    # Statuses: full text, and only what the viewer may see.
    def found(api, q):
        return [s["id"] for s in v2(api, q=q, type="statuses")["statuses"]]

    assert found(a, "fox") == [dm["id"], priv["id"], pub["id"]]
    assert found(b, "fox") == [dm["id"], priv["id"], pub["id"]]
    assert found(c, "fox") == [pub["id"]]
    assert found(c, "rendezvous") == []
    assert found(anon, "fox") == []  # Mastodon: statuses are for signed-in users
    assert found(a, "QUICK Brown") == [pub["id"]]
    assert found(a, "quick den") == []
    r = v2(a, q="fox", type="statuses", account_id=ids["carol"])
    assert r["statuses"] == []
    r = v2(a, q="fox", type="statuses", max_id=priv["id"])
    assert [s["id"] for s in r["statuses"]] == [pub["id"]]
    r = v2(a, q="fox", type="statuses", limit=1, offset=1)
    assert [s["id"] for s in r["statuses"]] == [priv["id"]]
    assert a.get("/api/v2/search", params={"q": "fox", "max_id": "x"}).status_code == 400
    # Query syntax is never passed through.
    for q in ('fox OR den', 'fox"', '"', 'NEAR(fox den)', 'source:fox', 'fo*', '-fox', "')"):
        r = a.get("/api/v2/search", params={"q": q, "type": "statuses"})
        assert r.status_code == 200, (q, r.text)
    assert found(a, "fox OR den") == []
    assert a.get("/api/v2/search", params={"q": "x" * 600}).status_code == 400
    assert a.get("/api/v2/search").status_code == 400

    # A status URL finds it if visible; a profile URL finds the account.
    url = priv["url"]
    assert found(b, url) == [priv["id"]]
    assert found(c, url) == []
    assert found(a, pub["url"]) == [pub["id"]]
    r = v2(c, q=pub["account"]["url"])
    assert [x["username"] for x in r["accounts"]] == ["alice"]
    # Anonymous: no offset or resolve.
    assert anon.get("/api/v2/search", params={"q": "al", "offset": 1}).status_code == 401


def test_mastodon_py(make_tandem):
    mastodon = pytest.importorskip("mastodon")
    t, u, ids = start(make_tandem, "alice", "bob", "carol", "dave")
    toks = {n: masto.token(t, n) for n in ("alice", "bob", "carol", "dave")}

    def client(n):
        return mastodon.Mastodon(access_token=toks[n], api_base_url=t.url,
                                 mastodon_version="4.2.0", version_check_mode="none")

    alice = client("alice")
    for n in ("bob", "carol", "dave"):
        rel = client(n).account_follow(int(ids["alice"]))
        assert rel["following"] is True
    page = alice.account_followers(int(ids["alice"]), limit=2)
    names = [x["username"] for x in page]
    page2 = alice.fetch_next(page)
    names += [x["username"] for x in page2]
    assert names == ["dave", "carol", "bob"]
    rels = alice.account_relationships([int(ids["bob"]), int(ids["carol"])])
    assert [str(x["id"]) for x in rels] == [ids["bob"], ids["carol"]]
    assert all(x["followed_by"] for x in rels)
    notifs = alice.notifications(limit=2)
    assert [x["type"] for x in notifs] == ["follow"] * 2
    assert [x["type"] for x in alice.fetch_next(notifs)] == ["follow"]
    mk = alice.markers_set(["notifications"], [notifs[0]["id"]])
    assert str(mk["notifications"]["last_read_id"]) == str(notifs[0]["id"])
    assert alice.markers_get(["notifications", "home"])["notifications"]["version"] == 1
    alice.status_post("a fox appears")
    res = client("bob").search_v2("fox", result_type="statuses")
    assert [s["content"] for s in res["statuses"]] == ["<p>a fox appears</p>"]
    # A locked account and its follow requests.
    alice.account_update_credentials(locked=True)
    bob = client("bob")
    bob.account_unfollow(int(ids["alice"]))
    assert bob.account_follow(int(ids["alice"]))["requested"] is True
    reqs = alice.follow_requests()
    assert [x["username"] for x in reqs] == ["bob"]
    alice.follow_request_authorize(reqs[0]["id"])
    assert bob.account_relationships(int(ids["alice"]))[0]["following"] is True


def test_bad_input(make_tandem):
    """Malformed parameters get a JSON error or a sane answer, never a crash
    (the fixture fails on any sanitizer report)."""
    t, u, ids = start(make_tandem, "alice", "bob")
    a = u["alice"]
    bob = ids["bob"]
    gets = ["/api/v1/notifications", "/api/v1/accounts/%s/statuses" % bob,
            "/api/v1/accounts/%s/followers" % bob, "/api/v1/favourites", "/api/v1/blocks",
            "/api/v1/mutes", "/api/v1/follow_requests", "/api/v2/search", "/api/v1/search",
            "/api/v1/accounts/search", "/api/v1/markers", "/api/v1/accounts/relationships",
            "/api/v1/accounts/lookup", "/api/v1/notifications/unread_count"]
    params = [{"limit": "-5"}, {"limit": "1e9"}, {"limit": "99999999999999999999"},
              {"max_id": "0"}, {"since_id": "-1"}, {"min_id": "9" * 30},
              {"types[]": ["", "x" * 300]}, {"exclude_types[]": "mention"},
              {"q": '"\')(*:^-'}, {"q": "\u00e9\u6f22\U0001f600" * 20}, {"q": "#"},
              {"q": "@"}, {"q": "@@"}, {"q": "http://"}, {"acct": "@"},
              {"id[]": ["0", "-1", "1" * 40]}, {"timeline[]": ["public", ""]},
              {"account_id": "abc"}, {"tagged": "#" * 300}, {"offset": "-3"}]
    for path in gets:
        for p in params:
            r = a.get(path, params=p)
            assert r.status_code in (200, 400, 404, 422), (path, p, r.status_code, r.text)
            assert "json" in r.headers["Content-Type"], (path, p)
            j = r.json()
            if r.status_code != 200:
                assert isinstance(j.get("error"), str), (path, p, j)
    # Invalid UTF-8 and broken JSON bodies.
    r = a.get("/api/v2/search?q=%ff%fe")
    assert r.status_code == 400 and "error" in r.json()
    r = a.post("/api/v1/markers", data=b'{"home": [1, 2]}',
               headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.patch("/api/v1/accounts/update_credentials", json={"note": 5, "locked": "maybe"})
    assert r.status_code in (200, 422)
    r = a.post("/api/v1/accounts/%s/mute" % bob, json={"duration": -5})
    assert r.status_code == 422
    r = a.patch("/api/v1/accounts/update_credentials", data={"display_name": "a\x01b"})
    assert r.status_code == 422 and "error" in r.json()


def test_toot(make_tandem, tmp_path):
    """toot, the command-line client: follows, mutes, blocks, whois, search,
    notifications."""
    if shutil.which("toot") is None:
        pytest.skip("toot is not installed")
    t, u, ids = start(make_tandem, "alice", "bob")
    host = t.url.split("//")[1]
    cid, secret = masto.add_client(t)
    cfg = {"apps": {host: {"instance": host, "base_url": t.url, "client_id": cid,
                           "client_secret": secret}},
           "users": {"alice@" + host: {"instance": host, "username": "alice",
                                       "access_token": masto.token(t, "alice",
                                                                   client=(cid, secret))}},
           "active_user": "alice@" + host}
    (tmp_path / "toot").mkdir()
    (tmp_path / "toot" / "config.json").write_text(json.dumps(cfg))
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))

    def toot(*args):
        r = subprocess.run(["toot", *args], env=env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr

    rc, out = toot("follow", "bob")
    assert rc == 0 and "now following" in out.lower(), out
    rc, out = toot("following", "alice")
    assert rc == 0 and "bob" in out, out
    rc, out = toot("whois", "bob")
    assert rc == 0 and "bob" in out, out
    rc, out = toot("search", "bo")
    assert rc == 0 and "bob" in out, out
    rc, out = toot("mute", "bob")
    assert rc == 0, out
    assert u["alice"].get("/api/v1/mutes").json()[0]["id"] == ids["bob"]
    rc, out = toot("unmute", "bob")
    assert rc == 0 and u["alice"].get("/api/v1/mutes").json() == [], out
    rc, out = toot("block", "bob")
    assert rc == 0 and u["alice"].get("/api/v1/blocks").json()[0]["id"] == ids["bob"], out
    rc, out = toot("unblock", "bob")
    assert rc == 0, out
    u["bob"].post("/api/v1/accounts/%s/follow" % ids["alice"])
    post(u["bob"], "hey @alice")
    rc, out = toot("notifications", "--no-color")
    assert rc == 0 and "hey" in out and "bob" in out, out
