/* SPDX-License-Identifier: MIT */
/* The Mastodon API's apps endpoints and the instance's metadata; see api_masto.h.
 *
 * An app registers itself with POST /api/v1/apps and becomes a confidential
 * client of the OAuth provider (oauth_client_register_masto()): the rest of its
 * dance (authorize, consent, token, revoke) is the provider's own, with the
 * out-of-band redirect URI and the optional password grant that Mastodon apps
 * expect. The instance documents (/api/v1/instance, /api/v2/instance, nodeinfo)
 * are public and describe this site's limits from its configuration. The
 * endpoints for features Tandem does not have (filters, lists, trends,
 * announcements, custom emojis) answer with empty lists so that apps that load
 * them at start-up go on working. */
#include "api/api_masto.h"

#include "auth/auth_username.h"
#include "core/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http_form.h"
#include "oauth/oauth.h"
#include "social/mb_media.h"
#include "tandem_version.h"
#include "web/web.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define APP_NAME_MAX 200
#define APP_URIS_MAX 16
#define INSTANCE_CACHE "public, max-age=60"
#define STATS_TTL_MS 60000 /* the counts are recomputed at most this often */
#define MAX_MEDIA_ATTACHMENTS 4
#define CHARS_PER_URL 23

/* ---- answers ---- */

/* A public document: cacheable briefly, readable from any origin. */
static void send_public(struct http_req *r, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        api_masto_error(r, 500, "The answer could not be encoded");
        return;
    }
    http_resp_header(r, "Cache-Control", INSTANCE_CACHE);
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_send(r, 200, "application/json; charset=utf-8", s, strlen(s));
    free(s);
}

static void validation(struct http_req *r, const char *what)
{
    api_masto_error(r, 422, arena_printf(r->arena, "Validation failed: %s", what));
}

/* ---- apps ---- */

/* A stable numeric id for the Application entity (Mastodon's are numbers; ours are
 * the client_id's), from the client_id's hash: 53 bits, so JSON numbers hold it too. */
static const char *app_id(struct http_req *r, const char *client_id)
{
    uint8_t h[32];
    uint64_t v = 0;

    crypto_hash_sha256(h, (const unsigned char *)client_id, strlen(client_id));
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return arena_printf(r->arena, "%llu", (unsigned long long)(v >> 11));
}

/* The redirect URIs of the request as a JSON array: a string holds one or more,
 * separated by newlines or spaces (Mastodon's form), or an array is given. */
static json_t *app_redirect_uris(struct masto_req *m)
{
    const char *s = api_masto_str(m, "redirect_uris");
    json_t *given = s ? NULL : api_masto_arr(m, "redirect_uris");
    json_t *out = json_array();
    size_t i;
    json_t *v;

    if (s) {
        while (*s) {
            size_t len;
            s += strspn(s, " \t\r\n");
            len = strcspn(s, " \t\r\n");
            if (len)
                json_array_append_new(out, json_stringn(s, len));
            s += len;
        }
        return out;
    }
    json_array_foreach(given, i, v)
    {
        if (json_is_string(v) && json_string_length(v) > 0)
            json_array_append(out, v);
    }
    return out;
}

/* Application entity (https://docs.joinmastodon.org/entities/Application/). */
static json_t *app_entity(struct http_req *r, const struct oauth_client *c)
{
    json_t *uris = json_loads(c->redirect_uris ? c->redirect_uris : "[]", 0, NULL);
    json_t *scopes = json_array();
    struct buf joined;
    size_t i;
    json_t *v;
    const char *p = c->scope ? c->scope : "";

    buf_init(&joined, 0);
    json_array_foreach(uris, i, v)
    {
        if (i)
            buf_putc(&joined, '\n');
        buf_appends(&joined, json_string_value(v) ? json_string_value(v) : "");
    }
    while (*p) {
        size_t len = strcspn(p, " ");
        if (len)
            json_array_append_new(scopes, json_stringn(p, len));
        p += len + (p[len] == ' ');
    }
    json_t *j =
        json_pack("{s:s, s:s, s:s?, s:s, s:o, s:s, s:o}", "id", app_id(r, c->client_id), "name",
                  c->name, "website", c->client_uri, "redirect_uri", joined.data ? joined.data : "",
                  "redirect_uris", uris ? uris : json_array(), "vapid_key", "", "scopes", scopes);
    buf_free(&joined);
    return j;
}

/* Check the registration request into c (arena strings); answers 422 and returns false
 * when something is missing or wrong. */
static bool app_request(struct masto_req *m, struct oauth_client *c)
{
    struct http_req *r = m->r;
    const char *name = api_masto_str(m, "client_name");
    const char *scopes = api_masto_str(m, "scopes");
    json_t *uris;

    if (name == NULL || name[strspn(name, " ")] == '\0') {
        validation(r, "Application name can't be blank");
        return false;
    }
    if (strlen(name) > APP_NAME_MAX) {
        validation(r, "Application name is too long (maximum is 200 characters)");
        return false;
    }
    c->client_uri = (char *)api_masto_str(m, "website"); /* checked with the rest */
    if (c->client_uri && c->client_uri[0] == '\0')
        c->client_uri = NULL;
    if (scopes == NULL || scopes[strspn(scopes, " ")] == '\0')
        scopes = "read";
    if (strlen(scopes) > 1000 || !oauth_scope_valid(scopes)) {
        validation(r, "Scopes must be known scopes (read, write, follow, push or their "
                      "sub-scopes)");
        return false;
    }
    uris = app_redirect_uris(m);
    if (json_array_size(uris) == 0 || json_array_size(uris) > APP_URIS_MAX) {
        json_decref(uris);
        validation(r, json_array_size(uris) ? "Redirect URI: at most 16 are allowed"
                                            : "Redirect URI can't be blank");
        return false;
    }
    char *text = json_dumps(uris, JSON_COMPACT);
    json_decref(uris);
    if (text == NULL) {
        api_masto_error(r, 500, "The request could not be read");
        return false;
    }
    c->redirect_uris = arena_strdup(r->arena, text);
    free(text);
    c->name = arena_strdup(r->arena, name);
    c->scope = oauth_scope_normalize(r->arena, scopes);
    return true;
}

/* POST /api/v1/apps: open to anyone, as on Mastodon, within the registration limit per
 * address that the RFC 7591 endpoint uses too. */
static void handle_apps_create(struct http_req *r)
{
    struct masto_req *m = api_masto_req(r);
    struct web_app *app = r->app;
    struct oauth_client c;
    const char *why = NULL;
    char secret[44] = "";
    int64_t wait = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    if (m->bad) {
        api_masto_error(r, 400, m->bad);
        return;
    }
    if (!app_request(m, &c))
        return;
    if (!oauth_register_allowed(app->oauth, r->peer, &wait)) {
        http_resp_header(r, "Retry-After",
                         arena_printf(r->arena, "%lld", (long long)((wait + 999) / 1000)));
        log_warn("masto.apps_throttled", "req=%s peer=%s", r->id_str, r->peer);
        api_masto_error(r, 429, "Too many requests");
        return;
    }
    rc = oauth_client_register_masto(app->oauth, &c, secret, &why);
    if (rc == TD_EINVAL) {
        validation(r, why && strstr(why, "redirect URI")
                          ? arena_printf(r->arena, "Redirect URI: %s", why)
                      : why && strstr(why, "website")
                          ? arena_printf(r->arena, "Website is invalid: %s", why)
                          : (why ? why : "the application is not acceptable"));
        return;
    }
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    log_info("masto.app_created", "req=%s peer=%s client=%s name=%s", r->id_str, r->peer,
             log_q(c.client_id), log_q(c.name));
    json_t *j = app_entity(r, &c);
    json_object_set_new(j, "client_id", json_string(c.client_id));
    json_object_set_new(j, "client_secret", json_string(secret));
    sodium_memzero(secret, sizeof(secret));
    free(c.client_id); /* generated by the registration; the rest is the arena's */
    api_masto_send(r, 200, j);
}

/* GET /api/v1/apps/verify_credentials: the app behind the token (an app token or a
 * user's). */
static void handle_apps_verify(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, NULL, false);
    struct web_app *app = r->app;
    struct oauth_client c;

    if (m == NULL)
        return;
    if (m->client_id == NULL) {
        http_resp_header(r, "WWW-Authenticate", "Bearer realm=\"Tandem\"");
        api_masto_error(r, 401, "The access token is invalid");
        return;
    }
    memset(&c, 0, sizeof(c));
    if (store_oauth_client_get(app->store, m->client_id, &c) != TD_OK) {
        api_masto_error(r, 401, "The access token is invalid");
        return;
    }
    json_t *j = app_entity(r, &c);
    json_object_set_new(j, "client_id", json_string(c.client_id));
    store_oauth_client_clear(&c);
    api_masto_send(r, 200, j);
}

