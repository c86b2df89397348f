// SPDX-License-Identifier: MIT
// Interop test: Tandem's OAuth 2.0 authorization server and OpenID Connect provider used by
// an independent relying party, the npm `openid-client` library (v6, built on oauth4webapi).
// The library does the client side: OIDC Discovery 1.0, the authorization code grant with
// PKCE S256 (RFC 7636), ID token validation (OIDC Core §3.1.3.7: signature via the JWKS,
// iss, aud, exp, nonce) for RS256, ES256 and EdDSA keys, the `iss` authorization response
// parameter (RFC 9207), UserInfo (OIDC Core §5.3), refresh with rotation (RFC 6749 §6,
// RFC 9700 §4.14), token revocation (RFC 7009), public clients and the device authorization
// grant (RFC 8628). The "browser" side (login form, consent page, device page) is driven with
// plain fetch and a small cookie jar.
//
// Run: cd /work/main && TANDEM_BIN=$PWD/build-asan/tandem node --test tests/rp/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.TANDEM_BIN || join(root, 'build', 'tandem');
const REDIRECT = 'http://127.0.0.1:9999/cb';
const USER = 'alice';
const PASSWORD = 'correct horse';
const TIMEOUT = 120000;

/* ---- the server ---- */

function tandemEnv(dir) {
  return {
    ...process.env,
    TANDEM_SERVER_HTTP_PORT: '0',
    TANDEM_SERVER_DATA_DIR: join(dir, 'var'),
    TANDEM_SERVER_TEMPLATES_DIR: join(root, 'templates'),
    TANDEM_SERVER_STATIC_DIR: join(root, 'static'),
    TANDEM_SERVER_THREADS: '2',
    TANDEM_XMPP_C2S_PORT: '0',
    TANDEM_XMPP_C2S_TLS_PORT: '0',
  };
}

// Run a CLI command against the same data directory; resolves with stdout.
function cli(t, args, input) {
  return new Promise((done, fail) => {
    const child = execFile(bin, args, { env: t.env, timeout: 60000 }, (err, stdout, stderr) => {
      t.appendLog(`$ tandem ${args.join(' ')}\n${stdout}${stderr}`);
      if (err) fail(new Error(`tandem ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else done(stdout);
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

function startTandem() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-rp-'));
  const logPath = join(dir, 'tandem.log');
  const env = tandemEnv(dir);
  let log = '';
  const appendLog = (s) => { log += s; writeFileSync(logPath, log); };
  const proc = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => appendLog(d.toString()));
  proc.stderr.on('data', (d) => appendLog(d.toString()));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('tandem did not start:\n' + log));
    }, 30000);
    const poll = setInterval(() => {
      const m = log.match(/event=server\.listening proto=http addr=\S+ port=(\d+)/);
      if (m && log.includes('event=server.started')) { // signal handlers in place
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart({ proc, dir, env, appendLog, url: `http://127.0.0.1:${m[1]}`,
                       log: () => log });
      }
    }, 50);
    proc.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`tandem exited ${code}:\n${log}`));
    });
  });
}

function stopTandem(t) {
  return new Promise((done) => {
    t.proc.removeAllListeners('exit');
    if (t.proc.exitCode !== null || t.proc.signalCode !== null) {
      done(t.proc.exitCode);
      return;
    }
    const kill = setTimeout(() => t.proc.kill('SIGKILL'), 20000);
    t.proc.on('exit', (code) => { clearTimeout(kill); done(code); });
    t.proc.kill('SIGTERM');
  });
}

// Start Tandem with user alice, run fn(t), then stop it and check its exit code and log.
async function withTandem(fn) {
  const t = await startTandem();
  let failed = false;
  try {
    await cli(t, ['user', 'add', USER, '--password-stdin'], PASSWORD + '\n');
    await fn(t);
  } catch (e) {
    failed = true;
    console.error('failure: ' + describeErr(e));
    throw e;
  } finally {
    const code = await stopTandem(t);
    const log = t.log();
    rmSync(t.dir, { recursive: true, force: true });
    if (!failed) {
      assert.equal(code, 0, 'tandem exit code\n' + log.slice(-4000));
      assert.ok(!/AddressSanitizer|runtime error:/.test(log), log.slice(-6000));
    } else if (code !== 0 || /AddressSanitizer|runtime error:/.test(log)) {
      console.error(`tandem exit ${code}; log tail:\n${log.slice(-6000)}`);
    }
  }
}

