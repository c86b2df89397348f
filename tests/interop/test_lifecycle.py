# SPDX-License-Identifier: MIT
"""Process lifecycle: graceful shutdown with a request in flight, durability
of acknowledged writes across kill -9, configuration reload on SIGHUP."""
import signal
import threading
import time

import requests

from conftest import Browser


def test_sigterm_finishes_inflight_request(make_tandem):
    t = make_tandem()
    t.add_user("quinn")
    b = Browser(t.url)
    from conftest import csrf_of
    token = csrf_of(b.get("/login").text)
    result = {}

    def login():
        # Password verification runs on the thread pool and takes a while:
        # SIGTERM lands while the request is in flight.
        result["r"] = b.post("/login", {"username": "quinn", "password": "correct horse",
                                        "csrf": token})

    th = threading.Thread(target=login)
    th.start()
    time.sleep(0.02)
    t.proc.send_signal(signal.SIGTERM)
    th.join(30)
    assert result["r"].status_code == 303
    assert t.proc.wait(30) == 0
    log = t.log()
    assert "event=server.stopping" in log and "event=server.stopped" in log


def test_ack_survives_kill9(make_tandem):
    t = make_tandem()
    b = Browser(t.url)
    assert b.signup("rosa").status_code == 303          # acknowledged
    r = b.form_post("/settings", "/settings/profile", {"display_name": "Rosa R", "bio": "kept"})
    assert r.status_code == 303                           # acknowledged
    t.stop(signal.SIGKILL)
    t.start()
    page = requests.get(t.url + "/@rosa", timeout=10)
    assert page.status_code == 200 and "Rosa R" in page.text and "kept" in page.text
    assert Browser(t.url).login("rosa").status_code == 303


def test_sighup_reloads(make_tandem):
    ini = "[accounts]\nsignup = open\n"
    t = make_tandem(ini=ini)
    assert "Sign-up is closed" not in requests.get(t.url + "/signup", timeout=10).text
    with open(t.ini, "w") as f:
        f.write("[accounts]\nsignup = closed\n[server]\nmax_connections = 5000\n")
    t.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "event=config.reloaded" not in t.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "Sign-up is closed" in requests.get(t.url + "/signup", timeout=10).text
    assert "config.restart_needed" in t.log() and "server.max_connections" in t.log()
    # A bad file is refused and the running settings stay.
    with open(t.ini, "w") as f:
        f.write("[accounts]\nsignup = sometimes\n")
    t.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "config.reload_failed" not in t.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "config.reload_failed" in t.log()
    assert "Sign-up is closed" in requests.get(t.url + "/signup", timeout=10).text


def test_sigterm_during_startup_stops_cleanly(make_tandem):
    """A stop request that lands while the server is still starting (after it
    listens, before its signal handlers are in place) waits for them and
    stops the server cleanly instead of killing it by SIGTERM's default
    action."""
    import os
    import subprocess
    t = make_tandem(start=False)
    with open(t.log_path, "ab") as logf:
        offset = os.path.getsize(t.log_path)
        proc = subprocess.Popen(t.args("serve"), env=t.env, stdout=logf,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while b"event=server.listening" not in t.log_bytes()[offset:]:
                assert proc.poll() is None and time.time() < deadline, t.log()
                time.sleep(0.001)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, t.log()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "event=server.stopped" in t.log()


def test_busy_port_is_a_clear_error(make_tandem):
    """A listener that cannot bind (here the XMPP direct-TLS port, the last
    one opened) ends the start with a message and exit code 1, after closing
    what was already open: no crash on the way out."""
    import socket
    import subprocess
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        port = held.getsockname()[1]
        t = make_tandem(start=False)
        env = dict(t.env, TANDEM_XMPP_C2S_TLS_PORT=str(port))
        r = subprocess.run(t.args("serve"), env=env, capture_output=True, text=True, timeout=60)
    finally:
        held.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "xmpps: cannot listen" in r.stderr and "address already in use" in r.stderr, r.stderr
    assert "Assertion" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr
