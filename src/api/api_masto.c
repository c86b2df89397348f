/* SPDX-License-Identifier: MIT */
/* The Mastodon-compatible API's shared parts; see api_masto.h. */
#include "api/api_masto.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http_form.h"
#include "http/http_json.h"
#include "http/http_multipart.h"
#include "oauth/oauth.h"
#include "web/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARAMS_MAX_PAIRS 256

/* ---- answers ---- */

void api_masto_send(struct http_req *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    if (s == NULL) {
        static const char fail[] = "{\"error\":\"The answer could not be encoded\"}";
        http_resp_send(r, 500, "application/json; charset=utf-8", fail, sizeof(fail) - 1);
        return;
    }
    http_resp_send(r, status, "application/json; charset=utf-8", s, strlen(s));
    free(s);
}

void api_masto_error(struct http_req *r, int status, const char *msg)
{
    api_masto_send(r, status, json_pack("{s:s}", "error", msg));
}

void api_masto_fail(struct http_req *r, int rc, const struct mb_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : NULL;

    switch (rc) {
    case TD_ENOTFOUND:
        api_masto_error(r, 404, "Record not found");
        break;
    case TD_EINVAL:
    case TD_ETOOBIG:
    case TD_ELIMIT:
        api_masto_error(r, 422, msg ? msg : "Validation failed");
        break;
    case TD_EDENIED:
        api_masto_error(r, 403, msg ? msg : "This action is not allowed");
        break;
    case TD_EEXIST:
        api_masto_error(r, 422, msg ? msg : "It exists already");
        break;
    default:
        api_masto_error(r, 500, "The server could not do that; try again later");
        break;
    }
}

/* ---- parameters ---- */

/* Add name=value to params: "name[]" (and a repeated name) collect into an array. */
static void param_add(json_t *params, const char *name, json_t *value)
{
    size_t n = strlen(name);
    bool arr = n > 2 && strcmp(name + n - 2, "[]") == 0;
    char key[128];

    if (n >= sizeof(key)) {
        json_decref(value);
        return;
    }
    memcpy(key, name, n + 1);
    if (arr)
        key[n - 2] = '\0';
    json_t *old = json_object_get(params, key);
    if (arr && old == NULL) {
        json_t *a = json_array();
        json_array_append_new(a, value);
        json_object_set_new(params, key, a);
    } else if (arr && json_is_array(old)) {
        json_array_append_new(old, value);
    } else if (old == NULL) {
        json_object_set_new(params, key, value);
    } else {
        json_decref(value); /* the first value of a plain name wins */
    }
}

static int params_from_form(struct masto_req *m, const char *s, size_t len)
{
    struct http_kvlist kv = {0};
    int rc = http_form_parse(m->r->arena, s, len, PARAMS_MAX_PAIRS, &kv);

    if (rc != TD_OK)
        return rc;
    for (size_t i = 0; i < kv.len; i++)
        param_add(m->params, kv.items[i].name, json_string(kv.items[i].value));
    return TD_OK;
}

static int params_from_multipart(struct masto_req *m, const char *ctype)
{
    struct http_part *parts = NULL;
    size_t n = 0;
    int rc = http_multipart_parse(m->r->arena, ctype, m->r->body, m->r->body_len, NULL, &parts,
                                  &n);

    if (rc != TD_OK)
        return rc;
    m->parts = parts;
    m->nparts = n;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].filename)
            continue; /* files: api_masto_file() */
        json_t *v = json_stringn(parts[i].data, parts[i].len); /* NULL if not UTF-8 */
        if (v == NULL)
            return TD_EINVAL;
        param_add(m->params, parts[i].name, v);
    }
    return TD_OK;
}

/* Load the query and the body into m->params; on a malformed body m->bad
 * says why (api_masto_auth() answers it). */
static void params_load(struct masto_req *m)
{
    struct http_req *r = m->r;
    const char *ct = http_req_header(r, "Content-Type");

    m->params = json_object();
    if (params_from_form(m, r->query, strlen(r->query)) != TD_OK) {
        m->bad = "The query string is malformed or not UTF-8";
        return;
    }
    if (r->body_len == 0 || ct == NULL)
        return;
    if (http_media_type_is(ct, "application/x-www-form-urlencoded")) {
        if (params_from_form(m, r->body, r->body_len) != TD_OK)
            m->bad = "The form body is malformed or not UTF-8";
    } else if (http_media_type_is(ct, "multipart/form-data")) {
        if (params_from_multipart(m, ct) != TD_OK)
            m->bad = "The multipart body is malformed";
    } else if (http_media_type_is(ct, "application/json")) {
        json_t *j = NULL;
        const char *why = NULL;
        if (http_json_parse(r->arena, r->body, r->body_len, HTTP_JSON_MAX_DEPTH, &j, &why) !=
                TD_OK ||
            !json_is_object(j)) {
            m->bad = why ? arena_printf(r->arena, "The JSON body is invalid: %s", why)
                         : "The JSON body must be an object";
            json_decref(j);
            return;
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) /* the body's values win over the query's */
            json_object_set(m->params, k, v);
        json_decref(j);
    }
}

