# SPDX-License-Identifier: MIT
"""The microblog's web pages, driven like a browser without JavaScript:
posting from the compose form (CSRF required), following from a profile
page, the home and local timelines, like/boost/delete buttons, threads with
the reply form, notifications (read when viewed, follow requests), search,
hashtag pages, escaping, visibility of followers-only posts on every page,
paging with max_id, image attachments and the fragments static/mb.js loads."""
import re
import struct
import zlib

import pytest

from conftest import Browser, csrf_of

PW = "correct horse"


@pytest.fixture
def site(tandem):
    return tandem


def user(t, name):
    b = Browser(t.url)
    r = b.signup(name)
    assert r.status_code == 303, r.text
    return b


def post(b, text, page="/", **fields):
    data = {"status": text, "visibility": "public", "back": page}
    data.update(fields)
    r = b.form_post(page, "/statuses", data)
    assert r.status_code == 303, r.text[:2000]
    return r


def ids_on(html):
    """Post ids of the cards on a page, in order (a boost: its original's)."""
    return re.findall(r'data-orig="(\d+)"', html)


def newest_id(b, name):
    ids = ids_on(b.get("/@" + name).text)
    assert ids
    return ids[0]


def card(html, post_id):
    """The HTML of the first card of post_id."""
    m = re.search(r'<article class="status"[^>]*data-orig="%s">.*?</article>' % post_id, html,
                  re.S)
    assert m, "no card for %s" % post_id
    return m.group(0)


def test_compose_needs_csrf_and_posts(site):
    alice = user(site, "alice")
    home = alice.get("/")
    assert home.status_code == 200
    assert 'action="/statuses"' in home.text and 'name="visibility"' in home.text
    assert 'data-max="500"' in home.text
    # Without the token nothing is posted.
    r = alice.post("/statuses", {"status": "forged", "visibility": "public"})
    assert r.status_code == 403
    r = alice.post("/statuses", {"status": "forged", "csrf": "x" * 43})
    assert r.status_code == 403
    # Multipart (the form's own encoding) needs it too.
    r = alice.post("/statuses", files={"status": (None, "forged multipart")})
    assert r.status_code == 403
    assert "forged" not in alice.get("/").text
    r = post(alice, "Hello from the form")
    assert r.headers["Location"] == "/"
    page = alice.get("/").text
    assert "Hello from the form" in page
    assert '<time datetime="' in page and " UTC</time>" in page
    # Logged out, / is the local timeline with an invitation; /public too.
    anon = Browser(site.url)
    page = anon.get("/").text
    assert "Hello from the form" in page and 'href="/signup"' in page
    assert 'action="/statuses"' not in page
    assert "Hello from the form" in anon.get("/public").text
    # Logged out, the form sends to the log-in page.
    token = csrf_of(anon.get("/login").text)
    r = anon.post("/statuses", {"status": "x", "csrf": token})
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")


