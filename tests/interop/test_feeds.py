# SPDX-License-Identifier: MIT
"""Atom feeds (/@name/feed.atom, /tags/tag/feed.atom) read by a real feed
parser (feedparser) and checked for well-formedness with xml.etree: what
they hold, in which order, and that followers-only and direct posts never
appear in them."""
import os
import sqlite3
import struct
import time
import zlib
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import feedparser
import pytest

import masto
from conftest import Browser

ATOM = "{http://www.w3.org/2005/Atom}"
CTYPE = "application/atom+xml; charset=utf-8"
TRICKY = "Tags <b>&\"' and an emoji \U0001F600 #Feeds"


def parse(r):
    """feedparser's reading of a response, after checking it is Atom XML."""
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == CTYPE
    root = ET.fromstring(r.content)
    assert root.tag == ATOM + "feed"
    # RFC 4287's required elements: id, title and updated once each, on the
    # feed and on every entry; an author on the feed or on every entry.
    for el in [root] + root.findall(ATOM + "entry"):
        for name in ("id", "title", "updated"):
            assert len(el.findall(ATOM + name)) == 1, (el.tag, name)
        assert el.find(ATOM + "id").text.startswith("http")
    feed_author = root.find(ATOM + "author") is not None
    assert all(feed_author or e.find(ATOM + "author") is not None
               for e in root.findall(ATOM + "entry"))
    assert root.find(ATOM + "link[@rel='self']") is not None
    f = feedparser.parse(r.content)
    assert f.bozo == 0, f.get("bozo_exception")
    assert f.version == "atom10"
    return f, root


def start(t):
    t.add_user("alice")
    t.add_user("bob")
    t.start()
    b = Browser(t.url)
    assert b.login("alice").status_code == 303
    r = b.form_post("/settings", "/settings/profile",
                    {"display_name": "Alice <&> \"A\"", "bio": "Writes <feeds> & more"})
    assert r.status_code in (200, 303), r.text
    return masto.Api(t, masto.token(t, "alice")), masto.Api(t, masto.token(t, "bob"))


def post(api, text, **kw):
    r = api.post("/api/v1/statuses", data=dict(status=text, **kw))
    assert r.status_code == 200, r.text
    return r.json()


def test_account_feed(make_tandem):
    t = make_tandem(start=False)
    a, b = start(t)
    first = post(a, "first public #Feeds")
    unlisted = post(a, "quietly unlisted #feeds", visibility="unlisted")
    post(a, "secret for followers #feeds", visibility="private")
    post(a, "secret direct to @bob #feeds", visibility="direct")
    tricky = post(a, TRICKY)
    cw = post(a, "behind the warning", spoiler_text="Spoilers <here>")
    long = post(a, "word " * 40)
    post(b, "bob's own #feeds")
    public = [long, cw, tricky, unlisted, first]

    r = masto.Api(t).get("/@alice/feed.atom")
    f, root = parse(r)
    assert "secret" not in r.text  # followers-only and direct posts stay out
    assert f.feed.title == 'Alice <&> "A" (@alice)'
    assert f.feed.id == t.url + "/@alice"
    assert f.feed.link == t.url + "/@alice"
    assert f.feed.author_detail.name == 'Alice <&> "A"'
    assert f.feed.author_detail.href == t.url + "/@alice"
    assert f.feed.subtitle == "Writes <feeds> & more"
    assert f.feed.icon == t.url + "/static/missing.png"
    assert f.feed.generator == "Tandem"
    links = {l.rel: l.href for l in f.feed.links}
    assert links["self"] == t.url + "/@alice/feed.atom"
    assert "next" not in links

    # Newest first; ids, links and dates as the API gives them.
    assert [e.id for e in f.entries] == [s["uri"] for s in public]
    assert [e.link for e in f.entries] == [s["url"] for s in public]
    for e, x, s in zip(f.entries, root.findall(ATOM + "entry"), public):
        assert e.published_parsed and e.updated_parsed
        assert time.strftime("%Y-%m-%dT%H:%M:%S", e.published_parsed) == s["created_at"][:19]
        assert e.content[0].type == "text/html"
        # The post's HTML exactly (feedparser re-serializes what it sanitizes).
        assert x.find(ATOM + "content").text == s["content"]
        assert x.find(ATOM + "content").get("type") == "html"
    assert f.feed.updated_parsed == max(e.updated_parsed for e in f.entries) or \
        f.feed.updated_parsed > f.entries[0].updated_parsed

    # Titles: the text, the warning, a cut-off long text.
    assert f.entries[2].title == TRICKY
    assert "&lt;b&gt;&amp;&quot;' and an emoji \U0001F600" in f.entries[2].content[0].value
    assert f.entries[1].title == "Spoilers <here>"
    assert f.entries[1].summary == "Spoilers <here>"
    assert "behind the warning" in f.entries[1].content[0].value
    assert f.entries[0].title == ("word " * 16).strip() + "\u2026"
    assert len(f.entries[0].title) <= 80
    assert f.entries[4].title == "first public #Feeds"

    # Categories are the hashtags, with the site's tag pages as the scheme.
    assert [(c.term, c.scheme) for c in f.entries[4].tags] == [("feeds", t.url + "/tags/")]
    assert [c.term for c in f.entries[2].tags] == ["feeds"]
    assert "tags" not in f.entries[1]

    # The raw XML: one author at the top, escaped attributes, no entry authors.
    assert root.find(ATOM + "author/" + ATOM + "name").text == 'Alice <&> "A"'
    assert root.findall(ATOM + "entry/" + ATOM + "author") == []
    assert len(root.findall(ATOM + "entry")) == 5

    # Case-insensitive names reach the same account; the canonical URL is used.
    f2, _ = parse(masto.Api(t).get("/@ALICE/feed.atom"))
    assert f2.feed.id == t.url + "/@alice"