// `tandem client add NAME ...` → { clientId, clientSecret? }.
async function addClient(t, name, ...opts) {
  const out = await cli(t, ['client', 'add', name, ...opts]);
  const id = out.match(/^client_id: (\S+)$/m);
  const secret = out.match(/^client_secret: (\S+)$/m);
  assert.ok(id, 'client add printed no client_id:\n' + out);
  return { clientId: id[1], clientSecret: secret ? secret[1] : undefined };
}

/* ---- a tiny browser: fetch, redirect: 'manual', a cookie jar ---- */

function htmlDecode(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    return String.fromCodePoint(parseInt(l.slice(1), 10));
  });
}

// The <form> whose action is `action`, with its input fields (name → value); null if absent.
function findForm(html, action) {
  const forms = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/gi) || [];
  for (const f of forms) {
    const head = f.match(/^<form\b[^>]*>/i)[0];
    const a = head.match(/action="([^"]*)"/i);
    if (!a || htmlDecode(a[1]) !== action) continue;
    const fields = {};
    for (const input of f.match(/<input\b[^>]*>/gi) || []) {
      const n = input.match(/\bname="([^"]*)"/i);
      const v = input.match(/\bvalue="([^"]*)"/i);
      const type = (input.match(/\btype="([^"]*)"/i) || [])[1];
      if (!n) continue;
      if (type === 'checkbox' && !/\bchecked\b/i.test(input)) continue;
      fields[htmlDecode(n[1])] = v ? htmlDecode(v[1]) : '';
    }
    const method = ((head.match(/method="([^"]*)"/i) || [])[1] || 'get').toLowerCase();
    return { method, fields };
  }
  return null;
}

class Browser {
  constructor(base) {
    this.base = base;
    this.cookies = new Map();
    this.trail = []; // "METHOD path status" per request
  }

