# SPDX-License-Identifier: MIT
"""Accounts on the web: sign-up, log-in, sessions, CSRF, profile, avatar,
password change, throttling, disabled accounts, sign-up modes."""
import re
import struct
import zlib

from conftest import Browser, csrf_of

PW = "correct horse"


def tiny_png():
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_signup_login_logout(tandem, browser):
    r = browser.signup("Alice")
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/settings"
    cookie = r.headers["Set-Cookie"]
    assert "tandem_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    home = browser.get("/")
    assert home.status_code == 200
    assert "@Alice" in home.text and "Log out" in home.text
    # The session cookie holds a token; the database stores only its hash.
    token = browser.s.cookies.get("tandem_session")
    with open(tandem.data + "/tandem.db", "rb") as f:
        assert token.encode() not in f.read()
    r = browser.form_post("/", "/logout", {})
    assert r.status_code == 303
    assert "Log in" in browser.get("/").text
    # Old session token is dead after log-out.
    b2 = Browser(tandem.url)
    b2.s.cookies.set("tandem_session", token)
    assert "Log in" in b2.get("/").text
    r = browser.login("alice")  # case-insensitive
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert "@Alice" in browser.get("/").text


def test_signup_validation(tandem, browser):
    assert browser.signup("bob").status_code == 303
    b = Browser(tandem.url)
    for name, why in [("BOB", "taken"), ("admin", "reserved"), ("a b", "letters"),
                      ("x" * 31, "letters"), ("", "letters"), ("名字", "letters")]:
        r = b.signup(name)
        assert r.status_code == 422, (name, r.status_code)
        assert why in r.text, (name, r.text)
    r = b.form_post("/signup", "/signup",
                    {"username": "carol", "password": PW, "password2": PW + "x"})
    assert r.status_code == 422 and "do not match" in r.text
    r = b.form_post("/signup", "/signup",
                    {"username": "carol", "password": "short", "password2": "short"})
    assert r.status_code == 422 and "too short" in r.text
    # Escaped by default: a name echoed back never becomes markup.
    r = b.form_post("/signup", "/signup",
                    {"username": "<script>x</script>", "password": PW, "password2": PW})
    assert r.status_code == 422
    assert "<script>x</script>" not in r.text and "&lt;script&gt;" in r.text


def test_wrong_password_and_unknown_user(tandem, browser):
    tandem.add_user("dave")
    for name in ("dave", "nobody"):
        r = browser.login(name, "wrong password")
        assert r.status_code == 403
        assert "Wrong username or password." in r.text
    assert "login.failed" in tandem.log()


def test_login_rate_limit_per_account(make_tandem):
    t = make_tandem({"TANDEM_ACCOUNTS_LOGIN_MAX_FAILURES": "3"})
    t.add_user("erin")
    b = Browser(t.url)
    for _ in range(3):
        assert b.login("erin", "nope nope").status_code == 403
    r = b.login("erin", PW)  # even the right password waits now
    assert r.status_code == 429
    assert "Too many failed log-in attempts for this account" in r.text
    assert int(r.headers["Retry-After"]) > 0
    assert "login.throttled" in t.log()
    # Another account from the same address is not locked by erin's failures.
    t.add_user("frank")
    assert Browser(t.url).login("frank").status_code == 303


def test_login_rate_limit_per_address(make_tandem):
    t = make_tandem({"TANDEM_ACCOUNTS_LOGIN_MAX_FAILURES_IP": "4"})
    b = Browser(t.url)
    for i in range(4):
        assert b.login("user%d" % i, "nope nope").status_code == 403
    r = b.login("someone", "x")
    assert r.status_code == 429 and "from your network" in r.text


def test_csrf_rejected(tandem, browser):
    tandem.add_user("gina")
    # No token at all.
    r = browser.post("/login", {"username": "gina", "password": PW})
    assert r.status_code == 403 and "another site" in r.text
    # A token made for another browser's cookie.
    other = Browser(tandem.url)
    token = csrf_of(other.get("/login").text)
    browser.get("/login")
    r = browser.post("/login", {"username": "gina", "password": PW, "csrf": token})
    assert r.status_code == 403
    # A tampered token.
    good = csrf_of(browser.get("/login").text)
    bad = ("A" if good[0] != "A" else "B") + good[1:]
    r = browser.post("/login", {"username": "gina", "password": PW, "csrf": bad})
    assert r.status_code == 403
    assert "web.csrf_reject" in tandem.log()
    # Logged in, a profile change without the token changes nothing.
    assert browser.login("gina").status_code == 303
    r = browser.post("/settings/profile", {"display_name": "Hacked", "bio": ""})
    assert r.status_code == 403
    assert "Hacked" not in browser.get("/@gina").text


def test_profile_and_public_page(tandem, browser):
    browser.signup("hana")
    r = browser.form_post("/settings", "/settings/profile",
                          {"display_name": "Hana 花", "bio": "Line one\nLine <two> & more"})
    assert r.status_code == 303 and r.headers["Location"] == "/settings?saved=profile"
    page = Browser(tandem.url).get("/@hana")
    assert page.status_code == 200
    assert "Hana 花" in page.text
    assert "Line &lt;two&gt; &amp; more" in page.text
    assert "hana@localhost" in page.text
    assert Browser(tandem.url).get("/@nobody").status_code == 404
    # Limits and control characters.
    r = browser.form_post("/settings", "/settings/profile", {"display_name": "x" * 65, "bio": ""})
    assert r.status_code == 422 and "too long" in r.text
    r = browser.form_post("/settings", "/settings/profile", {"display_name": "a\x01b", "bio": ""})
    assert r.status_code == 422


