/* SPDX-License-Identifier: MIT */
/* The JSON endpoints of the OAuth 2.0 authorization server and OpenID
 * Connect provider; see api_oauth.h. This file reads requests, calls the
 * protocol core (oauth/oauth.c) and the store, and maps each outcome onto
 * the wire in one place per endpoint: RFC 6749 §5.2 error bodies at the
 * token endpoint (and the endpoints that borrow its conventions: RFC 7009
 * §2.2.1, RFC 7662 §2.3, RFC 8628 §3.5, RFC 7591 §3.2.2), RFC 6750 §3
 * challenges at userinfo.
 *
 * Implemented: RFC 6749 §2.3.1 (client authentication), §3.2 (form bodies,
 * no repeated parameters), §4.1.3 (code redemption, with redirect_uri
 * check), §4.4 (client credentials), §5 (responses, no-store), §6
 * (refresh, with rotation and reuse detection per RFC 9700 §4.14.2);
 * RFC 7636 §4.6 (PKCE, and RFC 9700 §2.1.1: a verifier without a challenge
 * is refused); RFC 8628 §3.1-3.5 (device flow, user codes per §6.1);
 * RFC 7009 (revocation; a refresh token takes its whole grant with it);
 * RFC 7662 (introspection, for confidential clients); OIDC Core §5.3
 * (userinfo); RFC 8414 and OIDC Discovery §3 (metadata); RFC 7591 §2-3
 * (registration, open or with an initial access token).
 *
 * Deviations: a narrower scope on refresh (RFC 6749 §6) narrows the new
 * refresh token too, because oauth_issue() issues both under one scope; the
 * JWKS is served as application/json rather than application/jwk-set+json
 * (RFC 7517 §8.5) because some client libraries accept only the former; a
 * refresh token is issued whenever the client is registered for the
 * refresh_token grant (offline_access is not required). */
#include "api/api_oauth.h"

#include "auth/auth_password.h"
#include "auth/auth_ratelimit.h"
#include "auth/auth_token.h"
#include "auth/auth_username.h"
#include "core/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http.h"
#include "http/http_form.h"
#include "http/http_json.h"
#include "http/http_router.h"
#include "oauth/oauth.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "web/web.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORM_MAX_PAIRS 64                         /* parameters in one form body */
#define DESCRIPTION_MAX 300                       /* bytes of an error_description we send */
#define USER_CODE_ALPHABET "BCDFGHJKLMNPQRSTVWXZ" /* RFC 8628 §6.1: no vowels */
#define USER_CODE_LEN 8
#define USER_CODE_TRIES 8            /* collisions before giving up */
#define DEVICE_SLOW_DOWN_MS 5000     /* RFC 8628 §3.5: +5 s per slow_down */
#define DEVICE_MAX_INTERVAL_MS 60000 /* never ask a device to wait longer than this */
#define REG_MAX_URIS 16              /* entries of redirect_uris and similar lists */
#define REG_MAX_STRING 2000          /* bytes of one registration string */
#define REG_MAX_WORDS 8              /* grant_types / response_types entries */
#define DISCOVERY_CACHE "public, max-age=300"
/* Mastodon apps never refresh (Mastodon's tokens do not expire), so theirs last as long
 * as a refresh token; revocation still ends one at once (the store is consulted). */
#define MASTO_ACCESS_TTL_MS OAUTH_REFRESH_TTL_MS

/* ---- answering ---- */

/* The token endpoint answers only once the tokens it hands out are committed: a grant
 * runs inside a store group (store.h, group commit), its answer is parked here, and it
 * is sent from the commit's callback (a 500 server_error instead if the commit failed),
 * and, for an id_token signed on the thread pool, once that is done too. */
struct token_reply {
    struct http_req *r;
    json_t *body;       /* the parked answer (NULL: none, or it could not be built) */
    int status;
    bool answered;      /* the grant produced its answer */
    int parts;          /* completions still awaited: the commit, a signature */
    int fail_rc;        /* first failure among them, or TD_OK */
    const char *fail_what;
};

/* The token request whose grant is running right now (loop thread only): send_json()
 * parks its answer instead of sending it. */
static struct token_reply *deferring;

static struct oauth *provider(struct http_req *r)
{
    return ((struct web_app *)r->app)->oauth;
}

static void no_store(struct http_req *r)
{
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_header(r, "Pragma", "no-cache");
}

/* Answer with the JSON value j (the reference is taken; NULL gives a 500). */
static void send_json(struct http_req *r, int status, json_t *j)
{
    char *s;

    if (deferring != NULL && deferring->r == r) {
        TD_ASSERT(!deferring->answered); /* one answer per request */
        deferring->answered = true;
        deferring->status = status;
        deferring->body = j;
        return;
    }
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        static const char fail[] = "{\"error\":\"server_error\"}";
        http_resp_send(r, 500, "application/json", fail, sizeof(fail) - 1);
        return;
    }
    http_resp_send(r, status, "application/json", s, strlen(s));
    free(s);
}

/* error_description must be %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2): other bytes in
 * text that may quote input become '?', and the length is capped. */
static const char *safe_description(struct arena *a, const char *text)
{
    size_t len = strnlen(text, DESCRIPTION_MAX);
    char *s = arena_strndup(a, text, len);

    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            s[i] = '?';
    return s;
}

/* An RFC 6749 §5.2 error body; description may be NULL. Errors are never cached. */
static void send_error(struct http_req *r, int status, const char *error, const char *description)
{
    json_t *j = json_pack("{s:s}", "error", error);

    if (description)
        json_object_set_new(j, "error_description",
                            json_string(safe_description(r->arena, description)));
    no_store(r);
    send_json(r, status, j);
}

static void server_error(struct http_req *r, const char *what, int rc)
{
    log_err("oauth.server_error", "req=%s what=%s err=%s", r->id_str, what, log_q(td_strerror(rc)));
    send_error(r, 500, "server_error", "the server could not complete the request");
}

/* One awaited completion of a token request is done (rc: its outcome); the last one
 * sends the parked answer. */
static void token_part_done(struct token_reply *tr, int rc, const char *what)
{
    TD_ASSERT(tr->parts > 0);
    if (rc != TD_OK && tr->fail_rc == TD_OK) {
        tr->fail_rc = rc;
        tr->fail_what = what;
    }
    if (--tr->parts > 0)
        return;
    if (tr->fail_rc != TD_OK || !tr->answered) {
        json_decref(tr->body);
        server_error(tr->r, tr->fail_what ? tr->fail_what : "no_answer",
                     tr->fail_rc != TD_OK ? tr->fail_rc : TD_EIO);
        return;
    }
    send_json(tr->r, tr->status, tr->body);
}

/* store_group_cb: the grant's writes are committed (or lost). */
static void token_committed(void *ud, int status)
{
    token_part_done(ud, status, "group_commit");
}

/* ---- reading requests ---- */

/* Parse the urlencoded body into form. RFC 6749 §3.2 (and RFC 7009 §2.1, RFC 7662 §2.1,
 * RFC 8628 §3.1): form bodies only, and no parameter may appear twice (§3.1, §3.2).
 * On failure answers 400 invalid_request and returns false. */