  async request(url, { method = 'GET', form } = {}) {
    const u = new URL(url, this.base);
    const headers = { accept: 'text/html' };
    if (this.cookies.size)
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(u, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || value === '';
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    const loc = res.headers.get('location');
    this.trail.push(`${method} ${u.pathname} ${res.status}`);
    return { status: res.status, text, location: loc ? new URL(loc, u).href : null };
  }

  // Follow redirects from `url`, logging in and answering pages on the way, until the user
  // agent is sent to `stopPrefix` (the URL is returned) or reaches a page with no known form
  // ({ page } is returned). `decision` / `deviceDecision` answer the consent / device pages.
  async drive(url, stopPrefix, { decision = 'allow', deviceDecision = 'approve' } = {}) {
    let res = await this.request(url);
    for (let step = 0; step < 20; step++) {
      if (res.status >= 300 && res.status < 400) {
        assert.ok(res.location, `redirect without Location (${res.status})`);
        if (stopPrefix && res.location.startsWith(stopPrefix)) return res.location;
        res = await this.request(res.location);
        continue;
      }
      assert.equal(res.status, 200, `unexpected ${res.status} from the server:\n` +
                   res.text.slice(0, 2000) + '\ntrail: ' + this.trail.join(', '));
      const login = findForm(res.text, '/login');
      if (login && 'password' in login.fields) {
        assert.ok(login.fields.csrf, 'login form has a csrf token');
        res = await this.request('/login', {
          method: 'POST',
          form: { ...login.fields, username: USER, password: PASSWORD },
        });
        continue;
      }
      const consent = findForm(res.text, '/oauth/authorize');
      if (consent && consent.method === 'post') {
        assert.ok(consent.fields.csrf, 'consent form has a csrf token');
        res = await this.request('/oauth/authorize', {
          method: 'POST', form: { ...consent.fields, decision },
        });
        continue;
      }
      const device = findForm(res.text, '/device');
      if (device && device.method === 'post') {
        assert.ok(device.fields.csrf, 'device form has a csrf token');
        res = await this.request('/device', {
          method: 'POST', form: { ...device.fields, decision: deviceDecision },
        });
        continue;
      }
      return { page: res.text };
    }
    throw new Error('too many steps: ' + this.trail.join(', '));
  }
}

/* ---- the relying party ---- */

// Tandem enforces the client's registered token_endpoint_auth_method; `tandem client add`
// registers client_secret_basic, while openid-client defaults to client_secret_post when it
// is given only a secret, so the confidential clients here pass ClientSecretBasic.
async function discover(t, clientId, clientSecret, metadata = {}, auth = undefined) {
  const meta = clientSecret ? { client_secret: clientSecret, ...metadata } : metadata;
  if (auth === undefined && clientSecret) auth = client.ClientSecretBasic(clientSecret);
  if (auth === 'default') auth = undefined; // the library's own choice
  // openid-client, like OIDC Core §3.1.3.7 item 6 allows, trusts an ID token from the token
  // endpoint on the strength of TLS and skips its signature; enableNonRepudiationChecks makes
  // it verify the JWS against the provider's JWKS, which is what this test is about.
  return client.discovery(new URL(t.url), clientId, meta, auth, {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    timeout: 30,
  });
}

// Build an authorization request, drive the browser through login and consent, and return
// { callback, verifier, nonce, state, trail }.
async function authorize(t, config, browser, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  const callback = await browser.drive(url.href, REDIRECT);
  assert.equal(typeof callback, 'string', 'the flow ended on a page, not at the redirect_uri');
  const q = new URL(callback).searchParams;
  assert.ok(q.get('code'), 'callback has a code: ' + callback);
  assert.equal(q.get('state'), state);
  assert.equal(q.get('iss'), t.url, 'RFC 9207 iss in the authorization response');
  return { callback: new URL(callback), verifier, nonce, state };
}

function base64urlFlip(s) {
  const b = Buffer.from(s, 'base64url');
  b[b.length >> 1] ^= 0x01;
  return b.toString('base64url');
}

async function rejectsWith(promise, check, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected a rejection`);
  await check(err);
  return err;
}

// The error's message, code, HTTP status and OAuth error, and those of its causes (a
// WWW-Authenticate challenge list included), on one line.
function describeErr(err) {
  const parts = [];
  for (let e = err, i = 0; e && i < 5; e = e.cause, i++) {
    if (Array.isArray(e)) { parts.push(JSON.stringify(e)); break; }
    if (typeof e !== 'object') { parts.push(String(e)); break; }
    parts.push([e.name, e.message, e.code, e.status ?? e.response?.status, e.error,
                e.error_description].filter((x) => x !== undefined).join(': '));
  }
  return parts.join(' <- ');
}

// The OAuth "error" code of a rejection: from the JSON body (ResponseBodyError) or from a
// WWW-Authenticate challenge (WWWAuthenticateChallengeError, RFC 6750 §3, RFC 6749 §5.2).
// A 401 from the token endpoint for client_secret_basic carries a Basic challenge and the
// JSON body with the error; oauth4webapi throws on the challenge first, so read the body too.
async function oauthError(err) {
  if (err.error) return err.error;
  if (Array.isArray(err.cause)) {
    const c = err.cause.find((x) => x.parameters?.error);
    if (c) return c.parameters.error;
  }
  if (err.response && !err.response.bodyUsed) {
    try {
      return (await err.response.clone().json()).error;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function httpStatusOf(err) {
  return err.status ?? err.response?.status ?? err.cause?.status ?? err.cause?.response?.status;
}

// The full confidential-client round: code + PKCE, ID token, UserInfo, refresh with rotation,
// revocation. alg is the expected ID token "alg".
async function confidentialRound(t, cl, alg) {
  const metadata = alg === 'RS256' ? {} : { id_token_signed_response_alg: alg };
  const config = await discover(t, cl.clientId, cl.clientSecret, metadata);
  const sm = config.serverMetadata();
  assert.equal(sm.issuer, t.url);
  assert.ok(sm.code_challenge_methods_supported?.includes('S256'), 'S256 advertised');
  assert.ok(sm.id_token_signing_alg_values_supported?.includes(alg), `${alg} advertised`);

  const browser = new Browser(t.url);
  const az = await authorize(t, config, browser);
  assert.ok(browser.trail.some((s) => s.startsWith('POST /login 30')), 'went through login');
  assert.ok(browser.trail.some((s) => s.startsWith('POST /oauth/authorize 30')),
            'went through consent');

  // A response with a forged `iss` is rejected by the client before any token request.
  const forged = new URL(az.callback);
  forged.searchParams.set('iss', 'http://127.0.0.1:1');
  await rejectsWith(client.authorizationCodeGrant(config, forged, {
    pkceCodeVerifier: az.verifier, expectedNonce: az.nonce, expectedState: az.state,
  }), (e) => assert.match(describeErr(e), /iss/, describeErr(e)), 'forged iss');

  const tokens = await client.authorizationCodeGrant(config, az.callback, {
    pkceCodeVerifier: az.verifier,
    expectedNonce: az.nonce,
    expectedState: az.state,
    idTokenExpected: true,
  });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
  assert.equal(header.alg, alg);
  const claims = tokens.claims();
  assert.ok(claims.sub, 'id_token has sub');
  assert.equal(claims.iss, t.url);
  assert.equal(claims.aud, cl.clientId);
  assert.equal(claims.nonce, az.nonce);

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.preferred_username, USER);

  // Refresh: new tokens.
  const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(fresh.access_token);
  assert.notEqual(fresh.access_token, tokens.access_token);
  assert.ok(fresh.refresh_token, 'a rotated refresh token');
  assert.notEqual(fresh.refresh_token, tokens.refresh_token);
  if (fresh.id_token) assert.equal(fresh.claims().sub, claims.sub);
  const info2 = await client.fetchUserInfo(config, fresh.access_token, claims.sub);
  assert.equal(info2.sub, claims.sub);
  // alice has no email address (the CLI sets none), so the email scope adds nothing.
  assert.ok(!('email' in info2) || 'email_verified' in info2, JSON.stringify(info2));
  // Introspection (RFC 7662) of a live token.
  const live = await client.tokenIntrospection(config, fresh.access_token);
  assert.equal(live.active, true);
  assert.equal(live.client_id, cl.clientId);
  assert.equal(live.sub, claims.sub);

  // Revoke the access token (RFC 7009): UserInfo then answers 401 invalid_token, and the
  // grant itself lives on (the refresh token still works).
  await client.tokenRevocation(config, fresh.access_token, { token_type_hint: 'access_token' });
  const unauthorized = async (e) => {
    assert.equal(httpStatusOf(e), 401, describeErr(e));
    assert.equal(await oauthError(e), 'invalid_token', describeErr(e));
  };
  await rejectsWith(client.fetchUserInfo(config, fresh.access_token, claims.sub), unauthorized,
                    'userinfo after revocation');
  assert.equal((await client.tokenIntrospection(config, fresh.access_token)).active, false);
  const fresh2 = await client.refreshTokenGrant(config, fresh.refresh_token);
  assert.equal((await client.fetchUserInfo(config, fresh2.access_token, claims.sub)).sub,
               claims.sub);

  // Rotation: a used refresh token is refused, and its reuse revokes the grant (RFC 9700
  // §4.14.2), taking the newest refresh and access tokens with it.
  const invalidGrant = async (e) =>
    assert.equal(await oauthError(e), 'invalid_grant', describeErr(e));
  await rejectsWith(client.refreshTokenGrant(config, tokens.refresh_token), invalidGrant,
                    'old refresh token');
  await rejectsWith(client.refreshTokenGrant(config, fresh2.refresh_token), invalidGrant,
                    'refresh token of a grant revoked for reuse');
  await rejectsWith(client.fetchUserInfo(config, fresh2.access_token, claims.sub), unauthorized,
                    'access token of a grant revoked for reuse');

  // The consent was remembered and the session is live: prompt=none gets a code at once,
  // with no page shown (OIDC Core §3.1.2.1).
  browser.trail = [];
  const silent = await authorize(t, config, browser, { prompt: 'none' });
  assert.ok(!browser.trail.some((s) => s.startsWith('POST')), browser.trail.join(', '));
  const again = await client.authorizationCodeGrant(config, silent.callback, {
    pkceCodeVerifier: silent.verifier, expectedNonce: silent.nonce,
    expectedState: silent.state, idTokenExpected: true,
  });
  assert.equal(again.claims().sub, claims.sub);
  assert.ok(again.claims().auth_time <= Math.ceil(Date.now() / 1000));
  // prompt=none without a session: the error comes back to the client (login_required).
  const anon = await discover(t, cl.clientId, cl.clientSecret, metadata);
  const noSession = client.buildAuthorizationUrl(anon, {
    redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's1',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const back = await new Browser(t.url).drive(noSession.href, REDIRECT);
  const err = await rejectsWith(client.authorizationCodeGrant(anon, new URL(back), {
    pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: 's1',
  }), () => {}, 'prompt=none without a session');
  assert.equal(err.error, 'login_required', describeErr(err));
  return { config, claims };
}

/* ---- tests ---- */

test('confidential client: discovery, code + PKCE, id_token, userinfo, refresh, revoke',
     { timeout: TIMEOUT }, async () => {
  await withTandem(async (t) => {
    const cl = await addClient(t, 'RP', '--redirect-uri', REDIRECT);
    assert.ok(cl.clientSecret, 'a confidential client has a secret');
    await confidentialRound(t, cl, 'RS256');

    // A client registered for client_secret_post, with the library's default authentication.
    const post = await addClient(t, 'RP post', '--redirect-uri', REDIRECT, '--auth-method',
                                 'client_secret_post');
    const config = await discover(t, post.clientId, post.clientSecret, {}, 'default');
    const az = await authorize(t, config, new Browser(t.url));
    const tokens = await client.authorizationCodeGrant(config, az.callback, {
      pkceCodeVerifier: az.verifier, expectedNonce: az.nonce, expectedState: az.state,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims().aud, post.clientId);
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(fresh.access_token);
    await client.tokenRevocation(config, fresh.refresh_token);
    await rejectsWith(client.refreshTokenGrant(config, fresh.refresh_token),
                      async (e) => assert.equal(await oauthError(e), 'invalid_grant',
                                                describeErr(e)), 'revoked refresh token');
  });
});

test('id_token signed with ES256 and with EdDSA (Ed25519)', { timeout: TIMEOUT }, async () => {
  await withTandem(async (t) => {
    const es = await addClient(t, 'RP ES256', '--redirect-uri', REDIRECT, '--id-token-alg',
                               'ES256');
    const ed = await addClient(t, 'RP EdDSA', '--redirect-uri', REDIRECT, '--id-token-alg',
                               'EdDSA');
    const a = await confidentialRound(t, es, 'ES256');
    // Node 20's WebCrypto verifies Ed25519, and oauth4webapi maps "EdDSA" to it.
    const b = await confidentialRound(t, ed, 'EdDSA');
    assert.equal(a.claims.sub, b.claims.sub, 'one user, one sub (public subject type)');
  });
});

test('public client with PKCE', { timeout: TIMEOUT }, async () => {
  await withTandem(async (t) => {
    const cl = await addClient(t, 'Public RP', '--redirect-uri', REDIRECT, '--public');
    assert.equal(cl.clientSecret, undefined, 'a public client has no secret');
    const config = await discover(t, cl.clientId, undefined, {}, client.None());
    const browser = new Browser(t.url);
    const az = await authorize(t, config, browser);
    const tokens = await client.authorizationCodeGrant(config, az.callback, {
      pkceCodeVerifier: az.verifier, expectedNonce: az.nonce, expectedState: az.state,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.equal(claims.aud, cl.clientId);
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    if (tokens.refresh_token) {
      const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(fresh.access_token);
    }

    // A second authorization is answered at once: the consent was remembered.
    const browser2 = new Browser(t.url);
    browser2.cookies = browser.cookies;
    browser2.trail = [];
    const az2 = await authorize(t, config, browser2);
    assert.ok(!browser2.trail.some((s) => s.startsWith('POST')), browser2.trail.join(', '));
    const tokens2 = await client.authorizationCodeGrant(config, az2.callback, {
      pkceCodeVerifier: az2.verifier, expectedNonce: az2.nonce, expectedState: az2.state,
    });
    assert.equal(tokens2.claims().sub, claims.sub);
  });
});

test('device authorization grant (RFC 8628)', { timeout: TIMEOUT }, async () => {
  await withTandem(async (t) => {
    const cl = await addClient(t, 'TV', '--grant',
                               'urn:ietf:params:oauth:grant-type:device_code', '--public');
    const config = await discover(t, cl.clientId, undefined, {}, client.None());
    assert.ok(config.serverMetadata().device_authorization_endpoint,
              'device endpoint advertised');
    const scope = { scope: 'openid profile offline_access' };
    const da = await client.initiateDeviceAuthorization(config, scope);
    assert.ok(da.device_code && da.user_code && da.verification_uri);
    assert.ok(da.expires_in > 0);
    // A second device whose request the user denies (§3.5 access_denied).
    const da2 = await client.initiateDeviceAuthorization(config, scope);
    assert.notEqual(da2.user_code, da.user_code);

    const abort = new AbortController();
    const poll = (d) => {
      const p = client.pollDeviceAuthorizationGrant(config, d, undefined,
                                                    { signal: abort.signal });
      p.catch(() => {}); // awaited below; no unhandled rejection meanwhile
      return p;
    };
    const polling = poll(da);
    const polling2 = poll(da2);
    try {
      // The user opens the verification URI, logs in, types the code and approves.
      const browser = new Browser(t.url);
      const verify = new URL(da.verification_uri);
      verify.searchParams.set('user_code', da.user_code);
      const end = await browser.drive(verify.href, null);
      assert.match(end.page, /Device connected/, browser.trail.join(', '));
      assert.ok(browser.trail.some((s) => s.startsWith('POST /device 200')));
      assert.ok(browser.trail.some((s) => s.startsWith('POST /login 30')), 'logged in');

      // The second code typed by hand: lower case, with spaces; the user denies.
      const typed = da2.user_code.toLowerCase().replace(/-/g, ' ');
      const end2 = await browser.drive(`/device?user_code=${encodeURIComponent(typed)}`, null,
                                       { deviceDecision: 'deny' });
      assert.match(end2.page, /Request denied/, browser.trail.join(', '));

      const tokens = await polling;
      assert.ok(tokens.access_token);
      const claims = tokens.claims();
      assert.ok(claims?.sub, 'device grant returned an id_token with sub');
      assert.equal(claims.aud, cl.clientId);
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.preferred_username, USER);
      // The device code is good once.
      await rejectsWith(client.pollDeviceAuthorizationGrant(config, { ...da, interval: 1 },
                                                            undefined, { signal: abort.signal }),
                        async (e) => assert.match(String(await oauthError(e)),
                                                  /invalid_grant|expired_token/, describeErr(e)),
                        'device code reuse');

      await rejectsWith(polling2, async (e) =>
        assert.equal(await oauthError(e), 'access_denied', describeErr(e)), 'denied device');
    } finally {
      abort.abort();
    }
  });
});

test('negative: tampered id_token signature, wrong code_verifier', { timeout: TIMEOUT },
     async () => {
  await withTandem(async (t) => {
    const cl = await addClient(t, 'RP', '--redirect-uri', REDIRECT);
    const config = await discover(t, cl.clientId, cl.clientSecret);

    // The secret sent the way the client is not registered for (client_secret_post instead of
    // client_secret_basic), and a wrong secret: invalid_client, before the code is looked at.
    const asPost = await discover(t, cl.clientId, cl.clientSecret, {}, 'default');
    const wrong = await discover(t, cl.clientId, cl.clientSecret + 'x');
    for (const [what, cfg] of [['client_secret_post', asPost], ['wrong secret', wrong]]) {
      const a = await authorize(t, cfg, new Browser(t.url));
      await rejectsWith(client.authorizationCodeGrant(cfg, a.callback, {
        pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state,
      }), async (e) => assert.equal(await oauthError(e), 'invalid_client', describeErr(e)), what);
    }

    // Flip one byte of the id_token's signature in the token response, for an RS256, an
    // ES256 and an EdDSA client: the library must refuse each.
    const browser = new Browser(t.url);
    const es = await addClient(t, 'RP ES256', '--redirect-uri', REDIRECT, '--id-token-alg',
                               'ES256');
    const ed = await addClient(t, 'RP EdDSA', '--redirect-uri', REDIRECT, '--id-token-alg',
                               'EdDSA');
    const targets = [
      ['RS256', config],
      ['ES256', await discover(t, es.clientId, es.clientSecret,
                               { id_token_signed_response_alg: 'ES256' })],
      ['EdDSA', await discover(t, ed.clientId, ed.clientSecret,
                               { id_token_signed_response_alg: 'EdDSA' })],
    ];
    for (const [alg, cfg] of targets) {
      const tokenEndpoint = cfg.serverMetadata().token_endpoint;
      let tampered = 0;
      cfg[client.customFetch] = async (url, options) => {
        const res = await fetch(url, options);
        if (String(url) !== tokenEndpoint || !res.ok) return res;
        const body = await res.json();
        const parts = body.id_token.split('.');
        assert.equal(JSON.parse(Buffer.from(parts[0], 'base64url')).alg, alg);
        parts[2] = base64urlFlip(parts[2]);
        body.id_token = parts.join('.');
        tampered++;
        const headers = new Headers(res.headers);
        headers.delete('content-length');
        return new Response(JSON.stringify(body), { status: res.status, headers });
      };
      const a = await authorize(t, cfg, browser);
      await rejectsWith(client.authorizationCodeGrant(cfg, a.callback, {
        pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state,
      }), (e) => assert.match(describeErr(e), /signature/i, describeErr(e)),
      `tampered ${alg} id_token`);
      assert.equal(tampered, 1, alg);
      cfg[client.customFetch] = undefined; // an accessor: `delete` would not reset it
    }

    // A wrong code_verifier: the server answers invalid_grant.
    let az = await authorize(t, config, browser);
    await rejectsWith(client.authorizationCodeGrant(config, az.callback, {
      pkceCodeVerifier: client.randomPKCECodeVerifier(),
      expectedNonce: az.nonce, expectedState: az.state,
    }), async (e) => assert.equal(await oauthError(e), 'invalid_grant', describeErr(e)),
    'wrong code_verifier');

    // A wrong nonce is caught by the client (the code is fresh, the id_token genuine).
    az = await authorize(t, config, browser);
    await rejectsWith(client.authorizationCodeGrant(config, az.callback, {
      pkceCodeVerifier: az.verifier, expectedNonce: client.randomNonce(),
      expectedState: az.state,
    }), (e) => assert.match(describeErr(e), /nonce/i, describeErr(e)), 'wrong nonce');

    // A code is good once: after a successful exchange, replaying it is invalid_grant.
    az = await authorize(t, config, browser);
    const checks = { pkceCodeVerifier: az.verifier, expectedNonce: az.nonce,
                     expectedState: az.state };
    await client.authorizationCodeGrant(config, az.callback, checks);
    await rejectsWith(client.authorizationCodeGrant(config, az.callback, checks),
                      async (e) => assert.equal(await oauthError(e), 'invalid_grant',
                                                describeErr(e)), 'code replay');

    // A state mismatch is caught before any request.
    az = await authorize(t, config, browser);
    await rejectsWith(client.authorizationCodeGrant(config, az.callback, {
      pkceCodeVerifier: az.verifier, expectedNonce: az.nonce,
      expectedState: client.randomState(),
    }), (e) => assert.match(describeErr(e), /state/i, describeErr(e)), 'wrong state');
  });
});
