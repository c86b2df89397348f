/* SPDX-License-Identifier: MIT */
/* Contacts and chat on the web pages. The chat itself is converse.js in the
 * browser, talking XMPP over WebSocket (RFC 7395) to /xmpp-websocket; this
 * file gives it what the browser cannot have on its own:
 *
 * - GET /xmpp/credentials: the logged-in person's JID and, as the
 *   "password", a short-lived OAuth 2.0 access token (RFC 6749 §1.4, opaque,
 *   scope `chat` only) that the XMPP server accepts through SASL OAUTHBEARER
 *   (RFC 7628 §3.1). The web session thus logs in to the messenger without
 *   the account password ever reaching JavaScript. The token is issued to a
 *   built-in first-party client, "Tandem web chat" (WEB_CHAT_CLIENT_ID), made
 *   at start-up: it has no redirect URI, no grant type and a secret nobody
 *   knows, so it cannot be used at the authorization or token endpoints; it
 *   shows in Connected apps under that name while a token is live, where it
 *   can be revoked like any other. A GET with a side effect (a new token) is
 *   refused when the browser says it comes from elsewhere: a foreign Origin
 *   (RFC 6454 §7), or Sec-Fetch-Site other than same-origin (Fetch Metadata).
 *   Cross-site subresource requests carry no session cookie anyway
 *   (SameSite=Lax), and the JSON is never cacheable (no-store).
 * - GET /contacts: the roster from the store with each contact's
 *   subscription state (RFC 6121 §2.1.2.5) and pending requests (§3.1.3), so
 *   the page is useful without JavaScript; with JavaScript, converse.js
 *   embeds its full view in the page and keeps it live. */
#include "core/err.h"
#include "core/log.h"
#include "http/http_router.h"
#include "oauth/oauth.h"
#include "store/store_oauth.h"
#include "store/store_roster.h"
#include "web/web.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_TOKEN_TTL_MS (10 * 60 * 1000) /* long enough to log in; the session lives on */
#define ORIGIN_MAX 512                      /* longest Origin / Host we compare */

static struct web_app *app_of(struct http_req *r)
{
    return r->app;
}

/* ---- the first-party client ---- */

int web_chat_start(struct web_app *app)
{
    struct oauth_client c;
    int rc = store_oauth_client_get(app->store, WEB_CHAT_CLIENT_ID, &c);

    if (rc == TD_OK) {
        store_oauth_client_clear(&c);
        return TD_OK;
    }
    if (rc != TD_ENOTFOUND)
        return rc;
    memset(&c, 0, sizeof(c));
    c.client_id = (char *)WEB_CHAT_CLIENT_ID;
    c.name = (char *)"Tandem web chat";
    /* A confidential client whose secret was never made: the stored hash is random
     * bytes, so no presented secret can match it. */
    c.has_secret = true;
    randombytes_buf(c.secret_hash, sizeof(c.secret_hash));
    c.redirect_uris = (char *)"[]";
    c.post_logout_redirect_uris = (char *)"[]";
    c.grant_types = (char *)"";
    c.scope = (char *)"chat";
    c.auth_method = (char *)"client_secret_basic";
    c.id_token_alg = (char *)"RS256";
    rc = store_oauth_client_create(app->store, &c);
    if (rc == TD_EEXIST)
        rc = TD_OK;
    if (rc == TD_OK)
        log_info("web.chat_client", "client_id=%s", WEB_CHAT_CLIENT_ID);
    return rc;
}

/* ---- GET /xmpp/credentials ---- */

static void send_json(struct http_req *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    http_resp_header(r, "Cache-Control", "no-store");
    if (s == NULL) {
        http_resp_text(r, 500, "500 Internal Server Error\n");
        return;
    }
    http_resp_send(r, status, "application/json", s, strlen(s));
    free(s);
}

static void json_error(struct http_req *r, int status, const char *error, const char *why)
{
    send_json(r, status, json_pack("{s:s, s:s}", "error", error, "error_description", why));
}

/* The Origin is ours when it is the public base URL, or the scheme and Host this request
 * came to (the site may be reached as localhost and as 127.0.0.1). */
static bool origin_is_ours(struct http_req *r, const char *origin)
{
    const char *base = app_of(r)->base_url;
    const char *host = http_req_header(r, "Host");
    const char *scheme = r->is_tls ? "https://" : "http://";
    size_t sl = strlen(scheme);

    if (strnlen(origin, ORIGIN_MAX + 1) > ORIGIN_MAX)
        return false;
    if (base && strcmp(origin, base) == 0)
        return true;
    return host && strncmp(origin, scheme, sl) == 0 && strcmp(origin + sl, host) == 0;
}

/* Fetch Metadata and Origin: a request the browser says came from another site (or from a
 * sandboxed frame: Origin "null") is refused. Non-browser clients send neither header and
 * are judged by their session cookie alone. */