static void masto_req_free(void *p)
{
    struct masto_req *m = p;
    json_decref(m->params);
    json_decref(m->accounts);
}

struct masto_req *api_masto_req(struct http_req *r)
{
    struct masto_req *m = r->user;
    struct web_app *app = r->app;

    if (m)
        return m;
    m = arena_calloc(r->arena, sizeof(*m));
    m->r = r;
    m->app = app;
    m->mb = app->mb;
    m->st = app->store;
    m->base = app->base_url;
    m->accounts = json_object();
    arena_defer(r->arena, masto_req_free, m);
    r->user = m;
    params_load(m);
    return m;
}

const char *api_masto_str(struct masto_req *m, const char *name)
{
    json_t *v = json_object_get(m->params, name);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        return arena_printf(m->r->arena, "%lld", (long long)json_integer_value(v));
    return NULL;
}

bool api_masto_bool(struct masto_req *m, const char *name, bool def)
{
    json_t *v = json_object_get(m->params, name);
    const char *s;

    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (!json_is_string(v))
        return def;
    s = json_string_value(v);
    /* Rails' casting, which Mastodon applies: these are false, the rest true. */
    return !(s[0] == '\0' || strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
             strcasecmp(s, "f") == 0 || strcasecmp(s, "off") == 0);
}

json_t *api_masto_arr(struct masto_req *m, const char *name)
{
    json_t *v = json_object_get(m->params, name);

    if (json_is_array(v))
        return v;
    if (json_is_string(v)) { /* a single value given without [] */
        json_t *a = json_array();
        json_array_append(a, v);
        json_object_set_new(m->params, name, a);
        return a;
    }
    return NULL;
}

bool api_masto_id(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 19)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

bool api_masto_path_id(struct masto_req *m, const char *param, int64_t *out)
{
    if (api_masto_id(http_req_param(m->r, param), out))
        return true;
    api_masto_error(m->r, 404, "Record not found");
    return false;
}

bool api_masto_file(struct masto_req *m, const char *name, const void **data, size_t *len,
                    const char **filename, const char **ctype)
{
    for (size_t i = 0; i < m->nparts; i++) {
        const struct http_part *p = &m->parts[i];
        if (p->filename && strcmp(p->name, name) == 0) {
            *data = p->data;
            *len = p->len;
            *filename = p->filename;
            *ctype = p->content_type;
            return true;
        }
    }
    return false;
}

/* ---- authentication ---- */

static bool word_in(const char *list, const char *w, size_t wl)
{
    const char *p = list;

    while (*p) {
        size_t n = strcspn(p, " ");
        if (n == wl && memcmp(p, w, wl) == 0)
            return true;
        p += n;
        while (*p == ' ')
            p++;
    }
    return false;
}

bool api_masto_scope_ok(const char *granted, const char *need)
{
    const char *colon;
    size_t fam;

    if (granted == NULL)
        return false;
    if (need == NULL || *need == '\0')
        return true;
    if (word_in(granted, need, strlen(need)))
        return true;
    colon = strchr(need, ':');
    fam = colon ? (size_t)(colon - need) : strlen(need);
    if (word_in(granted, need, fam)) /* "read" covers "read:statuses" */
        return true;
    if (colon && (strcmp(colon, ":follows") == 0 || strcmp(colon, ":blocks") == 0 ||
                  strcmp(colon, ":mutes") == 0) &&
        word_in(granted, "follow", 6))
        return true;
    if (fam == 4 && memcmp(need, "read", 4) == 0)
        return word_in(granted, "microblog.read", 14);
    if (fam == 5 && memcmp(need, "write", 5) == 0)
        return word_in(granted, "microblog.write", 15);
    return false;
}

/* The Bearer token: Authorization header, else access_token (Mastodon takes
 * it as a parameter too, which the streaming API's browsers need). */
static const char *token_of(struct masto_req *m)
{
    const char *authz = http_req_header(m->r, "Authorization");

    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        authz += 7;
        while (*authz == ' ')
            authz++;
        return *authz ? authz : NULL;
    }
    const char *t = api_masto_str(m, "access_token");
    return t && *t ? t : NULL;
}

struct masto_req *api_masto_auth(struct http_req *r, const char *need, bool required)
{
    struct masto_req *m = api_masto_req(r);
    struct web_app *app = r->app;
    struct oauth_token t;
    const char *token;

