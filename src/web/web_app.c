/* SPDX-License-Identifier: MIT */
/* The web application: routes, the per-request context (cookies, the
 * logged-in account, the CSRF token), page rendering in the layout, error
 * pages, and the operational endpoints /healthz and /metrics.
 *
 * CSRF uses signed double-submit tokens (OWASP): each browser gets a random
 * HttpOnly cookie, forms carry HMAC(key, cookie), and every state-changing
 * request must present a token matching its cookie. The key is a server
 * secret kept in the store, so tokens survive restarts. */
#include "web/web.h"

#include "auth/auth_account.h"
#include "auth/auth_csrf.h"
#include "auth/auth_ratelimit.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http_cookie.h"
#include "http/http_router.h"
#include "http/http_static.h"
#include "api/api_masto.h"
#include "api/api_oauth.h"
#include "oauth/oauth.h"
#include "social/mb.h"
#include "tandem_version.h"

#include <stdlib.h>
#include <string.h>

#define COOKIE_SESSION "tandem_session"
#define COOKIE_CSRF "tandem_csrf"
#define FORM_MAX_PAIRS 256
#define COOKIE_MAX 64

/* ---- helpers for pages ---- */

struct web_ctx *web_ctx(struct http_req *r)
{
    return r->user;
}

static struct web_app *app_of(struct http_req *r)
{
    return r->app;
}

void web_set_cookie(struct http_req *r, const char *name, const char *value, long max_age)
{
    struct http_cookie_opts o = {
        .max_age = max_age,
        .path = "/",
        .http_only = true,
        .secure = r->is_tls,
        .same_site = "Lax",
    };
    struct buf b;

    buf_init(&b, 0);
    if (http_cookie_format(&b, name, value, &o) == TD_OK)
        http_resp_header(r, "Set-Cookie", b.data);
    buf_free(&b);
}

void web_redirect(struct http_req *r, const char *location)
{
    http_resp_redirect(r, 303, location);
}

static json_t *common_data(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);
    json_t *d = json_object();

    json_object_set_new(d, "site", json_pack("{s:s, s:s, s:s}", "name", "Tandem", "domain",
                                             app->conf->domain, "version", TANDEM_VERSION));
    json_object_set_new(d, "csrf", json_string(ctx ? ctx->csrf_token : ""));
    if (ctx && ctx->logged_in) {
        const struct account *a = &ctx->account;
        json_object_set_new(
            d, "me",
            json_pack("{s:s, s:s, s:b, s:s}", "username", a->username, "display_name",
                      a->display_name[0] ? a->display_name : a->username, "is_admin",
                      a->is_admin, "jid", web_chat_jid(r)));
    }
    return d;
}

void web_render(struct http_req *r, int status, const char *name, json_t *data)
{
    struct web_app *app = app_of(r);
    json_t *page = common_data(r);
    struct buf out;
    int rc;

    if (data) {
        json_object_update(page, data);
        json_decref(data);
    }
    buf_init(&out, 8u << 20);
    rc = web_tmpl_render(app->tmpl, name, page, &out);
    json_decref(page);
    if (rc != TD_OK) {
        buf_free(&out);
        log_err("web.render_failed", "template=%s err=%s", log_q(name),
                log_q(td_strerror(rc)));
        http_resp_text(r, 500, "500 Internal Server Error: the page could not be rendered\n");
        return;
    }
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_send_buf(r, status, "text/html; charset=utf-8", &out);
}

void web_error(struct http_req *r, int status, const char *message)
{
    json_t *d = json_pack("{s:i, s:s, s:s}", "status", status, "title", http_status_text(status),
                          "message", message);
    web_render(r, status, "error", d);
}

bool web_form(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    const char *ct = http_req_header(r, "Content-Type");
    int rc;

    if (ct == NULL || !http_media_type_is(ct, "application/x-www-form-urlencoded")) {
        web_error(r, 415, "This address takes form submissions only.");
        return false;
    }
    rc = http_form_parse(r->arena, r->body, r->body_len, FORM_MAX_PAIRS, &ctx->form);
    if (rc == TD_ETOOBIG) {
        web_error(r, 413, "The form has too many fields.");
        return false;
    }
    if (rc != TD_OK) {
        log_info("web.bad_form", "req=%s peer=%s", r->id_str, r->peer);
        web_error(r, 400, "The form could not be read: it is malformed or not UTF-8 text.");
        return false;
    }
    return true;
}