static bool read_form(struct http_req *r, struct http_kvlist *form)
{
    const char *ct = http_req_header(r, "Content-Type");
    int rc;

    if (!http_media_type_is(ct, "application/x-www-form-urlencoded")) {
        send_error(r, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
        return false;
    }
    rc = http_form_parse(r->arena, r->body, r->body_len, FORM_MAX_PAIRS, form);
    if (rc != TD_OK) {
        send_error(r, 400, "invalid_request",
                   rc == TD_ETOOBIG ? "too many parameters" : "the form body is malformed");
        return false;
    }
    for (size_t i = 0; i < form->len; i++)
        for (size_t j = i + 1; j < form->len; j++)
            if (strcmp(form->items[i].name, form->items[j].name) == 0) {
                send_error(r, 400, "invalid_request",
                           arena_printf(r->arena, "parameter %s appears more than once",
                                        form->items[i].name));
                return false;
            }
    return true;
}

/* A JSON object body into form: strings as they are, numbers as text; anything else
 * (or a non-object) answers 400 invalid_request and returns false. */
static bool json_to_form(struct http_req *r, struct http_kvlist *form)
{
    json_t *body = NULL;
    const char *why = NULL;
    const char *key;
    json_t *v;
    size_t i = 0;

    if (http_req_json(r, &body, &why) != TD_OK || !json_is_object(body) ||
        json_object_size(body) > FORM_MAX_PAIRS) {
        json_decref(body);
        send_error(r, 400, "invalid_request", "the JSON body must be an object of strings");
        return false;
    }
    form->len = json_object_size(body);
    form->items = arena_calloc(r->arena, (form->len ? form->len : 1) * sizeof(*form->items));
    json_object_foreach(body, key, v)
    {
        const char *text = json_is_string(v) ? json_string_value(v) : NULL;
        if (json_is_integer(v))
            text = arena_printf(r->arena, "%lld", (long long)json_integer_value(v));
        if (text == NULL || (json_is_string(v) && strlen(text) != json_string_length(v))) {
            json_decref(body);
            send_error(r, 400, "invalid_request", "the JSON body must be an object of strings");
            return false;
        }
        form->items[i].name = arena_strdup(r->arena, key);
        form->items[i].value = arena_strdup(r->arena, text);
        form->items[i].value_len = strlen(text);
        i++;
    }
    json_decref(body);
    return true;
}

/* The token and revocation endpoints' body. Mastodon accepts JSON there too and some of
 * its apps send it, so a JSON object is read as well (*json true): the caller accepts it
 * only from a Mastodon app, and keeps RFC 6749 §3.2 (form bodies only) for the rest. */
static bool read_params(struct http_req *r, struct http_kvlist *form, bool *json)
{
    *json = http_media_type_is(http_req_header(r, "Content-Type"), "application/json");
    return *json ? json_to_form(r, form) : read_form(r, form);
}

/* A JSON body from a client that is not a Mastodon app: answer as read_form() would. */
static bool json_refused(struct http_req *r, bool json, const struct oauth_client *c)
{
    if (!json || oauth_client_is_masto(c))
        return false;
    send_error(r, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
    return true;
}

/* A form value, NULL when absent or empty (RFC 6749 §3.1: empty means omitted). */
static const char *form_get(const struct http_kvlist *form, const char *name)
{
    const char *v = http_kv_get(form, name);
    return v && v[0] ? v : NULL;
}

static bool is_basic(const char *authorization)
{
    return authorization && strncasecmp(authorization, "Basic ", 6) == 0;
}

/* Client authentication (RFC 6749 §2.3.1) from the Authorization header or the form. On
 * success fills c (the caller clears it) and returns true; otherwise answers 401
 * invalid_client (with a Basic challenge when the header was used, §5.2) and returns
 * false, leaving c empty. */
static bool client_auth(struct http_req *r, const struct http_kvlist *form, struct oauth_client *c)
{
    const char *authz = http_req_header(r, "Authorization");
    const char *error = NULL;
    const char *why = NULL;
    int rc;

    rc = oauth_client_authenticate(provider(r), is_basic(authz) ? authz : NULL,
                                   http_kv_get(form, "client_id"),
                                   http_kv_get(form, "client_secret"), r->peer, c, &error, &why);
    if (rc == TD_OK)
        return true;
    if (rc != TD_EDENIED && rc != TD_ELIMIT) {
        server_error(r, "client_auth", rc);
        return false;
    }
    if (is_basic(authz))
        http_resp_header(r, "WWW-Authenticate", "Basic realm=\"tandem\"");
    send_error(r, 401, error ? error : "invalid_client",
               why ? why : "client authentication failed");
    return false;
}

/* TD_OK if account_id names an enabled account, TD_EDENIED if it is disabled or gone, or
 * the store's error. Fills *username (arena) when username is not NULL. */
static int account_active(struct http_req *r, int64_t account_id, const char **username)
{
    struct account a;
    int rc = store_account_get_by_id(provider(r)->store, account_id, &a);

    if (rc == TD_ENOTFOUND)
        return TD_EDENIED;
    if (rc != TD_OK)
        return rc;
    rc = a.disabled ? TD_EDENIED : TD_OK;
    if (username)
        *username = arena_strdup(r->arena, a.username ? a.username : "");
    store_account_clear(&a);
    return rc;
}

/* The scope the client asked for, checked against what it may have: NULL-or-empty gives
 * dflt; otherwise it must be known scopes within allowed (RFC 6749 §3.3). Returns the
 * normalized scope (arena), or NULL after answering 400 invalid_scope. */
static const char *requested_scope(struct http_req *r, const char *asked, const char *dflt,
                                   const char *allowed)
{
    if (asked == NULL)
        return oauth_scope_normalize(r->arena, dflt ? dflt : "");
    if (!oauth_scope_valid(asked) || !oauth_scope_subset(asked, allowed ? allowed : "")) {
        send_error(r, 400, "invalid_scope", "the scope is unknown or exceeds what is allowed");
        return NULL;
    }
    return oauth_scope_normalize(r->arena, asked);
}

/* ---- token endpoint (RFC 6749 §3.2) ---- */

/* Issue tokens and answer 200 with the §5.1 response. */
/* oauth_issue_cb: the id_token has been signed on the thread pool (or signing failed). */
static void token_signed(void *ud, int rc)
{
    token_part_done(ud, rc, "id_token");
}

/* Token responses per grant type, for /metrics. They replace an info line per token:
 * at tens of thousands of tokens a second one write() each cost more than the insert
 * (the line is still there at debug level; refusals and reuse keep their own lines). */
static const char *const issued_grants[] = {OAUTH_GRANT_CODE, OAUTH_GRANT_REFRESH,
                                            OAUTH_GRANT_CLIENT_CREDENTIALS, OAUTH_GRANT_DEVICE,
                                            OAUTH_GRANT_PASSWORD};
static double issued_count[sizeof(issued_grants) / sizeof(issued_grants[0])];

static double issued_read(void *ud)
{
    return *(const double *)ud;
}

static void count_issued(const char *grant)
{
    for (size_t i = 0; i < sizeof(issued_grants) / sizeof(issued_grants[0]); i++)
        if (strcmp(issued_grants[i], grant) == 0)
            issued_count[i] += 1;
}

/* Runs only inside run_grant(): the answer is parked until the commit and the id_token's
 * signature are done. */
static void issue(struct http_req *r, const char *grant, const struct oauth_issue *is)
{
    struct token_reply *tr = deferring;
    json_t *resp = NULL;
    bool signing = false;
    int rc;

    TD_ASSERT(tr != NULL && tr->r == r);
    struct oauth_issue own = *is;
    if (own.access_ttl_ms == 0 && oauth_client_is_masto(is->client))
        own.access_ttl_ms = MASTO_ACCESS_TTL_MS;
    rc = oauth_issue_async(provider(r), &own, &resp, &signing, token_signed, tr);
    if (signing)
        tr->parts++;
    if (rc != TD_OK) {
        server_error(r, "oauth_issue", rc);
        return;
    }
    if (oauth_client_is_masto(is->client)) /* Mastodon's token response has it */
        json_object_set_new(resp, "created_at", json_integer(store_now_ms() / 1000));
    count_issued(grant);
    if (log_enabled(LOG_DEBUG))
        log_debug("oauth.token", "req=%s client=%s grant=%s account=%lld scope=%s refresh=%d",
                  r->id_str, log_q(is->client->client_id), grant, (long long)is->account_id,
                  log_q(is->scope), is->refresh ? 1 : 0);
    no_store(r);
    send_json(r, 200, resp);
}

/* Why a redeemed code cannot be used by this request, or NULL if it can. */
static const char *code_problem(const struct oauth_code *oc, const struct oauth_client *c,
                                const char *redirect_uri, const char *verifier, int64_t now)
{
    if (oc->client_id == NULL || strcmp(oc->client_id, c->client_id) != 0)
        return "the code was issued to another client";
    if (oc->expires_at <= now)
        return "the code has expired";
    /* §4.1.3: the redirect_uri of the authorization request, identical. */
    if (oc->redirect_uri && (redirect_uri == NULL || strcmp(oc->redirect_uri, redirect_uri) != 0))
        return "redirect_uri does not match the authorization request";
    if (oc->code_challenge) {
        if (verifier == NULL)
            return "code_verifier is missing";
        if (!oauth_pkce_ok(verifier, oc->code_challenge))
            return "code_verifier does not match the code_challenge";
    } else if (verifier) {
        return "code_verifier sent, but the authorization request had no code_challenge";
    }
    return NULL;
}

static void grant_code(struct http_req *r, const struct http_kvlist *form,
                       const struct oauth_client *c)
{
    struct oauth *o = provider(r);
    const char *code = form_get(form, "code");
    const char *bad = NULL;
    int64_t now = store_now_ms();
    struct oauth_code oc;
    uint8_t h[32];
    int rc;

    memset(&oc, 0, sizeof(oc));
    if (code == NULL) {
        send_error(r, 400, "invalid_request", "code is missing");
        return;
    }
    oauth_hash(code, h);
    rc = store_oauth_code_consume(o->store, h, now, &oc);
    if (rc == TD_EEXIST) {
        /* §4.1.2: a code used twice revokes every token issued from it. */
        int64_t n = 0;
        store_oauth_grant_revoke(o->store, oc.grant_id, &n);
        log_warn("oauth.code_reuse", "req=%s client=%s grant_id=%lld revoked=%lld", r->id_str,
                 log_q(c->client_id), (long long)oc.grant_id, (long long)n);
        bad = "the code has already been used";
    } else if (rc == TD_ENOTFOUND) {
        bad = "the code is unknown";
    } else if (rc != TD_OK) {
        server_error(r, "code_consume", rc);
        goto out;
    } else {
        bad = code_problem(&oc, c, form_get(form, "redirect_uri"), form_get(form, "code_verifier"),
                           now);
    }
    if (bad == NULL) {
        rc = account_active(r, oc.account_id, NULL);
        if (rc != TD_OK && rc != TD_EDENIED) {
            server_error(r, "account", rc);
            goto out;
        }
        if (rc == TD_EDENIED)
            bad = "the account is disabled";
    }
    if (bad) {
        send_error(r, 400, "invalid_grant", bad);
        goto out;
    }
    struct oauth_issue is = {
        .client = c,
        .account_id = oc.account_id,
        .scope = oc.scope ? oc.scope : "",
        .grant_id = oc.grant_id,
        .auth_time = oc.auth_time,
        .nonce = oc.nonce,
        .acr = oc.acr,
        .amr = oc.amr,
        /* Refresh tokens go to every client registered for the refresh_token grant;
         * offline_access is not required (it only widens what consent says). */
        .refresh = oauth_client_has_grant(c, OAUTH_GRANT_REFRESH),
        .id_token = oauth_scope_has(oc.scope, "openid"),
    };
    issue(r, OAUTH_GRANT_CODE, &is);
out:
    store_oauth_code_clear(&oc);
}

/* Why a stored refresh token cannot be redeemed by this client, or NULL if it can. */
static const char *refresh_problem(const struct oauth_token *t, const struct oauth_client *c,
                                   int64_t now)
{
    if (t->kind != OAUTH_TOKEN_REFRESH)
        return "that is not a refresh token";
    if (t->client_id == NULL || strcmp(t->client_id, c->client_id) != 0)
        return "the refresh token was issued to another client";
    if (t->revoked)
        return "the refresh token has been revoked";
    if (t->expires_at <= now)
        return "the refresh token has expired";
    return NULL;
}

/* A refresh token came back after rotation (RFC 9700 §4.14.2): someone holds a copy, so
 * the whole family goes. */
static void refresh_reuse(struct http_req *r, const struct oauth_token *t)
{
    int64_t n = 0;

    store_oauth_grant_revoke(provider(r)->store, t->grant_id, &n);
    log_warn("oauth.refresh_reuse", "req=%s client=%s grant_id=%lld revoked=%lld", r->id_str,
             log_q(t->client_id), (long long)t->grant_id, (long long)n);
    send_error(r, 400, "invalid_grant", "the refresh token has already been used");
}

static void grant_refresh(struct http_req *r, const struct http_kvlist *form,
                          const struct oauth_client *c)
{
    struct oauth *o = provider(r);
    const char *token = form_get(form, "refresh_token");
    const char *scope;
    const char *bad;
    int64_t now = store_now_ms();
    struct oauth_token t;
    uint8_t h[32];
    int64_t id = 0;
    int rc;

    memset(&t, 0, sizeof(t));
    if (token == NULL) {
        send_error(r, 400, "invalid_request", "refresh_token is missing");
        return;
    }
    rc = oauth_token_parse(token, &id, h);
    if (rc == TD_OK)
        rc = store_oauth_token_get(o->store, id, h, &t);
    if (rc == TD_ENOTFOUND || rc == TD_EINVAL) {
        send_error(r, 400, "invalid_grant", "the refresh token is unknown");
        goto out;
    }
    if (rc != TD_OK) {
        server_error(r, "token_get", rc);
        goto out;
    }
    bad = refresh_problem(&t, c, now);
    if (bad) {
        send_error(r, 400, "invalid_grant", bad);
        goto out;
    }
    if (t.used) {
        refresh_reuse(r, &t);
        goto out;
    }
    /* §6: a narrower scope is allowed, a wider one is not. */
    scope = requested_scope(r, form_get(form, "scope"), t.scope, t.scope);
    if (scope == NULL)
        goto out;
    if (t.account_id) {
        rc = account_active(r, t.account_id, NULL);
        if (rc == TD_EDENIED) {
            send_error(r, 400, "invalid_grant", "the account is disabled");
            goto out;
        }
        if (rc != TD_OK) {
            server_error(r, "account", rc);
            goto out;
        }
    }
    rc = store_oauth_token_mark_used(o->store, id, h);
    if (rc == TD_EEXIST) {
        refresh_reuse(r, &t); /* lost a race with another redemption */
        goto out;
    }
    if (rc != TD_OK) {
        server_error(r, "token_mark_used", rc);
        goto out;
    }
    struct oauth_issue is = {
        .client = c,
        .account_id = t.account_id,
        .scope = scope,
        .refresh_scope = t.scope, /* RFC 6749 §6: the refresh token keeps its scope */
        .grant_id = t.grant_id,
        .auth_time = t.auth_time,
        .refresh = true,
        .id_token = t.account_id != 0 && oauth_scope_has(scope, "openid"),
    };
    issue(r, OAUTH_GRANT_REFRESH, &is);
out:
    store_oauth_token_clear(&t);
}

/* The client's scope without the scopes that only make sense for a user. */
static const char *machine_scope(struct arena *a, const char *scope)
{
    struct buf b;
    const char *out;

    buf_init(&b, 0);
    for (size_t i = 0; i < oauth_scope_count; i++) {
        const char *name = oauth_scope_table[i].name;
        if (!oauth_scope_has(scope, name) || strcmp(name, "openid") == 0 ||
            strcmp(name, "offline_access") == 0)
            continue;
        if (b.len)
            buf_putc(&b, ' ');
        buf_appends(&b, name);
    }
    out = arena_strdup(a, b.data ? b.data : "");
    buf_free(&b);
    return out;
}

/* §4.4: confidential clients acting for themselves; no refresh token (§4.4.3), no
 * id_token (there is no user). */
static void grant_client_credentials(struct http_req *r, const struct http_kvlist *form,
                                     const struct oauth_client *c)
{
    const char *asked = form_get(form, "scope");
    const char *scope;

    if (!c->has_secret) {
        send_error(r, 400, "unauthorized_client",
                   "public clients cannot use the client_credentials grant");
        return;
    }
    if (asked && (oauth_scope_has(asked, "openid") || oauth_scope_has(asked, "offline_access"))) {
        send_error(r, 400, "invalid_scope",
                   "openid and offline_access need a user; client_credentials has none");
        return;
    }
    scope = requested_scope(r, asked, machine_scope(r->arena, c->scope), c->scope);
    if (scope == NULL)
        return;
    struct oauth_issue is = {.client = c, .scope = scope};
    issue(r, OAUTH_GRANT_CLIENT_CREDENTIALS, &is);
}

/* RFC 8628 §3.5: a pending code. Polling faster than the interval earns slow_down and a
 * longer interval; otherwise authorization_pending. */
static void device_pending(struct http_req *r, const struct oauth_device *d, const uint8_t h[32],
                           int64_t now)
{
    bool slow = d->last_poll_at != 0 && now - d->last_poll_at < d->interval_ms;
    int64_t interval = d->interval_ms;
    int64_t previous = 0;
    int rc;

    if (slow) {
        interval += DEVICE_SLOW_DOWN_MS;
        if (interval > DEVICE_MAX_INTERVAL_MS)
            interval = DEVICE_MAX_INTERVAL_MS;
    }
    rc = store_oauth_device_poll(provider(r)->store, h, now, interval, &previous);
    if (rc != TD_OK) {
        server_error(r, "device_poll", rc);
        return;
    }
    if (slow)
        send_error(r, 400, "slow_down",
                   arena_printf(r->arena, "poll at most every %lld seconds",
                                (long long)(interval / 1000)));
    else
        send_error(r, 400, "authorization_pending", "the user has not decided yet");
}

/* RFC 8628 §3.5: the user approved; the code is spent and tokens issued. */
static void device_approved(struct http_req *r, const struct oauth_device *d, const uint8_t h[32],
                            const struct oauth_client *c)
{
    int rc = store_oauth_device_mark_used(provider(r)->store, h);

    if (rc == TD_ENOTFOUND) {
        send_error(r, 400, "invalid_grant", "the device code has already been used");
        return;
    }
    if (rc == TD_OK)
        rc = account_active(r, d->account_id, NULL);
    if (rc == TD_EDENIED) {
        send_error(r, 400, "invalid_grant", "the account is disabled");
        return;
    }
    if (rc != TD_OK) {
        server_error(r, "device_approved", rc);
        return;
    }
    struct oauth_issue is = {
        .client = c,
        .account_id = d->account_id,
        .scope = d->scope ? d->scope : "",
        .auth_time = d->auth_time,
        .refresh = oauth_client_has_grant(c, OAUTH_GRANT_REFRESH),
        .id_token = oauth_scope_has(d->scope, "openid"),
    };
    issue(r, OAUTH_GRANT_DEVICE, &is);
}

static void grant_device(struct http_req *r, const struct http_kvlist *form,
                         const struct oauth_client *c)
{
    const char *code = form_get(form, "device_code");
    int64_t now = store_now_ms();
    struct oauth_device d;
    uint8_t h[32];
    int rc;

    memset(&d, 0, sizeof(d));
    if (code == NULL) {
        send_error(r, 400, "invalid_request", "device_code is missing");
        return;
    }
    auth_token_hash(code, strlen(code), h); /* device codes come from auth_token_new */
    rc = store_oauth_device_get(provider(r)->store, h, &d);
    if (rc == TD_ENOTFOUND ||
        (rc == TD_OK && (d.client_id == NULL || strcmp(d.client_id, c->client_id) != 0))) {
        send_error(r, 400, "invalid_grant", "the device code is unknown");
        goto out;
    }
    if (rc != TD_OK) {
        server_error(r, "device_get", rc);
        goto out;
    }
    if (d.status == OAUTH_DEVICE_USED)
        send_error(r, 400, "invalid_grant", "the device code has already been used");
    else if (d.expires_at <= now)
        send_error(r, 400, "expired_token", "the device code has expired; start again");
    else if (d.status == OAUTH_DEVICE_DENIED)
        send_error(r, 400, "access_denied", "the user denied the request");
    else if (d.status == OAUTH_DEVICE_APPROVED)
        device_approved(r, &d, h, c);
    else
        device_pending(r, &d, h, now);
out:
    store_oauth_device_clear(&d);
}

typedef void grant_fn(struct http_req *r, const struct http_kvlist *form,
                      const struct oauth_client *c);
static void run_grant(struct http_req *r, grant_fn *fn, const struct http_kvlist *form,
                      const struct oauth_client *c);

/* ---- password grant (RFC 6749 §4.3), for Mastodon apps only ----
 * RFC 9700 §2.4 forbids it: the app sees the password. It is offered only when
 * microblog.password_grant is on, only to clients registered through /api/v1/apps, and
 * the password is checked as the web log-in checks it: argon2id on the thread pool,
 * with the log-in's failure limits per account and per address. */

struct password_job {
    struct http_req *r;
    const struct http_kvlist *form;
    const char *client_id;
    const char *scope;
    const char *username;
    int64_t account_id;
    bool found;
    bool disabled;
    const char *ukey; /* the web log-in's rate-limit keys */
    const char *akey;
};

/* The job whose tokens are being issued (loop thread only, inside run_grant()). */
static struct password_job *password_issuing;

static void grant_password_issue(struct http_req *r, const struct http_kvlist *form,
                                 const struct oauth_client *c)
{
    struct password_job *job = password_issuing;
    (void)form;

    struct oauth_issue is = {
        .client = c,
        .account_id = job->account_id,
        .scope = job->scope,
        .auth_time = store_now_ms(),
        .amr = "pwd",
        .refresh = oauth_client_has_grant(c, OAUTH_GRANT_REFRESH),
        .id_token = oauth_scope_has(job->scope, "openid"),
    };
    issue(r, OAUTH_GRANT_PASSWORD, &is);
}

static void password_checked(void *ud, bool ok, const char *hash_unused)
{
    struct password_job *job = ud;
    struct http_req *r = job->r;
    struct web_app *app = r->app;
    struct oauth_client c;
    int64_t now = store_now_ms();
    (void)hash_unused;

    if (!ok || !job->found || job->disabled) {
        auth_ratelimit_hit(app->rl_account, job->ukey, now);
        auth_ratelimit_hit(app->rl_address, job->akey, now);
        log_warn("oauth.password_failed", "req=%s client=%s user=%s peer=%s", r->id_str,
                 log_q(job->client_id), log_q(job->username), r->peer);
        send_error(r, 400, "invalid_grant", "wrong username or password");
        return;
    }
    auth_ratelimit_reset(app->rl_account, job->ukey);
    if (http_req_is_orphan(r)) { /* nobody to hand tokens to; the answer frees r */
        send_error(r, 400, "invalid_request", "the client went away");
        return;
    }
    memset(&c, 0, sizeof(c));
    if (store_oauth_client_get(provider(r)->store, job->client_id, &c) != TD_OK) {
        send_error(r, 400, "invalid_client", "the client is gone");
        return;
    }
    password_issuing = job;
    run_grant(r, grant_password_issue, job->form, &c);
    password_issuing = NULL;
    store_oauth_client_clear(&c);
}

/* Answer 429 and return true when the account or the address has failed too often. */
static bool password_throttled(struct http_req *r, const struct password_job *job)
{
    struct web_app *app = r->app;
    int64_t now = store_now_ms();
    int64_t wait_u = 0;
    int64_t wait_a = 0;
    char retry[24];

    bool by_account = auth_ratelimit_check(app->rl_account, job->ukey, now, &wait_u) != TD_OK;
    bool by_address = auth_ratelimit_check(app->rl_address, job->akey, now, &wait_a) != TD_OK;
    if (!by_account && !by_address)
        return false;
    snprintf(retry, sizeof(retry), "%lld",
             (long long)(((wait_u > wait_a ? wait_u : wait_a) + 999) / 1000));
    http_resp_header(r, "Retry-After", retry);
    log_warn("oauth.password_throttled", "req=%s user=%s peer=%s by=%s", r->id_str,
             log_q(job->username), r->peer, by_account ? "account" : "address");
    send_error(r, 429, "invalid_grant", "too many failed log-in attempts; try again later");
    return true;
}

/* Check the request, then the password off the loop; tokens follow in password_checked. */
static void grant_password(struct http_req *r, const struct http_kvlist *form,
                           const struct oauth_client *c)
{
    struct web_app *app = r->app;
    struct password_job *job = arena_calloc(r->arena, sizeof(*job));
    const char *pw = form_get(form, "password");
    char lc[AUTH_USERNAME_MAX + 1];
    struct account a;
    int rc;

    job->r = r;
    job->form = form;
    job->username = form_get(form, "username");
    if (job->username == NULL || pw == NULL) {
        send_error(r, 400, "invalid_request", "username and password are needed");
        return;
    }
    /* Mastodon logs in by e-mail address; apps (toot) ask for one. The site's own
     * address, name@domain, stands for the name. */
    const char *at = strrchr(job->username, '@');
    if (at && at > job->username && strcasecmp(at + 1, app->conf->domain) == 0)
        job->username = arena_strndup(r->arena, job->username, (size_t)(at - job->username));
    job->scope = requested_scope(r, form_get(form, "scope"),
                                 oauth_scope_has(c->scope, "read") ? "read" : c->scope, c->scope);
    if (job->scope == NULL)
        return;
    job->client_id = arena_strdup(r->arena, c->client_id);
    if (strlen(job->username) <= AUTH_USERNAME_MAX)
        auth_username_lower(job->username, lc);
    else
        snprintf(lc, sizeof(lc), "%s", "~toolong");
    job->ukey = arena_printf(r->arena, "u:%s", lc);
    job->akey = arena_printf(r->arena, "a:%s", r->peer);
    if (password_throttled(r, job))
        return;
    if (strlen(pw) > AUTH_PASSWORD_MAX) {
        send_error(r, 400, "invalid_grant", "wrong username or password");
        return;
    }
    rc = store_account_get_by_name(app->store, job->username, &a);
    if (rc == TD_OK && a.password_hash) {
        job->found = true;
        job->account_id = a.id;
        job->disabled = a.disabled;
        rc = auth_password_verify_async(app->loop, a.password_hash, pw, strlen(pw),
                                        password_checked, job);
        store_account_clear(&a);
    } else {
        if (rc == TD_OK)
            store_account_clear(&a);
        /* The same work for an unknown name, so that timing tells nothing. */
        rc = auth_password_dummy_async(app->loop, pw, strlen(pw), password_checked, job);
    }
    if (rc != TD_OK)
        server_error(r, "password_verify", rc);
}

static const struct {
    const char *name;
    grant_fn *fn;
} grants[] = {
    {OAUTH_GRANT_CODE, grant_code},
    {OAUTH_GRANT_REFRESH, grant_refresh},
    {OAUTH_GRANT_CLIENT_CREDENTIALS, grant_client_credentials},
    {OAUTH_GRANT_DEVICE, grant_device},
};

/* Run a grant inside a store group; its answer goes out after the commit. */
static void run_grant(struct http_req *r, grant_fn *fn, const struct http_kvlist *form,
                      const struct oauth_client *c)
{
    struct store *st = provider(r)->store;
    struct token_reply *tr;
    int rc;

    rc = store_group_begin(st);
    if (rc != TD_OK) {
        server_error(r, "group_begin", rc);
        return;
    }
    tr = arena_calloc(r->arena, sizeof(*tr));
    tr->r = r;
    tr->parts = 1; /* the commit */
    deferring = tr;
    fn(r, form, c);
    deferring = NULL;
    store_group_end(st, token_committed, tr);
}

static void handle_token(struct http_req *r)
{
    struct http_kvlist form;
    struct oauth_client c;
    const char *grant;
    grant_fn *fn = NULL;
    bool json = false;

    memset(&c, 0, sizeof(c));
    if (!read_params(r, &form, &json) || !client_auth(r, &form, &c))
        return;
    if (json_refused(r, json, &c)) {
        store_oauth_client_clear(&c);
        return;
    }
    grant = form_get(&form, "grant_type");
    for (size_t i = 0; grant && i < sizeof(grants) / sizeof(grants[0]); i++)
        if (strcmp(grant, grants[i].name) == 0)
            fn = grants[i].fn;
    if (grant && strcmp(grant, OAUTH_GRANT_PASSWORD) == 0 &&
        ((struct web_app *)r->app)->conf->mb_password_grant)
        fn = grant_password;
    if (grant == NULL)
        send_error(r, 400, "invalid_request", "grant_type is missing");
    else if (fn == NULL)
        send_error(r, 400, "unsupported_grant_type", "that grant type is not supported");
    else if (!oauth_client_has_grant(&c, grant))
        send_error(r, 400, "unauthorized_client",
                   "the client is not registered for that grant type");
    else if (fn == grant_password)
        grant_password(r, &form, &c); /* runs its grant once the password is checked */
    else
        run_grant(r, fn, &form, &c);
    store_oauth_client_clear(&c);
}

/* ---- device authorization endpoint (RFC 8628 §3.1-3.2) ---- */

/* A user code: 8 letters from a 20-letter alphabet without vowels (RFC 8628 §6.1: about
 * 34.5 bits; guessing is limited by the verification page's rate limit and the 10
 * minute lifetime). */
static void user_code_new(char out[USER_CODE_LEN + 1])
{
    for (size_t i = 0; i < USER_CODE_LEN; i++)
        out[i] = USER_CODE_ALPHABET[randombytes_uniform(sizeof(USER_CODE_ALPHABET) - 1)];
    out[USER_CODE_LEN] = '\0';
}

static void handle_device_authorization(struct http_req *r)
{
    struct oauth *o = provider(r);
    struct http_kvlist form;
    struct oauth_client c;
    struct oauth_device d;
    char device_code[AUTH_TOKEN_LEN + 1];
    char user_code[USER_CODE_LEN + 1];
    const char *shown;
    int rc = TD_EEXIST;

    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    if (!read_form(r, &form) || !client_auth(r, &form, &c))
        return;
    if (!oauth_client_has_grant(&c, OAUTH_GRANT_DEVICE)) {
        send_error(r, 400, "unauthorized_client",
                   "the client is not registered for the device_code grant");
        goto out;
    }
    d.scope = (char *)requested_scope(r, form_get(&form, "scope"), c.scope, c.scope);
    if (d.scope == NULL)
        goto out;
    auth_token_new(device_code, d.device_code_hash);
    d.client_id = c.client_id;
    d.expires_at = store_now_ms() + OAUTH_DEVICE_TTL_MS;
    d.interval_ms = OAUTH_DEVICE_INTERVAL_MS;
    d.status = OAUTH_DEVICE_PENDING;
    d.user_code = user_code;
    for (int i = 0; i < USER_CODE_TRIES && rc == TD_EEXIST; i++) {
        user_code_new(user_code);
        rc = store_oauth_device_create(o->store, &d);
    }
    if (rc != TD_OK) {
        server_error(r, "device_create", rc);
        goto out;
    }
    /* Shown as XXXX-XXXX for people; stored without the dash. */
    shown = arena_printf(r->arena, "%.4s-%.4s", user_code, user_code + 4);
    log_info("oauth.device_authorization", "req=%s client=%s scope=%s", r->id_str,
             log_q(c.client_id), log_q(d.scope));
    no_store(r);
    send_json(r, 200,
              json_pack("{s:s, s:s, s:s+, s:s++, s:I, s:I}", "device_code", device_code,
                        "user_code", shown, "verification_uri", o->issuer, "/device",
                        "verification_uri_complete", o->issuer, "/device?user_code=", shown,
                        "expires_in", (json_int_t)(OAUTH_DEVICE_TTL_MS / 1000), "interval",
                        (json_int_t)(OAUTH_DEVICE_INTERVAL_MS / 1000)));
out:
    store_oauth_client_clear(&c);
}

/* ---- revocation endpoint (RFC 7009) ---- */

/* §2.1: a client revokes its own tokens; a refresh token takes its whole grant (the access
 * tokens issued with it) along. Unknown tokens and other clients' tokens are answered 200
 * as well (§2.2), so the endpoint tells nothing about tokens that are not the caller's. */
static void handle_revoke(struct http_req *r)
{
    struct oauth *o = provider(r);
    struct http_kvlist form;
    struct oauth_client c;
    struct oauth_token t;
    const char *token;
    uint8_t h[32];
    int64_t id = 0;
    bool json = false;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&t, 0, sizeof(t));
    if (!read_params(r, &form, &json) || !client_auth(r, &form, &c))
        return;
    if (json_refused(r, json, &c))
        goto out;
    token = form_get(&form, "token");
    if (token == NULL) {
        send_error(r, 400, "invalid_request", "token is missing");
        goto out;
    }
    /* token_type_hint is only a hint (§2.1): one lookup finds either kind; a string that
     * is no token of ours is unknown, which §2.2 answers with 200 as well. */
    rc = oauth_token_parse(token, &id, h);
    if (rc == TD_OK)
        rc = store_oauth_token_get(o->store, id, h, &t);
    else
        rc = TD_ENOTFOUND;
    if (rc == TD_OK && t.client_id && strcmp(t.client_id, c.client_id) == 0) {
        if (t.kind == OAUTH_TOKEN_REFRESH)
            rc = store_oauth_grant_revoke(o->store, t.grant_id, NULL);
        else
            rc = store_oauth_token_revoke(o->store, id, h);
        log_info("oauth.revoke", "req=%s client=%s kind=%d grant_id=%lld", r->id_str,
                 log_q(c.client_id), t.kind, (long long)t.grant_id);
    } else if (rc == TD_OK) {
        log_warn("oauth.revoke_foreign", "req=%s client=%s", r->id_str, log_q(c.client_id));
    } else if (rc == TD_ENOTFOUND) {
        rc = TD_OK;
    }
    if (rc != TD_OK) {
        server_error(r, "revoke", rc);
        goto out;
    }
    no_store(r);
    /* RFC 7009 §2.2: the body is ignored; but Mastodon answers {} and its apps
     * (Mastodon.py) parse it. */
    if (oauth_client_is_masto(&c))
        http_resp_send(r, 200, "application/json", "{}", 2);
    else
        http_resp_send(r, 200, NULL, "", 0);
out:
    store_oauth_token_clear(&t);
    store_oauth_client_clear(&c);
}

/* ---- introspection endpoint (RFC 7662) ---- */

/* The §2.2 response for t: active with its metadata, or {"active":false} when t is
 * revoked, rotated away, expired or its account is disabled. */
static json_t *introspection(struct http_req *r, const struct oauth_token *t, int64_t now)
{
    struct oauth *o = provider(r);
    const char *username = NULL;
    char sub[24];
    json_t *j;

    if (t->revoked || t->used || t->expires_at <= now)
        return json_pack("{s:b}", "active", 0);
    if (t->account_id && account_active(r, t->account_id, &username) != TD_OK)
        return json_pack("{s:b}", "active", 0);
    j = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "active", 1, "scope",
                  t->scope ? t->scope : "", "client_id", t->client_id, "token_type",
                  t->kind == OAUTH_TOKEN_REFRESH ? "refresh_token" : "Bearer", "exp",
                  (json_int_t)(t->expires_at / 1000), "iat", (json_int_t)(t->created_at / 1000),
                  "iss", o->issuer, "aud", t->client_id);
    if (j && t->account_id) {
        oauth_subject(t->account_id, sub);
        json_object_set_new(j, "sub", json_string(sub));
        json_object_set_new(j, "username", json_string(username));
    }
    return j;
}

