# SPDX-License-Identifier: MIT
"""HTTPS: the self-signed certificate made on first start, TLS on the HTTP
listener's sibling port, Secure cookies under TLS, garbage on the TLS port."""
import os
import re
import socket
import ssl
import time
import warnings

import requests

from conftest import csrf_of


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def https_port_of(t):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(r"event=server.listening proto=https addr=\S+ port=(\d+)", t.log())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no https listener:\n" + t.log())


def test_https_with_selfsigned_cert(make_tandem):
    t = make_tandem({"TANDEM_SERVER_HTTPS_PORT": str(free_port())})
    port = https_port_of(t)
    cert = os.path.join(t.data, "tls", "cert.pem")
    assert os.path.exists(cert)
    assert oct(os.stat(os.path.join(t.data, "tls", "key.pem")).st_mode & 0o777) == "0o600"
    base = "https://localhost:%d" % port
    # The certificate verifies for localhost when trusted explicitly.
    r = requests.get(base + "/healthz", verify=cert, timeout=10)
    assert r.status_code == 200 and r.text == "ok\n"
    s = requests.Session()
    page = s.get(base + "/signup", verify=cert, timeout=10)
    assert "Secure" in page.headers["Set-Cookie"]
    r = s.post(base + "/signup", data={"username": "tina", "password": "correct horse",
                                      "password2": "correct horse",
                                      "csrf": csrf_of(page.text)},
               allow_redirects=False, verify=cert, timeout=30)
    assert r.status_code == 303
    assert re.search(r"tandem_session=[^;]+;.*Secure", r.headers["Set-Cookie"])
    # TLS version: 1.2 or better only.
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Plain HTTP or garbage on the TLS port: the connection is dropped, the
    # server goes on.
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(junk)
            c.settimeout(10)
            try:
                data = c.recv(4096)
            except ConnectionResetError:
                data = b""
            assert b"HTTP/1.1 200" not in data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert requests.get(base + "/healthz", verify=False, timeout=10).status_code == 200
    # A second start reuses the certificate.
    before = open(cert, "rb").read()
    t.stop()
    t.env["TANDEM_SERVER_HTTPS_PORT"] = str(free_port())
    t.start()
    https_port_of(t)
    assert open(cert, "rb").read() == before