const char *web_form_get(struct http_req *r, const char *name)
{
    const char *v = http_kv_get(&web_ctx(r)->form, name);
    return v ? v : "";
}

const char *web_query_get(struct http_req *r, const char *name)
{
    struct http_kvlist q = {0};

    if (http_form_parse(r->arena, r->query, strlen(r->query), FORM_MAX_PAIRS, &q) != TD_OK)
        return NULL;
    return http_kv_get(&q, name);
}

int64_t web_auth_time(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);

    if (ctx == NULL || !ctx->logged_in)
        return 0;
    if (ctx->auth_time < 0 &&
        auth_session_auth_time(app_of(r)->store, ctx->session_token, &ctx->auth_time) != TD_OK)
        ctx->auth_time = 0;
    return ctx->auth_time;
}

static bool csrf_check_token(struct http_req *r, const char *token)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);

    if (ctx->csrf_cookie && token && auth_csrf_check(app->csrf, ctx->csrf_cookie, token))
        return true;
    log_warn("web.csrf_reject", "req=%s peer=%s path=%s", r->id_str, r->peer, log_q(r->path));
    web_error(r, 403,
              "The form had expired or came from another site, so nothing was changed. "
              "Go back, reload the page and try again.");
    return false;
}

bool web_csrf_ok(struct http_req *r)
{
    return csrf_check_token(r, http_kv_get(&web_ctx(r)->form, "csrf"));
}

bool web_csrf_check(struct http_req *r, const char *token)
{
    return csrf_check_token(r, token);
}

/* ---- per-request context ---- */

/* Copy the store's malloc'd account strings into the request arena. */
static void account_to_arena(struct http_req *r, struct account *dst, struct account *src)
{
    *dst = *src;
    dst->username = arena_strdup(r->arena, src->username ? src->username : "");
    dst->display_name = arena_strdup(r->arena, src->display_name ? src->display_name : "");
    dst->bio = arena_strdup(r->arena, src->bio ? src->bio : "");
    dst->email = src->email ? arena_strdup(r->arena, src->email) : NULL;
    dst->password_hash = src->password_hash ? arena_strdup(r->arena, src->password_hash) : NULL;
    store_account_clear(src);
}

static void setup_ctx(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = arena_calloc(r->arena, sizeof(*ctx));
    const char *cookie_hdr = http_req_header(r, "Cookie");
    const char *csrf_cookie;

    r->user = ctx;
    if (cookie_hdr)
        http_cookie_parse(r->arena, cookie_hdr, strlen(cookie_hdr), COOKIE_MAX, &ctx->cookies);
    csrf_cookie = http_kv_get(&ctx->cookies, COOKIE_CSRF);
    if (csrf_cookie == NULL || strlen(csrf_cookie) != 43) {
        char fresh[44];
        auth_csrf_new_cookie(fresh);
        csrf_cookie = arena_strdup(r->arena, fresh);
        web_set_cookie(r, COOKIE_CSRF, csrf_cookie, -1);
    }
    ctx->csrf_cookie = csrf_cookie;
    auth_csrf_token(app->csrf, csrf_cookie, ctx->csrf_token);

    ctx->session_token = http_kv_get(&ctx->cookies, COOKIE_SESSION);
    if (ctx->session_token) {
        struct account a;
        int rc = auth_session_resolve(app->store, ctx->session_token, &a);
        if (rc == TD_OK) {
            account_to_arena(r, &ctx->account, &a);
            ctx->logged_in = true;
            ctx->auth_time = -1;
        } else {
            web_set_cookie(r, COOKIE_SESSION, "", 0); /* stale: forget it */
            ctx->session_token = NULL;
        }
    }
}

/* ---- operational endpoints ---- */

static void handle_healthz(struct http_req *r)
{
    struct web_app *app = app_of(r);
    int v;

    if (store_schema_version(app->store, &v) != TD_OK) {
        http_resp_text(r, 503, "store unavailable\n");
        return;
    }
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_text(r, 200, "ok\n");
}

