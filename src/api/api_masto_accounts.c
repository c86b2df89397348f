/* SPDX-License-Identifier: MIT */
/* The Mastodon API's accounts endpoints (see api_masto.h): accounts and
 * their statuses, followers and following; follow, block, mute and their
 * undoing; relationships; follow requests; blocks, mutes and favourites
 * lists; the profile editor (update_credentials); notifications and read
 * markers; search (v1 and v2).
 *
 * Every action goes through the microblog service (social/mb.h), which
 * decides visibility; this file maps parameters and answers only. Lists page
 * with Mastodon's max_id / since_id / min_id and a Link header whose cursors
 * are the listed rows (a follow, a block, a favourite), not the accounts or
 * statuses shown.
 *
 * Deliberate deviations from Mastodon: statuses are found by full-text
 * search over every post the viewer may see (Mastodon, without
 * Elasticsearch, finds them only by URL); local status and profile URLs are
 * resolved without resolve=true (there is nothing remote to fetch); the
 * features this server does not have (featured tags, lists, endorsements,
 * domain blocks, identity proofs) answer empty lists. */
#include "api/api_masto.h"

#include "auth/auth_account.h"
#include "core/arena.h"
#include "core/conf.h"
#include "core/err.h"
#include "social/mb_media.h"
#include "social/mb_text.h"
#include "web/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACCOUNTS_DEFAULT 40 /* Mastodon's DEFAULT_ACCOUNTS_LIMIT */
#define NOTIFS_DEFAULT 40   /* Mastodon's notifications default */
#define SEARCH_DEFAULT 20
#define SEARCH_SCAN_MAX 2000 /* full-text hits looked at per request */
#define FILTER_ROUNDS 32     /* pages read to fill one filtered page */

typedef int acct_list_fn(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                         struct store_mb_list *out);

/* ---- helpers ---- */

/* Is id an enabled account? Answers 404 and returns false if not. */
static bool account_exists(struct masto_req *m, int64_t id)
{
    struct account a;
    bool ok = store_account_get_by_id(m->st, id, &a) == TD_OK && !a.disabled;

    if (ok)
        store_account_clear(&a);
    else
        api_masto_error(m->r, 404, "Record not found");
    return ok;
}

/* The route's :id as an existing account, or a 404 answered. */
static bool path_account(struct masto_req *m, int64_t *id)
{
    return api_masto_path_id(m, "id", id) && account_exists(m, *id);
}

static void send_relationship(struct masto_req *m, int64_t id)
{
    struct store_mb_relationship rel;
    int rc = store_mb_relationships(m->st, m->viewer, &id, 1, &rel);

    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, NULL);
        return;
    }
    api_masto_send(m->r, 200, api_masto_relationship(&rel));
}

/* A list of accounts from the store (cursor: the follow, block, ...). */
static void send_account_list(struct masto_req *m, acct_list_fn *fn, int64_t key)
{
    struct store_mb_page pg;
    struct store_mb_list *l;
    int rc;

    if (!api_masto_page(m, &pg, ACCOUNTS_DEFAULT, STORE_MB_ACCOUNTS_MAX))
        return;
    l = arena_alloc(m->r->arena, sizeof(*l));
    rc = fn(m->st, key, &pg, l);
    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, NULL);
        return;
    }
    api_masto_link(m, l);
    api_masto_send(m->r, 200, api_masto_account_list(m, l));
}

static void send_empty(struct http_req *r)
{
    api_masto_send(r, 200, json_array());
}

/* A numeric parameter in lo..hi (clamped), or def; false (400 answered)
 * when it is not a number. */
static bool int_param(struct masto_req *m, const char *name, int def, int lo, int hi, int *out)
{
    const char *s = api_masto_str(m, name);
    char *end;
    long v;

    *out = def;
    if (s == NULL || *s == '\0')
        return true;
    v = strtol(s, &end, 10);
    if (*end != '\0') {
        api_masto_error(m->r, 400, arena_printf(m->r->arena, "%s must be a number", name));
        return false;
    }
    *out = v < lo ? lo : v > hi ? hi : (int)v;
    return true;
}

/* A tag name as the store keeps it (mb_text's normalization), into out
 * (cap STORE_MB_TAG_MAX + 1); false if s is not a tag. A leading '#' is
 * optional. */
static bool tag_normalize(struct masto_req *m, const char *s, char *out)
{
    struct mb_text t;
    const char *src;
    bool ok = false;

    if (s == NULL || *s == '\0' || strlen(s) > STORE_MB_TAG_MAX)
        return false;
    src = *s == '#' ? s : arena_printf(m->r->arena, "#%s", s);
    if (mb_text_parse(src, strlen(src), STORE_MB_TAG_MAX + 2, &t) == TD_OK && t.n_ents > 0 &&
        t.ents[0].kind == MB_ENT_TAG && t.ents[0].off == 0 && t.ents[0].len == strlen(src) &&
        t.ents[0].value_len <= STORE_MB_TAG_MAX) {
        memcpy(out, t.ents[0].value, t.ents[0].value_len + 1);
        ok = true;
    }
    mb_text_free(&t);
    return ok;
}

/* Is d this server's domain: the host of its base URL, with or without
 * the port? */
