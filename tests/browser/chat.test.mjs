// SPDX-License-Identifier: MIT
// Browser test: the chat panel. alice logs in to the site in headless
// Chromium (Debian's, driven by playwright-core); converse.js fetches
// /xmpp/credentials and logs in over XMPP-over-WebSocket (RFC 7395) with SASL
// OAUTHBEARER. bob is a real XMPP client (python3-slixmpp, helpers/xmpp_peer.py)
// on the client-to-server port. bob asks to see alice's presence, alice
// accepts in the panel (which asks back; bob's client approves), bob shows
// online in her roster, and they exchange a message each way. Screenshots go
// to tests/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

import { addUser, makeTandem, root, startTandem, stopTandem } from './helpers/tandem.mjs';

const artifacts = join(root, 'tests', 'artifacts');
const PW = 'browser pass 1';
const WAIT = 30000; // the longest any step may take before the test fails

// bob: slixmpp in a child process, one JSON line per event.
function startPeer(jid, password, port) {
  const proc = spawn('/usr/bin/python3',
                     [join(root, 'tests', 'browser', 'helpers', 'xmpp_peer.py'), jid, password,
                      String(port)],
                     { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const ev = JSON.parse(line);
    events.push(ev);
    for (const w of waiters.splice(0)) w();
  });
  return {
    events,
    send(cmd) { proc.stdin.write(JSON.stringify(cmd) + '\n'); },
    // The first event matching pred (already seen or still to come).
    waitFor(pred, what) {
      return new Promise((resolveEv, reject) => {
        const timer = setTimeout(() => reject(new Error(
          `bob's client never saw ${what}; events: ${JSON.stringify(events)}\n${stderr}`)), WAIT);
        const check = () => {
          const ev = events.find(pred);
          if (ev) { clearTimeout(timer); resolveEv(ev); } else waiters.push(check);
        };
        check();
      });
    },
    stop() {
      return new Promise((done) => {
        if (proc.exitCode !== null) { done(); return; }
        proc.on('exit', () => done());
        proc.stdin.write(JSON.stringify({ cmd: 'quit' }) + '\n');
        setTimeout(() => proc.kill('SIGTERM'), 5000).unref();
      });
    },
  };
}

test('converse.js logs in over WebSocket and chats with a slixmpp client', async () => {
  assert.ok(existsSync(join(root, 'static', 'vendor', 'converse', 'converse.min.js')),
            'converse.js is not in static/vendor/converse: run `make deps` (scripts/deps.sh)');
  mkdirSync(artifacts, { recursive: true });
  const t = makeTandem();
  addUser(t, 'alice', PW);
  addUser(t, 'bob', PW);
  await startTandem(t);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let bob = null;
  let consoleLines = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const violations = [];
    await page.exposeFunction('reportCsp', (v) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.reportCsp(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    const pageErrors = [];
    page.on('pageerror', (err) => {
      pageErrors.push(err.message);
      consoleLines.push(`pageerror: ${err.message}`);
    });
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(t.url)) external.push(r.url()); });

    await page.goto(t.url + '/login');
    await page.fill('#username', 'alice');
    await page.fill('#password', PW);
    await page.click('button:has-text("Log in")');
    await page.waitForURL(t.url + '/');

    // The overlayed panel connects on its own: credentials from the session, then XMPP.
    await page.waitForSelector('html.chat-live', { timeout: WAIT });
    await page.waitForSelector('#controlbox converse-roster', { state: 'visible', timeout: WAIT });
    await page.screenshot({ path: join(artifacts, 'chat-connected.png') });

    // bob logs in with his XMPP client and asks to see alice's presence.
    bob = startPeer('bob@localhost/slixmpp', PW, t.xmppPort);
    await bob.waitFor((e) => e.event === 'online' || e.event === 'failed', 'its log-in');
    assert.equal(bob.events.find((e) => e.event === 'failed'), undefined);
    bob.send({ cmd: 'subscribe', to: 'alice@localhost' });

    // The request shows in alice's panel without a reload; she accepts it.
    const bobItem = 'converse-roster-contact:has(a.open-chat[data-jid="bob@localhost"])';
    await page.waitForSelector(`${bobItem} .accept-xmpp-request`,
                               { state: 'attached', timeout: WAIT });
    await page.screenshot({ path: join(artifacts, 'chat-request.png') });
    await page.$eval(`${bobItem} .accept-xmpp-request`, (a) => a.click());
    await page.click('converse-accept-contact-request-modal button[type="submit"]',
                     { timeout: WAIT });

    // Accepting also asks back; bob's client approves. Both see each other.
    await bob.waitFor((e) => e.event === 'subscribed' && e.from === 'alice@localhost',
                      "alice's approval");
    await bob.waitFor((e) => e.event === 'presence' && e.type === 'available' &&
                             e.from.startsWith('alice@localhost/'), "alice's presence");
    await page.waitForSelector(`${bobItem} .contact-name--online`, { timeout: WAIT });
    await page.screenshot({ path: join(artifacts, 'chat-bob-online.png') });

    // alice opens a chat with bob and writes; bob's client receives it.
    await page.click(`${bobItem} a.open-chat`);
    const box = 'converse-chat[jid="bob@localhost"]';
    const textarea = `${box} textarea.chat-textarea`;
    await page.waitForSelector(textarea, { state: 'visible', timeout: WAIT });
    await page.fill(textarea, 'Hello Bob, this is the browser <b>speaking</b>');
    await page.press(textarea, 'Enter');
    const got = await bob.waitFor((e) => e.event === 'message', "alice's message");
    assert.equal(got.body, 'Hello Bob, this is the browser <b>speaking</b>');
    assert.match(got.from, /^alice@localhost\//);

    // bob answers; it appears in alice's chat window.
    bob.send({ cmd: 'send', to: 'alice@localhost', body: 'Hi Alice, slixmpp here 👋' });
    await page.waitForSelector(`${box} .chat-msg__text:has-text("Hi Alice, slixmpp here")`,
                               { timeout: WAIT });
    await page.screenshot({ path: join(artifacts, 'chat-conversation.png') });

    // The Contacts page embeds the same view; its static list (for readers without
    // JavaScript) has bob with the mutual subscription, from the store.
    await page.goto(t.url + '/contacts');
    await page.waitForSelector('html.chat-live', { timeout: WAIT });
    const staticList = await page.textContent('.roster-static');
    assert.match(staticList, /bob@localhost\s+you see each other's presence/);
    await page.waitForSelector('#chat-embed converse-roster-contact a[data-jid="bob@localhost"]',
                               { timeout: WAIT });
    await page.screenshot({ path: join(artifacts, 'chat-contacts-page.png'), fullPage: true });

    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(violations, [], 'no Content-Security-Policy violations');
    assert.deepEqual(external, [], 'every request stays on this site');
  } catch (e) {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) {
      await pages[0].screenshot({ path: join(artifacts, 'chat-failure.png') });
    }
    if (bob) e.message += '\nbob saw: ' + JSON.stringify(bob.events);
    e.message += '\nconsole: ' + consoleLines.join('\n').slice(-3000);
    throw e;
  } finally {
    if (bob) await bob.stop();
    await browser.close();
    const code = await stopTandem(t);
    const log = t.log();
    rmSync(t.dir, { recursive: true, force: true });
    assert.equal(code, 0, 'tandem exit code');
    assert.doesNotMatch(log, /AddressSanitizer|runtime error:/);
  }
});