/* Only confidential clients (resource servers) may introspect (§2.1: the endpoint must be
 * protected); they may ask about any token, as a resource server must. */
static void handle_introspect(struct http_req *r)
{
    struct http_kvlist form;
    struct oauth_client c;
    struct oauth_token t;
    const char *token;
    uint8_t h[32];
    int64_t id = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&t, 0, sizeof(t));
    if (!read_form(r, &form) || !client_auth(r, &form, &c))
        return;
    if (!c.has_secret) {
        send_error(r, 401, "invalid_client", "public clients cannot use introspection");
        goto out;
    }
    token = form_get(&form, "token");
    if (token == NULL) {
        send_error(r, 400, "invalid_request", "token is missing");
        goto out;
    }
    rc = oauth_token_parse(token, &id, h);
    if (rc == TD_OK)
        rc = store_oauth_token_get(provider(r)->store, id, h, &t);
    else
        rc = TD_ENOTFOUND;
    if (rc != TD_OK && rc != TD_ENOTFOUND) {
        server_error(r, "introspect", rc);
        goto out;
    }
    no_store(r);
    send_json(r, 200,
              rc == TD_OK ? introspection(r, &t, store_now_ms()) : json_pack("{s:b}", "active", 0));
out:
    store_oauth_token_clear(&t);
    store_oauth_client_clear(&c);
}

