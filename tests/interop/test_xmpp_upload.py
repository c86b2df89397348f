# SPDX-License-Identifier: MIT
"""HTTP File Upload (XEP-0363) on upload.localhost: python3-slixmpp's
xep_0363 plugin finds the service (disco#items, disco#info with the
XEP-0128 max-file-size), asks for a slot and PUTs the file with aiohttp;
requests then GETs the same bytes with the slot's content type. Raw slot
requests check the §4 errors (file too large with max-file-size, bad file
names, quota), and PUTs with a tampered signature, an expired slot (signed
here with the server's own key, read from its database), a wrong size or
content type, a second PUT and traversal paths are refused."""
import hashlib
import hmac
import http.client
import io
import os
import sqlite3
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import requests

slixmpp = pytest.importorskip("slixmpp")
pytest.importorskip("aiohttp")

from slixmpp.exceptions import IqError  # noqa: E402

from test_xmpp import Client, run, with_clients, xmpp_port  # noqa: E402

NS = "urn:xmpp:http:upload:0"
UP = "upload.localhost"
MAX = 65536


@pytest.fixture
def server(make_tandem):
    t = make_tandem(env_extra={"TANDEM_XMPP_UPLOAD_MAX_BYTES": str(MAX)})
    t.xport = xmpp_port(t)
    t.add_user("alice")
    return t


class UClient(Client):
    def __init__(self, jid, **kw):
        super().__init__(jid, mech="PLAIN", **kw)
        self.register_plugin("xep_0363")


async def slot(c, filename, size, ctype=None):
    """A raw <request/>: returns (put_url, get_url) or raises IqError."""
    iq = c.make_iq_get(ito=UP)
    req = ET.Element("{%s}request" % NS, {"filename": filename, "size": str(size)})
    if ctype is not None:
        req.set("content-type", ctype)
    iq.append(req)
    r = await iq.send(timeout=5)
    s = r.xml.find("{%s}slot" % NS)
    return s.find("{%s}put" % NS).get("url"), s.find("{%s}get" % NS).get("url")


def error_of(e):
    err = e.iq.xml.find("{jabber:client}error")
    return err.get("type"), [ch.tag for ch in err]


def upload_key(t):
    db = sqlite3.connect(os.path.join(t.data, "tandem.db"))
    try:
        return db.execute("SELECT value FROM secrets WHERE name = 'upload'").fetchone()[0]
    finally:
        db.close()


def test_slixmpp_upload_then_get(server):
    data = os.urandom(40000)

    async def go():
        c = UClient("alice@localhost/desk")

        async def body():
            assert await c.online(server.xport)
            items = await c["xep_0030"].get_items(jid="localhost", timeout=5)
            assert UP in [i[0] for i in items["disco_items"]["items"]]
            info = await c["xep_0030"].get_info(jid=UP, timeout=5)
            assert ("store", "file", None, "HTTP File Upload") in \
                info["disco_info"]["identities"]
            assert NS in info["disco_info"]["features"]
            form = info["disco_info"].xml.find("{jabber:x:data}x")
            fields = {f.get("var"): f.find("{jabber:x:data}value").text
                      for f in form.findall("{jabber:x:data}field")}
            assert fields == {"FORM_TYPE": NS, "max-file-size": str(MAX)}
            # The plugin's own discovery (find_upload_service) goes through
            # xep_0030.get_info_from_domain, which passes coroutines to
            # asyncio.wait and fails on Python 3.11; it is given what the
            # disco above found, the way find_upload_service would set it.
            c["xep_0363"].upload_service = info["from"]
            c["xep_0363"].max_file_size = int(fields["max-file-size"])
            url = await c["xep_0363"].upload_file(
                "notes.txt", size=len(data), content_type="text/plain",
                input_file=io.BytesIO(data), timeout=10)
            return url

        return await with_clients([c], body)

    url = run(go())
    assert url.startswith(server.url + "/upload/") and url.endswith("/notes.txt")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # the file's own headers only: no site CSP beside the sandbox, no cookies
    assert r.raw.headers.get_all("Content-Security-Policy") == ["default-src 'none'; sandbox"]
    assert "Set-Cookie" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"].startswith("attachment")
    h = requests.head(url, timeout=10)
    assert h.status_code == 200 and h.headers["Content-Length"] == str(len(data))
    o = requests.options(url, headers={"Origin": "https://elsewhere.example",
                                       "Access-Control-Request-Method": "PUT"}, timeout=10)
    assert o.status_code == 204
    assert o.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in o.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in o.headers["Access-Control-Allow-Headers"]
    # The file is on disk under uploads/<owner>/<id>/<name>.
    parts = urllib.parse.urlsplit(url).path.split("/")
    with open(os.path.join(server.data, "uploads", parts[2], parts[3], "notes.txt"), "rb") as f:
        assert f.read() == data


