# SPDX-License-Identifier: MIT
"""HTTP/1.1 behaviour and hostile input against the real server: keep-alive,
pipelining, chunked bodies, HEAD, limits (400/408/413/414/431), static files,
path traversal, /healthz and /metrics. After every bad request the server
must still serve others."""
import gzip
import os
import re
import socket
import time

import requests

from conftest import ROOT, raw


def status_of(resp_bytes):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp_bytes)
    assert m, resp_bytes[:200]
    return int(m.group(1))


def still_serving(t):
    r = requests.get(t.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.text == "ok\n"


def test_healthz_and_headers(tandem):
    r = requests.get(tandem.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.text == "ok\n"
    assert r.headers["Content-Length"] == "3"
    assert re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", r.headers["Date"])


def test_keepalive_and_pipelining(tandem):
    s = tandem.connect()
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(req * 50 + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + req)
    data = b""
    s.settimeout(10)
    while data.count(b"HTTP/1.1 ") < 52:
        chunk = s.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
    codes = [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3})", data)]
    assert codes == [200] * 50 + [404, 200]   # answered in order
    # The connection is still usable.
    s.sendall(req)
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    s.close()


def test_http10_closes(tandem):
    out = raw(tandem, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status_of(out) == 200 and b"Connection: close" in out


def test_connection_close_honoured(tandem):
    out = raw(tandem, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) == 200 and b"Connection: close" in out


def test_head(tandem):
    out = raw(tandem, b"HEAD /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert status_of(out) == 200
    assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 100
    assert body == b""


def test_chunked_request_body(tandem):
    body = b"csrf=x&a=1"
    chunked = b"".join(b"%x\r\n%s\r\n" % (1, body[i:i + 1]) for i in range(len(body))) + b"0\r\n\r\n"
    out = raw(tandem, b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert status_of(out) == 403   # parsed fine; the CSRF token is wrong
    out = raw(tandem, b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert status_of(out) == 400
    still_serving(tandem)


def test_malformed_requests(tandem):
    for bad in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\x00 HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00",
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                b"GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n"]:
        out = raw(tandem, bad)
        assert out, bad
        assert status_of(out) in (400, 501, 505), (bad, out[:100])
    assert "http.reject" in tandem.log()
    still_serving(tandem)


def test_header_limits(make_tandem):
    t = make_tandem({"TANDEM_HTTP_MAX_HEADER_BYTES": "4096", "TANDEM_HTTP_MAX_HEADERS": "16",
                     "TANDEM_HTTP_MAX_URL_BYTES": "1024"})
    out = raw(t, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert status_of(out) == 431
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(20))
    assert status_of(raw(t, b"GET /healthz HTTP/1.1\r\n" + many + b"\r\n")) == 431
    out = raw(t, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n")
    assert status_of(out) == 414
    still_serving(t)


def test_body_limit(make_tandem):
    t = make_tandem({"TANDEM_HTTP_MAX_BODY_BYTES": "2048"})
    out = raw(t, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    assert status_of(out) == 413      # refused before the body is read
    chunk = b"800\r\n" + b"a" * 0x800 + b"\r\n"
    out = raw(t, b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3)
    assert status_of(out) == 413
    # Expect: 100-continue gets 413 at once too.
    out = raw(t, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\nExpect: 100-continue\r\n\r\n")
    assert status_of(out) == 413
    r = requests.post(t.url + "/login", data=b"x" * 100000,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert r.status_code == 413
    still_serving(t)


def test_slowloris(make_tandem):
    t = make_tandem({"TANDEM_HTTP_HEADER_TIMEOUT": "1"})
    s = t.connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(5)
    start = time.time()
    data = b""
    while True:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            break
    s.close()
    assert status_of(data) == 408
    assert time.time() - start < 4
    still_serving(t)
    # A connection that sends nothing is closed quietly.
    s = t.connect()
    s.settimeout(5)
    assert s.recv(100) == b""
    s.close()


def test_many_connections_and_abrupt_close(tandem):
    socks = [tandem.connect() for _ in range(50)]
    for s in socks[:25]:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # half a request, then vanish
        s.close()
    for s in socks[25:]:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
    still_serving(tandem)


def test_static_files(tandem):
    url = tandem.url + "/static/tandem.css"
    r = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    with open(os.path.join(ROOT, "static", "tandem.css"), "rb") as f:
        assert r.content == f.read()
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": lm}, timeout=10).status_code == 304
    g = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    assert g.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(g.raw.read()) == r.content
    assert requests.head(url, timeout=10).headers["ETag"] == etag


def test_path_traversal(tandem):
    for path in [b"/static/../conf/tandem.ini.example", b"/static/%2e%2e/meson.build",
                 b"/static/..%2fmeson.build", b"/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 b"/static//etc/passwd", b"/static/.hidden", b"/static/tandem.css%00.png",
                 b"/static/..\\meson.build", b"/static/"]:
        out = raw(tandem, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(out) in (400, 404), (path, out[:80])
        assert b"project(" not in out and b"root:" not in out
    still_serving(tandem)


def test_metrics(tandem):
    requests.get(tandem.url + "/healthz", timeout=10)
    requests.get(tandem.url + "/@nobody", timeout=10)
    m = requests.get(tandem.url + "/metrics", timeout=10)
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = m.text
    assert re.search(r'tandem_http_requests_total\{route="/healthz",method="GET",status="200"\} \d+', text)
    assert 'route="/@:name",method="GET",status="404"' in text
    assert 'tandem_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"}' in text
    assert re.search(r"^tandem_open_connections \d+", text, re.M)
    assert re.search(r"^tandem_loop_lag_seconds [0-9.]+", text, re.M)
    assert re.search(r"^tandem_accounts 0$", text, re.M)


def test_access_log_has_request_id(tandem):
    requests.get(tandem.url + "/healthz", timeout=10)
    assert re.search(r"level=info event=http.request req=[0-9a-f]+ peer=127.0.0.1 method=GET "
                     r'path="/healthz" status=200', tandem.log())