/* ---- userinfo endpoint (OIDC Core §5.3, RFC 6750) ---- */

/* An RFC 6750 §3 answer: status, the Bearer challenge (error may be NULL: §3.1 says no
 * error code when the request had no credentials) and a JSON body for humans. */
static void bearer_error(struct http_req *r, int status, const char *error, const char *extra)
{
    const char *challenge = "Bearer realm=\"tandem\"";

    if (error)
        challenge = arena_printf(r->arena, "Bearer realm=\"tandem\", error=\"%s\"%s", error,
                                 extra ? extra : "");
    http_resp_header(r, "WWW-Authenticate", challenge);
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "Access-Control-Expose-Headers", "WWW-Authenticate");
    if (error == NULL) {
        no_store(r);
        http_resp_send(r, status, NULL, "", 0);
        return;
    }
    send_error(r, status, error, NULL);
}

/* The access token from the Authorization header (§2.1) or, for a POSTed form, the
 * access_token field (§2.2). Returns true with *token (NULL if none was sent), or false
 * after answering 400 when the request is malformed or uses both methods. */
static bool bearer_token(struct http_req *r, const char **token)
{
    const char *authz = http_req_header(r, "Authorization");
    const char *ct = http_req_header(r, "Content-Type");
    struct http_kvlist form;

    *token = NULL;
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        *token = authz + 7;
        while (**token == ' ')
            (*token)++;
    }
    if (strcmp(r->method, "POST") == 0 &&
        http_media_type_is(ct, "application/x-www-form-urlencoded")) {
        const char *field;
        if (http_form_parse(r->arena, r->body, r->body_len, FORM_MAX_PAIRS, &form) != TD_OK) {
            bearer_error(r, 400, "invalid_request", NULL);
            return false;
        }
        field = form_get(&form, "access_token");
        if (field && *token) { /* §2: one method per request */
            bearer_error(r, 400, "invalid_request", NULL);
            return false;
        }
        if (field)
            *token = field;
    }
    if (*token && **token == '\0')
        *token = NULL;
    return true;
}

