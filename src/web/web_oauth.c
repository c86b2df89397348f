/* SPDX-License-Identifier: MIT */
/* The pages people see in the OAuth 2.0 authorization server and OpenID
 * Connect provider: the authorization endpoint with its consent page
 * (RFC 6749 §3.1, §4.1.1-4.1.2.1; OpenID Connect Core 1.0 §3.1.2.1-3.1.2.6
 * for prompt, max_age, login_hint and nonce; PKCE RFC 7636 §4.3-4.4 with S256
 * only, RFC 9700 §2.1.1; RFC 9207 iss in every response), the device
 * verification page (RFC 8628 §3.3), the "Connected apps" settings page, and
 * RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2-3).
 *
 * The protocol decisions (scopes, redirect URI matching, code issuing) are
 * oauth.c's; this file turns requests into calls and answers into pages or
 * redirects. Until client_id and redirect_uri are known to be good, every
 * error is a page: nothing is ever sent to an unverified redirect URI
 * (RFC 6749 §4.1.2.1). After that, errors go back to the client. Every
 * state change is a POST carrying the CSRF token; a bad token is a 403 page,
 * never a redirect. Redirect query strings are built with http_url_encode;
 * pages escape every value through their templates. */
#include "auth/auth_account.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/http_router.h"
#include "oauth/jose.h"
#include "oauth/oauth.h"
#include "web/web.h"

#include <ctype.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COOKIE_SESSION "tandem_session"
#define QUERY_MAX_PAIRS 64
#define PARAM_MAX 2048          /* longest state, nonce, login_hint, ... we accept */
#define USER_CODE_INPUT_MAX 64  /* bytes typed on the device page */
#define USER_CODE_MAX 16        /* letters after normalizing */

static struct web_app *app_of(struct http_req *r)
{
    return r->app;
}

static struct oauth *oauth_of(struct http_req *r)
{
    return app_of(r)->oauth;
}

/* ---- small helpers ---- */

static size_t kv_count(const struct http_kvlist *l, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].name, name) == 0)
            n++;
    return n;
}

/* An empty parameter counts as absent (RFC 6749 §3.1). */
static const char *kv_param(const struct http_kvlist *l, const char *name)
{
    const char *v = http_kv_get(l, name);
    return v && v[0] ? v : NULL;
}

/* Append "name=value" percent-encoded, with sep before it. */
static void append_param(struct buf *b, char *sep, const char *name, const char *value)
{
    if (value == NULL)
        return;
    buf_putc(b, *sep);
    *sep = '&';
    http_url_encode(b, name, strlen(name));
    buf_putc(b, '=');
    http_url_encode(b, value, strlen(value));
}

/* The scopes of a space-separated list as [{name, description}] for a page. */
static json_t *scope_list(const char *scope)
{
    json_t *arr = json_array();
    const char *p = scope ? scope : "";

    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            char name[64];
            size_t n = (size_t)(e - p);
            if (n < sizeof(name)) {
                memcpy(name, p, n);
                name[n] = '\0';
                const struct oauth_scope_def *d = oauth_scope_find(name);
                json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "description",
                                                     d ? d->description : name));
            }
        }
        p = e;
    }
    return arr;
}


static bool is_unreserved_string(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != '~')
            return false;
    }
    return true;
}

static void format_date(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%-d %B %Y", &tm);
}

/* Is value one of the strings of a JSON array (a client's registered URIs)? */
static bool json_list_has(const char *json_text, const char *value)
{
    json_t *arr = json_loads(json_text ? json_text : "[]", 0, NULL);
    bool found = false;

    if (json_is_array(arr)) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
                found = true;
        }
    }
    json_decref(arr);
    return found;
}

/* The only redirect URI of a client, copied to the arena, or NULL if it has none or many. */
static const char *single_redirect_uri(struct http_req *r, const struct oauth_client *c)
{
    json_t *arr = json_loads(c->redirect_uris ? c->redirect_uris : "[]", 0, NULL);
    const char *out = NULL;

    if (json_is_array(arr) && json_array_size(arr) == 1 &&
        json_is_string(json_array_get(arr, 0)))
        out = arena_strdup(r->arena, json_string_value(json_array_get(arr, 0)));
    json_decref(arr);
    return out;
}

/* ---- the authorization request ---- */

struct authz {
    struct http_kvlist params;   /* as received (query or form) */
    struct oauth_client client;  /* valid once client_ok */
    bool client_ok;
    const char *client_id;
    const char *redirect_uri;    /* effective: given, or the client's only one */
    const char *response_type;
    const char *response_mode;
    const char *scope;           /* as asked */
    const char *scope_norm;      /* normalized, once valid */
    const char *state;
    const char *nonce;
    const char *code_challenge;
    const char *code_challenge_method;
    const char *prompt;
    const char *max_age;
    int64_t max_age_s;           /* -1 if absent */
    const char *login_hint;
};