/* ---- instance ---- */

struct site_stats {
    int64_t users;
    int64_t statuses;
};

static int count_one(void *ud, const struct account *a)
{
    struct store *st = ((void **)ud)[0];
    struct site_stats *s = ((void **)ud)[1];
    struct store_mb_stats ms;

    if (a->disabled)
        return 0;
    s->users++;
    if (store_mb_account_stats(st, a->id, &ms) == TD_OK)
        s->statuses += ms.statuses_count;
    return 0;
}

/* The site's counts, recomputed at most once a minute: they walk every account. */
static struct site_stats site_stats(struct web_app *app)
{
    static struct site_stats cached;
    static int64_t cached_at;
    static const struct web_app *cached_for;
    int64_t now = store_now_ms();

    if (cached_for != app || now - cached_at > STATS_TTL_MS || now < cached_at) {
        struct site_stats s = {0};
        void *ud[2] = {app->store, &s};
        if (store_account_list(app->store, count_one, ud) == TD_OK) {
            cached = s;
            cached_at = now;
            cached_for = app;
        }
    }
    return cached;
}

static const char *version_line(struct http_req *r)
{
    return arena_printf(r->arena, "%s (compatible; Tandem %s)", MASTO_API_VERSION, TANDEM_VERSION);
}

/* ws:// or wss:// on the site's host, for the streaming API. */
static const char *streaming_url(struct http_req *r, const char *base)
{
    if (strncmp(base, "https://", 8) == 0)
        return arena_printf(r->arena, "wss://%s", base + 8);
    if (strncmp(base, "http://", 7) == 0)
        return arena_printf(r->arena, "ws://%s", base + 7);
    return base;
}

static json_t *mime_types(void)
{
    return json_pack("[s, s, s, s]", "image/jpeg", "image/png", "image/gif", "image/webp");
}

static json_t *media_config(const struct conf *conf)
{
    return json_pack("{s:o, s:I, s:I, s:i, s:i, s:i}", "supported_mime_types", mime_types(),
                     "image_size_limit", (json_int_t)conf->mb_media_max_bytes, "image_matrix_limit",
                     (json_int_t)MB_MEDIA_DEFAULT_MAX_PIXELS, "video_size_limit", 0,
                     "video_frame_rate_limit", 0, "video_matrix_limit", 0);
}

static json_t *statuses_config(const struct conf *conf)
{
    return json_pack("{s:I, s:i, s:i}", "max_characters", (json_int_t)conf->mb_max_chars,
                     "max_media_attachments", MAX_MEDIA_ATTACHMENTS, "characters_reserved_per_url",
                     CHARS_PER_URL);
}

/* Polls are not offered; the limits are Mastodon's so that apps lay out their forms. */
static json_t *polls_config(void)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "max_options", 4, "max_characters_per_option", 50,
                     "min_expiration", 300, "max_expiration", 2629746);
}

static const char *description(void)
{
    return "A Tandem site: microblog, blog and messenger in one.";
}

/* GET /api/v1/instance */
static void handle_instance_v1(struct http_req *r)
{
    struct web_app *app = r->app;
    const struct conf *conf = app->conf;
    struct site_stats s = site_stats(app);
    json_t *j;

    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:I, s:I, s:i}, s:n, s:[s],"
                  " s:b, s:b, s:b, s:n, s:[]}",
                  "uri", conf->domain, "title", "Tandem", "short_description", description(),
                  "description", description(), "email", "", "version", version_line(r), "urls",
                  "streaming_api", streaming_url(r, app->base_url), "stats", "user_count",
                  (json_int_t)s.users, "status_count", (json_int_t)s.statuses, "domain_count", 1,
                  "thumbnail", "languages", "en", "registrations", conf->signup == CONF_SIGNUP_OPEN,
                  "approval_required", 0, "invites_enabled", conf->signup == CONF_SIGNUP_INVITE,
                  "contact_account", "rules");
    if (j)
        json_object_set_new(j, "configuration",
                            json_pack("{s:o, s:o, s:o, s:{s:i}}", "statuses", statuses_config(conf),
                                      "media_attachments", media_config(conf), "polls",
                                      polls_config(), "accounts", "max_featured_tags", 0));
    send_public(r, j);
}