static bool our_domain(struct masto_req *m, const char *d)
{
    const char *auth = strstr(m->base, "://");
    size_t n;

    if (m->mb->host && strcasecmp(d, m->mb->host) == 0)
        return true;
    auth = auth ? auth + 3 : m->base;
    n = strcspn(auth, "/");
    return strlen(d) == n && strncasecmp(d, auth, n) == 0;
}

/* The account of "name", "@name", "name@ourhost" or "@name@ourhost", or 0. */
static int64_t account_by_acct(struct masto_req *m, const char *acct)
{
    struct account a;
    const char *at;
    char *name;
    int64_t id = 0;

    if (acct == NULL)
        return 0;
    if (*acct == '@')
        acct++;
    at = strchr(acct, '@');
    if (at && !our_domain(m, at + 1))
        return 0; /* another server's: there is no federation */
    name = arena_strndup(m->r->arena, acct, at ? (size_t)(at - acct) : strlen(acct));
    if (*name == '\0')
        return 0;
    if (store_account_get_by_name(m->st, name, &a) == TD_OK) {
        if (!a.disabled)
            id = a.id;
        store_account_clear(&a);
    }
    return id;
}

/* ---- accounts ---- */

/* GET /api/v1/accounts/verify_credentials: the token's own account, with
 * "source" (what the profile editor shows). */
static void handle_verify_credentials(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", true);
    json_t *j;

    if (m == NULL)
        return;
    j = api_masto_credential_account(m, m->viewer);
    if (j == NULL) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    api_masto_send(r, 200, j);
}

/* GET /api/v1/accounts/:id (anonymous too) */
static void handle_account(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    int64_t id;

    if (m == NULL || !path_account(m, &id))
        return;
    api_masto_send(r, 200, api_masto_account(m, id));
}

/* GET /api/v1/accounts/lookup?acct= */
static void handle_lookup(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    int64_t id;

    if (m == NULL)
        return;
    id = account_by_acct(m, api_masto_str(m, "acct"));
    if (id == 0) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    api_masto_send(r, 200, api_masto_account(m, id));
}

/* Keep of l the posts carrying tag, in order. */
struct tagged {
    const char *tag;
    int64_t ok[STORE_MB_STATUSES_MAX];
    size_t n;
};

static int tagged_cb(void *ud, const struct store_mb_post *p)
{
    struct tagged *t = ud;

    for (size_t i = 0; i < p->ntags; i++) {
        if (strcmp(p->tags[i], t->tag) == 0) {
            t->ok[t->n++] = p->id;
            break;
        }
    }
    return 0;
}

/* An account's statuses that carry tag: pages of mb_account() filtered until
 * the page is full or the list ends. */
static int account_tagged(struct masto_req *m, int64_t id, int flags, const char *tag,
                          const struct store_mb_page *pg0, struct store_mb_list *out)
{
    struct store_mb_page pg = *pg0;
    struct store_mb_list *raw = arena_alloc(m->r->arena, sizeof(*raw));
    size_t limit = (size_t)pg0->limit;
    int rc = TD_OK;

    out->n = 0;
    pg.limit = STORE_MB_STATUSES_MAX;
    /* A filtered list pages downwards only: min_id bounds it like since_id
     * (the newest page above it rather than the oldest). */
    if (pg.min_id > pg.since_id)
        pg.since_id = pg.min_id;
    pg.min_id = 0;
    for (int round = 0; round < FILTER_ROUNDS && out->n < limit; round++) {
        struct tagged t = {.tag = tag};
        int64_t ids[STORE_MB_STATUSES_MAX];

        rc = mb_account(m->mb, m->viewer, id, flags, &pg, raw);
        if (rc != TD_OK || raw->n == 0)
            break;
        for (size_t i = 0; i < raw->n; i++)
            ids[i] = raw->v[i].id;
        rc = store_mb_posts_get(m->st, ids, raw->n, m->viewer, tagged_cb, &t);
        if (rc != TD_OK)
            break;
        for (size_t i = 0; i < raw->n && out->n < limit; i++)
            for (size_t k = 0; k < t.n; k++)
                if (t.ok[k] == raw->v[i].id)
                    out->v[out->n++] = raw->v[i];
        pg.max_id = raw->v[raw->n - 1].cursor;
    }
    return rc;
}

/* GET /api/v1/accounts/:id/statuses */
static void handle_account_statuses(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    struct store_mb_page pg;
    struct store_mb_list *l;
    const char *tagged;
    char tag[STORE_MB_TAG_MAX + 1];
    int64_t id;
    int flags = 0, rc;

    if (m == NULL || !path_account(m, &id) ||
        !api_masto_page(m, &pg, STORE_MB_LIMIT_DEFAULT, STORE_MB_STATUSES_MAX))
        return;
    if (api_masto_bool(m, "pinned", false)) {
        send_empty(r); /* nothing can be pinned here */
        return;
    }
    if (api_masto_bool(m, "exclude_replies", false))
        flags |= STORE_MB_EXCLUDE_REPLIES;
    if (api_masto_bool(m, "exclude_reblogs", false))
        flags |= STORE_MB_EXCLUDE_REBLOGS;
    if (api_masto_bool(m, "only_media", false))
        flags |= STORE_MB_ONLY_MEDIA;
    l = arena_alloc(r->arena, sizeof(*l));
    tagged = api_masto_str(m, "tagged");
    if (tagged && *tagged) {
        if (!tag_normalize(m, tagged, tag)) {
            send_empty(r);
            return;
        }
        rc = account_tagged(m, id, flags | STORE_MB_EXCLUDE_REBLOGS, tag, &pg, l);
    } else {
        rc = mb_account(m->mb, m->viewer, id, flags, &pg, l);
    }
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_link(m, l);
    api_masto_send_status_list(m, l); /* from the cached pieces */
}

