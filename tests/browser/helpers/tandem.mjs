// SPDX-License-Identifier: MIT
// Start a real `tandem serve` for a browser test (fresh data directory, free
// loopback ports), run its CLI against the same data, and stop it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const bin = process.env.TANDEM_BIN || join(root, 'build', 'tandem');

export function makeTandem() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-browser-'));
  const env = {
    ...process.env,
    TANDEM_SERVER_HTTP_PORT: '0',
    TANDEM_SERVER_DATA_DIR: join(dir, 'var'),
    TANDEM_SERVER_TEMPLATES_DIR: join(root, 'templates'),
    TANDEM_SERVER_STATIC_DIR: join(root, 'static'),
    TANDEM_SERVER_THREADS: '2',
    TANDEM_XMPP_C2S_PORT: '0',
  };
  return { dir, env, logPath: join(dir, 'tandem.log') };
}

export function addUser(t, name, password) {
  const r = spawnSync(bin, ['user', 'add', name, '--password-stdin'],
                      { env: t.env, input: password + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`user add ${name}: ${r.stderr}`);
}

// Resolves once both listeners are up: t.url (HTTP) and t.xmppPort.
export function startTandem(t) {
  const proc = spawn(bin, ['serve'], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d) => { log += d.toString(); writeFileSync(t.logPath, log); };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  t.proc = proc;
  t.log = () => log;
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error('tandem did not start:\n' + log)), 30000);
    const poll = setInterval(() => {
      const http = log.match(/event=server\.listening proto=http addr=\S+ port=(\d+)/);
      const xmpp = log.match(/event=server\.listening proto=xmpp addr=\S+ port=(\d+)/);
      // server.started: the signal handlers are in place, so a stop cannot kill it early
      if (http && xmpp && log.includes('event=server.started')) {
        clearInterval(poll);
        clearTimeout(timer);
        t.url = `http://127.0.0.1:${http[1]}`;
        t.xmppPort = Number(xmpp[1]);
        resolveStart(t);
      }
    }, 50);
    proc.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`tandem exited ${code}:\n${log}`));
    });
  });
}

export function stopTandem(t) {
  return new Promise((done) => {
    if (!t.proc || t.proc.exitCode !== null) { done(t.proc ? t.proc.exitCode : null); return; }
    t.proc.removeAllListeners('exit');
    t.proc.on('exit', (code) => done(code));
    t.proc.kill('SIGTERM');
  });
}