static bool same_origin_request(struct http_req *r)
{
    const char *site = http_req_header(r, "Sec-Fetch-Site");
    const char *origin = http_req_header(r, "Origin");

    if (site && strcmp(site, "same-origin") != 0)
        return false;
    return origin == NULL || origin_is_ours(r, origin);
}

/* The messenger address is the ASCII-lowercased username at the site's domain, as the
 * XMPP server folds localparts (xmpp_jid.c). */
const char *web_chat_jid(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    char *jid;

    if (ctx == NULL || !ctx->logged_in)
        return NULL;
    jid = arena_printf(r->arena, "%s@%s", ctx->account.username, app_of(r)->conf->domain);
    for (char *p = jid; *p && *p != '@'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return jid;
}

static void handle_credentials(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);
    struct oauth_client client;
    json_t *issued = NULL;
    int rc;

    http_resp_header(r, "Vary", "Cookie, Origin, Sec-Fetch-Site");
    if (!same_origin_request(r)) {
        log_warn("web.chat_credentials_foreign", "req=%s peer=%s origin=%s", r->id_str,
                 r->peer, log_q(http_req_header(r, "Origin")));
        json_error(r, 403, "forbidden", "credentials are given to this site's own pages only");
        return;
    }
    if (!ctx->logged_in) {
        json_error(r, 401, "login_required", "log in to the site first");
        return;
    }
    if (app->oauth == NULL ||
        store_oauth_client_get(app->store, WEB_CHAT_CLIENT_ID, &client) != TD_OK) {
        json_error(r, 503, "unavailable", "the chat client is not set up");
        return;
    }
    struct oauth_issue is = {
        .client = &client,
        .account_id = ctx->account.id,
        .scope = "chat",
        .auth_time = web_auth_time(r),
        .access_ttl_ms = CHAT_TOKEN_TTL_MS,
    };
    rc = oauth_issue(app->oauth, &is, &issued);
    store_oauth_client_clear(&client);
    if (rc != TD_OK) {
        log_err("web.chat_credentials_failed", "req=%s err=%s", r->id_str,
                log_q(td_strerror(rc)));
        json_error(r, 500, "server_error", "no token could be issued");
        return;
    }
    send_json(r, 200,
              json_pack("{s:s, s:O, s:O}", "jid", web_chat_jid(r), "password",
                        json_object_get(issued, "access_token"), "expires_in",
                        json_object_get(issued, "expires_in")));
    json_decref(issued);
}

/* ---- GET /contacts ---- */

struct roster_page {
    json_t *contacts;
    json_t *requests;
};

static const char *sub_words(int sub)
{
    switch (sub) {
    case STORE_SUB_BOTH:
        return "you see each other's presence";
    case STORE_SUB_TO:
        return "you see their presence";
    case STORE_SUB_FROM:
        return "they see your presence";
    default:
        return "no presence shared";
    }
}

static const char *sub_name(int sub)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    return sub >= 0 && sub <= 3 ? names[sub] : "none";
}

static int collect_item(void *ud, const struct store_roster_item *it)
{
    struct roster_page *p = ud;

    if (it->pending_in)
        json_array_append_new(p->requests, json_pack("{s:s}", "jid", it->jid));
    if (it->in_roster)
        json_array_append_new(
            p->contacts,
            json_pack("{s:s, s:s?, s:s, s:s, s:b, s:b}", "jid", it->jid, "name", it->name,
                      "subscription", sub_name(it->sub), "sub_words", sub_words(it->sub),
                      "ask", it->ask, "pending_in", it->pending_in));
    return 0;
}

static void handle_contacts(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    struct roster_page p;
    int rc;

    if (!ctx->logged_in) {
        web_redirect(r, "/login?next=/contacts");
        return;
    }
    p.contacts = json_array();
    p.requests = json_array();
    rc = store_roster_list(app_of(r)->store, ctx->account.id, collect_item, &p);
    if (rc != TD_OK) {
        json_decref(p.contacts);
        json_decref(p.requests);
        log_err("web.roster_failed", "req=%s err=%s", r->id_str, log_q(td_strerror(rc)));
        web_error(r, 500, "The contact list could not be read.");
        return;
    }
    bool has_contacts = json_array_size(p.contacts) > 0;
    bool has_requests = json_array_size(p.requests) > 0;
    web_render(r, 200, "contacts",
               json_pack("{s:o, s:o, s:b, s:b}", "contacts", p.contacts, "requests",
                         p.requests, "has_contacts", has_contacts, "has_requests",
                         has_requests));
}

void web_chat_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/contacts", handle_contacts);
    http_router_add(rt, "GET", "/xmpp/credentials", handle_credentials);
}