static void handle_metrics(struct http_req *r)
{
    struct buf out;

    buf_init(&out, 0);
    metrics_render(&out);
    http_resp_send_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &out);
}

static void handle_static(struct http_req *r)
{
    http_static_serve(app_of(r)->statics, r, http_req_param(r, "path"));
}

static void handle_home(struct http_req *r)
{
    web_render(r, 200, "home", NULL);
}

/* ---- dispatch ---- */

static void security_headers(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);

    http_resp_header(r, "X-Content-Type-Options", "nosniff");
    http_resp_header(r, "X-Frame-Options", "DENY");
    http_resp_header(r, "Referrer-Policy", "same-origin");
    /* Browsers apply form-action to the redirect that follows a form POST, and
     * the OAuth consent and logout forms must redirect to the client's site. */
    bool oauth = strncmp(r->path, "/oauth/", 7) == 0;
    /* Pages for a logged-in person load the chat (converse.js, static/chat.js), whose
     * bundle inserts <style> elements and style attributes at run time: those pages
     * allow inline styles, never inline scripts or eval. Its WebSocket to this origin
     * is covered by 'self' (CSP Level 3 matches ws: and wss: on the same host). */
    bool chat = ctx && ctx->logged_in;
    http_resp_header(r, "Content-Security-Policy",
                     arena_printf(r->arena,
                                  "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                  "frame-ancestors 'none'; base-uri 'self'%s%s",
                                  oauth ? "" : "; form-action 'self'",
                                  chat ? "; style-src 'self' 'unsafe-inline'" : ""));
}

void web_app_route_bare(struct web_app *app, const char *method, const char *path,
                        http_handler_fn *fn)
{
    TD_ASSERT(app->nbare < TD_ARRAY_LEN(app->bare));
    app->bare[app->nbare++] = fn;
    http_router_add(app->router, method, path, fn);
}

void web_app_handle(struct http_req *r)
{
    struct web_app *app = app_of(r);
    http_handler_fn *fn = NULL;
    struct buf allow;
    enum http_route_result res;

    buf_init(&allow, 0);
    res = http_router_match(app->router, r, &fn, &allow);
    /* Operational and static routes skip cookies and sessions: they are hot
     * and need neither. */
    bool bare = res == HTTP_ROUTE_FOUND &&
                (fn == handle_static || fn == handle_healthz || fn == handle_metrics);
    for (size_t i = 0; i < app->nbare && res == HTTP_ROUTE_FOUND && !bare; i++)
        bare = fn == app->bare[i];
    /* The microblog's media files: hot, cacheable, keyed by their address. */
    bare = bare || (res == HTTP_ROUTE_FOUND && strncmp(r->path, "/media/", 7) == 0);
    /* The OAuth JSON endpoints authenticate clients per request: no cookies,
     * no session, and no Set-Cookie on cacheable documents (discovery, JWKS). */
    bool api = res == HTTP_ROUTE_FOUND && api_oauth_is_handler(fn);
    /* So do the Mastodon API's (r->user is then its struct masto_req). */
    api = api || strncmp(r->path, "/api/", 5) == 0;
    if (!bare && !api)
        setup_ctx(r);
    if (!bare)
        security_headers(r);
    switch (res) {
    case HTTP_ROUTE_FOUND:
        fn(r);
        break;
    case HTTP_ROUTE_BAD_METHOD:
        http_resp_header(r, "Allow", allow.data);
        web_error(r, 405, "This page does not accept that kind of request.");
        break;
    case HTTP_ROUTE_NOT_FOUND:
        web_error(r, 404, "There is nothing at this address.");
        break;
    }
    buf_free(&allow);
}

void web_app_done(const struct http_req *r, int status, size_t body_len, double seconds)
{
    struct web_app *app = r->app;

    metrics_http_observe(r->route, r->method, status, seconds);
    if (app->conf->log_access)
        log_info("http.request", "req=%s peer=%s method=%s path=%s status=%d bytes=%zu ms=%.3f",
                 r->id_str, r->peer, r->method, log_q(r->path), status, body_len,
                 seconds * 1000);
}