/* Does account id block the viewer? Mastodon then shows it no
 * followers or following of that account. */
static bool blocked_by(struct masto_req *m, int64_t id)
{
    struct store_mb_relationship rel;

    return m->viewer != 0 && m->viewer != id &&
           store_mb_relationships(m->st, m->viewer, &id, 1, &rel) == TD_OK && rel.blocked_by;
}

/* GET /api/v1/accounts/:id/followers (anonymous too) */
static void handle_followers(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    int64_t id;

    if (m == NULL || !path_account(m, &id))
        return;
    if (blocked_by(m, id))
        send_empty(r);
    else
        send_account_list(m, store_mb_followers, id);
}

/* GET /api/v1/accounts/:id/following (anonymous too) */
static void handle_following(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    int64_t id;

    if (m == NULL || !path_account(m, &id))
        return;
    if (blocked_by(m, id))
        send_empty(r);
    else
        send_account_list(m, store_mb_following, id);
}

/* GET /api/v1/accounts/:id/featured_tags, /lists, /identity_proofs: this
 * server has none of these; the account must exist. */
static void handle_account_empty(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    int64_t id;

    if (m == NULL || !path_account(m, &id))
        return;
    send_empty(r);
}

/* ---- follows, blocks, mutes ---- */

/* The common start of POST /api/v1/accounts/:id/<action>. */
static struct masto_req *action_start(struct http_req *r, const char *scope, int64_t *id)
{
    struct masto_req *m = api_masto_auth(r, scope, true);

    if (m == NULL || !path_account(m, id))
        return NULL;
    return m;
}

static void action_done(struct masto_req *m, int rc, const struct mb_error *err, int64_t id)
{
    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, err);
        return;
    }
    send_relationship(m, id);
}

/* POST /api/v1/accounts/:id/follow (reblogs, notify; notify is accepted
 * and ignored: there are no per-account post notifications here). */
static void handle_follow(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:follows", &id);

    if (m == NULL)
        return;
    action_done(m, mb_follow(m->mb, m->viewer, id, api_masto_bool(m, "reblogs", true), NULL,
                             &err),
                &err, id);
}

static void handle_unfollow(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:follows", &id);

    if (m != NULL)
        action_done(m, mb_unfollow(m->mb, m->viewer, id, &err), &err, id);
}

/* POST /api/v1/accounts/:id/remove_from_followers: id stops following us. */
static void handle_remove_follower(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:follows", &id);

    if (m != NULL)
        action_done(m, mb_unfollow(m->mb, id, m->viewer, &err), &err, id);
}

static void handle_block(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:blocks", &id);

    if (m != NULL)
        action_done(m, mb_block(m->mb, m->viewer, id, &err), &err, id);
}

static void handle_unblock(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:blocks", &id);

    if (m != NULL)
        action_done(m, mb_unblock(m->mb, m->viewer, id, &err), &err, id);
}

/* POST /api/v1/accounts/:id/mute (notifications, duration in seconds; 0 or
 * absent: for ever) */
static void handle_mute(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id, expires = 0;
    struct masto_req *m = action_start(r, "write:mutes", &id);
    const char *dur;

    if (m == NULL)
        return;
    dur = api_masto_str(m, "duration");
    if (dur && *dur && strcmp(dur, "0") != 0) {
        int64_t secs;
        /* A year of seconds is far beyond any client's menu; 100 years caps it. */
        if (!api_masto_id(dur, &secs) || secs > 100LL * 366 * 86400) {
            api_masto_error(r, 422, "Validation failed: Duration is invalid");
            return;
        }
        expires = store_now_ms() + secs * 1000;
    }
    action_done(m, mb_mute(m->mb, m->viewer, id, api_masto_bool(m, "notifications", true),
                           expires, &err),
                &err, id);
}

static void handle_unmute(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:mutes", &id);

    if (m != NULL)
        action_done(m, mb_unmute(m->mb, m->viewer, id, &err), &err, id);
}

/* GET /api/v1/accounts/relationships?id[]=... (at most 80; Mastodon leaves
 * out unknown accounts and repeats) */
static void handle_relationships(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:follows", true);
    int64_t ids[STORE_MB_ACCOUNTS_MAX];
    struct store_mb_relationship rels[STORE_MB_ACCOUNTS_MAX];
    json_t *arr, *v, *out;
    size_t n = 0, i;
    int rc;

    if (m == NULL)
        return;
    arr = api_masto_arr(m, "id");
    json_array_foreach(arr, i, v) {
        int64_t id;
        bool dup = false;
        struct account a;
        if (n == STORE_MB_ACCOUNTS_MAX)
            break;
        if (!json_is_string(v) || !api_masto_id(json_string_value(v), &id))
            continue;
        for (size_t k = 0; k < n; k++)
            dup = dup || ids[k] == id;
        if (dup || store_account_get_by_id(m->st, id, &a) != TD_OK)
            continue;
        store_account_clear(&a);
        ids[n++] = id;
    }
    rc = store_mb_relationships(m->st, m->viewer, ids, n, rels);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    out = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(out, api_masto_relationship(&rels[i]));
    api_masto_send(r, 200, out);
}