enum check_result {
    CHECK_OK = 0,
    CHECK_PAGE,      /* answered with an error page */
    CHECK_REDIRECT,  /* error/description set: send back to the client */
};

/* Send an error back to the client's redirect URI (RFC 6749 §4.1.2.1, RFC 9207). */
static void redirect_error(struct http_req *r, const struct authz *az, int status,
                           const char *error, const char *desc)
{
    struct buf b;
    char sep = strchr(az->redirect_uri, '?') ? '&' : '?';

    if (strcmp(az->redirect_uri, OAUTH_REDIRECT_OOB) == 0) {
        /* Out of band: there is nowhere to send the error but the user's screen. */
        log_info("oauth.authorize_error", "req=%s client=%s error=%s desc=%s", r->id_str,
                 log_q(az->client_id), error, log_q(desc));
        web_error(r, 400,
                  arena_printf(r->arena, "The application's request was refused (%s: %s).",
                               error, desc ? desc : ""));
        return;
    }

    log_info("oauth.authorize_error", "req=%s client=%s error=%s desc=%s", r->id_str,
             log_q(az->client_id), error, log_q(desc));
    buf_init(&b, 64 * 1024);
    buf_appends(&b, az->redirect_uri);
    append_param(&b, &sep, "error", error);
    append_param(&b, &sep, "error_description", desc);
    append_param(&b, &sep, "state", az->state);
    append_param(&b, &sep, "iss", oauth_of(r)->issuer);
    http_resp_redirect(r, status, b.data);
    buf_free(&b);
}

static void page_error(struct http_req *r, const char *why)
{
    log_info("oauth.authorize_refused", "req=%s peer=%s why=%s", r->id_str, r->peer, log_q(why));
    web_error(r, 400, why);
}

/* Read the parameters and check them. On CHECK_PAGE the page is sent; on CHECK_REDIRECT
 * *error and *desc say what to send back. */
