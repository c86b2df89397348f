# SPDX-License-Identifier: MIT
"""Smoke test with profanity (Debian), a terminal XMPP client, driven through
tmux: log in over STARTTLS (trusting the self-signed certificate), send a
message to a slixmpp client and read its answer in profanity's window."""
import asyncio
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from test_xmpp import Client, next_message, run, with_clients, xmpp_port

pytestmark = pytest.mark.skipif(not shutil.which("profanity") or not shutil.which("tmux"),
                                reason="profanity and tmux come from scripts/deps.sh")


class Profanity:
    """One profanity process in a detached tmux session with its own home."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="tandem-profanity-")
        self.name = "tandem-prof-%d" % os.getpid()
        env = ("env HOME={h} XDG_CONFIG_HOME={h}/.config XDG_DATA_HOME={h}/.local/share "
               "TERM=xterm profanity").format(h=self.home)
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "200", "-y", "50",
                        env], check=True)

    def keys(self, text):
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)
        subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def screen(self):
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait_for(self, text, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.screen():
                return
            time.sleep(0.2)
        raise AssertionError("profanity never showed %r:\n%s" % (text, self.screen()))

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


def test_profanity_login_and_message(make_tandem):
    t = make_tandem(start=False)
    t.add_user("alice")
    t.add_user("bob")
    t.start()
    port = xmpp_port(t)
    p = Profanity()
    try:
        p.wait_for("Type '/help'")
        p.keys("/connect alice@localhost server 127.0.0.1 port %d tls trust" % port)
        p.wait_for("Enter password")
        p.keys("correct horse")
        p.wait_for("logged in successfully")

        async def go():
            bob = Client("bob@localhost/term", mech="SCRAM-SHA-256")

            async def body():
                assert await bob.online(port)
                await asyncio.to_thread(p.keys, "/msg bob@localhost hello from profanity")
                m = await next_message(bob, 10)
                assert m["body"] == "hello from profanity"
                assert str(m["from"]).startswith("alice@localhost/")
                bob.send_message(mto=m["from"], mbody="hi from slixmpp", mtype="chat")
                await asyncio.to_thread(p.wait_for, "hi from slixmpp")

            await with_clients([bob], body)

        run(go())
        p.keys("/quit")
    finally:
        p.close()
    assert "event=xmpp.bound" in t.log()