/* GET /api/v2/instance */
static void handle_instance_v2(struct http_req *r)
{
    struct web_app *app = r->app;
    const struct conf *conf = app->conf;
    struct site_stats s = site_stats(app);
    json_t *j;

    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:{s:I}}, s:{s:s+}, s:[s], s:[]}", "domain",
                  conf->domain, "title", "Tandem", "version", version_line(r), "source_url",
                  "https://github.com/tandem-social/tandem", "description", description(), "usage",
                  "users", "active_month", (json_int_t)s.users, "thumbnail", "url", app->base_url,
                  "/static/missing.png", "languages", "en", "rules");
    if (j == NULL) {
        send_public(r, NULL);
        return;
    }
    json_object_set_new(j, "configuration",
                        json_pack("{s:{s:s}, s:{s:i, s:i}, s:o, s:o, s:o, s:{s:b}}", "urls",
                                  "streaming", streaming_url(r, app->base_url), "accounts",
                                  "max_featured_tags", 0, "max_pinned_statuses", 0, "statuses",
                                  statuses_config(conf), "media_attachments", media_config(conf),
                                  "polls", polls_config(), "translation", "enabled", 0));
    json_object_set_new(j, "registrations",
                        json_pack("{s:b, s:b, s:n}", "enabled", conf->signup == CONF_SIGNUP_OPEN,
                                  "approval_required", 0, "message"));
    json_object_set_new(j, "contact", json_pack("{s:s, s:n}", "email", "", "account"));
    send_public(r, j);
}

/* ---- features Tandem does not have: empty lists ---- */

/* Public lists (peers, activity, rules, custom emojis, trends). A token, if one is
 * sent, must still be valid. */
static void handle_public_empty(struct http_req *r)
{
    if (api_masto_auth(r, NULL, false) != NULL)
        api_masto_send(r, 200, json_array());
}

static void empty_for(struct http_req *r, const char *scope)
{
    if (api_masto_auth(r, scope, true) != NULL)
        api_masto_send(r, 200, json_array());
}

static void handle_announcements(struct http_req *r)
{
    empty_for(r, "read");
}

static void handle_filters(struct http_req *r)
{
    empty_for(r, "read:filters");
}

static void handle_lists(struct http_req *r)
{
    empty_for(r, "read:lists");
}

static void handle_followed_tags(struct http_req *r)
{
    empty_for(r, "read:follows");
}

/* GET /api/v1/preferences: Tandem has none of its own yet; Mastodon's defaults. */
static void handle_preferences(struct http_req *r)
{
    if (api_masto_auth(r, "read:accounts", true) == NULL)
        return;
    api_masto_send(r, 200,
                   json_pack("{s:s, s:b, s:n, s:s, s:b}", "posting:default:visibility", "public",
                             "posting:default:sensitive", 0, "posting:default:language",
                             "reading:expand:media", "default", "reading:expand:spoilers", 0));
}

/* ---- discovery: nodeinfo and WebFinger ---- */

static void send_doc(struct http_req *r, int status, const char *ctype, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        http_resp_send(r, 500, "application/json", "{}", 2);
        return;
    }
    http_resp_header(r, "Cache-Control", INSTANCE_CACHE);
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_send(r, status, ctype, s, strlen(s));
    free(s);
}

/* GET /.well-known/nodeinfo (https://nodeinfo.diaspora.software/protocol) */
static void handle_nodeinfo_links(struct http_req *r)
{
    struct web_app *app = r->app;

    send_doc(r, 200, "application/json",
             json_pack("{s:[{s:s, s:s+}]}", "links", "rel",
                       "http://nodeinfo.diaspora.software/ns/schema/2.0", "href", app->base_url,
                       "/nodeinfo/2.0"));
}

/* GET /nodeinfo/2.0 */
static void handle_nodeinfo(struct http_req *r)
{
    struct web_app *app = r->app;
    struct site_stats s = site_stats(app);

    send_doc(r, 200,
             "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.0#\"",
             json_pack("{s:s, s:{s:s, s:s}, s:[], s:{s:[], s:[]}, s:b, s:{s:{s:I, s:I, s:I},"
                       " s:I}, s:{s:s}}",
                       "version", "2.0", "software", "name", "tandem", "version", TANDEM_VERSION,
                       "protocols", "services", "inbound", "outbound", "openRegistrations",
                       app->conf->signup == CONF_SIGNUP_OPEN, "usage", "users", "total",
                       (json_int_t)s.users, "activeMonth", (json_int_t)s.users, "activeHalfyear",
                       (json_int_t)s.users, "localPosts", (json_int_t)s.statuses, "metadata",
                       "nodeName", "Tandem"));
}

