// SPDX-License-Identifier: MIT
// The microblog's pages, enhanced. Everything here is optional: without it
// the forms post and redirect as usual. With it:
//  - the compose box counts characters as it is typed (see count() for the
//    rule; the server's count is the one that decides);
//  - like, boost and delete buttons post with fetch() and update the card
//    in place (the server answers a fetch with the card's HTML, or 204 for a
//    delete);
//  - when logged in, the Mastodon streaming API (WebSocket, the session
//    cookie authenticates) brings new posts into the open home timeline,
//    new notifications into the badge and the open notifications page, and
//    removes deleted posts. The cards come from the server
//    (/web/statuses/:id, /web/notifications/:id), rendered by the same
//    templates as the pages, so nothing is built from untrusted JSON here.
'use strict';

(function () {
  const URL_RE = /\bhttps?:\/\/[^\s<>"]+/g;
  const URL_CHARS = 23;

  // Unicode code points, every http(s) link counting as 23 (Mastodon's
  // characters_reserved_per_url). The server also counts "@user@domain"
  // mentions as "@user" only; with no federation that rarely matters.
  function count(text) {
    const t = text.trim().replace(/\r\n?/g, '\n');
    let n = 0;
    let last = 0;
    for (const m of t.matchAll(URL_RE)) {
      n += [...t.slice(last, m.index)].length + URL_CHARS;
      last = m.index + m[0].length;
    }
    return n + [...t.slice(last)].length;
  }

  function setupCounter(form) {
    const area = form.querySelector('textarea[data-max]');
    const out = form.querySelector('[data-counter]');
    if (!area || !out) return;
    const max = Number(area.dataset.max) || 500;
    const update = () => {
      const left = max - count(area.value);
      out.textContent = String(left);
      out.parentElement.classList.toggle('over', left < 0);
    };
    area.addEventListener('input', update);
    update();
  }

  function fragment(html) {
    const t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  async function act(form, ev) {
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const card = form.closest('.status');
    try {
      const res = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { 'X-Requested-With': 'fetch' },
        credentials: 'same-origin',
      });
      if (res.status === 204) {
        removePost(card ? card.dataset.orig : '');
        return;
      }
      if (!res.ok) throw new Error('status ' + res.status);
      const fresh = fragment(await res.text());
      const actions = fresh && fresh.querySelector('.actions');
      // Only the buttons and counts change; a boost's "boosted by" line stays.
      for (const c of document.querySelectorAll(`.status[data-orig="${card.dataset.orig}"]`)) {
        const old = c.querySelector('.actions');
        if (old && actions) old.replaceWith(actions.cloneNode(true));
      }
    } catch (e) {
      form.submit(); // the page's way: post and come back
    }
  }

  function removePost(id) {
    if (!id) return;
    for (const el of document.querySelectorAll(`.status[data-id="${id}"], .status[data-orig="${id}"]`)) {
      const notif = el.closest('.notif');
      (notif || el).remove();
    }
  }

  async function load(url) {
    const res = await fetch(url, { credentials: 'same-origin' });
    if (!res.ok) return null;
    return fragment(await res.text());
  }

  function back() {
    return encodeURIComponent(location.pathname + location.search);
  }

  async function onUpdate(status) {
    const tl = document.querySelector('[data-live="home"]');
    if (!tl || location.search.includes('max_id') || !status || !status.id) return;
    if (tl.querySelector(`.status[data-id="${status.id}"]`)) return;
    const card = await load(`/web/statuses/${status.id}?back=${back()}`);
    if (!card || tl.querySelector(`.status[data-id="${status.id}"]`)) return;
    card.classList.add('fresh');
    tl.prepend(card);
    document.querySelector('.empty')?.remove();
  }

  async function onStatusUpdate(status) {
    if (!status || !status.id) return;
    const olds = document.querySelectorAll(`.status[data-orig="${status.id}"]`);
    if (!olds.length) return;
    const card = await load(`/web/statuses/${status.id}?back=${back()}`);
    if (!card) return;
    for (const old of olds) {
      const keep = old.querySelector('.boost-note');
      const c = card.cloneNode(true);
      c.id = old.id;
      c.dataset.id = old.dataset.id;
      if (keep) c.prepend(keep);
      old.replaceWith(c);
    }
  }

  async function onNotification(n) {
    const list = document.querySelector('[data-live="notifications"]');
    if (list && n && n.id) {
      if (list.querySelector(`[data-notif="${n.id}"]`)) return;
      const card = await load(`/web/notifications/${n.id}`);
      if (card) {
        list.prepend(card);
        document.querySelector('.empty')?.remove();
      }
      return;
    }
    const link = document.getElementById('nav-notif');
    if (!link) return;
    let badge = link.querySelector('[data-badge]');
    if (!badge) {
      badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset.badge = '';
      badge.textContent = '0';
      link.append(' ', badge);
    }
    const count = (Number(badge.textContent) || 0) + 1;
    badge.textContent = String(count);
    badge.setAttribute('aria-label', `${count} unread`);
  }

  function handle(msg) {
    let payload = msg.payload;
    try {
      if (typeof payload === 'string' && msg.event !== 'delete') payload = JSON.parse(payload);
    } catch (e) {
      return;
    }
    switch (msg.event) {
      case 'update': onUpdate(payload); break;
      case 'status.update': onStatusUpdate(payload); break;
      case 'notification': onNotification(payload); break;
      case 'delete': removePost(String(payload)); break;
      default: break;
    }
  }

  function stream() {
    let delay = 1000;
    const connect = () => {
      const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
      let ws;
      try {
        ws = new WebSocket(proto + location.host + '/api/v1/streaming?stream=user');
      } catch (e) {
        setTimeout(connect, delay);
        return;
      }
      ws.onopen = () => {
        delay = 1000;
        document.documentElement.classList.add('mb-live');
      };
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg && msg.event) handle(msg);
      };
      ws.onclose = () => {
        document.documentElement.classList.remove('mb-live');
        // Back off up to a minute, with jitter, so a restart is not stormed.
        setTimeout(connect, delay + Math.random() * 1000);
        delay = Math.min(delay * 2, 60000);
      };
    };
    connect();
  }

  function start() {
    for (const f of document.querySelectorAll('form[data-compose]')) setupCounter(f);
    document.addEventListener('submit', (ev) => {
      const form = ev.target;
      if (form instanceof HTMLFormElement && form.hasAttribute('data-act')) act(form, ev);
    });
    if (document.body.dataset.me && 'WebSocket' in window) stream();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