static enum check_result authz_check(struct http_req *r, struct authz *az, const char **error,
                                     const char **desc)
{
    static const char *const single[] = {
        "client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
        "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint",
    };
    struct oauth *o = oauth_of(r);
    const struct http_kvlist *p = &az->params;

    /* 1. Client and redirect URI: failures here are pages, never redirects. */
    if (kv_count(p, "client_id") > 1 || kv_count(p, "redirect_uri") > 1) {
        page_error(r, "The application sent a malformed request (a repeated parameter).");
        return CHECK_PAGE;
    }
    az->client_id = kv_param(p, "client_id");
    if (az->client_id == NULL) {
        page_error(r, "The application did not say who it is (client_id is missing).");
        return CHECK_PAGE;
    }
    if (strlen(az->client_id) > 256 ||
        store_oauth_client_get(o->store, az->client_id, &az->client) != TD_OK) {
        page_error(r, "The application that sent you here is not known to this site.");
        return CHECK_PAGE;
    }
    az->client_ok = true;
    az->redirect_uri = kv_param(p, "redirect_uri");
    if (az->redirect_uri == NULL) {
        az->redirect_uri = single_redirect_uri(r, &az->client);
        if (az->redirect_uri == NULL) {
            page_error(r, "The application did not say where to send you back "
                          "(redirect_uri is missing).");
            return CHECK_PAGE;
        }
    } else if (!oauth_redirect_uri_ok(&az->client, az->redirect_uri)) {
        page_error(r, "The application asked to send you back to an address it has not "
                      "registered, so this site will not send you there.");
        return CHECK_PAGE;
    }

    /* 2. Everything else goes back to the client. */
    az->state = kv_param(p, "state");
    if (az->state && strlen(az->state) > PARAM_MAX)
        az->state = NULL;
    *desc = NULL;
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
        if (kv_count(p, single[i]) > 1) {
            *error = "invalid_request";
            *desc = "a parameter is repeated";
            return CHECK_REDIRECT;
        }
    }
    if (kv_param(p, "request")) {
        *error = "request_not_supported";
        *desc = "request objects are not supported";
        return CHECK_REDIRECT;
    }
    if (kv_param(p, "request_uri")) {
        *error = "request_uri_not_supported";
        *desc = "request_uri is not supported";
        return CHECK_REDIRECT;
    }
    az->response_type = kv_param(p, "response_type");
    if (az->response_type == NULL) {
        *error = "invalid_request";
        *desc = "response_type is missing";
        return CHECK_REDIRECT;
    }
    if (strcmp(az->response_type, "code") != 0) {
        *error = "unsupported_response_type";
        *desc = "only response_type=code is supported";
        return CHECK_REDIRECT;
    }
    az->response_mode = kv_param(p, "response_mode");
    if (az->response_mode && strcmp(az->response_mode, "query") != 0) {
        *error = "invalid_request";
        *desc = "only response_mode=query is supported";
        return CHECK_REDIRECT;
    }
    if (!oauth_client_has_grant(&az->client, OAUTH_GRANT_CODE)) {
        *error = "unauthorized_client";
        *desc = "the client may not use the authorization code grant";
        return CHECK_REDIRECT;
    }
    az->scope = kv_param(p, "scope");
    if (az->scope == NULL && oauth_client_is_masto(&az->client))
        az->scope = "read"; /* Mastodon's default scope */
    if (az->scope == NULL) {
        *error = "invalid_scope";
        *desc = "scope is missing";
        return CHECK_REDIRECT;
    }
    if (strlen(az->scope) > PARAM_MAX || !oauth_scope_valid(az->scope)) {
        *error = "invalid_scope";
        *desc = "unknown scope";
        return CHECK_REDIRECT;
    }
    if (!oauth_scope_subset(az->scope, az->client.scope)) {
        *error = "invalid_scope";
        *desc = "the client may not ask for this scope";
        return CHECK_REDIRECT;
    }
    az->scope_norm = oauth_scope_normalize(r->arena, az->scope);
    az->code_challenge = kv_param(p, "code_challenge");
    az->code_challenge_method = kv_param(p, "code_challenge_method");
    if (az->code_challenge_method && strcmp(az->code_challenge_method, "S256") != 0) {
        *error = "invalid_request";
        *desc = "code_challenge_method must be S256";
        return CHECK_REDIRECT;
    }
    if (az->code_challenge_method && az->code_challenge == NULL) {
        *error = "invalid_request";
        *desc = "code_challenge is missing";
        return CHECK_REDIRECT;
    }
    if (az->code_challenge) {
        if (az->code_challenge_method == NULL) {
            /* RFC 7636 §4.3 defaults to plain, which is refused (RFC 9700 §2.1.1). */
            *error = "invalid_request";
            *desc = "code_challenge_method must be S256";
            return CHECK_REDIRECT;
        }
        if (!is_unreserved_string(az->code_challenge, 43, 128)) {
            *error = "invalid_request";
            *desc = "code_challenge is malformed";
            return CHECK_REDIRECT;
        }
    } else if (!az->client.has_secret ||
               (az->client.auth_method && strcmp(az->client.auth_method, "none") == 0)) {
        *error = "invalid_request";
        *desc = "PKCE (code_challenge with S256) is required for public clients";
        return CHECK_REDIRECT;
    }
    az->nonce = kv_param(p, "nonce");
    az->login_hint = kv_param(p, "login_hint");
    if ((az->nonce && strlen(az->nonce) > PARAM_MAX) ||
        (az->login_hint && strlen(az->login_hint) > 256)) {
        *error = "invalid_request";
        *desc = "a parameter is too long";
        return CHECK_REDIRECT;
    }
    az->prompt = kv_param(p, "prompt");
    if (az->prompt) {
        const char *q = az->prompt;
        size_t words = 0;
        while (*q) {
            while (*q == ' ')
                q++;
            const char *e = q;
            while (*e && *e != ' ')
                e++;
            size_t n = (size_t)(e - q);
            if (n == 0)
                break;
            words++;
            if (!(n == 4 && memcmp(q, "none", 4) == 0) && !(n == 5 && memcmp(q, "login", 5) == 0) &&
                !(n == 7 && memcmp(q, "consent", 7) == 0) &&
                !(n == 14 && memcmp(q, "select_account", 14) == 0)) {
                *error = "invalid_request";
                *desc = "unknown prompt value";
                return CHECK_REDIRECT;
            }
            q = e;
        }
        if (oauth_list_has(az->prompt, "none") && words > 1) {
            *error = "invalid_request";
            *desc = "prompt=none cannot be combined with other values";
            return CHECK_REDIRECT;
        }
    }
    az->max_age_s = -1;
    az->max_age = kv_param(p, "max_age");
    if (az->max_age) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(az->max_age, &end, 10);
        if (errno != 0 || end == az->max_age || *end != '\0' || v < 0 ||
            v > 100LL * 365 * 86400 || !isdigit((unsigned char)az->max_age[0])) {
            *error = "invalid_request";
            *desc = "max_age must be a non-negative number of seconds";
            return CHECK_REDIRECT;
        }
        az->max_age_s = v;
    }
    return CHECK_OK;
}

static void authz_clear(struct authz *az)
{
    if (az->client_ok)
        store_oauth_client_clear(&az->client);
    az->client_ok = false;
}

