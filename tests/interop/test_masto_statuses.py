# SPDX-License-Identifier: MIT
"""The Mastodon API's statuses, timelines and media, with requests and with
Mastodon.py: posting and its errors, edits and their history, threads,
favourites and reblogs, paging by the Link header, uploads whose EXIF must
not survive, and that followers-only and direct posts never leak."""
import json
import os
import socket
import struct
import subprocess
import time
import uuid
import zlib

import pytest
import requests

import masto
from conftest import ROOT

SEED_JPEG = os.path.join(ROOT, "fuzz", "corpus", "mb_media_probe", "seed-jpeg-baseline")


def exif_app1():
    """An APP1 Exif segment (big-endian TIFF): Orientation 6, an
    ImageDescription and a GPS IFD with GPSLatitudeRef and GPSLatitude."""
    desc_at, gps_at = 50, 66
    gps_end = gps_at + 2 + 2 * 12 + 4
    t = b"MM\x00\x2a" + struct.pack(">I", 8)
    t += struct.pack(">H", 3)
    t += struct.pack(">HHII", 0x010E, 2, 16, desc_at)
    t += struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    t += struct.pack(">HHII", 0x8825, 4, 1, gps_at)
    t += struct.pack(">I", 0)
    t += b"SECRET-LOCATION\x00"
    t += struct.pack(">H", 2)
    t += struct.pack(">HHI", 0x0001, 2, 2) + b"N\x00\x00\x00"
    t += struct.pack(">HHII", 0x0002, 5, 3, gps_end)
    t += struct.pack(">I", 0)
    t += struct.pack(">IIIIII", 48, 1, 51, 1, 2955, 100)
    body = b"Exif\x00\x00" + t
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def jpeg_with_gps():
    """The 12x8 seed JPEG with the EXIF segment right after SOI."""
    with open(SEED_JPEG, "rb") as f:
        j = f.read()
    assert j[:2] == b"\xff\xd8"
    return j[:2] + exif_app1() + j[2:]


