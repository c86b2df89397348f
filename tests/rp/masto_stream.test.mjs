// SPDX-License-Identifier: MIT
// Interop test: Tandem's Mastodon streaming API used by an independent client, the npm
// `masto` library (masto.js v7). Its streaming client opens the WebSocket at
// /api/v1/streaming with the access token as the sub-protocol (as Mastodon's web client
// does), subscribes with {"type":"subscribe","stream":...} messages and decodes the
// payloads; its REST client posts and follows. Tokens come from the authorization code
// flow through the login and consent pages, driven with plain fetch.
//
// Run: TANDEM_BIN=$PWD/build-asan/tandem node --test tests/rp/masto_stream.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createRestAPIClient, createStreamingAPIClient } from 'masto';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.TANDEM_BIN || join(root, 'build', 'tandem');
const REDIRECT = 'http://127.0.0.1:9999/cb';
const PASSWORD = 'correct horse';
const SCOPE = 'read write follow';

/* ---- the server ---- */

function startTandem() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-masto-'));
  const env = {
    ...process.env,
    TANDEM_SERVER_HTTP_PORT: '0',
    TANDEM_SERVER_DATA_DIR: join(dir, 'var'),
    TANDEM_SERVER_TEMPLATES_DIR: join(root, 'templates'),
    TANDEM_SERVER_STATIC_DIR: join(root, 'static'),
    TANDEM_SERVER_THREADS: '2',
    TANDEM_XMPP_C2S_PORT: '0',
    TANDEM_XMPP_C2S_TLS_PORT: '0',
  };
  let log = '';
  const proc = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); fail(new Error(log)); }, 30000);
    const poll = setInterval(() => {
      const m = log.match(/event=server\.listening proto=http addr=\S+ port=(\d+)/);
      if (!m || !log.includes('event=server.started')) return; /* signal handlers in place */
      clearInterval(poll);
      clearTimeout(timer);
      done({ proc, dir, env, url: `http://127.0.0.1:${m[1]}`, log: () => log });
    }, 50);
    proc.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      fail(new Error(`tandem exited ${code}:\n${log}`));
    });
  });
}

function stopTandem(t) {
  return new Promise((done) => {
    t.proc.removeAllListeners('exit');
    if (t.proc.exitCode !== null || t.proc.signalCode !== null) return done(t.proc.exitCode);
    const kill = setTimeout(() => t.proc.kill('SIGKILL'), 20000);
    t.proc.on('exit', (code) => { clearTimeout(kill); done(code); });
    t.proc.kill('SIGTERM');
  });
}