/* The authorize URL to come back to after logging in, without prompt=login so that it
 * does not ask again (OIDC Core §3.1.2.3). */
static char *authorize_again_url(struct http_req *r, const struct authz *az)
{
    struct buf b;
    char sep = '?';
    char *out;

    buf_init(&b, 64 * 1024);
    buf_appends(&b, "/oauth/authorize");
    for (size_t i = 0; i < az->params.len; i++) {
        const struct http_kv *kv = &az->params.items[i];
        if (strcmp(kv->name, "prompt") == 0) {
            struct buf pb;
            const char *q = kv->value;
            buf_init(&pb, PARAM_MAX + 1);
            while (*q) {
                while (*q == ' ')
                    q++;
                const char *e = q;
                while (*e && *e != ' ')
                    e++;
                if (e > q && !((size_t)(e - q) == 5 && memcmp(q, "login", 5) == 0)) {
                    if (pb.len)
                        buf_putc(&pb, ' ');
                    buf_append(&pb, q, (size_t)(e - q));
                }
                q = e;
            }
            if (pb.len)
                append_param(&b, &sep, "prompt", pb.data);
            buf_free(&pb);
            continue;
        }
        append_param(&b, &sep, kv->name, kv->value);
    }
    out = arena_strdup(r->arena, b.data);
    buf_free(&b);
    return out;
}

/* Send the browser to the log-in page; it comes back to the same request. */
static void send_to_login(struct http_req *r, const struct authz *az, bool reauth)
{
    const char *next = authorize_again_url(r, az);
    struct buf b;
    char sep = '?';

    buf_init(&b, 128 * 1024);
    buf_appends(&b, "/login");
    append_param(&b, &sep, "next", next);
    if (az->login_hint)
        append_param(&b, &sep, "username", az->login_hint);
    if (reauth)
        append_param(&b, &sep, "reauth", "1");
    http_resp_redirect(r, 302, b.data);
    buf_free(&b);
}

/* Issue the code and send it to the client (RFC 6749 §4.1.2). */
static void issue_code(struct http_req *r, const struct authz *az, int status)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    struct oauth_code c;
    char code[44];
    struct buf b;
    char sep = strchr(az->redirect_uri, '?') ? '&' : '?';
    int rc;

    memset(&c, 0, sizeof(c));
    c.client_id = arena_strdup(r->arena, az->client_id);
    c.account_id = ctx->account.id;
    c.redirect_uri = arena_strdup(r->arena, az->redirect_uri);
    c.scope = arena_strdup(r->arena, az->scope_norm);
    c.code_challenge = az->code_challenge ? arena_strdup(r->arena, az->code_challenge) : NULL;
    c.code_challenge_method =
        az->code_challenge ? arena_strdup(r->arena, az->code_challenge_method) : NULL;
    c.nonce = az->nonce ? arena_strdup(r->arena, az->nonce) : NULL;
    c.auth_time = web_auth_time(r);
    c.amr = arena_strdup(r->arena, "pwd");
    c.grant_id = ids_next();
    c.expires_at = auth_now_ms() + OAUTH_CODE_TTL_MS;
    rc = oauth_code_issue(o, &c, code);
    if (rc != TD_OK) {
        log_err("oauth.code_issue_failed", "req=%s err=%s", r->id_str, log_q(td_strerror(rc)));
        redirect_error(r, az, status, "server_error", "the code could not be issued");
        return;
    }
    log_info("oauth.code_issued", "req=%s client=%s account=%lld scope=%s", r->id_str,
             log_q(az->client_id), (long long)ctx->account.id, log_q(az->scope_norm));
    if (strcmp(az->redirect_uri, OAUTH_REDIRECT_OOB) == 0) {
        /* Shown, not redirected: the user pastes it into the app (toot, Mastodon.py). */
        web_render(r, 200, "oob", /* no-store, as every page */
                   json_pack("{s:s, s:s}", "code", code, "client_name",
                             az->client.name && az->client.name[0] ? az->client.name
                                                                   : az->client_id));
        sodium_memzero(code, sizeof(code));
        return;
    }
    buf_init(&b, 64 * 1024);
    buf_appends(&b, az->redirect_uri);
    append_param(&b, &sep, "code", code);
    append_param(&b, &sep, "state", az->state);
    append_param(&b, &sep, "iss", o->issuer);
    http_resp_redirect(r, status, b.data);
    buf_free(&b);
}

static json_t *hidden_field(const char *name, const char *value)
{
    return json_pack("{s:s, s:s}", "name", name, "value", value);
}