def test_invalid_utf8_form(tandem, browser):
    browser.signup("ivan")
    token = csrf_of(browser.get("/settings").text)
    body = b"csrf=" + token.encode() + b"&display_name=%C3%28&bio=ok"
    r = browser.post("/settings/profile", body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "UTF-8" in r.text
    body = b"csrf=" + token.encode() + b"&display_name=\xff\xfe&bio=ok"
    r = browser.post("/settings/profile", body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = browser.post("/settings/profile", b"%zz", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = browser.post("/settings/profile", b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415


def test_avatar_upload(make_tandem):
    t = make_tandem({"TANDEM_ACCOUNTS_AVATAR_MAX_BYTES": "2048"})
    b = Browser(t.url)
    b.signup("jane")
    token = csrf_of(b.get("/settings").text)
    png = tiny_png()
    r = b.post("/settings/avatar", data={"csrf": token},
               files={"avatar": ("me.png", png, "image/png")})
    assert r.status_code == 303, r.text
    img = Browser(t.url).get("/avatars/jane")
    assert img.status_code == 200
    assert img.headers["Content-Type"] == "image/png" and img.content == png
    etag = img.headers["ETag"]
    assert Browser(t.url).get("/avatars/jane", headers={"If-None-Match": etag}).status_code == 304
    assert "/avatars/jane" in Browser(t.url).get("/@jane").text
    # Not an image, whatever the client claims.
    r = b.post("/settings/avatar", data={"csrf": token},
               files={"avatar": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert r.status_code == 415
    # Too large.
    r = b.post("/settings/avatar", data={"csrf": token},
               files={"avatar": ("big.png", png + b"\0" * 4096, "image/png")})
    assert r.status_code == 413
    # Missing CSRF field.
    r = b.post("/settings/avatar", files={"avatar": ("me.png", png, "image/png")})
    assert r.status_code == 403
    # Malformed multipart.
    r = b.post("/settings/avatar", data=b"--nope\r\nbroken",
               headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 400
    r = b.post("/settings/avatar", data=b"abc", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400
    assert Browser(t.url).get("/avatars/nobody").status_code == 404


def test_change_password_ends_other_sessions(tandem):
    a = Browser(tandem.url)
    a.signup("kate")
    other = Browser(tandem.url)
    assert other.login("kate").status_code == 303
    r = a.form_post("/settings", "/settings/password",
                    {"current": "wrong one!", "password": "new password 1",
                     "password2": "new password 1"})
    assert r.status_code == 403 and "current password is wrong" in r.text
    r = a.form_post("/settings", "/settings/password",
                    {"current": PW, "password": "new password 1", "password2": "new password 1"})
    assert r.status_code == 303
    assert "@kate" in a.get("/").text            # this session stays
    assert "Log in" in other.get("/").text       # the other one ended
    assert Browser(tandem.url).login("kate").status_code == 403
    assert Browser(tandem.url).login("kate", "new password 1").status_code == 303


def test_disabled_account(tandem):
    tandem.add_user("liam")
    b = Browser(tandem.url)
    assert b.login("liam").status_code == 303
    r = tandem.cli("user", "disable", "liam")
    assert r.returncode == 0, r.stderr
    assert "Log in" in b.get("/").text            # session ended
    r = Browser(tandem.url).login("liam")
    assert r.status_code == 403 and "disabled" in r.text
    assert Browser(tandem.url).get("/@liam").status_code == 404
    assert tandem.cli("user", "enable", "liam").returncode == 0
    assert Browser(tandem.url).login("liam").status_code == 303


def test_settings_requires_login(tandem, browser):
    r = browser.get("/settings")
    assert r.status_code == 303 and r.headers["Location"] == "/login?next=/settings"
    tandem.add_user("mia")
    token = csrf_of(browser.get("/login?next=/settings").text)
    r = browser.post("/login", {"username": "mia", "password": PW, "csrf": token,
                                "next": "/settings"})
    assert r.headers["Location"] == "/settings"
    # No open redirects.
    b = Browser(tandem.url)
    token = csrf_of(b.get("/login").text)
    r = b.post("/login", {"username": "mia", "password": PW, "csrf": token,
                          "next": "//evil.example/"})
    assert r.headers["Location"] == "/"


def test_signup_closed(make_tandem):
    t = make_tandem({"TANDEM_ACCOUNTS_SIGNUP": "closed"})
    b = Browser(t.url)
    assert "Sign-up is closed" in b.get("/signup").text
    r = b.form_post("/login", "/signup", {"username": "nina", "password": PW, "password2": PW})
    assert r.status_code == 403
    assert "nina" not in t.cli("user", "list").stdout


def test_signup_invite(make_tandem):
    t = make_tandem({"TANDEM_ACCOUNTS_SIGNUP": "invite"})
    code = t.cli("invite", "create", "--uses", "1").stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", code)
    b = Browser(t.url)
    fields = {"username": "olga", "password": PW, "password2": PW, "invite": "bogus"}
    r = b.form_post("/signup", "/signup", fields)
    assert r.status_code == 422 and "invitation code" in r.text
    fields["invite"] = code
    assert b.form_post("/signup", "/signup", fields).status_code == 303
    fields.update(username="pete")
    r = Browser(t.url).form_post("/signup", "/signup", fields)   # used up
    assert r.status_code == 422


def test_error_pages_in_layout(tandem, browser):
    r = browser.get("/no/such/page")
    assert r.status_code == 404
    assert "<!doctype html>" in r.text and "404" in r.text and "tandem.css" in r.text
    r = browser.s.delete(tandem.url + "/login")
    assert r.status_code == 405
    assert set(x.strip() for x in r.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    assert "text/html" in r.headers["Content-Type"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
