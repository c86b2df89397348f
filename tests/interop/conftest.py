# SPDX-License-Identifier: MIT
"""Shared fixtures: start a real `tandem serve` on a free loopback port in a
fresh data directory, and helpers to drive it like a browser would."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TANDEM_BIN", os.path.join(ROOT, "build", "tandem"))
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")


class Tandem:
    """One tandem process with its own data directory and log file."""

    def __init__(self, env_extra=None, ini=None):
        self.dir = tempfile.mkdtemp(prefix="tandem-test-")
        self.data = os.path.join(self.dir, "var")
        self.log_path = os.path.join(self.dir, "tandem.log")
        self.env = dict(os.environ)
        self.env.update({
            "TANDEM_SERVER_HTTP_PORT": "0",
            "TANDEM_XMPP_C2S_PORT": "0",
            "TANDEM_XMPP_C2S_TLS_PORT": "0",
            "TANDEM_SERVER_DATA_DIR": self.data,
            "TANDEM_SERVER_TEMPLATES_DIR": os.path.join(ROOT, "templates"),
            "TANDEM_SERVER_STATIC_DIR": os.path.join(ROOT, "static"),
            "TANDEM_SERVER_THREADS": "2",
            "TANDEM_LOG_LEVEL": "info",
        })
        self.env.update(env_extra or {})
        self.ini = None
        if ini is not None:
            self.ini = os.path.join(self.dir, "tandem.ini")
            with open(self.ini, "w") as f:
                f.write(ini)
        self.proc = None
        self.port = None

    def args(self, *rest):
        a = [BIN]
        if self.ini:
            a += ["--config", self.ini]
        return a + list(rest)

    def cli(self, *rest, input=None):
        """Run a tandem subcommand against this instance's data directory."""
        return subprocess.run(self.args(*rest), env=self.env, input=input,
                              capture_output=True, text=True, timeout=60)

    def add_user(self, name, password="correct horse", admin=False):
        extra = ["--admin"] if admin else []
        r = self.cli("user", "add", name, "--password-stdin", *extra, input=password + "\n")
        assert r.returncode == 0, r.stderr
        return r

    def start(self):
        self.logf = open(self.log_path, "ab")
        offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(self.args("serve"), env=self.env, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            log = self.log_bytes()[offset:]
            m = re.search(rb"event=server.listening proto=http addr=\S+ port=(\d+)", log)
            # server.started comes once the signal handlers are in place: a test that
            # stops the server sooner would see it die of the SIGTERM instead.
            if m and b"event=server.started" in log:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("tandem exited early:\n" + self.log())
            time.sleep(0.05)
        raise RuntimeError("tandem did not start:\n" + self.log())

    def log_bytes(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def log(self):
        return self.log_bytes().decode("utf-8", "replace")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the server; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def make_tandem():
    """Factory: make_tandem(env_extra=..., ini=...) -> started Tandem; all are
    stopped at the end, and a clean exit (0, no sanitizer report) is required."""
    made = []

    def factory(env_extra=None, ini=None, start=True):
        t = Tandem(env_extra, ini)
        made.append(t)
        return t.start() if start else t

    yield factory
    failures = []
    for t in made:
        rc = t.stop()
        log = t.log() if os.path.exists(t.log_path) else ""
        if rc not in (None, 0) or "ERROR: AddressSanitizer" in log or "runtime error:" in log:
            failures.append("tandem exited %s:\n%s" % (rc, log[-6000:]))
        t.cleanup()
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def tandem(make_tandem):
    return make_tandem()


def csrf_of(html):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in page"
    return m.group(1)


class Browser:
    """A requests.Session that fetches forms first, the way a browser does."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def get(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        return self.s.get(self.base + path, timeout=30, **kw)

    def post(self, path, data=None, **kw):
        kw.setdefault("allow_redirects", False)
        return self.s.post(self.base + path, data=data, timeout=30, **kw)

    def form_post(self, page, action, fields):
        """GET page for its CSRF token, then POST fields (plus the token) to action."""
        token = csrf_of(self.get(page).text)
        data = dict(fields)
        data["csrf"] = token
        return self.post(action, data)

    def signup(self, name, password="correct horse"):
        return self.form_post("/signup", "/signup",
                              {"username": name, "password": password, "password2": password})

    def login(self, name, password="correct horse"):
        return self.form_post("/login", "/login", {"username": name, "password": password})


@pytest.fixture
def browser(tandem):
    return Browser(tandem.url)


def raw(t, data, read_timeout=10):
    """Send raw bytes on a fresh connection; return everything read until close
    or until read_timeout passes with no data."""
    s = t.connect()
    s.settimeout(read_timeout)
    if data:
        s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out