static void render_consent(struct http_req *r, const struct authz *az)
{
    json_t *hidden = json_array();
    const char *const names[] = {"client_id", "redirect_uri", "response_type",
                                 "scope", "state", "nonce", "code_challenge",
                                 "code_challenge_method"};
    const char *const values[] = {az->client_id, az->redirect_uri, az->response_type,
                                  az->scope_norm, az->state, az->nonce, az->code_challenge,
                                  az->code_challenge_method};
    char *host = arena_strdup(r->arena, az->redirect_uri);
    char *p = strstr(host, "://");
    json_t *d;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (values[i])
            json_array_append_new(hidden, hidden_field(names[i], values[i]));
    if (p) {
        host = p + 3;
        host[strcspn(host, "/?#")] = '\0';
    } else {
        host[strcspn(host, ":")] = '\0'; /* private-use scheme of a native app */
    }
    d = json_pack("{s:s, s:s, s:s, s:o, s:o}", "client_name",
                  az->client.name && az->client.name[0] ? az->client.name : az->client_id,
                  "client_id", az->client_id, "redirect_host", host, "scopes",
                  scope_list(az->scope_norm), "hidden", hidden);
    json_object_set_new(d, "oob",
                        json_boolean(strcmp(az->redirect_uri, OAUTH_REDIRECT_OOB) == 0));
    web_render(r, 200, "consent", d);
}

static void handle_authorize_get(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    struct authz az;
    const char *error = NULL;
    const char *desc = NULL;
    char *remembered = NULL;
    int rc;

    memset(&az, 0, sizeof(az));
    rc = http_form_parse(r->arena, r->query, strlen(r->query), QUERY_MAX_PAIRS, &az.params);
    if (rc != TD_OK) {
        page_error(r, "The application sent a malformed request.");
        return;
    }
    switch (authz_check(r, &az, &error, &desc)) {
    case CHECK_PAGE:
        goto out;
    case CHECK_REDIRECT:
        redirect_error(r, &az, 302, error, desc);
        goto out;
    case CHECK_OK:
        break;
    }
    bool prompt_none = oauth_list_has(az.prompt, "none");
    if (!ctx->logged_in) {
        if (prompt_none)
            redirect_error(r, &az, 302, "login_required", "the user is not logged in");
        else
            send_to_login(r, &az, false);
        goto out;
    }
    bool too_old = false;
    if (az.max_age_s >= 0) {
        int64_t now = auth_now_ms();
        too_old = web_auth_time(r) <= 0 || now - web_auth_time(r) > az.max_age_s * 1000;
    }
    if (oauth_list_has(az.prompt, "login") || too_old) {
        if (prompt_none)
            redirect_error(r, &az, 302, "login_required", "the user must log in again");
        else
            send_to_login(r, &az, true);
        goto out;
    }
    if (!oauth_list_has(az.prompt, "consent") &&
        store_oauth_consent_get(o->store, ctx->account.id, az.client_id, &remembered) == TD_OK &&
        oauth_scope_subset(az.scope_norm, remembered)) {
        issue_code(r, &az, 302);
        goto out;
    }
    if (prompt_none) {
        redirect_error(r, &az, 302, "consent_required", "the user has not granted this access");
        goto out;
    }
    render_consent(r, &az);
out:
    free(remembered);
    authz_clear(&az);
}

static void handle_authorize_post(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    struct authz az;
    const char *error = NULL;
    const char *desc = NULL;
    const char *decision;

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    if (!ctx->logged_in) {
        web_error(r, 403, "You were logged out before answering. Go back to the application "
                          "and start again.");
        return;
    }
    memset(&az, 0, sizeof(az));
    az.params = ctx->form;
    switch (authz_check(r, &az, &error, &desc)) {
    case CHECK_PAGE:
        goto out;
    case CHECK_REDIRECT:
        redirect_error(r, &az, 303, error, desc);
        goto out;
    case CHECK_OK:
        break;
    }
    decision = web_form_get(r, "decision");
    if (strcmp(decision, "allow") != 0) {
        log_info("oauth.consent_denied", "req=%s client=%s account=%lld", r->id_str,
                 log_q(az.client_id), (long long)ctx->account.id);
        redirect_error(r, &az, 303, "access_denied", "the user denied the request");
        goto out;
    }
    if (web_form_get(r, "remember")[0]) {
        char *old = NULL;
        const char *keep = az.scope_norm;
        /* Remember the union of what was granted before and now. */
        if (store_oauth_consent_get(o->store, ctx->account.id, az.client_id, &old) == TD_OK &&
            old && old[0]) {
            char *both = arena_printf(r->arena, "%s %s", old, az.scope_norm);
            if (oauth_scope_valid(both))
                keep = oauth_scope_normalize(r->arena, both);
        }
        free(old);
        if (store_oauth_consent_set(o->store, ctx->account.id, az.client_id, keep) != TD_OK)
            log_warn("oauth.consent_not_saved", "req=%s client=%s", r->id_str,
                     log_q(az.client_id));
    }
    issue_code(r, &az, 303);
out:
    authz_clear(&az);
}