def test_slot_request_errors(server):
    async def go():
        c = UClient("alice@localhost/desk")

        async def body():
            assert await c.online(server.xport)
            with pytest.raises(IqError) as e:
                await slot(c, "big.bin", MAX + 1, "application/octet-stream")
            typ, tags = error_of(e.value)
            assert typ == "modify"
            assert "{urn:ietf:params:xml:ns:xmpp-stanzas}not-acceptable" in tags
            big = e.value.iq.xml.find("{jabber:client}error/{%s}file-too-large" % NS)
            assert big.find("{%s}max-file-size" % NS).text == str(MAX)
            for bad in ["../etc/passwd", "a/b.txt", "a\\b.txt", ".hidden", "..", "x" * 201,
                        ""]:
                with pytest.raises(IqError) as e:
                    await slot(c, bad, 10, "text/plain")
                assert e.value.iq["error"]["condition"] == "bad-request", bad
            for size in ["0", "-5", "ten", "99999999999999999999999"]:
                iq = c.make_iq_get(ito=UP)
                iq.append(ET.Element("{%s}request" % NS, {"filename": "a.txt", "size": size}))
                with pytest.raises(IqError) as e:
                    await iq.send(timeout=5)
                assert e.value.iq["error"]["condition"] == "bad-request", size
            with pytest.raises(IqError) as e:
                await slot(c, "a.txt", 10, "text/plain\"><x")
            assert e.value.iq["error"]["condition"] == "bad-request"
            # Not an entity of the service, and messages: service-unavailable.
            iq = c.make_iq_get(ito="someone@" + UP, queryxmlns="jabber:iq:version")
            with pytest.raises(IqError) as e:
                await iq.send(timeout=5)
            assert e.value.iq["error"]["condition"] == "service-unavailable"
            # The quota: 100 MiB per user, counted on disk (a sparse file here).
            put, _ = await slot(c, "first.txt", 5, "text/plain")
            owner = urllib.parse.urlsplit(put).path.split("/")[2]
            d = os.path.join(server.data, "uploads", owner, "f" * 24)
            os.makedirs(d)
            with open(os.path.join(d, "huge.bin"), "wb") as f:
                f.truncate(100 * 1024 * 1024 - 3)
            with pytest.raises(IqError) as e:
                await slot(c, "more.txt", 5, "text/plain")
            typ, tags = error_of(e.value)
            assert typ == "cancel"
            assert "{urn:ietf:params:xml:ns:xmpp-stanzas}resource-constraint" in tags
            # ... and the PUT of a slot given before the quota filled is refused too.
            r = requests.put(put, data=b"12345", headers={"Content-Type": "text/plain"},
                             timeout=10)
            assert r.status_code == 403 and "quota" in r.text
            return True

        return await with_clients([c], body)

    assert run(go())


