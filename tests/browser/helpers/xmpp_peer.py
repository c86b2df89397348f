# SPDX-License-Identifier: MIT
"""A real XMPP client (python3-slixmpp) for the browser tests, driven over
stdin/stdout with one JSON object per line.

    xmpp_peer.py JID PASSWORD PORT

It logs in with STARTTLS (the test server's certificate is self-signed) and
SCRAM, fetches its roster, sends its presence and then reports, one line each:
  {"event": "online"}
  {"event": "subscribe" | "subscribed" | "unsubscribe" | ..., "from": BARE}
  {"event": "presence", "from": FULL, "type": "available" | "unavailable"}
  {"event": "message", "from": FULL, "body": TEXT}
  {"event": "failed", "why": TEXT}
It obeys commands:
  {"cmd": "subscribe", "to": BARE}      ask to see the contact's presence
  {"cmd": "send", "to": JID, "body": TEXT}
  {"cmd": "quit"}
Incoming subscription requests are approved (slixmpp's auto_authorize), as a
person who has just sent a request to the same contact would do."""
import asyncio
import json
import ssl
import sys

import slixmpp


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


class Peer(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.auto_authorize = True
        self.auto_subscribe = False
        self.add_event_handler("session_start", self.started)
        self.add_event_handler("failed_all_auth", lambda e: emit(event="failed", why="auth"))
        self.add_event_handler("message", self.got_message)
        for kind in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
            self.add_event_handler("presence_" + kind,
                                   lambda p, kind=kind: emit(event=kind, **{"from": p["from"].bare}))
        self.add_event_handler("presence_available",
                               lambda p: emit(event="presence", type="available",
                                              **{"from": p["from"].full}))
        self.add_event_handler("presence_unavailable",
                               lambda p: emit(event="presence", type="unavailable",
                                              **{"from": p["from"].full}))

    async def started(self, event):
        await self.get_roster(timeout=10)
        self.send_presence()
        emit(event="online")

    def got_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            emit(event="message", body=msg["body"], **{"from": msg["from"].full})


async def commands(peer):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        if cmd["cmd"] == "subscribe":
            peer.send_presence(pto=cmd["to"], ptype="subscribe")
        elif cmd["cmd"] == "send":
            peer.send_message(mto=cmd["to"], mbody=cmd["body"], mtype="chat")
        elif cmd["cmd"] == "quit":
            break
    peer.disconnect()
    try:
        await asyncio.wait_for(peer.disconnected, 5)
    except asyncio.TimeoutError:
        peer.abort()


def main():
    jid, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    peer = Peer(jid, password)
    peer.connect(address=("127.0.0.1", port))
    loop.run_until_complete(commands(peer))


if __name__ == "__main__":
    main()
