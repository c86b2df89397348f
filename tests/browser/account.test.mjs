// SPDX-License-Identifier: MIT
// Browser test: a person signs up, logs out and in, edits the profile and
// uploads a picture in headless Chromium (Debian's) driven by playwright-core.
// Screenshots go to tests/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.TANDEM_BIN || join(root, 'build', 'tandem');
const artifacts = join(root, 'tests', 'artifacts');

function startTandem() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-browser-'));
  const logPath = join(dir, 'tandem.log');
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
  const proc = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d) => { log += d.toString(); writeFileSync(logPath, log); };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error('tandem did not start:\n' + log)), 30000);
    const poll = setInterval(() => {
      const m = log.match(/event=server\.listening proto=http addr=\S+ port=(\d+)/);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart({ proc, dir, url: `http://127.0.0.1:${m[1]}`, log: () => log });
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
    t.proc.on('exit', (code) => done(code));
    t.proc.kill('SIGTERM');
  });
}

// A 1x1 PNG.
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC',
  'base64');

test('sign up, log in, edit profile, upload a picture', async () => {
  const t = await startTandem();
  mkdirSync(artifacts, { recursive: true });
  const pngPath = join(t.dir, 'me.png');
  writeFileSync(pngPath, png);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
    await page.goto(t.url + '/');
    await page.click('text=Sign up');
    await page.fill('#username', 'walter');
    await page.fill('#password', 'browser pass 1');
    await page.fill('#password2', 'browser pass 1');
    await page.click('button:has-text("Sign up")');
    await page.waitForURL('**/settings');
    assert.match(await page.textContent('nav'), /@walter/);

    await page.click('button:has-text("Log out")');
    await page.waitForURL(t.url + '/');
    await page.click('text=Log in');
    await page.fill('#username', 'Walter');
    await page.fill('#password', 'wrong password');
    await page.click('button:has-text("Log in")');
    assert.match(await page.textContent('.error'), /Wrong username or password/);
    await page.fill('#password', 'browser pass 1');
    await page.click('button:has-text("Log in")');
    await page.waitForURL(t.url + '/');

    await page.goto(t.url + '/settings');
    await page.fill('#display_name', 'Walter Wu 吴');
    await page.fill('#bio', 'Reads the news. <b>not bold</b>');
    await page.click('button:has-text("Save profile")');
    await page.waitForURL('**/settings?saved=profile');
    assert.match(await page.textContent('.notice'), /profile was saved/);
    await page.setInputFiles('#avatar', pngPath);
    await page.click('button:has-text("Upload picture")');
    await page.waitForURL('**/settings?saved=avatar');
    await page.screenshot({ path: join(artifacts, 'settings-phone.png'), fullPage: true });

    await page.goto(t.url + '/@walter');
    assert.equal(await page.textContent('h1'), 'Walter Wu 吴');
    assert.match(await page.textContent('.bio'), /<b>not bold<\/b>/); // shown as text
    const img = await page.waitForSelector('img.avatar');
    assert.equal(await img.evaluate((e) => e.naturalWidth), 1);
    await page.setViewportSize({ width: 1280, height: 800 }); // a desktop
    await page.screenshot({ path: join(artifacts, 'profile-desktop.png'), fullPage: true });
  } finally {
    await browser.close();
    const code = await stopTandem(t);
    const log = t.log();
    rmSync(t.dir, { recursive: true, force: true });
    assert.equal(code, 0, 'tandem exit code\n' + log.slice(-4000));
    assert.ok(!/AddressSanitizer|runtime error:/.test(log), log.slice(-4000));
  }
});