/* Strip a leading '@' and a trailing "@ourhost" from an account query; NULL
 * when it names another server. */
static const char *acct_query(struct masto_req *m, const char *q)
{
    const char *at;

    if (*q == '@')
        q++;
    at = strchr(q, '@');
    if (at == NULL)
        return q;
    if (at[1] != '\0' && !our_domain(m, at + 1))
        return NULL;
    return arena_strndup(m->r->arena, q, (size_t)(at - q));
}

/* Accounts matching q (prefix of username or display name), after offset,
 * at most limit; only those the viewer follows with following. */
static json_t *search_accounts(struct masto_req *m, const char *q, int limit, int offset,
                               bool following)
{
    int64_t ids[STORE_MB_SEARCH_MAX];
    size_t n = 0;
    json_t *out = json_array();
    int skipped = 0;

    q = acct_query(m, q);
    if (q == NULL || *q == '\0' || offset >= STORE_MB_SEARCH_MAX ||
        store_mb_account_search(m->st, q, STORE_MB_SEARCH_MAX, ids, &n) != TD_OK)
        return out;
    for (size_t i = 0; i < n && (int)json_array_size(out) < limit; i++) {
        if (following) {
            struct store_mb_relationship rel;
            if (store_mb_relationships(m->st, m->viewer, &ids[i], 1, &rel) != TD_OK ||
                !rel.following)
                continue;
        }
        if (skipped++ < offset)
            continue;
        json_t *a = api_masto_account(m, ids[i]);
        if (a)
            json_array_append_new(out, a);
    }
    return out;
}

/* GET /api/v1/accounts/search?q=&limit=&offset=&following=&resolve= */
static void handle_account_search(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", true);
    const char *q;
    int limit, offset;

    if (m == NULL || !int_param(m, "limit", ACCOUNTS_DEFAULT, 1, STORE_MB_SEARCH_MAX, &limit) ||
        !int_param(m, "offset", 0, 0, STORE_MB_SEARCH_MAX, &offset))
        return;
    q = api_masto_str(m, "q");
    if (q == NULL || *q == '\0') {
        send_empty(r);
        return;
    }
    api_masto_send(r, 200,
                   search_accounts(m, q, limit, offset, api_masto_bool(m, "following", false)));
}

/* ---- the profile editor ---- */

/* The avatar of a multipart update_credentials: a PNG, JPEG, GIF or WebP
 * within the site's avatar limit, stored as the settings page stores it. */
static bool update_avatar(struct masto_req *m)
{
    const void *data;
    size_t len;
    const char *fname, *ctype, *why = NULL;
    struct mb_media_info info;
    long max = m->app->conf->avatar_max_bytes;

    if (!api_masto_file(m, "avatar", &data, &len, &fname, &ctype))
        return true;
    if (len == 0 || mb_media_probe(data, len, &info, &why) != TD_OK) {
        api_masto_error(m->r, 422, "Validation failed: Avatar must be a PNG, JPEG, GIF or WebP "
                                   "image");
        return false;
    }
    if ((max > 0 && len > (size_t)max) || len > STORE_AVATAR_MAX) {
        api_masto_error(m->r, 422, "Validation failed: Avatar is too large");
        return false;
    }
    if (store_avatar_set(m->st, m->viewer, info.mime, data, len) != TD_OK) {
        api_masto_error(m->r, 500, "The avatar could not be saved");
        return false;
    }
    return true;
}

/* PATCH /api/v1/accounts/update_credentials: display_name, note, locked,
 * discoverable, avatar. A header image is refused (this server has none);
 * the other fields Mastodon knows are accepted and ignored. */
static void handle_update_credentials(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:accounts", true);
    struct account a;
    const char *dn, *note, *why;
    bool locked = false, disc = true;
    const void *d;
    size_t len;
    const char *fn, *ct;
    int rc;

    if (m == NULL)
        return;
    if (api_masto_file(m, "header", &d, &len, &fn, &ct)) {
        api_masto_error(r, 422, "Validation failed: Header images are not supported here");
        return;
    }
    if (store_account_get_by_id(m->st, m->viewer, &a) != TD_OK) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    dn = api_masto_str(m, "display_name");
    note = api_masto_str(m, "note");
    dn = arena_strdup(r->arena, dn ? dn : a.display_name);
    note = arena_strdup(r->arena, note ? note : a.bio);
    store_account_clear(&a);
    why = auth_profile_check(dn, note);
    if (why) {
        api_masto_error(r, 422, arena_printf(r->arena, "Validation failed: %s", why));
        return;
    }
    store_mb_account_flags(m->st, m->viewer, &locked, &disc);
    locked = api_masto_bool(m, "locked", locked);
    disc = api_masto_bool(m, "discoverable", disc);
    if (!update_avatar(m))
        return;
    rc = store_account_set_profile(m->st, m->viewer, dn, note);
    if (rc == TD_OK)
        rc = store_mb_account_set_flags(m->st, m->viewer, locked, disc);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    json_object_clear(m->accounts); /* built before the change */
    mb_account_changed(m->mb, m->viewer); /* and the cached entity text */
    api_masto_send(r, 200, api_masto_credential_account(m, m->viewer));
}

/* ---- follow requests, blocks, mutes, favourites ---- */

