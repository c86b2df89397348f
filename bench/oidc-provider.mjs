// SPDX-License-Identifier: MIT
// The anchor of bench/oidc.sh: npm oidc-provider (v9) set up like Tandem's OpenID
// Connect provider, on a loopback port. One confidential client (client_secret_basic;
// grants client_credentials, refresh_token, authorization_code; the same scopes), the
// same lifetimes (access tokens and client-credentials tokens 3600 s, refresh tokens
// 30 days), opaque access tokens (the default format), refresh-token rotation, the
// in-memory adapter (the default one, with a larger store) and three signing keys
// like Tandem's JWKS (RS256 2048, ES256, EdDSA; ID tokens are RS256 for both).
//
// Refresh tokens: oidc-provider only issues them through an interactive
// authorization, so a second loopback port (the control port) mints them directly:
// POST /mint?n=K saves K Grants and K RefreshTokens, the objects the
// authorization_code grant would save, and answers the K token values. The
// refresh_token grant that redeems them is oidc-provider's own, unchanged.
//
// Environment: OIDC_PORT (0: any free port), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_LRU_SIZE (entries of the in-memory store, 100000; see below).
// Prints "listening port=N control=M" when ready. Run with NODE_ENV=production.
// Stops on SIGTERM/SIGINT.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const CLIENT_ID = process.env.OIDC_CLIENT_ID || 'bench';
const CLIENT_SECRET = process.env.OIDC_CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789';
const SCOPE = 'openid profile offline_access activities.read';
const ACCOUNT = 'benchuser';

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const key = privateKey.export({ format: 'jwk' });
  key.alg = alg;
  key.use = 'sig';
  return key;
}

const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }, 'RS256'),
    jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    jwk('ed25519', {}, 'EdDSA'),
  ],
};

// The default adapter's own store is an LRU of 1000 entries: under 64 concurrent
// refresh chains it evicts live refresh tokens within a fraction of a second (a
// refresh writes 2-4 entries, and a request can wait 200 ms in the queue), so the
// chains break with "refresh token not found". Same adapter, bigger store.
const LRU_SIZE = Math.min(Math.max(Number.parseInt(process.env.OIDC_LRU_SIZE || '100000', 10)
  || 100_000, 1000), 10_000_000);
const store = new LRU({ maxSize: LRU_SIZE });

// The HTTP server exists before the provider so that the issuer can name its port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number.parseInt(process.env.OIDC_PORT || '0', 10), '127.0.0.1', resolve);
});
const { port } = server.address();

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:9/cb'],
    scope: SCOPE,
    id_token_signed_response_alg: 'RS256',
  }],
  scopes: ['openid', 'offline_access', 'profile', 'activities.read'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    RefreshToken: 30 * 24 * 3600,
    IdToken: 3600,
    AuthorizationCode: 60,
    Grant: 30 * 24 * 3600,
  },
  rotateRefreshToken: true,
  adapter: (model) => new MemoryAdapter(model, store),
  jwks,
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: sub, preferred_username: sub }),
  }),
});
// Internal errors (none are expected) go to stderr, which the benchmark keeps.
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

// Mint n refresh tokens as the authorization_code grant would leave them.
async function mintRefreshTokens(n) {
  const client = await provider.Client.find(CLIENT_ID);
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (let i = 0; i < n; i++) {
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: CLIENT_ID });
    grant.addOIDCScope(SCOPE);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      client,
      accountId: ACCOUNT,
      grantId,
      scope: SCOPE,
      gty: 'authorization_code',
      authTime: now,
      amr: ['pwd'],
      iiat: now,
      rotations: 0,
    });
    out.push(await rt.save());
  }
  return out;
}

// The control server (its own loopback port, so the measured one carries no extra
// route): POST /mint?n=K answers K fresh refresh tokens, one a line.
const control = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const n = Number.parseInt(url.searchParams.get('n') || '', 10);
  if (req.method !== 'POST' || url.pathname !== '/mint' || !(n > 0 && n <= 10_000)) {
    res.writeHead(400).end('POST /mint?n=1..10000\n');
    return;
  }
  mintRefreshTokens(n).then((tokens) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${tokens.join('\n')}\n`);
  }, (err) => {
    console.error('mint failed', err);
    res.writeHead(500).end();
  });
});
await new Promise((resolve, reject) => {
  control.once('error', reject);
  control.listen(0, '127.0.0.1', resolve);
});

server.on('request', provider.callback());
server.keepAliveTimeout = 65_000;
console.log(`listening port=${port} control=${control.address().port}`);

function stop() {
  control.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