bool api_bearer(struct http_req *r, const char *scope, struct oauth_token *out)
{
    struct oauth *o = provider(r);
    const char *token;
    const char *p;

    memset(out, 0, sizeof(*out));
    if (!bearer_token(r, &token))
        return false;
    if (token == NULL) {
        bearer_error(r, 401, NULL, NULL);
        return false;
    }
    if (oauth_access_token_check(o, token, store_now_ms(), out) != TD_OK) {
        bearer_error(r, 401, "invalid_token",
                     ", error_description=\"the access token is invalid, expired or revoked\"");
        return false;
    }
    /* Every scope asked for must have been granted (RFC 6750 §3.1 insufficient_scope). */
    p = scope ? scope : "";
    while (*p) {
        char one[64];
        size_t n = strcspn(p, " ");
        if (n > 0 && n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (!oauth_scope_has(out->scope, one)) {
                bearer_error(r, 403, "insufficient_scope",
                             arena_printf(r->arena, ", scope=\"%s\"", scope));
                store_oauth_token_clear(out);
                return false;
            }
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return true;
}

static void handle_userinfo(struct http_req *r)
{
    struct oauth *o = provider(r);
    struct oauth_token t;
    struct account a;
    int rc;

    memset(&a, 0, sizeof(a));
    if (!api_bearer(r, "openid", &t))
        return;
    if (t.account_id == 0) {
        bearer_error(r, 403, "insufficient_scope", ", scope=\"openid\"");
        goto out;
    }
    rc = store_account_get_by_id(o->store, t.account_id, &a);
    if (rc == TD_ENOTFOUND) {
        bearer_error(r, 401, "invalid_token", NULL);
        goto out;
    }
    if (rc != TD_OK) {
        server_error(r, "userinfo", rc);
        goto out;
    }
    no_store(r);
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    send_json(r, 200, oauth_claims(o, &a, t.scope));
out:
    store_account_clear(&a);
    store_oauth_token_clear(&t);
}

/* ---- discovery (RFC 8414 §2, OIDC Discovery §3) and JWKS ---- */

static json_t *string_array(const char *const *items, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

#define STRINGS(...)                                                                               \
    string_array((const char *const[]){__VA_ARGS__},                                               \
                 sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static json_t *discovery_document(struct oauth *o)
{
    const char *is = o->issuer;
    json_t *scopes = json_array();
    json_t *d;

    for (size_t i = 0; i < oauth_scope_count; i++)
        json_array_append_new(scopes, json_string(oauth_scope_table[i].name));
    d = json_pack("{s:s, s:s+, s:s+, s:s+, s:s+, s:s+, s:s+, s:s+, s:s+}", "issuer", is,
                  "authorization_endpoint", is, "/oauth/authorize", "token_endpoint", is,
                  "/oauth/token", "userinfo_endpoint", is, "/oauth/userinfo", "jwks_uri", is,
                  "/oauth/jwks", "revocation_endpoint", is, "/oauth/revoke",
                  "introspection_endpoint", is, "/oauth/introspect",
                  "device_authorization_endpoint", is, "/oauth/device_authorization",
                  "end_session_endpoint", is, "/oauth/logout");
    if (d == NULL) {
        json_decref(scopes);
        return NULL;
    }
    if (o->registration != OAUTH_REG_OFF)
        json_object_set_new(d, "registration_endpoint", json_sprintf("%s/oauth/register", is));
    json_object_set_new(d, "scopes_supported", scopes);
    json_object_set_new(d, "response_types_supported", STRINGS("code"));
    json_object_set_new(d, "response_modes_supported", STRINGS("query"));
    json_object_set_new(d, "grant_types_supported",
                        STRINGS(OAUTH_GRANT_CODE, OAUTH_GRANT_REFRESH,
                                OAUTH_GRANT_CLIENT_CREDENTIALS, OAUTH_GRANT_DEVICE));
    json_object_set_new(d, "subject_types_supported", STRINGS("public"));
    json_object_set_new(d, "id_token_signing_alg_values_supported",
                        STRINGS("RS256", "ES256", "EdDSA"));
    json_object_set_new(d, "token_endpoint_auth_methods_supported",
                        STRINGS("client_secret_basic", "client_secret_post", "none"));
    json_object_set_new(d, "revocation_endpoint_auth_methods_supported",
                        STRINGS("client_secret_basic", "client_secret_post", "none"));
    json_object_set_new(d, "introspection_endpoint_auth_methods_supported",
                        STRINGS("client_secret_basic", "client_secret_post"));
    json_object_set_new(d, "code_challenge_methods_supported", STRINGS("S256"));
    json_object_set_new(d, "claims_supported",
                        STRINGS("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr",
                                "amr", "azp", "at_hash", "name", "preferred_username", "nickname",
                                "profile", "picture", "updated_at", "email", "email_verified"));
    json_object_set_new(d, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(d, "request_parameter_supported", json_false());
    json_object_set_new(d, "request_uri_parameter_supported", json_false());
    json_object_set_new(d, "claims_parameter_supported", json_false());
    return d;
}

/* Public documents that browser apps on other origins must be able to read. */
static void public_document(struct http_req *r, const char *text, size_t len)
{
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "Cache-Control", DISCOVERY_CACHE);
    http_resp_send(r, 200, "application/json", text, len);
}

/* The discovery document depends only on the issuer and the registration mode, both fixed
 * while the server runs: it is built once and served as bytes. */
static void handle_discovery(struct http_req *r)
{
    static char *cached;               /* owned; lives as long as the process */
    static size_t cached_len;
    static const struct oauth *cached_for;
    struct oauth *o = provider(r);

    if (cached == NULL || cached_for != o) {
        json_t *doc = discovery_document(o);
        free(cached);
        cached = json_dumps(doc, JSON_COMPACT);
        cached_len = cached ? strlen(cached) : 0;
        cached_for = o;
        json_decref(doc);
    }
    public_document(r, cached ? cached : "{}", cached ? cached_len : 2);
}

/* Served as application/json (not application/jwk-set+json, RFC 7517 §8.5): every client
 * library accepts the former, a few reject the latter. */
static void handle_jwks(struct http_req *r)
{
    size_t len = 0;
    const char *text = oauth_keys_jwks_text(provider(r)->keys, &len);

    public_document(r, text, len);
}

/* ---- dynamic client registration (RFC 7591) ---- */

/* OAUTH_REG_TOKEN: the request must carry the initial access token (§3) as a Bearer token
 * whose SHA-256 equals the configured hash. Answers and returns false otherwise. */
static bool registration_allowed(struct http_req *r)
{
    struct oauth *o = provider(r);
    const char *authz = http_req_header(r, "Authorization");
    const char *token;
    uint8_t h[AUTH_TOKEN_HASH_LEN];

    if (o->registration == OAUTH_REG_OPEN)
        return true;
    if (o->registration != OAUTH_REG_TOKEN) {
        send_error(r, 403, "access_denied", "dynamic client registration is disabled here");
        return false;
    }
    if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0) {
        bearer_error(r, 401, NULL, NULL);
        return false;
    }
    token = authz + 7;
    while (*token == ' ')
        token++;
    auth_token_hash(token, strlen(token), h);
    if (sodium_memcmp(h, o->registration_token_hash, sizeof(h)) != 0) {
        log_warn("oauth.register_denied", "req=%s peer=%s", r->id_str, r->peer);
        bearer_error(r, 401, "invalid_token", NULL);
        return false;
    }
    return true;
}

/* Metadata strings and lists (§2) into arena strings. Each returns TD_OK (*out NULL when
 * the field is absent or null) or TD_EINVAL with *why set. */
static int meta_string(struct arena *a, const json_t *body, const char *key, char **out,
                       const char **why)
{
    const json_t *v = json_object_get(body, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return TD_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > REG_MAX_STRING ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *why = arena_printf(a, "%s must be a non-empty string without NUL bytes", key);
        return TD_EINVAL;
    }
    *out = arena_strdup(a, json_string_value(v));
    return TD_OK;
}

/* A list of strings. As JSON text (uris: "[...]") or space-joined words (grant types). */
static int meta_list(struct arena *a, const json_t *body, const char *key, bool as_json, size_t max,
                     char **out, const char **why)
{
    const json_t *v = json_object_get(body, key);
    const json_t *item;
    struct buf b;
    size_t i;
    int rc = TD_OK;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return TD_OK;
    if (!json_is_array(v) || json_array_size(v) > max) {
        *why = arena_printf(a, "%s must be an array of at most %zu strings", key, max);
        return TD_EINVAL;
    }
    buf_init(&b, 64 * 1024);
    buf_appends(&b, as_json ? "[" : "");
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (s == NULL || s[0] == '\0' || strlen(s) != json_string_length(item) ||
            strlen(s) > REG_MAX_STRING || (!as_json && strchr(s, ' '))) {
            *why = arena_printf(a, "%s must hold non-empty strings", key);
            rc = TD_EINVAL;
            goto out;
        }
        if (as_json) {
            char *enc = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = buf_printf(&b, "%s%s", i ? "," : "", enc ? enc : "\"\"");
            free(enc);
        } else {
            rc = buf_printf(&b, "%s%s", i ? " " : "", s);
        }
        if (rc != TD_OK) { /* past the buffer's ceiling */
            *why = arena_printf(a, "%s is too long", key);
            rc = TD_EINVAL;
            goto out;
        }
    }
    buf_appends(&b, as_json ? "]" : "");
    *out = arena_strdup(a, b.data ? b.data : "");
out:
    buf_free(&b);
    return rc;
}

/* The client metadata of body into c (arena strings). On TD_EINVAL *error is the RFC 7591
 * §3.2.2 error code and *why says what is wrong. */
static int registration_metadata(struct arena *a, const json_t *body, struct oauth_client *c,
                                 const char **error, const char **why)
{
    char *response_types = NULL;
    int rc;

    *error = "invalid_redirect_uri";
    rc = meta_list(a, body, "redirect_uris", true, REG_MAX_URIS, &c->redirect_uris, why);
    if (rc != TD_OK)
        return rc;
    *error = "invalid_client_metadata";
    rc = meta_list(a, body, "post_logout_redirect_uris", true, REG_MAX_URIS,
                   &c->post_logout_redirect_uris, why);
    if (rc == TD_OK)
        rc = meta_list(a, body, "grant_types", false, REG_MAX_WORDS, &c->grant_types, why);
    if (rc == TD_OK)
        rc = meta_list(a, body, "response_types", false, REG_MAX_WORDS, &response_types, why);
    if (rc == TD_OK)
        rc = meta_string(a, body, "client_name", &c->name, why);
    if (rc == TD_OK)
        rc = meta_string(a, body, "token_endpoint_auth_method", &c->auth_method, why);
    if (rc == TD_OK)
        rc = meta_string(a, body, "scope", &c->scope, why);
    if (rc == TD_OK)
        rc = meta_string(a, body, "id_token_signed_response_alg", &c->id_token_alg, why);
    if (rc == TD_OK)
        rc = meta_string(a, body, "client_uri", &c->client_uri, why);
    if (rc != TD_OK)
        return rc;
    if (response_types && strcmp(response_types, "code") != 0) {
        *why = "only the response type code is supported";
        return TD_EINVAL;
    }
    /* §2: grant_types defaults to authorization_code; we add refresh_token (the core's
     * default) so that apps can stay signed in. */
    if (c->name == NULL)
        c->name = arena_strdup(a, "Unnamed application");
    c->dynamic = true;
    return TD_OK;
}

/* §3.2.1: the client information response (registered metadata with defaults applied). */
static json_t *registration_response(const struct oauth_client *c, const char *secret)
{
    json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "client_id", c->client_id,
                          "client_id_issued_at",
                          (json_int_t)((c->created_at ? c->created_at : store_now_ms()) / 1000),
                          "client_name", c->name, "token_endpoint_auth_method", c->auth_method,
                          "scope", c->scope, "id_token_signed_response_alg", c->id_token_alg);
    json_t *types = json_array();
    const char *p = c->grant_types;

    if (j == NULL) {
        json_decref(types);
        return NULL;
    }
    if (secret && secret[0]) {
        json_object_set_new(j, "client_secret", json_string(secret));
        json_object_set_new(j, "client_secret_expires_at", json_integer(0));
    }
    json_object_set_new(j, "redirect_uris", json_loads(c->redirect_uris, 0, NULL));
    json_object_set_new(j, "post_logout_redirect_uris",
                        json_loads(c->post_logout_redirect_uris, 0, NULL));
    while (p && *p) {
        size_t len = strcspn(p, " ");
        if (len)
            json_array_append_new(types, json_stringn(p, len));
        p += len + (p[len] == ' ');
    }
    json_object_set_new(j, "grant_types", types);
    if (c->client_uri)
        json_object_set_new(j, "client_uri", json_string(c->client_uri));
    json_object_set_new(j, "response_types",
                        oauth_client_has_grant(c, OAUTH_GRANT_CODE) ? STRINGS("code")
                                                                    : json_array());
    return j;
}

static bool register_throttle_ok(struct http_req *r)
{
    int64_t wait = 0;
    char retry[24];

    if (oauth_register_allowed(provider(r), r->peer, &wait))
        return true;
    snprintf(retry, sizeof(retry), "%lld", (long long)((wait + 999) / 1000));
    http_resp_header(r, "Retry-After", retry);
    log_warn("oauth.register_throttled", "req=%s peer=%s", r->id_str, r->peer);
    send_error(r, 429, "invalid_request", "too many clients registered from this address");
    return false;
}

static void handle_register(struct http_req *r)
{
    struct oauth_client c;
    json_t *body = NULL;
    const char *error = "invalid_client_metadata";
    const char *why = NULL;
    char secret[44] = "";
    int rc;

    memset(&c, 0, sizeof(c));
    if (!registration_allowed(r) || !register_throttle_ok(r))
        return;
    rc = http_req_json(r, &body, &why);
    if (rc == TD_EPROTO) {
        send_error(r, 415, "invalid_request", "the body must be application/json");
        return;
    }
    if (rc != TD_OK || !json_is_object(body)) {
        send_error(r, 400, "invalid_client_metadata",
                   rc != TD_OK && why ? why : "the body must be a JSON object");
        goto out;
    }
    rc = registration_metadata(r->arena, body, &c, &error, &why);
    if (rc == TD_OK)
        rc = oauth_client_register(provider(r), &c, secret, &why);
    if (rc == TD_EINVAL) {
        /* The core's reasons name the field; redirect URI problems get their own code. */
        if (why && strstr(why, "redirect URI"))
            error = "invalid_redirect_uri";
        send_error(r, 400, error, why);
        goto out;
    }
    if (rc != TD_OK) {
        server_error(r, "register", rc);
        goto out;
    }
    log_info("oauth.register", "req=%s peer=%s client=%s name=%s", r->id_str, r->peer,
             log_q(c.client_id), log_q(c.name));
    no_store(r);
    send_json(r, 201, registration_response(&c, secret));
    free(c.client_id); /* generated by oauth_client_register; the rest is arena or static */
out:
    sodium_memzero(secret, sizeof(secret));
    json_decref(body);
}

/* ---- routes ---- */

static const struct {
    const char *method;
    const char *pattern;
    http_handler_fn *fn;
} routes[] = {
    {"POST", "/oauth/token", handle_token},
    {"POST", "/oauth/device_authorization", handle_device_authorization},
    {"POST", "/oauth/revoke", handle_revoke},
    {"POST", "/oauth/introspect", handle_introspect},
    {"GET", "/oauth/userinfo", handle_userinfo},
    {"POST", "/oauth/userinfo", handle_userinfo},
    {"GET", "/oauth/jwks", handle_jwks},
    {"POST", "/oauth/register", handle_register},
    {"GET", "/.well-known/openid-configuration", handle_discovery},
    {"GET", "/.well-known/oauth-authorization-server", handle_discovery},
};

void api_oauth_routes(struct http_router *rt)
{
    char name[96];

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        http_router_add(rt, routes[i].method, routes[i].pattern, routes[i].fn);
    for (size_t i = 0; i < sizeof(issued_grants) / sizeof(issued_grants[0]); i++) {
        snprintf(name, sizeof(name), "tandem_oauth_tokens_issued_total{grant=\"%s\"}",
                 issued_grants[i]);
        metrics_counter_add(name, "Token responses sent by the token endpoint, by grant type.",
                            issued_read, &issued_count[i]);
    }
}

bool api_oauth_is_handler(http_handler_fn *fn)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (routes[i].fn == fn)
            return true;
    return false;
}
