// SPDX-License-Identifier: MIT
// The chat on Tandem's pages: converse.js (served from /static/vendor/converse/)
// set up with the site's settings. The layout loads this script only for a
// logged-in person; the site works without it.
//
// - Log-in: converse fetches /xmpp/credentials (same origin, with the session
//   cookie) and gets the JID and a short-lived OAuth access token with scope
//   `chat`, which it presents with SASL OAUTHBEARER (RFC 7628) over XMPP over
//   WebSocket (RFC 7395) at /xmpp-websocket on this origin. Strophe is told to
//   use only that mechanism: the token is not a password for SCRAM or PLAIN.
// - View: embedded in the page where the page has a <converse-root> (the
//   Contacts page), otherwise the compact "overlayed" panel, closed by default
//   on small screens.
// - Nothing beyond one-to-one chat and contacts: no group chat, no account
//   registration, no OMEMO, no sounds, no assets from other sites.
(function () {
  'use strict';
  if (typeof window.converse === 'undefined') return; // the vendor files are missing

  var embed = document.querySelector('#chat-embed converse-root');
  var wsScheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
  var Strophe = window.converse.env.Strophe;

  // Marks the page while the chat is connected (the Contacts page then hides
  // its static list, which the live roster replaces), and forgets the chat's
  // cached state when the person logs out of the site.
  window.converse.plugins.add('tandem-site', {
    dependencies: ['converse-roster'],
    initialize: function () {
      var api = this._converse.api;
      var root = document.documentElement;
      // converse.js 14.0.0's "accept contact request" dialog ends with
      // contact.authorize().subscribe(), meaning subscribeToPresence(): but subscribe is
      // the models' event-listener method, so the call quietly does nothing and the
      // reciprocal subscription request is never sent. Route that one argument-less call
      // to subscribeToPresence; every other use keeps the models' own method.
      var Contact = this._converse.exports.RosterContact;
      var listen = Contact && Contact.prototype.subscribe;
      if (Contact && Contact.prototype.subscribeToPresence) {
        Contact.prototype.subscribe = function () {
          if (arguments.length === 0) return this.subscribeToPresence();
          return listen.apply(this, arguments);
        };
      }
      api.listen.on('connected', function () { root.classList.add('chat-live'); });
      api.listen.on('reconnected', function () { root.classList.add('chat-live'); });
      api.listen.on('disconnected', function () { root.classList.remove('chat-live'); });
      document.querySelectorAll('form[action="/logout"]').forEach(function (f) {
        f.addEventListener('submit', function () {
          try { window.sessionStorage.clear(); } catch (e) { /* storage disabled */ }
        });
      });
    }
  });

  window.converse.initialize({
    whitelisted_plugins: ['tandem-site'],
    // Only view plugins: converse's core expects its headless plugins (MUC included)
    // to be there and fails in other views without them.
    blacklisted_plugins: [
      'converse-muc-views', 'converse-bookmark-views', 'converse-roomslist',
      'converse-omemo', 'converse-omemo-views', 'converse-register', 'converse-push',
      'converse-adhoc-views', 'converse-bosh'
    ],
    assets_path: '/static/vendor/converse/',
    authentication: 'login',
    auto_login: true,
    credentials_url: '/xmpp/credentials',
    websocket_url: wsScheme + window.location.host + '/xmpp-websocket',
    discover_connection_methods: false,
    connection_options: { mechanisms: [Strophe.SASLOAuthBearer] },
    reuse_scram_keys: false,
    auto_reconnect: true,
    // Chat state lives as long as the tab: nothing is left behind in the browser's
    // long-term storage for the next person at a shared computer.
    persistent_store: 'sessionStorage',
    clear_cache_on_logout: true,
    allow_logout: false, // logging out is the site's
    allow_registration: false,
    allow_contact_requests: true,
    allow_contact_removal: true,
    allow_non_roster_messaging: true,
    allow_adhoc_commands: false,
    hide_muc_server: true,
    view_mode: embed ? 'embedded' : 'overlayed',
    show_controlbox_by_default: embed ? true : window.innerWidth >= 768,
    sticky_controlbox: !!embed,
    i18n: 'en',
    locales: ['en'],
    play_sounds: false,
    show_desktop_notifications: false,
    use_system_emojis: true,
    show_client_info: false,
    show_connection_url_input: false,
    theme: 'classic',
    dark_theme: 'classic',
    loglevel: 'warn'
  });
})();