function cli(t, args, input) {
  return new Promise((done, fail) => {
    const child = execFile(bin, args, { env: t.env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`tandem ${args.join(' ')}: ${err.message}\n${stderr}`));
      else done(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

/* ---- a token through the authorization code flow ---- */

function cookieJar() {
  const jar = new Map();
  return {
    header: () => [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
    take(res) {
      for (const c of res.headers.getSetCookie()) {
        const pair = c.split(';')[0];
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
    },
  };
}

function hiddenFields(html) {
  const out = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    out[m[1].replace(/&amp;/g, '&')] = m[2].replace(/&amp;/g, '&').replace(/&#x2F;/gi, '/')
      .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  return out;
}

async function token(t, client, user) {
  const jar = cookieJar();
  const get = async (path) => {
    const res = await fetch(new URL(path, t.url), { headers: { cookie: jar.header() },
                                                    redirect: 'manual' });
    jar.take(res);
    return res;
  };
  const post = async (path, form) => {
    const res = await fetch(new URL(path, t.url), {
      method: 'POST', redirect: 'manual', body: new URLSearchParams(form).toString(),
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    });
    jar.take(res);
    return res;
  };
  const page = await (await get('/login')).text();
  const csrf = page.match(/name="csrf" value="([^"]+)"/)[1];
  assert.equal((await post('/login', { username: user, password: PASSWORD, csrf })).status, 303);
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({ response_type: 'code', client_id: client.id, scope: SCOPE,
                                  redirect_uri: REDIRECT, state: 's', code_challenge: challenge,
                                  code_challenge_method: 'S256' });
  let res = await get('/oauth/authorize?' + q);
  if (res.status === 200)
    res = await post('/oauth/authorize', { ...hiddenFields(await res.text()), decision: 'allow' });
  assert.ok([302, 303].includes(res.status), `authorize answered ${res.status}`);
  const code = new URL(res.headers.get('location')).searchParams.get('code');
  const tok = await fetch(new URL('/oauth/token', t.url), {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
                                code_verifier: verifier }).toString(),
  });
  assert.equal(tok.status, 200, await tok.clone().text());
  return (await tok.json()).access_token;
}

// Read a subscription in the background into an array (masto connects and sends the
// subscribe message once iteration starts).
function collect(sub) {
  const got = [];
  (async () => {
    try {
      for await (const e of sub) got.push(e);
    } catch (err) {
      got.push({ error: err });
    }
  })();
  return got;
}

// The first collected event matching pred (waiting at most ms).
async function waitFor(got, pred, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const e = got.find((x) => x.error || pred(x));
    if (e) {
      assert.ok(!e.error, 'the subscription failed: ' + e.error);
      return e;
    }
    assert.ok(Date.now() < deadline, 'no matching event in time; got ' + JSON.stringify(got));
    await new Promise((done) => setTimeout(done, 50));
  }
}

// Wait until the server counts n open streams (its /metrics gauge).
async function streamsOpen(t, n) {
  for (let i = 0; i < 200; i++) {
    const m = await (await fetch(new URL('/metrics', t.url))).text();
    if (m.includes(`tandem_masto_streams ${n}\n`)) return;
    await new Promise((done) => setTimeout(done, 50));
  }
  assert.fail(`the server never had ${n} open streams`);
}

test('masto.js streams the user timeline and notifications over the WebSocket', { timeout: 120000 },
  async () => {
    const t = await startTandem();
    let ok = false;
    try {
      for (const u of ['alice', 'bob'])
        await cli(t, ['user', 'add', u, '--password-stdin'], PASSWORD + '\n');
      const out = await cli(t, ['client', 'add', 'masto.js', '--redirect-uri', REDIRECT,
                                '--scope', SCOPE]);
      const client = { id: out.match(/^client_id: (\S+)$/m)[1],
                       secret: out.match(/^client_secret: (\S+)$/m)[1] };
      const alice = createRestAPIClient({ url: t.url, accessToken: await token(t, client, 'alice') });
      const bobToken = await token(t, client, 'bob');
      const bob = createRestAPIClient({ url: t.url, accessToken: bobToken });
      const aliceAcc = await alice.v1.accounts.verifyCredentials();
      const bobAcc = await bob.v1.accounts.verifyCredentials();
      await bob.v1.accounts.$select(aliceAcc.id).follow();

      const streaming = createStreamingAPIClient({
        streamingApiUrl: t.url.replace(/^http/, 'ws'),
        accessToken: bobToken,
        implementation: WebSocket, // Node 20 has no global WebSocket
        retry: false,
      });
      const user = streaming.user.subscribe();
      const events = collect(user);
      const tag = streaming.hashtag.subscribe({ tag: 'masto' });
      const tagEvents = collect(tag);
      await streamsOpen(t, 1); // one WebSocket carries both
      await new Promise((done) => setTimeout(done, 300)); // and the subscribe messages

      const status = await alice.v1.statuses.create({ status: 'hello from masto.js #masto' });
      const ev = await waitFor(events, (e) => e.event === 'update');
      assert.deepEqual(ev.stream, ['user']);
      assert.equal(ev.payload.id, status.id);
      assert.equal(ev.payload.account.acct, 'alice');
      assert.equal(ev.payload.content.includes('hello from masto.js'), true);
      const tev = await waitFor(tagEvents, (e) => e.event === 'update');
      assert.deepEqual(tev.stream, ['hashtag', 'masto']);
      assert.equal(tev.payload.id, status.id);

      await alice.v1.accounts.$select(bobAcc.id).follow();
      const n = await waitFor(events, (e) => e.event === 'notification');
      assert.equal(n.payload.type, 'follow');
      assert.equal(n.payload.account.id, aliceAcc.id);

      user.unsubscribe();
      tag.unsubscribe();
      streaming.close();
      ok = true;
    } finally {
      const code = await stopTandem(t);
      const log = t.log();
      rmSync(t.dir, { recursive: true, force: true });
      if (ok) {
        assert.equal(code, 0, log.slice(-4000));
        assert.ok(!/AddressSanitizer|runtime error:/.test(log), log.slice(-6000));
      }
    }
  });