/* GET /api/v1/follow_requests (cursor: the request) */
static void handle_follow_requests(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:follows", true);

    if (m != NULL)
        send_account_list(m, store_mb_follow_requests, m->viewer);
}

static void handle_request_authorize(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:follows", &id);

    if (m != NULL)
        action_done(m, mb_follow_authorize(m->mb, m->viewer, id, &err), &err, id);
}

static void handle_request_reject(struct http_req *r)
{
    struct mb_error err = {0};
    int64_t id;
    struct masto_req *m = action_start(r, "write:follows", &id);

    if (m != NULL)
        action_done(m, mb_follow_reject(m->mb, m->viewer, id, &err), &err, id);
}

static void handle_blocks(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:blocks", true);

    if (m != NULL)
        send_account_list(m, store_mb_blocks, m->viewer);
}

/* GET /api/v1/mutes: the accounts carry Mastodon's mute_expires_at. */
static void handle_mutes(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:mutes", true);
    struct store_mb_page pg;
    struct store_mb_list *l;
    json_t *out;
    int rc;

    if (m == NULL || !api_masto_page(m, &pg, ACCOUNTS_DEFAULT, STORE_MB_ACCOUNTS_MAX))
        return;
    l = arena_alloc(r->arena, sizeof(*l));
    rc = store_mb_mutes(m->st, m->viewer, &pg, l);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *a = api_masto_account(m, l->v[i].id);
        int64_t exp = 0;
        if (a == NULL)
            continue;
        /* a copy: the cached entity is shared with other lists */
        json_t *c = json_deep_copy(a);
        json_decref(a);
        store_mb_mute_expires(m->st, m->viewer, l->v[i].id, &exp);
        json_object_set_new(c, "mute_expires_at",
                            exp ? json_string(api_masto_date(m, exp)) : json_null());
        json_array_append_new(out, c);
    }
    api_masto_link(m, l);
    api_masto_send(r, 200, out);
}

/* GET /api/v1/favourites: the Link header pages by the favourite. */
static void handle_favourites(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:favourites", true);
    struct store_mb_page pg;
    struct store_mb_list *l;
    int rc;

    if (m == NULL || !api_masto_page(m, &pg, STORE_MB_LIMIT_DEFAULT, STORE_MB_STATUSES_MAX))
        return;
    l = arena_alloc(r->arena, sizeof(*l));
    rc = mb_favourites(m->mb, m->viewer, &pg, l);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_link(m, l);
    api_masto_send_status_list(m, l); /* from the cached pieces */
}

/* GET /api/v1/endorsements, /api/v1/domain_blocks: none here. */
static void handle_empty_list(struct http_req *r)
{
    if (api_masto_auth(r, "read:accounts", true) != NULL)
        send_empty(r);
}

static void handle_empty_blocks(struct http_req *r)
{
    if (api_masto_auth(r, "read:blocks", true) != NULL)
        send_empty(r);
}

/* ---- notifications ---- */

/* A mask of 1 << type from an array parameter; *given says whether it was
 * there at all (names this server does not know match nothing). */
static unsigned type_mask(struct masto_req *m, const char *name, bool *given)
{
    json_t *arr = api_masto_arr(m, name), *v;
    unsigned mask = 0;
    size_t i;

    *given = arr != NULL && json_array_size(arr) > 0;
    json_array_foreach(arr, i, v) {
        int t = json_is_string(v) ? store_mb_notif_type(json_string_value(v)) : -1;
        if (t >= 0)
            mask |= 1u << t;
    }
    return mask;
}

/* GET /api/v1/notifications (types[], exclude_types[], account_id, limit
 * up to 80; Link by notification id) */
static void handle_notifications(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:notifications", true);
    struct store_mb_page pg;
    struct mb_notif_list *l;
    unsigned types, excl;
    bool has_types, has_excl;
    int64_t from = 0, newest = 0, oldest = 0;
    const char *acc;
    json_t *out;

    if (m == NULL || !api_masto_page(m, &pg, NOTIFS_DEFAULT, STORE_MB_ACCOUNTS_MAX))
        return;
    types = type_mask(m, "types", &has_types);
    excl = type_mask(m, "exclude_types", &has_excl);
    acc = api_masto_str(m, "account_id");
    if (acc && *acc && !api_masto_id(acc, &from)) {
        send_empty(r);
        return;
    }
    out = json_array();
    if (has_types && types == 0) { /* only unknown types asked for */
        api_masto_send(r, 200, out);
        return;
    }
    l = arena_alloc(r->arena, sizeof(*l));
    /* With account_id, read on until the page is full: the store does not
     * filter by sender. */
    size_t want = (size_t)pg.limit;
    for (int round = 0; round < FILTER_ROUNDS && json_array_size(out) < want; round++) {
        struct store_mb_page p = pg;
        if (from)
            p.limit = STORE_MB_ACCOUNTS_MAX;
        if (mb_notifications(m->mb, m->viewer, types, excl, &p, l) != TD_OK || l->n == 0)
            break;
        for (size_t i = 0; i < l->n && json_array_size(out) < want; i++) {
            if (from && l->v[i].from_account_id != from)
                continue;
            json_t *j = api_masto_notification(m, &l->v[i]);
            if (j == NULL)
                continue;
            if (newest == 0)
                newest = l->v[i].id;
            oldest = l->v[i].id;
            json_array_append_new(out, j);
        }
        if (from == 0 || pg.min_id != 0 || l->n < STORE_MB_ACCOUNTS_MAX)
            break;
        pg.max_id = l->v[l->n - 1].id;
    }
    if (pg.min_id != 0) { /* a min_id page's ends, whatever order it came in */
        int64_t a = newest, b = oldest;
        newest = a > b ? a : b;
        oldest = a > b ? b : a;
    }
    api_masto_link_ids(m, newest, oldest);
    api_masto_send(r, 200, out);
}