def png(w, h):
    """A w x h grey RGB PNG: tiny to send, large to decode."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = (b"\x00" + b"\x80" * (3 * w)) * h
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def boot(make_tandem, users=("alice", "bob", "carol"), env=None, scope=masto.SCOPE):
    t = make_tandem(start=False, env_extra=env)
    for u in users:
        t.add_user(u)
    t.start()
    client = masto.add_client(t, scope=scope)
    apis = {u: masto.Api(t, masto.token(t, u, client=client)) for u in users}
    ids = {u: apis[u].get("/api/v1/accounts/verify_credentials").json()["id"] for u in users}
    return t, apis, ids


def post(api, text, **kw):
    r = api.post("/api/v1/statuses", data=dict(status=text, **kw))
    assert r.status_code == 200, r.text
    return r.json()


def test_post_get_edit_delete(make_tandem):
    t, apis, _ = boot(make_tandem, users=("alice",), env={"TANDEM_MICROBLOG_MAX_CHARS": "50"})
    a, anon = apis["alice"], masto.Api(t)
    st = post(a, "hello #World", spoiler_text="cw", language="en")
    assert st["sensitive"] is True and st["spoiler_text"] == "cw" and st["language"] == "en"
    assert st["edited_at"] is None and st["favourited"] is False
    sid = st["id"]
    r = anon.get("/api/v1/statuses/" + sid)
    assert r.status_code == 200 and r.json()["content"] == st["content"]
    assert "favourited" not in r.json()

    # Idempotency-Key: the same key gives back the same post, once.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    r1 = a.post("/api/v1/statuses", data={"status": "once"}, headers=key)
    r2 = a.post("/api/v1/statuses", data={"status": "once"}, headers=key)
    assert r1.status_code == r2.status_code == 200
    assert r1.json()["id"] == r2.json()["id"]
    r3 = a.post("/api/v1/statuses", data={"status": "once"},
                headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r3.json()["id"] != r1.json()["id"]

    # Edit: what is not given stays; history has both versions; source.
    r = a.put("/api/v1/statuses/" + sid, data={"status": "hello again"})
    assert r.status_code == 200, r.text
    e = r.json()
    assert "hello again" in e["content"] and e["edited_at"] is not None
    assert e["spoiler_text"] == "cw" and e["language"] == "en"
    h = a.get("/api/v1/statuses/%s/history" % sid).json()
    assert len(h) == 2 and "hello" in h[0]["content"] and "again" in h[1]["content"]
    assert h[0]["account"]["username"] == "alice" and h[0]["media_attachments"] == []
    assert h[0]["created_at"] <= h[1]["created_at"]
    src = a.get("/api/v1/statuses/%s/source" % sid).json()
    assert src == {"id": sid, "text": "hello again", "spoiler_text": "cw"}

    # Delete answers the post with its source, for delete-and-redraft.
    r = a.delete("/api/v1/statuses/" + sid)
    assert r.status_code == 200 and r.json()["text"] == "hello again", r.text
    r = a.get("/api/v1/statuses/" + sid)
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert a.delete("/api/v1/statuses/" + sid).status_code == 404

    # Refused input, in Mastodon's words.
    r = a.post("/api/v1/statuses", data={"status": ""})
    assert r.status_code == 422
    assert r.json()["error"] == "Validation failed: Text can't be blank"
    r = a.post("/api/v1/statuses", data={"status": "x" * 51})
    assert r.status_code == 422
    assert r.json()["error"].startswith("Validation failed: Text character limit of 50 exceeded")
    assert a.post("/api/v1/statuses", data={"status": "x" * 50}).status_code == 200
    r = a.post("/api/v1/statuses", json={"status": "q?", "poll": {"options": ["a", "b"],
                                                                  "expires_in": 600}})
    assert r.status_code == 422 and "polls are not supported" in r.json()["error"]
    r = a.post("/api/v1/statuses", data={"status": "q?", "poll[options][]": ["a", "b"]})
    assert r.status_code == 422 and "polls are not supported" in r.json()["error"]
    r = a.post("/api/v1/statuses", data={"status": "later",
                                          "scheduled_at": "2030-01-01T00:00:00Z"})
    assert r.status_code == 422 and "scheduled" in r.json()["error"]
    # Invalid UTF-8 in a form and in JSON: refused, never a crash.
    r = a.post("/api/v1/statuses", data=b"status=%ff%fe%80",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.post("/api/v1/statuses", data=b'{"status": "\xff\xfe"}',
               headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.post("/api/v1/statuses", files={"status": (None, b"\xff\xfe bad")})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.post("/api/v1/statuses", json={"status": "nul \u0000 inside"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.post("/api/v1/statuses", json={"status": "bell \u0007"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = a.post("/api/v1/statuses", json={"status": ["not", "text"]})
    assert r.status_code == 422
    r = a.post("/api/v1/statuses", json={"status": "x", "media_ids": [{"id": 1}]})
    assert r.status_code == 422
    r = a.post("/api/v1/statuses", json={"status": "x", "media_ids": ["1", "2", "3", "4", "5"]})
    assert r.status_code == 422
    r = a.post("/api/v1/statuses", data={"status": "x", "media_ids[]": "abc"})
    assert r.status_code == 422
    r = a.post("/api/v1/statuses", data={"status": "x", "media_ids[]": "123456"})
    assert r.status_code == 422
    r = a.post("/api/v1/statuses", data={"status": "x", "in_reply_to_id": "999999"})
    assert r.status_code == 404
    # Unknown and malformed ids.
    for path in ("/api/v1/statuses/999999", "/api/v1/statuses/abc",
                 "/api/v1/statuses/-1/context", "/api/v1/statuses/99999999999999999999",
                 "/api/v1/statuses/1/favourited_by"):
        r = a.get(path)
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}, path
    assert a.post("/api/v1/statuses/999999/favourite").status_code == 404
    assert a.put("/api/v1/statuses/999999", data={"status": "x"}).status_code == 404
    # Bookmarks, pins and conversation mutes: a message, not a 404.
    sid = post(a, "keep")["id"]
    for what in ("bookmark", "unbookmark", "pin", "unpin", "mute", "unmute"):
        r = a.post("/api/v1/statuses/%s/%s" % (sid, what))
        assert r.status_code == 422, what
        assert r.json()["error"].endswith("not supported by this server")
    # Several at once; unknown and malformed ids are left out.
    r = anon.get("/api/v1/statuses", params={"id[]": [sid, "999999", "zz", r1.json()["id"]]})
    assert r.status_code == 200 and [s["id"] for s in r.json()] == [sid, r1.json()["id"]]


def test_scopes(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice")
    t.start()
    ro = masto.Api(t, masto.token(t, "alice", scope="read"))
    r = ro.post("/api/v1/statuses", data={"status": "nope"})
    assert r.status_code == 403
    assert r.json()["error"] == "This action is outside the authorized scopes"
    assert ro.get("/api/v1/timelines/home").status_code == 200
    assert ro.get("/api/v1/conversations").json() == []
    assert masto.Api(t).post("/api/v1/statuses", data={"status": "x"}).status_code == 401
    assert masto.Api(t).get("/api/v1/timelines/home").status_code == 401
    files = {"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")}
    assert ro.post("/api/v2/media", files=files).status_code == 403


def test_context_favourite_reblog(make_tandem):
    t, apis, ids = boot(make_tandem)
    a, b, c = apis["alice"], apis["bob"], apis["carol"]
    root = post(a, "root")
    reply = post(b, "@alice reply", in_reply_to_id=root["id"])
    assert reply["in_reply_to_id"] == root["id"]
    assert reply["in_reply_to_account_id"] == ids["alice"]
    deeper = post(a, "@bob deeper", in_reply_to_id=reply["id"])
    ctx = masto.Api(t).get("/api/v1/statuses/%s/context" % reply["id"]).json()
    assert [s["id"] for s in ctx["ancestors"]] == [root["id"]]
    assert [s["id"] for s in ctx["descendants"]] == [deeper["id"]]
    assert a.get("/api/v1/statuses/" + root["id"]).json()["replies_count"] == 1

    r = b.post("/api/v1/statuses/%s/favourite" % root["id"])
    assert r.status_code == 200, r.text
    assert r.json()["favourited"] is True and r.json()["favourites_count"] == 1
    assert b.post("/api/v1/statuses/%s/favourite" % root["id"]).json()["favourites_count"] == 1
    fb = c.get("/api/v1/statuses/%s/favourited_by" % root["id"]).json()
    assert [x["id"] for x in fb] == [ids["bob"]]
    # Accounts lists page by the Link header too.
    assert c.post("/api/v1/statuses/%s/favourite" % root["id"]).status_code == 200
    r = a.get("/api/v1/statuses/%s/favourited_by" % root["id"], params={"limit": 1})
    assert [x["id"] for x in r.json()] == [ids["carol"]]
    r = a.get(r.links["next"]["url"][len(t.url):])
    assert [x["id"] for x in r.json()] == [ids["bob"]]
    r = a.get(r.links["next"]["url"][len(t.url):])
    assert r.json() == [] and "Link" not in r.headers
    assert c.post("/api/v1/statuses/%s/unfavourite" % root["id"]).status_code == 200
    r = b.post("/api/v1/statuses/%s/unfavourite" % root["id"])
    assert r.json()["favourited"] is False and r.json()["favourites_count"] == 0

    # Only the author edits or deletes.
    r = b.put("/api/v1/statuses/" + root["id"], data={"status": "mine now"})
    assert r.status_code == 403 and "error" in r.json()
    assert b.delete("/api/v1/statuses/" + root["id"]).status_code == 403
    assert "mine now" not in a.get("/api/v1/statuses/" + root["id"]).json()["content"]

    r = c.post("/api/v1/statuses/%s/reblog" % root["id"])
    assert r.status_code == 200, r.text
    rb = r.json()
    assert rb["reblog"]["id"] == root["id"] and rb["id"] != root["id"]
    assert rb["reblogged"] is True and rb["reblog"]["reblogs_count"] == 1
    assert rb["account"]["id"] == ids["carol"] and rb["content"] == ""
    # Reblogging again is the same reblog; a favourite of the reblog is the original's.
    assert c.post("/api/v1/statuses/%s/reblog" % root["id"]).json()["id"] == rb["id"]
    r = b.post("/api/v1/statuses/%s/favourite" % rb["id"])
    assert r.json()["id"] == root["id"] and r.json()["favourites_count"] == 1
    by = a.get("/api/v1/statuses/%s/reblogged_by" % root["id"]).json()
    assert [x["id"] for x in by] == [ids["carol"]]
    assert c.post("/api/v1/statuses/%s/reblog" % root["id"],
                  data={"visibility": "nonsense"}).status_code == 422
    r = c.post("/api/v1/statuses/%s/unreblog" % root["id"])
    assert r.status_code == 200 and r.json()["id"] == root["id"]
    assert r.json()["reblogged"] is False and r.json()["reblogs_count"] == 0
    assert c.get("/api/v1/statuses/" + rb["id"]).status_code == 404


def ids_of(r):
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()]


def walk(api, path, params):
    """Every page of a list by its Link next, until an empty page."""
    seen, url, pages = [], path, 0
    r = api.get(url, params=params)
    while True:
        got = ids_of(r)
        if not got:
            break
        seen += got
        pages += 1
        assert pages < 50
        r = api.get(r.links["next"]["url"][len(api.base):])
    return seen, pages


def test_timelines_and_paging(make_tandem):
    t, apis, ids = boot(make_tandem, users=("alice", "bob"))
    a, b, anon = apis["alice"], apis["bob"], masto.Api(t)
    assert b.post("/api/v1/accounts/%s/follow" % ids["alice"]).status_code == 200
    posted = [post(a, "post %d #Paging" % i)["id"] for i in range(7)]
    other = post(b, "untagged")["id"]
    newest = posted[::-1]

    seen, pages = walk(anon, "/api/v1/timelines/public", {"limit": 3})
    assert seen == [other] + newest and pages == 3
    seen, _ = walk(b, "/api/v1/timelines/tag/paging", {"limit": 2})
    assert seen == newest
    assert ids_of(anon.get("/api/v1/timelines/tag/%23PAGING", params={"limit": 40})) == newest
    seen, _ = walk(b, "/api/v1/timelines/home", {"limit": 4})
    assert seen == [other] + newest
    # min_id: the oldest page above it (newest first); since_id: the newest.
    r = b.get("/api/v1/timelines/tag/paging", params={"min_id": posted[1], "limit": 2})
    assert ids_of(r) == [posted[3], posted[2]]
    assert "min_id=" + posted[3] in r.links["prev"]["url"]
    r = b.get("/api/v1/timelines/tag/paging", params={"since_id": posted[1], "limit": 2})
    assert ids_of(r) == [posted[6], posted[5]]
    r = b.get("/api/v1/timelines/tag/paging", params={"since_id": posted[6]})
    assert ids_of(r) == [] and "Link" not in r.headers
    r = b.get("/api/v1/timelines/public", params={"max_id": posted[3], "since_id": posted[0]})
    assert ids_of(r) == [posted[2], posted[1]]
    # Paging abuse: clamped or refused, never a crash.
    assert len(ids_of(b.get("/api/v1/timelines/public", params={"limit": -5}))) == 1
    assert len(ids_of(b.get("/api/v1/timelines/public", params={"limit": 1000000}))) == 8
    assert len(ids_of(b.get("/api/v1/timelines/public", params={"limit": 10**30}))) == 8
    for bad in ({"max_id": "abc"}, {"since_id": "1e5"}, {"min_id": "-3"},
                {"max_id": "9" * 40}, {"limit": "many"}):
        r = b.get("/api/v1/timelines/public", params=bad)
        assert r.status_code == 400 and "error" in r.json(), bad
    assert ids_of(b.get("/api/v1/timelines/public",
                        params={"max_id": str(2**63 - 1), "limit": 1})) == [other]
    assert ids_of(anon.get("/api/v1/timelines/public", params={"remote": "true"})) == []
    assert ids_of(anon.get("/api/v1/timelines/public", params={"local": "true"}))[0] == other
    assert ids_of(anon.get("/api/v1/timelines/public", params={"only_media": "true"})) == []
    assert ids_of(anon.get("/api/v1/timelines/tag/nothing")) == []
    wide = post(a, "wide #ＷＩＤＥ１")["id"]
    assert ids_of(anon.get("/api/v1/timelines/tag/wide1")) == [wide]
    assert ids_of(anon.get("/api/v1/timelines/tag/%EF%BC%B7ide1")) == [wide]
    for odd in ("%20", "a%20b", "%23", "%00", "%FF", "x" * 300):
        r = anon.get("/api/v1/timelines/tag/" + odd)
        assert r.status_code in (200, 400, 404), odd
    assert ids_of(anon.get("/api/v1/timelines/tag/paging",
                           params={"only_media": "1"})) == []
    assert b.get("/api/v1/conversations").json() == []


def test_private_and_direct_do_not_leak(make_tandem):
    t, apis, ids = boot(make_tandem)
    a, b, c, anon = apis["alice"], apis["bob"], apis["carol"], masto.Api(t)
    assert b.post("/api/v1/accounts/%s/follow" % ids["alice"]).status_code == 200
    assert a.post("/api/v1/accounts/%s/follow" % ids["carol"]).status_code == 200
    pub = post(a, "public #secret")
    priv = post(a, "followers only #secret", visibility="private")
    dm = post(a, "@bob just you #secret", visibility="direct")
    reply = post(a, "private reply", visibility="private", in_reply_to_id=pub["id"])
    m = a.post("/api/v2/media", files={"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")})
    assert m.status_code == 200, m.text
    media = post(a, "with media", visibility="private", **{"media_ids[]": m.json()["id"]})
    hidden = [priv["id"], dm["id"], reply["id"], media["id"]]

    # bob follows alice and is mentioned: he sees them all.
    for sid in hidden:
        assert b.get("/api/v1/statuses/" + sid).status_code == 200, sid
    assert set(hidden) <= set(ids_of(b.get("/api/v1/timelines/home")))
    # carol (no follower, not mentioned) and anonymous see none of them.
    for who in (c, anon):
        for sid in hidden:
            for path in ("", "/context", "/favourited_by", "/reblogged_by", "/history",
                         "/source"):
                r = who.get("/api/v1/statuses/" + sid + path)
                assert r.status_code in (404, 401), (sid, path, r.text)
                assert sid not in r.text
        got = who.get("/api/v1/statuses", params={"id[]": hidden}).json()
        assert got == []
        for path in ("/api/v1/timelines/public", "/api/v1/timelines/tag/secret"):
            got = ids_of(who.get(path, params={"limit": 40}))
            assert pub["id"] in got and not set(hidden) & set(got), path
        ctx = who.get("/api/v1/statuses/%s/context" % pub["id"]).json()
        assert ctx["descendants"] == []
    assert not set(hidden) & set(ids_of(c.get("/api/v1/timelines/home")))
    for sid in hidden:
        for act in ("favourite", "reblog", "unfavourite", "unreblog", "bookmark"):
            r = c.post("/api/v1/statuses/%s/%s" % (sid, act))
            assert r.status_code == 404, (sid, act, r.text)
        r = c.post("/api/v1/statuses", data={"status": "hi", "in_reply_to_id": sid})
        assert r.status_code == 404
    # Even bob may not reblog a followers-only or direct post.
    for sid in (priv["id"], dm["id"]):
        r = b.post("/api/v1/statuses/%s/reblog" % sid)
        assert r.status_code == 403 and "error" in r.json()
    # The media file: with the key only; its entity only for its owner.
    url = b.get("/api/v1/statuses/" + media["id"]).json()["media_attachments"][0]["url"]
    assert requests.get(url, timeout=30).status_code == 200
    bad = url.replace("/original", "/small").rsplit("/", 2)
    assert requests.get(bad[0] + "/" + "0" * 24 + "/small", timeout=30).status_code == 404
    assert c.get("/api/v1/media/" + m.json()["id"]).status_code == 404
    assert c.put("/api/v1/media/" + m.json()["id"],
                 data={"description": "x"}).status_code == 404
    assert c.delete("/api/v1/media/" + m.json()["id"]).status_code == 404


def test_media(make_tandem):
    t, apis, ids = boot(make_tandem, users=("alice", "carol"),
                         env={"TANDEM_MICROBLOG_MEDIA_MAX_BYTES": "4096"})
    a, c = apis["alice"], apis["carol"]
    img = jpeg_with_gps()
    assert b"SECRET-LOCATION" in img
    r = a.post("/api/v2/media", files={"file": ("cam.jpg", img, "image/jpeg")},
               data={"description": "a tiny picture", "focus": "0.1,-0.2"})
    assert r.status_code in (200, 202), r.text
    md = r.json()
    assert md["type"] == "image" and md["description"] == "a tiny picture"
    assert md["meta"]["focus"] == {"x": 0.1, "y": -0.2}
    # EXIF orientation 6: the 12x8 picture stands upright as 8x12.
    assert md["meta"]["original"]["width"] == 8 and md["meta"]["original"]["height"] == 12
    assert md["blurhash"]
    orig = requests.get(md["url"], timeout=30)
    assert orig.status_code == 200 and orig.headers["Content-Type"] == "image/jpeg"
    assert orig.content[:2] == b"\xff\xd8"
    for word in (b"Exif", b"GPS", b"SECRET"):
        assert word not in orig.content
    assert "immutable" in orig.headers["Cache-Control"] and "Set-Cookie" not in orig.headers
    etag = orig.headers["ETag"]
    head = requests.head(md["url"], timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(orig.content))
    r = requests.get(md["url"], headers={"If-None-Match": etag}, timeout=30)
    assert r.status_code == 304
    small = requests.get(md["preview_url"], timeout=30)
    assert small.status_code == 200 and small.content[:2] == b"\xff\xd8"
    assert small.headers["ETag"] != etag
    base = md["url"].rsplit("/", 2)[0]
    for tail in ("/original/x", "/../original"):
        assert requests.get(base + tail, timeout=30).status_code == 404
    assert requests.get(base + "/thumb", timeout=30).status_code == 404
    assert requests.get(md["url"].replace("/media/" + md["id"], "/media/" + str(
        int(md["id"]) + 1)), timeout=30).status_code == 404

    # The entity, its description; carol sees none of it.
    r = a.put("/api/v1/media/" + md["id"], data={"description": "renamed"})
    assert r.status_code == 200 and r.json()["description"] == "renamed"
    assert a.get("/api/v1/media/" + md["id"]).json()["description"] == "renamed"
    assert c.get("/api/v1/media/" + md["id"]).status_code == 404
    assert c.put("/api/v1/media/" + md["id"], data={"description": "y"}).status_code == 404
    assert a.put("/api/v1/media/abc", data={"description": "y"}).status_code == 404
    r = a.put("/api/v1/media/" + md["id"], data={"description": "d" * 1501})
    assert r.status_code == 422
    # The focal point changes alone; malformed or out-of-range ones are refused.
    r = a.put("/api/v1/media/" + md["id"], data={"focus": "-1,1"})
    assert r.status_code == 200 and r.json()["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    assert r.json()["description"] == "renamed"
    for bad in ("1.5,0", "0", "x,y", "0,0,0", "nan,0", "0.5, 0.5x"):
        r = a.put("/api/v1/media/" + md["id"], data={"focus": bad})
        assert r.status_code == 422 and "Focus" in r.json()["error"], (bad, r.text)
        r = a.post("/api/v2/media", files={"file": ("a.jpg", img, "image/jpeg")},
                   data={"focus": bad})
        assert r.status_code == 422 and "Focus" in r.json()["error"], (bad, r.text)
    assert a.get("/api/v1/media/" + md["id"]).json()["meta"]["focus"] == {"x": -1.0, "y": 1.0}

    # Attach: the post carries it; an attached one cannot be deleted; carol
    # cannot attach alice's.
    r = c.post("/api/v1/statuses", data={"status": "mine", "media_ids[]": md["id"]})
    assert r.status_code == 422, r.text
    st = a.post("/api/v1/statuses", json={"status": "", "media_ids": [md["id"]]})
    assert st.status_code == 200, st.text
    att = st.json()["media_attachments"]
    assert [x["id"] for x in att] == [md["id"]] and att[0]["description"] == "renamed"
    assert att[0]["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    assert a.delete("/api/v1/media/" + md["id"]).status_code == 422
    assert a.put("/api/v1/media/" + md["id"], data={"description": "z"}).status_code == 404
    # An edit that drops the media; the history shows the post's current media.
    r = a.put("/api/v1/statuses/" + st.json()["id"], data={"status": "text now",
                                                           "media_ids[]": ""})
    assert r.status_code == 200 and r.json()["media_attachments"] == [], r.text

    # Unattached, deleted.
    r = a.post("/api/v1/media", files={"file": ("b.jpg", img, "image/jpeg")})
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert a.delete("/api/v1/media/" + mid).status_code == 200
    assert a.get("/api/v1/media/" + mid).status_code == 404

    # Refused uploads.
    r = a.post("/api/v2/media", files={"file": ("x.txt", b"hello, not a picture",
                                                "text/plain")})
    assert r.status_code == 422 and "unsupported type" in r.json()["error"], r.text
    r = a.post("/api/v2/media", files={"file": ("big.jpg", img + b"\0" * 5000, "image/jpeg")})
    assert r.status_code == 413 and "error" in r.json()
    r = a.post("/api/v2/media", files={"file": ("a.jpg", img, "image/jpeg")},
               data={"description": "é" * 1501})
    assert r.status_code == 422 and "Description" in r.json()["error"]
    r = a.post("/api/v2/media", files={"file": ("a.jpg", img, "image/jpeg")},
               data={"description": "é" * 1500})
    assert r.status_code == 200
    r = a.post("/api/v2/media", data={"description": "no file"})
    assert r.status_code == 422
    r = a.post("/api/v2/media", files={"file": ("bad.jpg", img[:200], "image/jpeg")})
    assert r.status_code == 422 and "error" in r.json()


def test_mastodon_py(make_tandem):
    mastodon = pytest.importorskip("mastodon")
    t, apis, ids = boot(make_tandem, users=("alice", "bob"))
    tok = {u: masto.token(t, u) for u in ("alice", "bob")}
    ma = mastodon.Mastodon(access_token=tok["alice"], api_base_url=t.url,
                           version_check_mode="none")
    mb = mastodon.Mastodon(access_token=tok["bob"], api_base_url=t.url,
                           version_check_mode="none")
    mb.account_follow(ids["alice"])
    med = ma.media_post(jpeg_with_gps(), mime_type="image/jpeg", description="from py",
                        file_name="p.jpg", focus=(0.25, -0.5))
    assert med["meta"]["focus"] == {"x": 0.25, "y": -0.5}
    med = ma.media_update(med, focus=(0.0, 0.75))
    st = ma.status_post("with a picture", media_ids=[med], visibility="public")
    assert st["media_attachments"][0]["description"] == "from py"
    assert st["media_attachments"][0]["meta"]["focus"] == {"x": 0.0, "y": 0.75}
    for i in range(5):
        ma.status_post("py %d" % i)
    page = mb.timeline_home(limit=2)
    seen = []
    while page:
        seen += [s["id"] for s in page]
        page = mb.fetch_next(page)
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)
    pub = mb.timeline_public(limit=4)
    assert len(pub) == 4 and len(mb.fetch_next(pub)) == 2
    fav = mb.status_favourite(st["id"])
    assert fav["favourited"] and fav["favourites_count"] == 1
    assert mb.status_unfavourite(st["id"])["favourites_count"] == 0
    rb = mb.status_reblog(st["id"])
    assert rb["reblog"]["id"] == st["id"]
    assert mb.status_unreblog(st["id"])["reblogs_count"] == 0
    reply = mb.status_reply(st, "nice")
    ctx = ma.status_context(st["id"])
    assert [s["id"] for s in ctx["descendants"]] == [reply["id"]]
    gone = ma.status_delete(st["id"])
    assert gone["text"] == "with a picture"
    with pytest.raises(mastodon.MastodonNotFoundError):
        ma.status(st["id"])


def test_upload_client_gone_and_unicode_tag(make_tandem):
    """An upload whose client leaves before the picture is processed is
    answered to nobody (status 499 in the log) and the server goes on."""
    t, apis, ids = boot(make_tandem, users=("alice",))
    a = apis["alice"]
    big = png(4000, 3000)
    req = requests.Request("POST", t.url + "/api/v2/media",
                           headers=dict(a.s.headers),
                           files={"file": ("a.png", big, "image/png")}).prepare()
    head = "POST /api/v2/media HTTP/1.1\r\nHost: x\r\n" + "".join(
        "%s: %s\r\n" % kv for kv in req.headers.items()) + "\r\n"
    s = t.connect()
    s.sendall(head.encode() + req.body)
    time.sleep(0.2)
    # A reset, not a half-close (after which a client may still read the answer).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    for _ in range(200):
        if "status=499" in t.log():
            break
        time.sleep(0.05)
    assert "status=499" in t.log()
    # The same picture, waited for: the original is cut to 3840 px.
    r = a.post("/api/v2/media", files={"file": ("a.png", big, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["original"]["width"] == 3840
    assert r.json()["meta"]["original"]["height"] == 2880

    # Link headers carry the tag's path percent-encoded.
    for i in range(3):
        post(a, "#café %d" % i)
    r = a.get("/api/v1/timelines/tag/caf%C3%A9", params={"limit": 2})
    assert len(ids_of(r)) == 2
    nxt = r.links["next"]["url"]
    assert "/tag/caf%C3%A9?" in nxt
    assert len(ids_of(a.get(nxt[len(t.url):]))) == 1


def test_toot(make_tandem, tmp_path):
    """toot, the command-line client, with a stored login."""
    t, apis, ids = boot(make_tandem, users=("alice",))
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
    pic = tmp_path / "pic.jpg"
    pic.write_bytes(jpeg_with_gps())

    def toot(*args):
        r = subprocess.run(["toot", *args], env=env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr

    rc, out = toot("post", "--media", str(pic), "--description", "from toot", "hi from toot")
    assert rc == 0 and "Toot posted" in out, out
    sid = out.strip().rsplit("/", 1)[1]
    st = apis["alice"].get("/api/v1/statuses/" + sid).json()
    assert st["media_attachments"][0]["description"] == "from toot"
    rc, out = toot("timeline", "--once", "--no-color")
    assert rc == 0 and "hi from toot" in out, out
    rc, out = toot("timeline", "--public", "--once", "--no-color")
    assert rc == 0 and "hi from toot" in out, out
    for cmd in ("favourite", "reblog", "unreblog", "unfavourite"):
        rc, out = toot(cmd, sid)
        assert rc == 0, (cmd, out)
    rc, out = toot("thread", sid, "--no-color")
    assert rc == 0 and "hi from toot" in out, out
    rc, out = toot("bookmark", sid)
    assert rc != 0 and "not supported by this server" in out, out
    rc, out = toot("delete", sid)
    assert rc == 0, out
    assert apis["alice"].get("/api/v1/statuses/" + sid).status_code == 404


def test_reblog_visibility(make_tandem):
    """A boost's own visibility (Mastodon's reblog `visibility`): private shows
    it to the booster's followers only, unlisted keeps it off the public
    timeline; the original's own visibility is untouched."""
    t, apis, ids = boot(make_tandem, users=("alice", "bob", "carol", "dave"))
    a, b, c, d = (apis[u] for u in ("alice", "bob", "carol", "dave"))
    assert c.post("/api/v1/accounts/%s/follow" % ids["bob"]).status_code == 200
    assert d.post("/api/v1/accounts/%s/follow" % ids["alice"]).status_code == 200
    orig = post(a, "Worth a quiet boost")
    r = b.post("/api/v1/statuses/%s/reblog" % orig["id"], data={"visibility": "private"})
    assert r.status_code == 200, r.text
    rb = r.json()
    assert rb["visibility"] == "private" and rb["reblog"]["visibility"] == "public"
    # carol follows bob: the boost is on her home timeline and readable by id
    home = c.get("/api/v1/timelines/home").json()
    assert [s["id"] for s in home if s.get("reblog")] == [rb["id"]]
    assert c.get("/api/v1/statuses/%s" % rb["id"]).status_code == 200
    # dave does not follow bob: no boost by id, nor on the public timeline
    assert d.get("/api/v1/statuses/%s" % rb["id"]).status_code == 404
    pub = d.get("/api/v1/timelines/public").json()
    assert rb["id"] not in [s["id"] for s in pub]
    assert orig["id"] in [s["id"] for s in pub]
    # boosting again is the same boost, whatever visibility is asked
    again = b.post("/api/v1/statuses/%s/reblog" % orig["id"], data={"visibility": "public"})
    assert again.json()["id"] == rb["id"] and again.json()["visibility"] == "private"
    assert b.post("/api/v1/statuses/%s/unreblog" % orig["id"]).status_code == 200
    # unlisted: readable by anyone who can see it, but not on the public timeline
    r = b.post("/api/v1/statuses/%s/reblog" % orig["id"], json={"visibility": "unlisted"})
    rb = r.json()
    assert r.status_code == 200 and rb["visibility"] == "unlisted"
    assert d.get("/api/v1/statuses/%s" % rb["id"]).status_code == 200
    assert rb["id"] not in [s["id"] for s in d.get("/api/v1/timelines/public").json()]
    # direct and unknown visibilities are refused
    for vis in ("direct", "secret"):
        r = c.post("/api/v1/statuses/%s/reblog" % orig["id"], data={"visibility": vis})
        assert r.status_code == 422, r.text