/* The user name of an acct: resource (RFC 7565) on this site's domain, or NULL. */
static const char *webfinger_user(struct http_req *r, const char *resource, const char *domain)
{
    const char *at;
    size_t dlen = strlen(domain);

    if (resource == NULL || strncmp(resource, "acct:", 5) != 0)
        return NULL;
    resource += 5 + (resource[5] == '@');
    at = strrchr(resource, '@');
    if (at == NULL || at == resource || strlen(at + 1) != dlen ||
        strncasecmp(at + 1, domain, dlen) != 0 || (size_t)(at - resource) > AUTH_USERNAME_MAX)
        return NULL;
    return arena_strndup(r->arena, resource, (size_t)(at - resource));
}

/* GET /.well-known/webfinger?resource=acct:user@domain (RFC 7033) */
static void handle_webfinger(struct http_req *r)
{
    struct web_app *app = r->app;
    struct http_kvlist q;
    struct account a;
    const char *user;

    if (http_form_parse(r->arena, r->query, strlen(r->query), 16, &q) != TD_OK ||
        http_kv_get(&q, "resource") == NULL) {
        send_doc(r, 400, "application/json", json_pack("{s:s}", "error", "resource is missing"));
        return;
    }
    user = webfinger_user(r, http_kv_get(&q, "resource"), app->conf->domain);
    if (user == NULL || store_account_get_by_name(app->store, user, &a) != TD_OK) {
        send_doc(r, 404, "application/json", json_pack("{s:s}", "error", "Record not found"));
        return;
    }
    const char *profile = arena_printf(r->arena, "%s/@%s", app->base_url, a.username);
    const char *subject = arena_printf(r->arena, "acct:%s@%s", a.username, app->conf->domain);
    json_t *j = json_pack("{s:s, s:[s], s:[{s:s, s:s, s:s}]}", "subject", subject, "aliases",
                          profile, "links", "rel", "http://webfinger.net/rel/profile-page", "type",
                          "text/html", "href", profile);
    bool disabled = a.disabled;
    store_account_clear(&a);
    if (disabled) {
        json_decref(j);
        send_doc(r, 404, "application/json", json_pack("{s:s}", "error", "Record not found"));
        return;
    }
    send_doc(r, 200, "application/jrd+json", j);
}

void api_masto_apps_routes(struct http_router *rt)
{
    static const struct {
        const char *method;
        const char *path;
        http_handler_fn *fn;
    } routes[] = {
        {"POST", "/api/v1/apps", handle_apps_create},
        {"GET", "/api/v1/apps/verify_credentials", handle_apps_verify},
        {"GET", "/api/v1/instance", handle_instance_v1},
        {"GET", "/api/v1/instance/", handle_instance_v1}, /* how Mastodon.py asks */
        {"GET", "/api/v2/instance", handle_instance_v2},
        {"GET", "/api/v1/instance/peers", handle_public_empty},
        {"GET", "/api/v1/instance/activity", handle_public_empty},
        {"GET", "/api/v1/instance/rules", handle_public_empty},
        {"GET", "/api/v1/custom_emojis", handle_public_empty},
        {"GET", "/api/v1/trends/tags", handle_public_empty},
        {"GET", "/api/v1/trends/statuses", handle_public_empty},
        {"GET", "/api/v1/trends/links", handle_public_empty},
        {"GET", "/api/v1/announcements", handle_announcements},
        {"GET", "/api/v1/preferences", handle_preferences},
        {"GET", "/api/v1/filters", handle_filters},
        {"GET", "/api/v2/filters", handle_filters},
        {"GET", "/api/v1/lists", handle_lists},
        {"GET", "/api/v1/followed_tags", handle_followed_tags},
        {"GET", "/.well-known/nodeinfo", handle_nodeinfo_links},
        {"GET", "/nodeinfo/2.0", handle_nodeinfo},
        {"GET", "/.well-known/webfinger", handle_webfinger},
    };

    for (size_t i = 0; i < TD_ARRAY_LEN(routes); i++)
        http_router_add(rt, routes[i].method, routes[i].path, routes[i].fn);
}