/* GET /api/v1/notifications/:id */
static void handle_notification(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:notifications", true);
    struct store_mb_notif n;
    json_t *j = NULL;
    int64_t id;

    if (m == NULL || !api_masto_path_id(m, "id", &id))
        return;
    if (store_mb_notif_get(m->st, m->viewer, id, &n) == TD_OK)
        j = api_masto_notification(m, &n); /* NULL when its post is not visible */
    if (j == NULL) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    api_masto_send(r, 200, j);
}

/* POST /api/v1/notifications/:id/dismiss (and the older
 * POST /api/v1/notifications/dismiss with id in the body) */
static void dismiss(struct masto_req *m, int64_t id)
{
    int rc = mb_notif_dismiss(m->mb, m->viewer, id);

    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, NULL);
        return;
    }
    api_masto_send(m->r, 200, json_object());
}

static void handle_notif_dismiss(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:notifications", true);
    int64_t id;

    if (m != NULL && api_masto_path_id(m, "id", &id))
        dismiss(m, id);
}

static void handle_notif_dismiss_old(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:notifications", true);
    int64_t id;

    if (m == NULL)
        return;
    if (!api_masto_id(api_masto_str(m, "id"), &id)) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    dismiss(m, id);
}

static void handle_notif_clear(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:notifications", true);
    int rc;

    if (m == NULL)
        return;
    rc = mb_notif_clear(m->mb, m->viewer);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_send(r, 200, json_object());
}

/* GET /api/v1/notifications/unread_count: those past the notifications
 * marker (POST /api/v1/markers marks them read), at most limit (Mastodon:
 * default 100, at most 1000). */
static void handle_notif_unread(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:notifications", true);
    int64_t n = 0;
    int limit, rc;

    if (m == NULL || !int_param(m, "limit", 100, 1, 1000, &limit))
        return;
    rc = store_mb_notif_unread(m->st, m->viewer, &n);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_send(r, 200, json_pack("{s:I}", "count", (json_int_t)(n < limit ? n : limit)));
}

/* ---- markers (stored per account: home and notifications) ---- */

static json_t *marker_json(struct masto_req *m, const struct store_mb_marker *mk)
{
    return json_pack("{s:s, s:I, s:s}", "last_read_id",
                     arena_printf(m->r->arena, "%lld", (long long)mk->last_read_id), "version",
                     (json_int_t)mk->version, "updated_at", api_masto_date(m, mk->updated_at));
}

static const char *const marker_timelines[] = {"home", "notifications"};

/* GET /api/v1/markers?timeline[]=home&timeline[]=notifications: the saved
 * ones of those asked for. */
static void handle_markers_get(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", true);
    json_t *arr, *v, *out;
    size_t i;

    if (m == NULL)
        return;
    out = json_object();
    arr = api_masto_arr(m, "timeline");
    json_array_foreach(arr, i, v) {
        struct store_mb_marker mk;
        const char *t = json_string_value(v);
        if (t && store_mb_marker_get(m->st, m->viewer, t, &mk) == TD_OK)
            json_object_set_new(out, t, marker_json(m, &mk));
    }
    api_masto_send(r, 200, out);
}

/* The last_read_id of timeline t in a POST: "t[last_read_id]" from a form,
 * or {"t": {"last_read_id": ...}} from JSON. */
static const char *marker_param(struct masto_req *m, const char *t)
{
    json_t *o = json_object_get(m->params, t);
    json_t *v;

    if (json_is_object(o)) {
        v = json_object_get(o, "last_read_id");
        if (json_is_string(v))
            return json_string_value(v);
        if (json_is_integer(v))
            return arena_printf(m->r->arena, "%lld", (long long)json_integer_value(v));
        return "";
    }
    return api_masto_str(m, arena_printf(m->r->arena, "%s[last_read_id]", t));
}

/* POST /api/v1/markers: save home and/or notifications; the notifications
 * marker also marks the notifications up to it read. */
static void handle_markers_post(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    const char *val[2];
    int64_t ids[2] = {0, 0};
    json_t *out;

    if (m == NULL)
        return;
    for (size_t i = 0; i < 2; i++) {
        val[i] = marker_param(m, marker_timelines[i]);
        if (val[i] && !api_masto_id(val[i], &ids[i])) {
            api_masto_error(r, 422, "Validation failed: Last read ID is invalid");
            return;
        }
    }
    if (val[0] == NULL && val[1] == NULL) {
        api_masto_error(r, 400, "home[last_read_id] or notifications[last_read_id] is missing");
        return;
    }
    out = json_object();
    for (size_t i = 0; i < 2; i++) {
        struct store_mb_marker mk;
        int rc;
        if (val[i] == NULL)
            continue;
        rc = store_mb_marker_set(m->st, m->viewer, marker_timelines[i], ids[i], &mk);
        if (rc == TD_OK && i == 1)
            rc = mb_notif_mark_read(m->mb, m->viewer, ids[i]);
        if (rc != TD_OK) {
            json_decref(out);
            api_masto_fail(r, rc, NULL);
            return;
        }
        json_object_set_new(out, marker_timelines[i], marker_json(m, &mk));
    }
    api_masto_send(r, 200, out);
}