/* ---- set-up ---- */

static int load_csrf(struct web_app *app)
{
    uint8_t key[32];
    int rc = store_secret_get(app->store, "csrf", key, sizeof(key));

    if (rc == TD_OK)
        app->csrf = auth_csrf_new(key);
    if (rc == TD_OK)
        rc = store_secret_get(app->store, "media", app->media_key, sizeof(app->media_key));
    return rc;
}

void web_app_reconfigure(struct web_app *app)
{
    int64_t window = (int64_t)app->conf->login_window * 1000;
    auth_ratelimit_configure(app->rl_account, (unsigned)app->conf->login_max_failures,
                             window);
    auth_ratelimit_configure(app->rl_address,
                             (unsigned)app->conf->login_max_failures_ip, window);
}

int web_app_init(struct web_app *app, uv_loop_t *loop, struct conf *conf, struct store *st,
                 char **err)
{
    int rc;

    memset(app, 0, sizeof(*app));
    app->loop = loop;
    app->conf = conf;
    app->store = st;
    if (conf->base_url && conf->base_url[0])
        app->base_url = td_strdup(conf->base_url);
    rc = web_tmpl_load(conf->templates_dir, &app->tmpl, err);
    if (rc != TD_OK)
        return rc;
    app->statics = http_static_new(conf->static_dir, err);
    if (app->statics == NULL)
        return TD_EIO;
    rc = load_csrf(app);
    if (rc != TD_OK) {
        *err = td_strdup("cannot read the CSRF key from the store");
        return rc;
    }
    int64_t window = (int64_t)conf->login_window * 1000;
    app->rl_account =
        auth_ratelimit_new((unsigned)conf->login_max_failures, window, 100000);
    app->rl_address =
        auth_ratelimit_new((unsigned)conf->login_max_failures_ip, window, 100000);

    app->router = http_router_new();
    http_router_add(app->router, "GET", "/healthz", handle_healthz);
    http_router_add(app->router, "GET", "/metrics", handle_metrics);
    http_router_add(app->router, "GET", "/static/*path", handle_static);
    http_router_add(app->router, "GET", "/", handle_home);
    web_feed_routes(app); /* before the pages: "/@:name/:id" would take feed.atom */
    web_account_routes(app->router);
    web_oauth_routes(app->router);
    web_chat_routes(app->router);
    api_oauth_routes(app->router);
    api_masto_routes(app->router);
    return TD_OK;
}

int web_app_start(struct web_app *app, const char *base_url, char **err)
{
    int rc;

    free(app->base_url);
    app->base_url = td_strdup(base_url);
    app->oauth = td_calloc(1, sizeof(*app->oauth));
    rc = oauth_init(app->oauth, app->loop, app->store, base_url, app->conf->domain, err);
    if (rc != TD_OK)
        return rc;
    rc = web_chat_start(app);
    if (rc != TD_OK) {
        *err = td_strdup("cannot make the web chat's OAuth client in the store");
        return rc;
    }
    struct mb_opts mo = {.base_url = base_url, .max_chars = (size_t)app->conf->mb_max_chars};
    app->mb = td_calloc(1, sizeof(*app->mb));
    rc = mb_init(app->mb, app->store, &mo);
    if (rc != TD_OK) {
        *err = td_strdup("cannot start the microblog service");
        return rc;
    }
    app->masto_cache = api_masto_cache_new(app->mb);
    app->oauth->registration = app->conf->oauth_registration;
    if (app->conf->oauth_registration_token[0])
        oauth_hash(app->conf->oauth_registration_token, app->oauth->registration_token_hash);
    return TD_OK;
}

void web_app_free(struct web_app *app)
{
    api_masto_cache_free(app->masto_cache);
    mb_free(app->mb);
    free(app->mb);
    oauth_free(app->oauth);
    free(app->oauth);
    web_tmpl_free(app->tmpl);
    http_static_free(app->statics);
    auth_csrf_free(app->csrf);
    auth_ratelimit_free(app->rl_account);
    auth_ratelimit_free(app->rl_address);
    http_router_free(app->router);
    free(app->base_url);
    memset(app, 0, sizeof(*app));
}