/* ---- device verification (RFC 8628 §3.3) ---- */

/* Uppercase letters and digits of the typed code; dashes and spaces dropped. NULL if the
 * input has anything else or is too long. */
static char *normalize_user_code(struct http_req *r, const char *in)
{
    char out[USER_CODE_MAX + 1];
    size_t n = 0;

    if (in == NULL || strlen(in) > USER_CODE_INPUT_MAX)
        return NULL;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '-' || c == ' ' || c == '\t')
            continue;
        if (!isalnum(c) || n >= USER_CODE_MAX)
            return NULL;
        out[n++] = (char)toupper(c);
    }
    if (n == 0)
        return NULL;
    out[n] = '\0';
    return arena_strdup(r->arena, out);
}

static void device_page(struct http_req *r, int status, const char *error, const char *typed)
{
    web_render(r, status, "device",
               json_pack("{s:b, s:s?, s:s}", "enter", true, "error", error, "user_code",
                         typed ? typed : ""));
}

/* Look up a pending, unexpired code. On failure the page is sent. */
static bool device_lookup(struct http_req *r, const char *typed, const char **code,
                          struct oauth_device *d)
{
    struct oauth *o = oauth_of(r);

    *code = normalize_user_code(r, typed);
    if (*code == NULL) {
        device_page(r, 422, "That code is not valid. Check it and type it again.", typed);
        return false;
    }
    if (store_oauth_device_get_by_user_code(o->store, *code, d) != TD_OK) {
        device_page(r, 404, "That code is not known. Check it and type it again.", typed);
        return false;
    }
    if (d->status != OAUTH_DEVICE_PENDING || d->expires_at <= auth_now_ms()) {
        store_oauth_device_clear(d);
        device_page(r, 410,
                    "That code has expired or has already been used. Start again on your "
                    "device to get a new one.",
                    typed);
        return false;
    }
    return true;
}

static void handle_device_get(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    const char *typed = web_query_get(r, "user_code");
    const char *code;
    struct oauth_device d;
    struct oauth_client c;
    const char *name;
    json_t *data;

    if (!web_ctx(r)->logged_in) {
        struct buf b;
        char sep = '?';
        buf_init(&b, 8192);
        buf_appends(&b, "/login");
        append_param(&b, &sep, "next",
                     r->query[0] ? arena_printf(r->arena, "/device?%s", r->query) : "/device");
        http_resp_redirect(r, 302, b.data);
        buf_free(&b);
        return;
    }
    if (typed == NULL || typed[0] == '\0') {
        device_page(r, 200, NULL, NULL);
        return;
    }
    if (!device_lookup(r, typed, &code, &d))
        return;
    memset(&c, 0, sizeof(c));
    name = d.client_id;
    if (store_oauth_client_get(o->store, d.client_id, &c) == TD_OK && c.name && c.name[0])
        name = c.name;
    data = json_pack("{s:b, s:s, s:s, s:o}", "confirm", true, "user_code", code,
                     "client_name", name, "scopes", scope_list(d.scope));
    if (c.client_id)
        store_oauth_client_clear(&c);
    store_oauth_device_clear(&d);
    web_render(r, 200, "device", data);
}

static void handle_device_post(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    const char *code;
    struct oauth_device d;
    bool approve;
    int rc;

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    if (!ctx->logged_in) {
        http_resp_redirect(r, 303, "/login?next=%2Fdevice");
        return;
    }
    if (!device_lookup(r, web_form_get(r, "user_code"), &code, &d))
        return;
    store_oauth_device_clear(&d);
    approve = strcmp(web_form_get(r, "decision"), "approve") == 0;
    rc = store_oauth_device_decide(o->store, code, auth_now_ms(), approve, ctx->account.id,
                                   web_auth_time(r));
    if (rc != TD_OK) {
        device_page(r, 410,
                    "That code has expired or has already been used. Start again on your "
                    "device to get a new one.",
                    NULL);
        return;
    }
    log_info("oauth.device_decided", "req=%s account=%lld approve=%d", r->id_str,
             (long long)ctx->account.id, approve);
    web_render(r, 200, "device", json_pack("{s:b, s:b}", "done", true, "approved", approve));
}

/* ---- connected apps ---- */

static void require_login(struct http_req *r, const char *back)
{
    struct buf b;
    char sep = '?';

    buf_init(&b, 8192);
    buf_appends(&b, "/login");
    append_param(&b, &sep, "next", back);
    http_resp_redirect(r, 303, b.data);
    buf_free(&b);
}