def test_feed_http(make_tandem):
    t = make_tandem(start=False)
    a, _ = start(t)
    post(a, "hello #caching")
    anon = masto.Api(t)
    r = anon.get("/@alice/feed.atom")
    assert r.status_code == 200
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 8
    assert r.headers["Cache-Control"] == "public, max-age=60"
    assert parsedate_to_datetime(r.headers["Last-Modified"]).year >= 2020
    assert "Set-Cookie" not in r.headers  # served bare: cacheable
    # Same content, same validator; conditional requests get 304.
    assert anon.get("/@alice/feed.atom").headers["ETag"] == etag
    r2 = anon.get("/@alice/feed.atom", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    r2 = anon.get("/@alice/feed.atom", headers={"If-None-Match": 'W/"x", ' + etag})
    assert r2.status_code == 304
    r2 = anon.get("/@alice/feed.atom",
                  headers={"If-Modified-Since": r.headers["Last-Modified"]})
    assert r2.status_code == 304
    assert anon.get("/@alice/feed.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    # A new post changes the feed and its validator.
    post(a, "another")
    r3 = anon.get("/@alice/feed.atom", headers={"If-None-Match": etag})
    assert r3.status_code == 200 and r3.headers["ETag"] != etag
    assert anon.s.head(t.url + "/@alice/feed.atom", timeout=30).status_code == 200

    # Unknown and disabled accounts: 404.
    assert anon.get("/@nobody/feed.atom").status_code == 404
    assert anon.get("/@alice/feed.atom", params={"max_id": "x'"}).status_code == 400
    assert anon.post("/@alice/feed.atom").status_code == 405
    r = t.cli("user", "disable", "alice")
    assert r.returncode == 0, r.stderr
    assert anon.get("/@alice/feed.atom").status_code == 404
    # ... and their posts leave the tag feeds too.
    f, _ = parse(anon.get("/tags/caching/feed.atom"))
    assert f.entries == []


def test_feed_paging(make_tandem):
    t = make_tandem(start=False)
    a, _ = start(t)
    ids = [post(a, "numbered %d #many" % i)["id"] for i in range(25)]
    f, _ = parse(masto.Api(t).get("/@alice/feed.atom"))
    assert len(f.entries) == 20
    assert [e.title for e in f.entries] == ["numbered %d #many" % i for i in range(24, 4, -1)]
    nxt = {l.rel: l.href for l in f.feed.links}["next"]
    assert nxt == t.url + "/@alice/feed.atom?max_id=" + ids[5]
    f2, _ = parse(masto.Api(t).get(nxt[len(t.url):]))
    assert [e.title for e in f2.entries] == ["numbered %d #many" % i for i in range(4, -1, -1)]
    assert {l.rel: l.href for l in f2.feed.links}["self"] == nxt
    assert "next" not in {l.rel for l in f2.feed.links}
    # The tag feed pages the same way.
    f3, _ = parse(masto.Api(t).get("/tags/many/feed.atom"))
    assert len(f3.entries) == 20 and "next" in {l.rel for l in f3.feed.links}


def test_tag_feed(make_tandem):
    t = make_tandem(start=False)
    a, b = start(t)
    one = post(a, "alice on #Feeds")
    post(a, "alice hides #feeds", visibility="private")
    post(a, "alice whispers #feeds to @bob", visibility="direct")
    post(a, "alice unlisted #feeds", visibility="unlisted")
    two = post(b, "bob on #feeds & <more>")
    post(b, "not tagged")

    r = masto.Api(t).get("/tags/feeds/feed.atom")
    f, root = parse(r)
    assert "hides" not in r.text and "whispers" not in r.text
    # Only public posts: the tag timeline is Mastodon's public one for the tag.
    assert "unlisted" not in r.text
    assert f.feed.title == "#feeds"
    assert f.feed.id == t.url + "/tags/feeds"
    assert f.feed.link == t.url + "/tags/feeds"
    assert [e.id for e in f.entries] == [two["uri"], one["uri"]]
    assert f.entries[0].author_detail.name == "bob"
    assert f.entries[0].author_detail.href == t.url + "/@bob"
    assert f.entries[1].author_detail.name == 'Alice <&> "A"'
    assert f.entries[0].title == "bob on #feeds & <more>"
    assert len(root.findall(ATOM + "entry/" + ATOM + "author")) == 2
    # Case folds as hashtags do.
    f2, _ = parse(masto.Api(t).get("/tags/FEEDS/feed.atom"))
    assert [e.id for e in f2.entries] == [e.id for e in f.entries]

    # A tag nobody used is an empty, valid feed; a non-tag is 404.
    f3, root3 = parse(masto.Api(t).get("/tags/nothingyet/feed.atom"))
    assert f3.entries == [] and f3.feed.title == "#nothingyet"
    assert root3.find(ATOM + "updated") is not None
    assert masto.Api(t).get("/tags/no%20tag/feed.atom").status_code == 404
    assert masto.Api(t).get("/tags/%23/feed.atom").status_code == 404
    assert masto.Api(t).get("/tags/%FF/feed.atom").status_code in (400, 404)  # not UTF-8
    assert masto.Api(t).get("/tags/a%00b/feed.atom").status_code in (400, 404)
    assert masto.Api(t).get("/@alice%00x/feed.atom").status_code in (400, 404)
    assert masto.Api(t).get("/tags/" + "x" * 300 + "/feed.atom").status_code == 404
    # A non-ASCII tag round-trips through the URL.
    post(a, "un café #café")
    f4, _ = parse(masto.Api(t).get("/tags/caf%C3%A9/feed.atom"))
    assert [e.title for e in f4.entries] == ["un café #café"]
    assert f4.feed.id == t.url + "/tags/caf%C3%A9"


# Editing, reblogging and uploading media may not be in the API this build
# has; then the same rows are written straight into the store (SQLite takes
# a second writer), so that the feed's handling of them is still checked.
def db(t):
    c = sqlite3.connect(os.path.join(t.data, "tandem.db"), timeout=30)
    c.execute("PRAGMA foreign_keys = ON")
    return c


def new_id(c):
    return c.execute("SELECT max(id) FROM posts").fetchone()[0] + 1


def test_feed_edited_post(make_tandem):
    t = make_tandem(start=False)
    a, _ = start(t)
    s = post(a, "before the edit")
    r = a.put("/api/v1/statuses/" + s["id"], data={"status": "after the edit #edited"})
    via_api = r.status_code not in (404, 405)
    if not via_api:
        with db(t) as c:
            c.execute("UPDATE posts SET source = ?, content = ?, edited_at = ? WHERE id = ?",
                      ("after the edit #edited", "<p>after the edit #edited</p>",
                       int(time.time() * 1000) + 2000, int(s["id"])))
    else:
        assert r.status_code == 200, r.text
    f, root = parse(masto.Api(t).get("/@alice/feed.atom"))
    e = f.entries[0]
    assert e.title == "after the edit #edited" and e.id == s["uri"]
    # Dates carry milliseconds, so an edit within the same second still shows.
    x = root.find(ATOM + "entry")
    assert x.find(ATOM + "published").text == s["created_at"]
    assert x.find(ATOM + "updated").text > x.find(ATOM + "published").text
    assert root.find(ATOM + "updated").text == x.find(ATOM + "updated").text
    if via_api:
        assert x.find(ATOM + "updated").text == r.json()["edited_at"]
        assert [c.term for c in e.tags] == ["edited"]
    assert "after the edit" in root.find(ATOM + "entry/" + ATOM + "content").text


def test_feed_reblogs_left_out(make_tandem):
    t = make_tandem(start=False)
    a, b = start(t)
    s = post(b, "bob's post")
    mine = post(a, "alice's own")
    r = a.post("/api/v1/statuses/%s/reblog" % s["id"])
    if r.status_code in (404, 405):
        with db(t) as c:
            alice = c.execute("SELECT id FROM accounts WHERE username = 'alice'").fetchone()[0]
            c.execute("INSERT INTO posts (id, account_id, reblog_of_id, visibility, created_at)"
                      " VALUES (?, ?, ?, 0, ?)",
                      (new_id(c), alice, int(s["id"]), int(time.time() * 1000)))
    else:
        assert r.status_code == 200, r.text
    f, _ = parse(masto.Api(t).get("/@alice/feed.atom"))
    assert [e.id for e in f.entries] == [mine["uri"]]  # reblogs are other people's posts


def png(w=4, h=3):
    """A small valid RGB PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = b"".join(b"\0" + bytes([200, 30, 60]) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png()


def test_feed_media_enclosures(make_tandem):
    t = make_tandem(start=False)
    a, _ = start(t)
    r = a.post("/api/v2/media", files={"file": ("a.png", PNG, "image/png")},
               data={"description": "a dot & a \"line\""})
    via_api = r.status_code not in (404, 405)
    if not via_api:
        s = post(a, "placeholder")
        with db(t) as c:
            alice = c.execute("SELECT id FROM accounts WHERE username = 'alice'").fetchone()[0]
            c.execute("UPDATE posts SET source = '', content = '' WHERE id = ?", (int(s["id"]),))
            c.execute("INSERT INTO media (id, account_id, post_id, content_type, data, width,"
                      " height, description, created_at) VALUES (?, ?, ?, 'image/png', ?, 1, 1,"
                      " ?, ?)", (new_id(c), alice, int(s["id"]), PNG, 'a dot & a "line"',
                                 int(time.time() * 1000)))
        r = masto.Api(t).get("/@alice/feed.atom")
    else:
        assert r.status_code in (200, 202), r.text
        r_post = a.post("/api/v1/statuses", data={"status": "", "media_ids[]": r.json()["id"]})
        assert r_post.status_code == 200, r_post.text
        r = masto.Api(t).get("/@alice/feed.atom")
    f, root = parse(r)
    e = f.entries[0]
    assert e.title == "Media"
    enc = [l for l in e.links if l.rel == "enclosure"]
    assert len(enc) == 1 and enc[0].type.startswith("image/") and int(enc[0].length) > 0
    assert enc[0].href.startswith(t.url + "/media/")
    x = [l for l in root.iter(ATOM + "link") if l.get("rel") == "enclosure"]
    assert x[0].get("title") == 'a dot & a "line"'
    if via_api:  # the media route comes with the upload endpoint
        assert enc[0].href == r_post.json()["media_attachments"][0]["url"]
        got = masto.Api(t).get(enc[0].href[len(t.url):])
        assert got.status_code == 200 and len(got.content) == int(enc[0].length)
        assert got.headers["Content-Type"].startswith(enc[0].type)
    else:
        assert enc[0].type == "image/png" and int(enc[0].length) == len(PNG)