def test_compose_errors_keep_the_text(site):
    alice = user(site, "alice")
    r = alice.form_post("/", "/statuses", {"status": "x" * 501, "visibility": "public"})
    assert r.status_code == 422
    assert "x" * 501 in r.text and 'role="alert"' in r.text
    r = alice.form_post("/", "/statuses", {"status": "hi", "visibility": "everyone"})
    assert r.status_code == 422
    r = alice.form_post("/", "/statuses", {"status": "", "visibility": "public"})
    assert r.status_code == 422
    # A URL counts as 23 characters: 480 + 1 + 23 fits in 500... not 504.
    r = alice.form_post("/", "/statuses", {"status": "a" * 476 + " https://example.org/" + "p" * 80})
    assert r.status_code == 303
    # back must be local.
    r = alice.form_post("/", "/statuses", {"status": "ok", "back": "//evil.example/"})
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_follow_from_profile_and_home_timeline(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    post(alice, "Before the follow")
    prof = bob.get("/@alice")
    assert prof.status_code == 200
    assert 'action="/@alice/follow"' in prof.text
    assert 'rel="alternate" type="application/atom+xml" href="/@alice/feed.atom"' in prof.text
    feed = bob.get("/@alice/feed.atom")
    assert feed.status_code == 200 and "Before the follow" in feed.text
    r = bob.form_post("/@alice", "/@alice/follow", {"back": "/@alice"})
    assert r.status_code == 303 and r.headers["Location"] == "/@alice"
    prof = bob.get("/@alice").text
    assert 'action="/@alice/unfollow"' in prof
    assert "<strong>1</strong> followers" in prof
    assert "@bob" in bob.get("/@alice/followers").text
    assert "@alice" in bob.get("/@bob/following").text
    post(alice, "After the follow")
    home = bob.get("/").text
    assert "After the follow" in home
    # bob's own page of alice shows her posts; the follow gave her a notification.
    assert "followed you" in alice.get("/notifications").text
    # Unfollow.
    r = bob.form_post("/@alice", "/@alice/unfollow", {})
    assert r.status_code == 303
    assert 'action="/@alice/follow"' in bob.get("/@alice").text
    # The old address redirects; unknown names are 404.
    r = bob.get("/u/alice")
    assert r.status_code == 301 and r.headers["Location"] == "/@alice"
    assert bob.get("/@nobody").status_code == 404
    assert bob.get("/@alice/0").status_code == 404
    assert bob.get("/@alice/abc").status_code == 404


def test_like_boost_delete_forms(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    post(alice, "Like me")
    pid = newest_id(alice, "alice")
    page = bob.get("/@alice").text
    c = card(page, pid)
    assert 'action="/statuses/%s/favourite"' % pid in c
    assert 'action="/statuses/%s/reblog"' % pid in c
    assert "/delete" not in c                       # not bob's post
    # Without the token: refused.
    assert bob.post("/statuses/%s/favourite" % pid, {"back": "/"}).status_code == 403
    r = bob.form_post("/@alice", "/statuses/%s/favourite" % pid, {"back": "/@alice"})
    assert r.status_code == 303 and r.headers["Location"] == "/@alice"
    c = card(bob.get("/@alice").text, pid)
    assert 'action="/statuses/%s/unfavourite"' % pid in c and 'aria-pressed="true"' in c
    assert re.search(r'Liked <span class="n">1</span>', c)
    r = bob.form_post("/@alice", "/statuses/%s/reblog" % pid, {})
    assert r.status_code == 303
    # The boost shows on bob's profile with a "boosted" line.
    page = bob.get("/@bob").text
    assert "Like me" in page and "boosted" in page
    notes = alice.get("/notifications").text
    assert "liked your post" in notes and "boosted your post" in notes
    # fetch() from mb.js gets the card back instead of a redirect.
    token = csrf_of(bob.get("/@alice").text)
    r = bob.post("/statuses/%s/unfavourite" % pid, {"csrf": token},
                 headers={"X-Requested-With": "fetch"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<article class="status"')
    assert 'action="/statuses/%s/favourite"' % pid in r.text
    assert "<html" not in r.text
    r = bob.post("/statuses/%s/unreblog" % pid, {"csrf": token},
                 headers={"X-Requested-With": "fetch"})
    assert r.status_code == 200
    assert "boosted" not in bob.get("/@bob").text
    # Only the author deletes.
    assert bob.form_post("/@alice", "/statuses/%s/delete" % pid, {}).status_code in (403, 404)
    c = card(alice.get("/@alice").text, pid)
    assert 'action="/statuses/%s/delete"' % pid in c
    token = csrf_of(alice.get("/").text)
    r = alice.post("/statuses/%s/delete" % pid, {"csrf": token},
                   headers={"X-Requested-With": "fetch"})
    assert r.status_code == 204
    assert "Like me" not in alice.get("/@alice").text
    assert alice.get("/@alice/%s" % pid).status_code == 404
    assert bob.form_post("/", "/statuses/%s/explode" % pid, {}).status_code == 404
    # Deleting from the post's own page goes back to the profile.
    post(alice, "Short-lived")
    sid = newest_id(alice, "alice")
    r = alice.form_post("/@alice/%s" % sid, "/statuses/%s/delete" % sid,
                        {"back": "/@alice/%s" % sid})
    assert r.status_code == 303 and r.headers["Location"] == "/@alice"


def test_thread_and_reply_form(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    post(alice, "The first word")
    pid = newest_id(alice, "alice")
    page = bob.get("/@alice/%s" % pid)
    assert page.status_code == 200
    assert 'name="in_reply_to_id" value="%s"' % pid in page.text
    assert ">@alice </textarea>" in page.text       # the reply starts with the mention
    r = bob.form_post("/@alice/%s" % pid, "/statuses",
                      {"status": "@alice A reply", "in_reply_to_id": pid,
                       "back": "/@alice/%s" % pid, "visibility": "public"})
    assert r.status_code == 303 and r.headers["Location"] == "/@alice/%s" % pid
    page = bob.get("/@alice/%s" % pid).text
    assert page.index("The first word") < page.index("A reply")
    rid = newest_id(bob, "bob")
    page = Browser(site.url).get("/@bob/%s" % rid).text
    assert page.index("The first word") < page.index("A reply")
    assert 'href="/statuses/%s"' % pid in page      # "in reply to"
    r = Browser(site.url).get("/statuses/%s" % pid)
    assert r.status_code == 301 and r.headers["Location"] == "/@alice/%s" % pid
    # The wrong author's name in the address goes to the right one.
    r = Browser(site.url).get("/@bob/%s" % pid)
    assert r.status_code == 301 and r.headers["Location"] == "/@alice/%s" % pid
    # The mention notified alice, shown in the badge until she looks.
    home = alice.get("/").text
    assert re.search(r'id="nav-notif">Notifications <span class="badge"[^>]*>1</span>', home)
    notes = alice.get("/notifications").text
    assert "mentioned you" in notes and "A reply" in notes
    assert 'class="badge"' not in alice.get("/").text
    # A reply to a post that is not there.
    r = bob.form_post("/", "/statuses", {"status": "hm", "in_reply_to_id": "12345"})
    assert r.status_code == 404


def test_search_and_tags(site):
    alice = user(site, "alice")
    post(alice, "Talking about #Tandem and #cats")
    found = '<li class="account"><a href="/@alice">'
    r = alice.get("/search?q=ali")
    assert r.status_code == 200 and found in r.text
    assert found in alice.get("/search?q=%40ALI").text
    r = alice.get("/search?q=%23tan")
    assert 'href="/tags/tandem"' in r.text and found not in r.text
    r = alice.get("/search?q=tan")
    assert 'href="/tags/tandem"' in r.text
    assert "Nothing matches" in alice.get("/search?q=zzzz").text
    assert alice.get("/search").status_code == 200
    anon = Browser(site.url)
    page = anon.get("/tags/tandem")
    assert page.status_code == 200 and "Talking about" in page.text
    assert 'type="application/atom+xml" href="/tags/tandem/feed.atom"' in page.text
    assert "Talking about" in anon.get("/tags/TANDEM").text
    assert "Talking about" not in anon.get("/tags/dogs").text
    assert anon.get("/tags/no%20tag").status_code == 404


def test_html_is_escaped(site):
    alice = user(site, "alice")
    r = alice.form_post("/settings", "/settings/profile",
                        {"display_name": "<script>alert('name')</script>", "bio": "<b>bio</b>"})
    assert r.status_code == 303
    post(alice, "<script>alert(1)</script> & <b>bold</b>",
         spoiler_text="<i>cw</i>")
    for page in (alice.get("/").text, Browser(site.url).get("/@alice").text,
                 Browser(site.url).get("/public").text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;" in page or \
            "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<b>bold</b>" not in page and "<i>cw</i>" not in page
    prof = Browser(site.url).get("/@alice").text
    assert "<b>bio</b>" not in prof and "&lt;b&gt;bio&lt;" in prof


def test_followers_only_posts_stay_with_followers(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    carol = user(site, "carol")
    assert bob.form_post("/@alice", "/@alice/follow", {}).status_code == 303
    post(alice, "For followers only #secret", visibility="private")
    pid = newest_id(alice, "alice")
    assert "For followers only" in bob.get("/").text
    assert "For followers only" in bob.get("/@alice").text
    assert bob.get("/@alice/%s" % pid).status_code == 200
    anon = Browser(site.url)
    for b in (carol, anon):
        for path in ("/", "/public", "/@alice", "/tags/secret"):
            assert "For followers only" not in b.get(path).text, path
        assert b.get("/@alice/%s" % pid).status_code == 404
        assert b.get("/web/statuses/%s" % pid).status_code == 404
        assert b.get("/statuses/%s" % pid).status_code == 404
    # Nor can carol act on it.
    assert carol.form_post("/", "/statuses/%s/favourite" % pid, {}).status_code == 404
    assert carol.form_post("/", "/statuses", {"status": "peek", "in_reply_to_id": pid}
                           ).status_code == 404
    # Boosting a followers-only post is refused to followers too.
    assert bob.form_post("/", "/statuses/%s/reblog" % pid, {}).status_code in (403, 422)
    assert "/reblog" not in card(bob.get("/@alice").text, pid)


def test_paging_with_max_id(site):
    alice = user(site, "alice")
    for i in range(23):
        post(alice, "Numbered post %02d" % i)
    for path in ("/", "/@alice", "/public"):
        page = alice.get(path).text
        ids = ids_on(page)
        assert len(ids) == 20, path
        assert "Numbered post 22" in page and "Numbered post 02" not in page
        m = re.search(r'<a href="([^"]+)" rel="next">Older posts</a>', page)
        assert m, path
        assert m.group(1) == "%s?max_id=%s" % (path, ids[-1])
        older = alice.get(m.group(1).replace("&amp;", "&")).text
        assert ids_on(older) == [i for i in ids_on(older)]
        assert len(ids_on(older)) == 3 and "Numbered post 00" in older
        assert "Numbered post 03" not in older
        assert 'rel="next"' not in older
    assert alice.get("/?max_id=abc").status_code == 400


def png(w=2, h=2):
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_image_from_the_compose_form(site):
    alice = user(site, "alice")
    token = csrf_of(alice.get("/").text)
    r = alice.post("/statuses", data={"csrf": token, "status": "With a picture",
                                      "visibility": "public", "description": "A red square"},
                   files={"media": ("red.png", png(), "image/png")})
    assert r.status_code == 303, r.text[:2000]
    c = card(alice.get("/").text, newest_id(alice, "alice"))
    assert 'alt="A red square"' in c and "/media/" in c
    thumb = re.search(r'<img src="([^"]+/media/[^"]+)"', c).group(1).replace("&#x2F;", "/")
    img = Browser(site.url).s.get(thumb.replace("&amp;", "&"), timeout=30)
    assert img.status_code == 200 and img.headers["Content-Type"].startswith("image/")
    # Not an image: refused with the form again.
    r = alice.post("/statuses", data={"csrf": token, "status": "Broken picture"},
                   files={"media": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert r.status_code == 422 and "Broken picture" in r.text
    # An image alone is a post.
    r = alice.post("/statuses", data={"csrf": token, "status": ""},
                   files={"media": ("red.png", png(), "image/png")})
    assert r.status_code == 303


def test_fragments_and_follow_requests(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    post(alice, "A fragment")
    pid = newest_id(alice, "alice")
    r = bob.get("/web/statuses/%s" % pid)
    assert r.status_code == 200 and r.text.lstrip().startswith('<article class="status"')
    assert "A fragment" in r.text and 'name="csrf"' in r.text
    assert bob.get("/web/statuses/999").status_code == 404
    bob.form_post("/@alice", "/@alice/follow", {})
    notes = alice.get("/notifications").text
    nid = re.search(r'data-notif="(\d+)"', notes).group(1)
    r = alice.get("/web/notifications/%s" % nid)
    assert r.status_code == 200 and "followed you" in r.text
    assert bob.get("/web/notifications/%s" % nid).status_code == 404
    assert Browser(site.url).get("/web/notifications/%s" % nid).status_code == 401
    # An unknown follow request.
    r = alice.form_post("/notifications", "/follow_requests/12345/authorize", {})
    assert r.status_code == 404
    # Logged out, the notifications page asks to log in.
    r = Browser(site.url).get("/notifications")
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")


def test_locked_account_and_follow_requests(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    carol = user(site, "carol")
    r = alice.form_post("/settings", "/settings/privacy", {"locked": "1"})
    assert r.status_code == 303 and r.headers["Location"] == "/settings?saved=privacy"
    assert "checked" in alice.get("/settings").text
    post(alice, "Locked but followers see this", visibility="private")
    prof = bob.get("/@alice").text
    assert "Request to follow" in prof and "approves followers" in prof
    assert bob.form_post("/@alice", "/@alice/follow", {}).status_code == 303
    prof = bob.get("/@alice").text
    assert "Requested" in prof and 'action="/@alice/unfollow"' in prof
    assert "Locked but followers" not in prof
    carol.form_post("/@alice", "/@alice/follow", {})
    notes = alice.get("/notifications").text
    assert notes.count("asks to follow you") == 2
    bob_id = re.search(r'action="/follow_requests/(\d+)/authorize"', notes)
    ids = re.findall(r'<a class="author" href="/@(\w+)">.*?action="/follow_requests/(\d+)/authorize"',
                     notes, re.S)
    by_name = {n: i for n, i in ids}
    assert bob_id and set(by_name) == {"bob", "carol"}
    r = alice.form_post("/notifications", "/follow_requests/%s/authorize" % by_name["bob"],
                        {"back": "/notifications"})
    assert r.status_code == 303 and r.headers["Location"] == "/notifications"
    r = alice.form_post("/notifications", "/follow_requests/%s/reject" % by_name["carol"], {})
    assert r.status_code == 303
    assert "Locked but followers see this" in bob.get("/@alice").text
    assert 'action="/@alice/unfollow"' in bob.get("/@alice").text
    prof = carol.get("/@alice").text
    assert "Request to follow" in prof and "Locked but followers" not in prof
    # The same request cannot be answered twice.
    r = alice.form_post("/notifications", "/follow_requests/%s/authorize" % by_name["carol"], {})
    assert r.status_code == 404
    # Unlocking: follows are immediate again.
    assert alice.form_post("/settings", "/settings/privacy", {}).status_code == 303
    assert "checked" not in alice.get("/settings").text.split("/settings/privacy")[1][:400]
    carol.form_post("/@alice", "/@alice/follow", {})
    assert 'action="/@alice/unfollow"' in carol.get("/@alice").text


def test_pages_show_what_the_api_did(site):
    """Posts made and edited through the Mastodon API show on the pages the
    same way (one service underneath), the edit marked."""
    from masto import Api, token
    alice = user(site, "alice")
    api = Api(site, token(site, "alice", PW))
    r = api.post("/api/v1/statuses", data={"status": "Via the API", "spoiler_text": "Spoilers"})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    c = card(alice.get("/").text, sid)
    assert "<details class=\"cw\">" in c and "Spoilers" in c and "edited" not in c
    r = api.put("/api/v1/statuses/%s" % sid, data={"status": "Via the API, edited"})
    assert r.status_code == 200, r.text
    c = card(Browser(site.url).get("/@alice/%s" % sid).text, sid)
    assert "Via the API, edited" in c and "· edited" in c


def test_mute_and_block_from_profile(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    assert bob.form_post("/@alice", "/@alice/follow", {}).status_code == 303
    post(alice, "Seen before the mute")
    assert "Seen before the mute" in bob.get("/").text
    prof = bob.get("/@alice").text
    assert 'action="/@alice/mute"' in prof and 'action="/@alice/block"' in prof
    # Mute: alice's posts leave bob's home; the follow stays.
    r = bob.form_post("/@alice", "/@alice/mute", {"back": "/@alice"})
    assert r.status_code == 303 and r.headers["Location"] == "/@alice"
    prof = bob.get("/@alice").text
    assert "You mute this account" in prof and 'action="/@alice/unmute"' in prof
    assert 'action="/@alice/unfollow"' in prof
    post(alice, "Hidden by the mute")
    assert "Hidden by the mute" not in bob.get("/").text
    assert bob.form_post("/@alice", "/@alice/unmute", {}).status_code == 303
    assert "Hidden by the mute" in bob.get("/").text
    # Block: the follow goes both ways, and neither sees the other's posts.
    r = bob.form_post("/@alice", "/@alice/block", {})
    assert r.status_code == 303
    prof = bob.get("/@alice").text
    assert "You block this account" in prof and 'action="/@alice/unblock"' in prof
    assert 'action="/@alice/follow"' not in prof and 'action="/@alice/unfollow"' not in prof
    assert "Seen before the mute" not in bob.get("/").text
    assert alice.form_post("/@bob", "/@bob/follow", {}).status_code in (403, 422)
    assert bob.form_post("/@alice", "/@alice/unblock", {}).status_code == 303
    prof = bob.get("/@alice").text
    assert 'action="/@alice/follow"' in prof  # the old follow is gone for good
    # No CSRF token, an unknown action, oneself, an unknown account.
    r = bob.post("/@alice/block", {"back": "/"})
    assert r.status_code == 403
    assert "You block" not in bob.get("/@alice").text
    assert bob.form_post("/@alice", "/@alice/explode", {}).status_code == 405
    assert bob.form_post("/@bob", "/@bob/block", {}).status_code == 422
    assert bob.form_post("/@alice", "/@nobody/block", {}).status_code == 404


def test_edit_from_the_web(site):
    alice = user(site, "alice")
    bob = user(site, "bob")
    post(alice, "First thoughts, with a typo: teh")
    pid = newest_id(alice, "alice")
    page = "/@alice/" + pid
    assert 'href="%s/edit"' % page in alice.get(page).text
    assert 'href="%s/edit"' % page not in bob.get(page).text
    form = alice.get(page + "/edit")
    assert form.status_code == 200 and "First thoughts, with a typo: teh" in form.text
    r = alice.form_post(page + "/edit", "/statuses/%s/edit" % pid,
                        {"status": "First thoughts, fixed: the", "spoiler_text": "",
                         "back": page})
    assert r.status_code == 303 and r.headers["Location"] == page
    thread = alice.get(page).text
    assert "fixed: the" in thread and "typo" not in card(thread, pid)
    # the API keeps the history: the first version and the edit
    import masto
    hist = masto.Api(site, masto.token(site, "alice", password=PW)).get(
        "/api/v1/statuses/%s/history" % pid).json()
    assert [h["content"].count("typo") for h in hist] == [1, 0]
    # someone else's post, a missing one, no CSRF token, an over-long text
    assert bob.get(page + "/edit").status_code == 404
    r = bob.form_post(page, "/statuses/%s/edit" % pid, {"status": "hijacked"})
    assert r.status_code in (403, 404)
    assert "hijacked" not in alice.get(page).text
    assert alice.get("/@alice/4242/edit").status_code == 404
    r = alice.post("/statuses/%s/edit" % pid, {"status": "no token"})
    assert r.status_code == 403
    r = alice.form_post(page + "/edit", "/statuses/%s/edit" % pid, {"status": "x" * 600})
    assert r.status_code == 422
    assert "fixed: the" in alice.get(page).text