static int collect_app(void *ud, const struct oauth_connected_app *app)
{
    json_t *arr = ud;
    char since[40];

    format_date(app->since, since, sizeof(since));
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:o, s:s}", "client_id", app->client_id, "name",
                       app->client_name && app->client_name[0] ? app->client_name
                                                               : app->client_id,
                       "scopes", scope_list(app->scope), "since", since));
    return 0;
}

static void handle_apps_get(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    json_t *apps;
    const char *revoked = web_query_get(r, "revoked");

    if (!ctx->logged_in) {
        require_login(r, "/settings/apps");
        return;
    }
    apps = json_array();
    if (store_oauth_connected_apps(o->store, ctx->account.id, auth_now_ms(), collect_app,
                                   apps) != TD_OK) {
        json_decref(apps);
        web_error(r, 500, "The list of connected apps could not be read.");
        return;
    }
    web_render(r, 200, "apps",
               json_pack("{s:o, s:b, s:s?}", "apps", apps, "none", json_array_size(apps) == 0,
                         "notice",
                         revoked ? "The app's access was revoked. It can no longer use your "
                                   "account unless you allow it again."
                                 : NULL));
}

static void handle_apps_revoke(struct http_req *r)
{
    struct oauth *o = oauth_of(r);
    struct web_ctx *ctx = web_ctx(r);
    const char *client_id;

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    if (!ctx->logged_in) {
        require_login(r, "/settings/apps");
        return;
    }
    client_id = web_form_get(r, "client_id");
    if (client_id[0] == '\0' || strlen(client_id) > 256) {
        web_error(r, 400, "No app was chosen.");
        return;
    }
    if (store_oauth_tokens_revoke_for(o->store, ctx->account.id, client_id) != TD_OK ||
        store_oauth_consent_delete(o->store, ctx->account.id, client_id) != TD_OK) {
        web_error(r, 500, "The app's access could not be revoked. Please try again.");
        return;
    }
    log_info("oauth.app_revoked", "req=%s account=%lld client=%s", r->id_str,
             (long long)ctx->account.id, log_q(client_id));
    web_redirect(r, "/settings/apps?revoked=1");
}

/* ---- RP-Initiated Logout ---- */

/* Verify an id_token we issued (signature and iss; expired ones are fine as hints, RP-
 * Initiated Logout §2) and return its client (aud, or azp) in the arena. */