    if (m->bad) {
        api_masto_error(r, 400, m->bad);
        return NULL;
    }
    token = token_of(m);
    if (token == NULL) {
        if (!required)
            return m;
        http_resp_header(r, "WWW-Authenticate", "Bearer realm=\"Tandem\"");
        api_masto_error(r, 401, "The access token is invalid");
        return NULL;
    }
    if (oauth_access_token_check(app->oauth, token, store_now_ms(), &t) != TD_OK) {
        http_resp_header(r, "WWW-Authenticate",
                         "Bearer realm=\"Tandem\", error=\"invalid_token\"");
        api_masto_error(r, 401, "The access token is invalid");
        return NULL;
    }
    m->viewer = t.account_id;
    m->scope = arena_strdup(r->arena, t.scope ? t.scope : "");
    m->client_id = arena_strdup(r->arena, t.client_id ? t.client_id : "");
    store_oauth_token_clear(&t);
    if (required && m->viewer == 0) {
        api_masto_error(r, 422, "This method requires an authenticated user");
        return NULL;
    }
    if (need && !api_masto_scope_ok(m->scope, need)) {
        api_masto_error(r, 403, "This action is outside the authorized scopes");
        return NULL;
    }
    return m;
}

/* ---- paging ---- */

static bool page_id(struct masto_req *m, const char *name, int64_t *out)
{
    const char *s = api_masto_str(m, name);

    *out = 0;
    if (s == NULL || *s == '\0')
        return true;
    if (api_masto_id(s, out))
        return true;
    api_masto_error(m->r, 400, arena_printf(m->r->arena, "%s must be a status or record id",
                                            name));
    return false;
}

bool api_masto_page(struct masto_req *m, struct store_mb_page *pg, int def, int cap)
{
    const char *lim = api_masto_str(m, "limit");

    memset(pg, 0, sizeof(*pg));
    if (!page_id(m, "max_id", &pg->max_id) || !page_id(m, "since_id", &pg->since_id) ||
        !page_id(m, "min_id", &pg->min_id))
        return false;
    pg->limit = def;
    if (lim && *lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (*end != '\0' || end == lim) {
            api_masto_error(m->r, 400, "limit must be a number");
            return false;
        }
        /* Mastodon clamps rather than refuses. */
        pg->limit = v < 1 ? 1 : v > cap ? cap : (int)v;
    }
    return true;
}

static void link_one(struct masto_req *m, struct buf *b, const char *rel, const char *key,
                     int64_t id)
{
    struct http_kvlist kv = {0};

    if (b->len)
        buf_appends(b, ", ");
    buf_printf(b, "<%s", m->base);
    /* the decoded path again as a URL ("/api/v1/timelines/tag/café") */
    for (const char *p = m->r->path; *p; p++) {
        if (*p == '/')
            buf_putc(b, '/');
        else
            http_url_encode(b, p, 1);
    }
    buf_putc(b, '?');
    http_form_parse(m->r->arena, m->r->query, strlen(m->r->query), PARAMS_MAX_PAIRS, &kv);
    for (size_t i = 0; i < kv.len; i++) {
        const char *n = kv.items[i].name;
        if (strcmp(n, "max_id") == 0 || strcmp(n, "min_id") == 0 ||
            strcmp(n, "since_id") == 0 || strcmp(n, "access_token") == 0)
            continue;
        http_url_encode(b, n, strlen(n));
        buf_putc(b, '=');
        http_url_encode(b, kv.items[i].value, strlen(kv.items[i].value));
        buf_putc(b, '&');
    }
    buf_printf(b, "%s=%lld>; rel=\"%s\"", key, (long long)id, rel);
}

void api_masto_link_ids(struct masto_req *m, int64_t newest, int64_t oldest)
{
    struct buf b;

    if (newest == 0 && oldest == 0)
        return;
    buf_init(&b, 16384);
    link_one(m, &b, "next", "max_id", oldest);
    link_one(m, &b, "prev", "min_id", newest);
    http_resp_header(m->r, "Link", b.data);
    buf_free(&b);
}

void api_masto_link(struct masto_req *m, const struct store_mb_list *l)
{
    if (l->n == 0)
        return;
    api_masto_link_ids(m, l->v[0].cursor, l->v[l->n - 1].cursor);
}

/* ---- routes ---- */

/* CORS preflight (Fetch standard): browser-based Mastodon clients call the
 * API from their own origin with an Authorization header. */
static void handle_preflight(struct http_req *r)
{
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
    http_resp_header(r, "Access-Control-Allow-Headers",
                     "Authorization, Content-Type, Idempotency-Key");
    http_resp_header(r, "Access-Control-Expose-Headers", "Link, X-RateLimit-Reset");
    http_resp_header(r, "Access-Control-Max-Age", "86400");
    http_resp_send(r, 204, NULL, "", 0);
}

void api_masto_routes(struct http_router *rt)
{
    http_router_add(rt, "OPTIONS", "/api/*path", handle_preflight);
    api_masto_apps_routes(rt);
    api_masto_statuses_routes(rt);
    api_masto_accounts_routes(rt);
    api_masto_stream_routes(rt);
}