def test_put_checks(server):
    async def go():
        c = UClient("alice@localhost/desk")

        async def body():
            assert await c.online(server.xport)
            return (await slot(c, "photo 1.png", 6, "image/png"),
                    await slot(c, "any.bin", 3))

        return await with_clients([c], body)

    (put, get), (put2, get2) = run(go())
    ok = {"Content-Type": "image/png"}
    u = urllib.parse.urlsplit(put)
    q = urllib.parse.parse_qs(u.query)
    assert u.path.endswith("/photo%201.png")
    # Tampered signature, size or expiry in the URL.
    sig = q["sig"][0]
    bad_sig = put.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert requests.put(bad_sig, data=b"abcdef", headers=ok, timeout=10).status_code == 403
    bigger = put.replace("&s=6&", "&s=7&")
    assert requests.put(bigger, data=b"abcdefg", headers=ok, timeout=10).status_code == 403
    later = put.replace("e=" + q["e"][0], "e=" + str(int(q["e"][0]) + 1000))
    assert requests.put(later, data=b"abcdef", headers=ok, timeout=10).status_code == 403
    # No signature at all, and another name under the same id.
    assert requests.put(put.split("?")[0], data=b"abcdef", headers=ok,
                        timeout=10).status_code == 403
    other = put.replace("/photo%201.png?", "/other.png?")
    assert requests.put(other, data=b"abcdef", headers=ok, timeout=10).status_code == 403
    # The content type must be the slot's.
    r = requests.put(put, data=b"abcdef", headers={"Content-Type": "text/html"}, timeout=10)
    assert r.status_code == 403
    # The size must be the slot's.
    r = requests.put(put, data=b"abcde", headers=ok, timeout=10)
    assert r.status_code == 400 and "Content-Length" in r.text
    assert requests.get(get, timeout=10).status_code == 404
    # The real one, then a second PUT of the same slot.
    r = requests.put(put, data=b"\x89PNG\r\n", headers=ok, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.put(put, data=b"\x89PNG\r\n", headers=ok, timeout=10)
    assert r.status_code == 409
    g = requests.get(get, timeout=10)
    assert g.content == b"\x89PNG\r\n" and g.headers["Content-Type"] == "image/png"
    assert g.headers["Content-Disposition"].startswith("inline")
    # A slot asked without a content type takes any.
    r = requests.put(put2, data=b"xyz", headers={"Content-Type": "application/x-thing"},
                     timeout=10)
    assert r.status_code == 201
    assert requests.get(get2, timeout=10).headers["Content-Type"] == "application/x-thing"

    # An expired slot, signed with the server's own key.
    key = upload_key(server)
    owner, ident = u.path.split("/")[2:4]
    exp = int(time.time()) - 10
    msg = "v1\n%s\n%s\n%s\n%d\n%d\n%s" % (owner, "a" * 24, "old.png", exp, 3, "image/png")
    mac = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    old = "%s/upload/%s/%s/old.png?e=%d&s=3&sig=%s" % (server.url, owner, "a" * 24, exp, mac)
    r = requests.put(old, data=b"abc", headers=ok, timeout=10)
    assert r.status_code == 403 and "expired" in r.text
    # The same signature scheme with a valid expiry is accepted: the check is the expiry.
    exp = int(time.time()) + 60
    msg = "v1\n%s\n%s\n%s\n%d\n%d\n%s" % (owner, "a" * 24, "old.png", exp, 3, "image/png")
    mac = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    fresh = "%s/upload/%s/%s/old.png?e=%d&s=3&sig=%s" % (server.url, owner, "a" * 24, exp, mac)
    assert requests.put(fresh, data=b"abc", headers=ok, timeout=10).status_code == 201

    # Traversal and junk paths (sent raw: requests would normalize "..").
    host = u.netloc
    for path in ["/upload/%2e%2e/%2e%2e/tandem.db", "/upload/" + owner + "/" + ident + "/..",
                 "/upload/" + owner + "/" + ident + "/%2e%2e%2ftandem.db",
                 "/upload/" + owner + "/../" + ident + "/photo%201.png",
                 "/upload/" + owner.upper() + "/" + ident + "/photo%201.png"]:
        for method in ["GET", "PUT"]:
            conn = http.client.HTTPConnection(host, timeout=10)
            conn.request(method, path, body=b"abc" if method == "PUT" else None,
                         headers={"Content-Type": "image/png"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            assert resp.status in (403, 404), (method, path, resp.status)
    # A body over upload_max_bytes is refused before it is read.
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.putrequest("PUT", u.path + "?" + u.query)
    conn.putheader("Content-Length", str(MAX + 1))
    conn.putheader("Content-Type", "image/png")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def test_control_characters_in_filename(server):
    """Escaped controls survive XML attribute normalization (a literal tab
    would become a space): sent on a raw stream, they are refused."""
    from test_xmpp_sm import Raw

    c = Raw(server.xport, "alice")
    try:
        c.bind("raw")
        for i, name in enumerate(["tab&#9;here", "new&#10;line", "cr&#13;x", "del\x7fx",
                                  "c1\u0085x"]):
            c.send("<iq type='get' id='u%d' to='%s'><request xmlns='%s' filename='%s' "
                   "size='5' content-type='text/plain'/></iq>" % (i, UP, NS, name))
            out, _ = c.until_re(rb"<iq [^>]*id='u%d'.*?</iq>" % i)
            assert b"type='error'" in out and b"<bad-request" in out, (name, out)
        c.send("<iq type='get' id='ok' to='%s'><request xmlns='%s' filename='fine name.txt' "
               "size='5' content-type='text/plain'/></iq>" % (UP, NS))
        out, _ = c.until_re(rb"<iq [^>]*id='ok'.*?</iq>")
        assert b"<slot xmlns='urn:xmpp:http:upload:0'>" in out and b"fine%20name.txt" in out
    finally:
        c.close()
