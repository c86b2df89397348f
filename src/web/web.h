/* SPDX-License-Identifier: MIT */
/* The web front-end: HTML pages for people, plus /healthz and /metrics.
 * web_app.c wires routes and the per-request context (cookies, session,
 * CSRF); web_tmpl.c renders pages from Mustache templates in a common
 * layout; web_account.c holds the account pages (sign up, log in, settings,
 * profile). Pages call services (auth_account, store) and never build SQL
 * or HTML by hand: templates escape every value. */
#ifndef TD_WEB_H
#define TD_WEB_H

#include "core/conf.h"
#include "http/http.h"
#include "http/http_form.h"
#include "http/http_router.h"
#include "store/store.h"

#include <jansson.h>
#include <uv.h>

struct web_tmpl;
struct http_router;
struct http_static;
struct auth_csrf;
struct auth_ratelimit;
struct oauth;
struct mb;
struct masto_cache;

struct web_app {
    uv_loop_t *loop;
    struct conf *conf;                 /* owned by main; reloadable fields may change */
    struct store *store;
    struct web_tmpl *tmpl;
    struct http_router *router;
    struct http_static *statics;
    struct auth_csrf *csrf;
    struct auth_ratelimit *rl_account; /* login failures per account */
    struct auth_ratelimit *rl_address; /* login failures per client address */
    char *base_url;                    /* no trailing slash */
    struct oauth *oauth;               /* the OAuth/OIDC provider; NULL until web_app_start */
    struct mb *mb;                     /* the microblog service; NULL until web_app_start */
    struct masto_cache *masto_cache;   /* the Mastodon API's serialized entities */
    uint8_t media_key[32];             /* keys the microblog's media URLs */
    http_handler_fn *bare[8];          /* handlers served without cookies, session and
                                          the site's headers (web_app_route_bare) */
    size_t nbare;
};

/** Per-request context, in req->user (allocated in the request arena). */
struct web_ctx {
    struct http_kvlist cookies;
    const char *session_token;         /* from the cookie, or NULL */
    int64_t auth_time;                 /* cache of web_auth_time(); -1 = not looked up yet */
    struct account account;            /* valid when logged_in */
    bool logged_in;
    const char *csrf_cookie;           /* the browser's CSRF cookie value */
    char csrf_token[48];               /* what forms carry */
    struct http_kvlist form;           /* parsed urlencoded body (POST) */
};

int web_app_init(struct web_app *app, uv_loop_t *loop, struct conf *conf, struct store *st,
                 char **err);
void web_app_free(struct web_app *app);
/** Once the listener is bound: fix the public base URL (the OAuth issuer) and start the
 * OAuth/OIDC provider. */
int web_app_start(struct web_app *app, const char *base_url, char **err);
/** Apply reloadable settings after conf changed. */
void web_app_reconfigure(struct web_app *app);
/** The HTTP server's request handler (r->app is the struct web_app). */
/** Add a route whose handler answers on its own terms: no cookies, no
 *  session lookup and none of the site's security headers (e.g. uploaded
 *  files with their sandbox CSP, host-meta documents for any origin). */
void web_app_route_bare(struct web_app *app, const char *method, const char *path,
                        http_handler_fn *fn);
void web_app_handle(struct http_req *r);
/** The HTTP server's per-request completion hook: metrics and access log. */
void web_app_done(const struct http_req *r, int status, size_t body_len, double seconds);

/* ---- helpers shared by the page modules ---- */
struct web_ctx *web_ctx(struct http_req *r);
/** Render page template `name` inside the layout with data (reference taken). */
void web_render(struct http_req *r, int status, const char *name, json_t *data);
/** An error page in the layout. */
void web_error(struct http_req *r, int status, const char *message);
/** Check the form's CSRF token; on failure answers 403 and returns false. */
bool web_csrf_ok(struct http_req *r);
/** Check a CSRF token taken from elsewhere (e.g. a multipart field). */
bool web_csrf_check(struct http_req *r, const char *token);
/** Parse an urlencoded POST body into ctx->form; on failure answers 400/415 and returns false. */
bool web_form(struct http_req *r);
const char *web_form_get(struct http_req *r, const char *name);
/** First value of a query-string parameter, or NULL (also for a malformed query). */
const char *web_query_get(struct http_req *r, const char *name);
/** When the current session logged in (ms), 0 if not logged in. Looked up on first use:
 * only a few pages (OpenID Connect max_age, auth_time) need it. */
int64_t web_auth_time(struct http_req *r);
/** Set a cookie with the site's defaults (HttpOnly, SameSite=Lax, Secure under TLS). */
void web_set_cookie(struct http_req *r, const char *name, const char *value, long max_age);
/** Redirect after a successful POST (303 See Other). */
void web_redirect(struct http_req *r, const char *location);

/* Template store. */
int web_tmpl_load(const char *dir, struct web_tmpl **out, char **err);
void web_tmpl_free(struct web_tmpl *t);
/** Render template name with data into out. */
int web_tmpl_render(struct web_tmpl *t, const char *name, json_t *data, struct buf *out);

/* Account pages (web_account.c). */
void web_account_routes(struct http_router *rt);
/* OAuth/OIDC pages (web_oauth.c): authorize + consent, device, connected apps, logout. */
void web_oauth_routes(struct http_router *rt);
/* Contacts and chat (web_chat.c): /contacts and /xmpp/credentials for converse.js. */
#define WEB_CHAT_CLIENT_ID "tandem-web-chat" /* the built-in first-party OAuth client */
void web_chat_routes(struct http_router *rt);
/** Make the first-party "Tandem web chat" OAuth client if the store lacks it. */
int web_chat_start(struct web_app *app);
/** The logged-in person's bare JID (arena), or NULL. */
const char *web_chat_jid(struct http_req *r);
/* Atom feeds (web_feed.c): /@name/feed.atom and /tags/tag/feed.atom, served bare. */
void web_feed_routes(struct web_app *app);
/** Append s[0..n) escaped as XML text, without what XML 1.0 forbids. */
void web_feed_xml_text(struct buf *b, const char *s, size_t n);

#endif