/* ---- search ---- */

/* The status a local URL names ("<base>/@name/<id>" or
 * "<base>/users/name/statuses/<id>"), if the viewer may see it; else NULL. */
static json_t *status_by_url(struct masto_req *m, const char *q)
{
    size_t bl = strlen(m->base);
    const char *p, *slash;
    int64_t id;

    if (strncmp(q, m->base, bl) != 0 || q[bl] != '/')
        return NULL;
    p = q + bl + 1;
    if (*p == '@') {
        slash = strchr(p, '/');
    } else if (strncmp(p, "users/", 6) == 0) {
        slash = strstr(p + 6, "/statuses/");
        if (slash)
            slash += 9;
    } else {
        return NULL;
    }
    if (slash == NULL || !api_masto_id(slash + 1, &id))
        return NULL;
    return api_masto_status_id(m, id); /* mb_get(): NULL if not visible */
}

/* The account a local profile URL names ("<base>/@name"), or 0. */
static int64_t account_by_url(struct masto_req *m, const char *q)
{
    size_t bl = strlen(m->base);

    if (strncmp(q, m->base, bl) != 0 || strncmp(q + bl, "/@", 2) != 0 ||
        strchr(q + bl + 2, '/') != NULL)
        return 0;
    return account_by_acct(m, q + bl + 2);
}

struct found {
    struct masto_req *m;
    int64_t account;   /* only this author's; 0 = any */
    int64_t ok[STORE_MB_STATUSES_MAX];
    size_t nok;
};

static int found_cb(void *ud, const struct store_mb_post *p)
{
    struct found *f = ud;

    if (f->account && p->account_id != f->account)
        return 0;
    if (mb_visible(f->m->mb, f->m->viewer, p) && f->nok < STORE_MB_STATUSES_MAX)
        f->ok[f->nok++] = p->id;
    return 0;
}

/* Full-text hits that the viewer may see, newest first, past offset, at
 * most limit; at most SEARCH_SCAN_MAX hits are looked at. */
static json_t *search_statuses(struct masto_req *m, const char *q, int limit, int offset,
                               int64_t account, int64_t max_id, int64_t min_id)
{
    int64_t hits[STORE_MB_STATUSES_MAX], keep[STORE_MB_STATUSES_MAX];
    size_t nkeep = 0, scanned = 0, n;
    int skipped = 0;
    int64_t before = max_id;

    while (nkeep < (size_t)limit && scanned < SEARCH_SCAN_MAX) {
        struct found f = {.m = m, .account = account};
        if (store_mb_post_search(m->st, q, before, min_id, hits, STORE_MB_STATUSES_MAX, &n) !=
                TD_OK ||
            n == 0)
            break;
        scanned += n;
        if (store_mb_posts_get(m->st, hits, n, m->viewer, found_cb, &f) != TD_OK)
            break;
        for (size_t i = 0; i < n && nkeep < (size_t)limit; i++) {
            for (size_t k = 0; k < f.nok; k++) {
                if (f.ok[k] != hits[i])
                    continue;
                if (skipped < offset)
                    skipped++;
                else
                    keep[nkeep++] = hits[i];
                break;
            }
        }
        if (n < STORE_MB_STATUSES_MAX)
            break;
        before = hits[n - 1];
    }
    return api_masto_statuses(m, keep, nkeep);
}

/* Tags starting with q (a leading '#' optional). */
struct tags_out {
    struct masto_req *m;
    json_t *out;
    bool names; /* v1: plain strings */
    int skip;
};

static int tag_cb(void *ud, int64_t id, const char *name)
{
    struct tags_out *t = ud;

    (void)id;
    if (t->skip > 0) {
        t->skip--;
        return 0;
    }
    json_array_append_new(t->out, t->names ? json_string(name) : api_masto_tag(t->m, name));
    return 0;
}

static json_t *search_tags(struct masto_req *m, const char *q, int limit, int offset, bool names)
{
    char tag[STORE_MB_TAG_MAX + 1];
    struct tags_out t = {.m = m, .out = json_array(), .names = names, .skip = offset};

    if (offset < STORE_MB_SEARCH_MAX && tag_normalize(m, q, tag))
        store_mb_tag_search(m->st, tag, limit + offset, tag_cb, &t);
    return t.out;
}

/* An optional id parameter: absent or empty gives 0; false if malformed. */
static bool opt_id(struct masto_req *m, const char *name, int64_t *out)
{
    const char *v = api_masto_str(m, name);

    *out = 0;
    return v == NULL || *v == '\0' || api_masto_id(v, out);
}