static const char *hint_client(struct http_req *r, const char *hint)
{
    struct oauth *o = oauth_of(r);
    json_t *jwks = oauth_keys_jwks(o->keys);
    struct jose_key **keys = NULL;
    size_t nkeys = 0;
    json_t *claims = NULL;
    const char *why = NULL;
    const char *out = NULL;

    if (jwks == NULL || jose_jwks_import(jwks, &keys, &nkeys) != TD_OK)
        goto out;
    if (jose_verify_jwt(hint, strlen(hint), keys, nkeys, &claims, &why) != TD_OK) {
        log_info("oauth.logout_bad_hint", "req=%s why=%s", r->id_str, log_q(why));
        goto out;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (iss == NULL || strcmp(iss, o->issuer) != 0)
        goto out;
    json_t *aud = json_object_get(claims, "aud");
    const char *azp = json_string_value(json_object_get(claims, "azp"));
    if (json_is_string(aud))
        out = arena_strdup(r->arena, json_string_value(aud));
    else if (azp)
        out = arena_strdup(r->arena, azp);
    else if (json_is_array(aud) && json_array_size(aud) == 1 &&
             json_is_string(json_array_get(aud, 0)))
        out = arena_strdup(r->arena, json_string_value(json_array_get(aud, 0)));
out:
    json_decref(claims);
    jose_keys_free(keys, nkeys);
    json_decref(jwks);
    return out;
}

struct logout_req {
    const char *client_id;       /* known client, or NULL */
    const char *client_name;
    const char *redirect;        /* validated post_logout_redirect_uri, or NULL */
    const char *state;
};

/* Read and check the parameters. On false an error page was sent. */
static bool logout_check(struct http_req *r, const struct http_kvlist *p, bool from_form,
                         struct logout_req *lr)
{
    struct oauth *o = oauth_of(r);
    const char *hint = kv_param(p, "id_token_hint");
    const char *client_id = kv_param(p, "client_id");
    const char *uri = kv_param(p, "post_logout_redirect_uri");
    struct oauth_client c;

    memset(lr, 0, sizeof(*lr));
    lr->state = kv_param(p, "state");
    if (lr->state && strlen(lr->state) > PARAM_MAX)
        lr->state = NULL;
    if (hint && !from_form) {
        const char *aud = strlen(hint) <= JOSE_MAX_TOKEN ? hint_client(r, hint) : NULL;
        if (aud == NULL) {
            web_error(r, 400, "The application's logout request could not be verified.");
            return false;
        }
        if (client_id && strcmp(client_id, aud) != 0) {
            web_error(r, 400, "The application's logout request is inconsistent "
                              "(client_id does not match id_token_hint).");
            return false;
        }
        client_id = aud;
    }
    if (client_id == NULL) {
        if (uri) {
            web_error(r, 400, "The application did not say who it is, so this site will not "
                              "send you back to it.");
            return false;
        }
        return true;
    }
    if (strlen(client_id) > 256 || store_oauth_client_get(o->store, client_id, &c) != TD_OK) {
        web_error(r, 400, "The application that sent you here is not known to this site.");
        return false;
    }
    lr->client_id = arena_strdup(r->arena, client_id);
    lr->client_name = arena_strdup(r->arena, c.name && c.name[0] ? c.name : client_id);
    if (uri) {
        bool ok = json_list_has(c.post_logout_redirect_uris, uri);
        if (!ok) {
            store_oauth_client_clear(&c);
            web_error(r, 400, "The application asked to send you back to an address it has "
                              "not registered, so this site will not send you there.");
            return false;
        }
        lr->redirect = arena_strdup(r->arena, uri);
    }
    store_oauth_client_clear(&c);
    return true;
}

static void logout_finish(struct http_req *r, const struct logout_req *lr)
{
    if (lr->redirect) {
        struct buf b;
        char sep = strchr(lr->redirect, '?') ? '&' : '?';
        buf_init(&b, 64 * 1024);
        buf_appends(&b, lr->redirect);
        append_param(&b, &sep, "state", lr->state);
        http_resp_redirect(r, 303, b.data);
        buf_free(&b);
        return;
    }
    web_render(r, 200, "logout", json_pack("{s:b}", "done", true));
}

static void logout_confirm_page(struct http_req *r, const struct logout_req *lr)
{
    web_render(r, 200, "logout",
               json_pack("{s:b, s:s?, s:s?, s:s?, s:s?}", "confirm", true, "client_id",
                         lr->client_id, "client_name", lr->client_name,
                         "post_logout_redirect_uri", lr->redirect, "state", lr->state));
}

static void handle_logout_get(struct http_req *r)
{
    struct http_kvlist q = {0};
    struct logout_req lr;

    if (http_form_parse(r->arena, r->query, strlen(r->query), QUERY_MAX_PAIRS, &q) != TD_OK) {
        web_error(r, 400, "The logout request is malformed.");
        return;
    }
    if (!logout_check(r, &q, false, &lr))
        return;
    if (!web_ctx(r)->logged_in) {
        logout_finish(r, &lr);
        return;
    }
    logout_confirm_page(r, &lr);
}

static void handle_logout_post(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    struct logout_req lr;
    bool confirmed;

    if (!web_form(r))
        return;
    /* The RP may POST its parameters (RP-Initiated Logout §2): ask first. Our own
     * confirmation form carries confirm=1 and the CSRF token. */
    confirmed = web_form_get(r, "confirm")[0] != '\0';
    if (confirmed && !web_csrf_ok(r))
        return;
    if (!logout_check(r, &ctx->form, confirmed, &lr))
        return;
    if (!confirmed && ctx->logged_in) {
        logout_confirm_page(r, &lr);
        return;
    }
    if (ctx->logged_in) {
        log_info("oauth.logout", "req=%s account=%lld client=%s", r->id_str,
                 (long long)ctx->account.id, log_q(lr.client_id ? lr.client_id : "-"));
        if (ctx->session_token)
            auth_session_end(app_of(r)->store, ctx->session_token);
        web_set_cookie(r, COOKIE_SESSION, "", 0);
        ctx->logged_in = false;
        ctx->session_token = NULL;
    }
    logout_finish(r, &lr);
}

void web_oauth_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/oauth/authorize", handle_authorize_get);
    http_router_add(rt, "POST", "/oauth/authorize", handle_authorize_post);
    /* toot asks for /oauth/authorize/ (Mastodon's router ignores the trailing slash). */
    http_router_add(rt, "GET", "/oauth/authorize/", handle_authorize_get);
    http_router_add(rt, "GET", "/device", handle_device_get);
    http_router_add(rt, "POST", "/device", handle_device_post);
    http_router_add(rt, "GET", "/settings/apps", handle_apps_get);
    http_router_add(rt, "POST", "/settings/apps/revoke", handle_apps_revoke);
    http_router_add(rt, "GET", "/oauth/logout", handle_logout_get);
    http_router_add(rt, "POST", "/oauth/logout", handle_logout_post);
}