/* GET /api/v2/search and /api/v1/search (v1: hashtags as strings). */
static void search(struct http_req *r, bool v1)
{
    struct masto_req *m = api_masto_auth(r, "read:search", false);
    const char *q, *type;
    int limit, offset;
    int64_t account = 0, max_id = 0, min_id = 0;
    json_t *accounts, *tags, *statuses;

    if (m == NULL || !int_param(m, "limit", SEARCH_DEFAULT, 1, STORE_MB_SEARCH_MAX, &limit) ||
        !int_param(m, "offset", 0, 0, SEARCH_SCAN_MAX, &offset))
        return;
    if (m->viewer == 0 && (offset > 0 || api_masto_bool(m, "resolve", false))) {
        /* Mastodon's rule, which keeps anonymous scraping cheap. */
        api_masto_error(r, 401, "Search queries pagination is not supported without "
                                "authentication");
        return;
    }
    q = api_masto_str(m, "q");
    type = api_masto_str(m, "type");
    if (!opt_id(m, "account_id", &account) || !opt_id(m, "max_id", &max_id) ||
        !opt_id(m, "min_id", &min_id)) {
        api_masto_error(r, 400, "account_id, max_id and min_id must be ids");
        return;
    }
    if (q == NULL || *q == '\0' || strlen(q) > STORE_MB_FTS_QUERY_MAX) {
        api_masto_error(r, 400, "q must be given (at most 512 bytes)");
        return;
    }
    bool all = type == NULL || *type == '\0';
    bool is_url = strncmp(q, "http://", 7) == 0 || strncmp(q, "https://", 8) == 0;
    accounts = json_array();
    tags = json_array();
    statuses = json_array();
    if (is_url) {
        int64_t aid = account_by_url(m, q);
        json_t *s = status_by_url(m, q);
        if (aid && (all || strcmp(type, "accounts") == 0) && offset == 0)
            json_array_append_new(accounts, api_masto_account(m, aid));
        if (s && (all || strcmp(type, "statuses") == 0) && offset == 0)
            json_array_append(statuses, s);
        json_decref(s);
    } else {
        if (all || strcmp(type, "accounts") == 0) {
            json_decref(accounts);
            accounts = search_accounts(m, q, limit, offset, api_masto_bool(m, "following", false));
        }
        if (all || strcmp(type, "hashtags") == 0) {
            json_decref(tags);
            tags = search_tags(m, q, limit, offset, v1);
        }
        /* Mastodon searches statuses for signed-in users only. */
        if ((all || strcmp(type, "statuses") == 0) && m->viewer != 0) {
            json_decref(statuses);
            statuses = search_statuses(m, q, limit, offset, account, max_id, min_id);
        }
    }
    api_masto_send(r, 200, json_pack("{s:o, s:o, s:o}", "accounts", accounts, "hashtags", tags,
                                     "statuses", statuses));
}

static void handle_search_v2(struct http_req *r)
{
    search(r, false);
}

static void handle_search_v1(struct http_req *r)
{
    search(r, true);
}

void api_masto_accounts_routes(struct http_router *rt)
{
    /* Literal paths before "/api/v1/accounts/:id": the first match wins. */
    http_router_add(rt, "GET", "/api/v1/accounts/verify_credentials", handle_verify_credentials);
    http_router_add(rt, "PATCH", "/api/v1/accounts/update_credentials",
                    handle_update_credentials);
    http_router_add(rt, "GET", "/api/v1/accounts/lookup", handle_lookup);
    http_router_add(rt, "GET", "/api/v1/accounts/relationships", handle_relationships);
    http_router_add(rt, "GET", "/api/v1/accounts/search", handle_account_search);
    http_router_add(rt, "GET", "/api/v1/accounts/:id", handle_account);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/statuses", handle_account_statuses);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/followers", handle_followers);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/following", handle_following);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/featured_tags", handle_account_empty);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/lists", handle_account_empty);
    http_router_add(rt, "GET", "/api/v1/accounts/:id/identity_proofs", handle_account_empty);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/follow", handle_follow);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/unfollow", handle_unfollow);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/remove_from_followers",
                    handle_remove_follower);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/block", handle_block);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/unblock", handle_unblock);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/mute", handle_mute);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/unmute", handle_unmute);
    http_router_add(rt, "GET", "/api/v1/follow_requests", handle_follow_requests);
    http_router_add(rt, "POST", "/api/v1/follow_requests/:id/authorize", handle_request_authorize);
    http_router_add(rt, "POST", "/api/v1/follow_requests/:id/reject", handle_request_reject);
    http_router_add(rt, "GET", "/api/v1/blocks", handle_blocks);
    http_router_add(rt, "GET", "/api/v1/mutes", handle_mutes);
    http_router_add(rt, "GET", "/api/v1/favourites", handle_favourites);
    http_router_add(rt, "GET", "/api/v1/endorsements", handle_empty_list);
    http_router_add(rt, "GET", "/api/v1/domain_blocks", handle_empty_blocks);
    http_router_add(rt, "GET", "/api/v1/notifications", handle_notifications);
    http_router_add(rt, "POST", "/api/v1/notifications/clear", handle_notif_clear);
    http_router_add(rt, "POST", "/api/v1/notifications/dismiss", handle_notif_dismiss_old);
    http_router_add(rt, "GET", "/api/v1/notifications/unread_count", handle_notif_unread);
    http_router_add(rt, "GET", "/api/v1/notifications/:id", handle_notification);
    http_router_add(rt, "POST", "/api/v1/notifications/:id/dismiss", handle_notif_dismiss);
    http_router_add(rt, "GET", "/api/v1/markers", handle_markers_get);
    http_router_add(rt, "POST", "/api/v1/markers", handle_markers_post);
    http_router_add(rt, "GET", "/api/v2/search", handle_search_v2);
    http_router_add(rt, "GET", "/api/v1/search", handle_search_v1);
}
