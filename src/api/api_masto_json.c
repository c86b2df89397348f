/* SPDX-License-Identifier: MIT */
/* The Mastodon API's entities, with the fields real clients read
 * (https://docs.joinmastodon.org/entities/): Account, Status,
 * MediaAttachment, Notification, Relationship, Tag. IDs are strings and
 * dates carry milliseconds, as Mastodon sends them. Fields for features this
 * server does not have (custom emojis, polls, cards, filters, bookmarks,
 * pins) are present with their empty values, because clients index them
 * without checking. */
#include "api/api_masto.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "http/http_form.h"
#include "store/store.h"
#include "web/web.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEDIA_KEY_BYTES 12

static const char *const visibility_names[] = {"public", "unlisted", "private", "direct"};

static const char *visibility_name(int v)
{
    return v >= 0 && v < 4 ? visibility_names[v] : "public";
}

static json_t *id_str(struct masto_req *m, int64_t id)
{
    char s[24];
    (void)m;
    snprintf(s, sizeof(s), "%lld", (long long)id);
    return json_string(s);
}

static json_t *id_or_null(struct masto_req *m, int64_t id)
{
    return id ? id_str(m, id) : json_null();
}

const char *api_masto_date(struct masto_req *m, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[40];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    return arena_printf(m->r->arena, "%s.%03dZ", s, (int)(ms % 1000));
}

static json_t *date_json(struct masto_req *m, int64_t ms)
{
    return ms ? json_string(api_masto_date(m, ms)) : json_null();
}

/* ---- Account ---- */

/* The bio as HTML: escaped, paragraphs on blank lines, <br> on line breaks. */
static json_t *note_html(const char *bio)
{
    struct buf b;
    json_t *j;

    if (bio == NULL || *bio == '\0')
        return json_string("");
    buf_init(&b, 0);
    buf_appends(&b, "<p>");
    for (const char *p = bio; *p;) {
        size_t n = strcspn(p, "\n\r");
        buf_append_html(&b, p, n);
        p += n;
        if (*p == '\r' && p[1] == '\n')
            p++;
        if (*p) {
            p++;
            if (*p == '\n' || *p == '\r') {
                while (*p == '\n' || *p == '\r')
                    p++;
                if (*p)
                    buf_appends(&b, "</p><p>");
            } else if (*p) {
                buf_appends(&b, "<br>");
            }
        }
    }
    buf_appends(&b, "</p>");
    j = json_stringn(b.data, b.len);
    buf_free(&b);
    return j ? j : json_string("");
}

static json_t *account_build(struct masto_req *m, const struct account *a)
{
    struct store_mb_stats stats = {0};
    bool locked = false, discoverable = true;
    char day[16];
    const char *avatar;
    json_t *j;

    store_mb_account_stats(m->st, a->id, &stats);
    store_mb_account_flags(m->st, a->id, &locked, &discoverable);
    avatar = a->has_avatar ? arena_printf(m->r->arena, "%s/avatars/%s", m->base, a->username)
                           : arena_printf(m->r->arena, "%s/static/missing.png", m->base);
    const char *header = arena_printf(m->r->arena, "%s/static/missing.png", m->base);
    const char *url = arena_printf(m->r->arena, "%s/@%s", m->base, a->username);
    j = json_object();
    json_object_set_new(j, "id", id_str(m, a->id));
    json_object_set_new(j, "username", json_string(a->username));
    json_object_set_new(j, "acct", json_string(a->username)); /* local: no @domain */
    json_object_set_new(j, "display_name", json_string(a->display_name ? a->display_name : ""));
    json_object_set_new(j, "locked", json_boolean(locked));
    json_object_set_new(j, "bot", json_false());
    json_object_set_new(j, "discoverable", json_boolean(discoverable));
    json_object_set_new(j, "indexable", json_boolean(discoverable));
    json_object_set_new(j, "group", json_false());
    /* Mastodon gives the day an account was made, at midnight. */
    json_object_set_new(j, "created_at",
                        json_string(api_masto_date(m, a->created_at - a->created_at % 86400000)));
    json_object_set_new(j, "note", note_html(a->bio));
    json_object_set_new(j, "url", json_string(url));
    json_object_set_new(j, "uri", json_string(arena_printf(m->r->arena, "%s/users/%s", m->base,
                                                           a->username)));
    json_object_set_new(j, "avatar", json_string(avatar));
    json_object_set_new(j, "avatar_static", json_string(avatar));
    json_object_set_new(j, "header", json_string(header));
    json_object_set_new(j, "header_static", json_string(header));
    json_object_set_new(j, "followers_count", json_integer(stats.followers_count));
    json_object_set_new(j, "following_count", json_integer(stats.following_count));
    json_object_set_new(j, "statuses_count", json_integer(stats.statuses_count));
    if (stats.last_status_at) {
        time_t t = (time_t)(stats.last_status_at / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        json_object_set_new(j, "last_status_at", json_string(day));
    } else {
        json_object_set_new(j, "last_status_at", json_null());
    }
    json_object_set_new(j, "noindex", json_boolean(!discoverable));
    json_object_set_new(j, "emojis", json_array());
    json_object_set_new(j, "roles", json_array());
    json_object_set_new(j, "fields", json_array());
    return j;
}

json_t *api_masto_account(struct masto_req *m, int64_t id)
{
    char key[24];
    json_t *j;
    struct account a;

    snprintf(key, sizeof(key), "%lld", (long long)id);
    j = json_object_get(m->accounts, key);
    if (j)
        return json_incref(j);
    if (store_account_get_by_id(m->st, id, &a) != TD_OK)
        return NULL;
    j = account_build(m, &a);
    store_account_clear(&a);
    json_object_set(m->accounts, key, j);
    return j;
}

json_t *api_masto_credential_account(struct masto_req *m, int64_t id)
{
    struct account a;
    json_t *j, *src;
    int64_t requests = 0;
    struct store_mb_list l;
    struct store_mb_page pg = {.limit = STORE_MB_ACCOUNTS_MAX};

    if (store_account_get_by_id(m->st, id, &a) != TD_OK)
        return NULL;
    j = account_build(m, &a);
    if (store_mb_follow_requests(m->st, id, &pg, &l) == TD_OK)
        requests = (int64_t)l.n;
    src = json_pack("{s:s, s:b, s:n, s:s, s:[], s:I}", "privacy", "public", "sensitive", 0,
                    "language", "note", a.bio ? a.bio : "", "fields", "follow_requests_count",
                    (json_int_t)requests);
    json_object_set_new(j, "source", src);
    json_object_set_new(j, "role",
                        json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", a.is_admin ? "3" : "-99",
                                  "name", a.is_admin ? "Admin" : "", "permissions",
                                  a.is_admin ? "1" : "0", "color", "", "highlighted", 0));
    store_account_clear(&a);
    return j;
}

/* ---- MediaAttachment ---- */

static void media_key(struct web_app *app, int64_t id, char out[2 * MEDIA_KEY_BYTES + 1])
{
    uint8_t h[MEDIA_KEY_BYTES];
    uint8_t idb[8];

    for (int i = 0; i < 8; i++)
        idb[i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
    crypto_generichash(h, sizeof(h), idb, sizeof(idb), app->media_key, sizeof(app->media_key));
    for (size_t i = 0; i < sizeof(h); i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

const char *api_masto_media_url(struct masto_req *m, int64_t id, const char *kind)
{
    char key[2 * MEDIA_KEY_BYTES + 1];

    media_key(m->app, id, key);
    return arena_printf(m->r->arena, "%s/media/%lld/%s/%s", m->base, (long long)id, key, kind);
}

bool api_masto_media_key_ok(struct web_app *app, int64_t id, const char *key)
{
    char want[2 * MEDIA_KEY_BYTES + 1];

    media_key(app, id, want);
    return key && strlen(key) == strlen(want) && sodium_memcmp(key, want, strlen(want)) == 0;
}

static json_t *media_meta(uint32_t w, uint32_t h)
{
    char size[32];

    snprintf(size, sizeof(size), "%ux%u", w, h);
    return json_pack("{s:i, s:i, s:s, s:f}", "width", (int)w, "height", (int)h, "size", size,
                     "aspect", h ? (double)w / h : 1.0);
}

json_t *api_masto_media(struct masto_req *m, const struct store_mb_media *md)
{
    json_t *j = json_object();
    /* The thumbnail's size follows from the original's (longest side 640). */
    uint32_t w = (uint32_t)md->width, h = (uint32_t)md->height, tw = w, th = h;
    if (w > 640 || h > 640) {
        if (w >= h) {
            tw = 640;
            th = (uint32_t)((uint64_t)h * 640 / w);
        } else {
            th = 640;
            tw = (uint32_t)((uint64_t)w * 640 / h);
        }
    }
    json_object_set_new(j, "id", id_str(m, md->id));
    json_object_set_new(j, "type", json_string("image"));
    json_object_set_new(j, "url", json_string(api_masto_media_url(m, md->id, "original")));
    json_object_set_new(j, "preview_url", json_string(api_masto_media_url(m, md->id, "small")));
    json_object_set_new(j, "remote_url", json_null());
    json_object_set_new(j, "preview_remote_url", json_null());
    json_object_set_new(j, "text_url", json_null());
    json_t *meta = json_pack("{s:o, s:o}", "original", media_meta(w, h), "small",
                             media_meta(tw ? tw : 1, th ? th : 1));
    if (md->has_focus)
        json_object_set_new(meta, "focus",
                            json_pack("{s:f, s:f}", "x", md->focus_x, "y", md->focus_y));
    json_object_set_new(j, "meta", meta);
    json_object_set_new(j, "description",
                        md->description && md->description[0] ? json_string(md->description)
                                                              : json_null());
    json_object_set_new(j, "blurhash", md->blurhash ? json_string(md->blurhash) : json_null());
    return j;
}

/* ---- Status ---- */

static json_t *mention_json(struct masto_req *m, int64_t id)
{
    json_t *a = api_masto_account(m, id);
    json_t *j;

    if (a == NULL)
        return NULL;
    j = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(a, "id"), "username",
                  json_object_get(a, "username"), "url", json_object_get(a, "url"), "acct",
                  json_object_get(a, "acct"));
    json_decref(a);
    return j;
}

json_t *api_masto_tag(struct masto_req *m, const char *name)
{
    struct buf u;
    json_t *j;

    buf_init(&u, 0);
    buf_printf(&u, "%s/tags/", m->base);
    http_url_encode(&u, name, strlen(name));
    j = json_pack("{s:s, s:s, s:[], s:b}", "name", name, "url", u.data, "history", "following",
                  0);
    buf_free(&u);
    return j;
}

/* The entity of a post that is not a reblog. */
static json_t *status_build(struct masto_req *m, const struct store_mb_post *p)
{
    json_t *acct = api_masto_account(m, p->account_id);
    json_t *j, *arr;

    if (acct == NULL)
        return NULL;
    j = json_object();
    json_object_set_new(j, "id", id_str(m, p->id));
    json_object_set_new(j, "created_at", date_json(m, p->created_at));
    json_object_set_new(j, "in_reply_to_id", id_or_null(m, p->in_reply_to_id));
    json_object_set_new(j, "in_reply_to_account_id", id_or_null(m, p->in_reply_to_account_id));
    json_object_set_new(j, "sensitive", json_boolean(p->sensitive));
    json_object_set_new(j, "spoiler_text", json_string(p->spoiler_text ? p->spoiler_text : ""));
    json_object_set_new(j, "visibility", json_string(visibility_name(p->visibility)));
    json_object_set_new(j, "language", p->language ? json_string(p->language) : json_null());
    const char *uname = json_string_value(json_object_get(acct, "username"));
    json_object_set_new(j, "uri",
                        json_string(arena_printf(m->r->arena, "%s/users/%s/statuses/%lld",
                                                 m->base, uname, (long long)p->id)));
    json_object_set_new(j, "url", json_string(arena_printf(m->r->arena, "%s/@%s/%lld", m->base,
                                                           uname, (long long)p->id)));
    json_object_set_new(j, "replies_count", json_integer(p->replies_count));
    json_object_set_new(j, "reblogs_count", json_integer(p->reblogs_count));
    json_object_set_new(j, "favourites_count", json_integer(p->favourites_count));
    json_object_set_new(j, "edited_at", date_json(m, p->edited_at));
    json_object_set_new(j, "content", json_string(p->content ? p->content : ""));
    json_object_set_new(j, "reblog", json_null());
    json_object_set_new(j, "application", json_null());
    json_object_set_new(j, "account", acct);
    arr = json_array();
    for (size_t i = 0; i < p->nmedia; i++) {
        struct store_mb_media md;
        if (store_mb_media_get(m->st, p->media[i], false, &md) == TD_OK) {
            json_array_append_new(arr, api_masto_media(m, &md));
            store_mb_media_clear(&md);
        }
    }
    json_object_set_new(j, "media_attachments", arr);
    arr = json_array();
    for (size_t i = 0; i < p->nmentions; i++) {
        json_t *mj = mention_json(m, p->mentions[i]);
        if (mj)
            json_array_append_new(arr, mj);
    }
    json_object_set_new(j, "mentions", arr);
    arr = json_array();
    for (size_t i = 0; i < p->ntags; i++)
        json_array_append_new(arr, api_masto_tag(m, p->tags[i]));
    json_object_set_new(j, "tags", arr);
    json_object_set_new(j, "emojis", json_array());
    json_object_set_new(j, "card", json_null());
    json_object_set_new(j, "poll", json_null());
    json_object_set_new(j, "filtered", json_array());
    if (m->viewer) {
        json_object_set_new(j, "favourited", json_boolean(p->favourited));
        json_object_set_new(j, "reblogged", json_boolean(p->reblogged));
        json_object_set_new(j, "muted", json_false());
        json_object_set_new(j, "bookmarked", json_false());
        if (p->account_id == m->viewer)
            json_object_set_new(j, "pinned", json_false());
    }
    return j;
}

/* A reblog: Mastodon's wrapper, whose content is empty and whose "reblog"
 * is the original with the viewer's own favourited/reblogged. */
static json_t *reblog_build(struct masto_req *m, const struct store_mb_post *rb,
                            json_t *original)
{
    struct store_mb_post shell = *rb;
    json_t *j;

    shell.content = "";
    shell.spoiler_text = "";
    shell.nmedia = shell.nmentions = shell.ntags = 0;
    shell.in_reply_to_id = shell.in_reply_to_account_id = 0;
    shell.replies_count = shell.reblogs_count = shell.favourites_count = 0;
    j = status_build(m, &shell);
    if (j == NULL)
        return NULL;
    json_object_set(j, "reblog", original);
    if (m->viewer) {
        json_object_set(j, "favourited", json_object_get(original, "favourited"));
        json_object_set(j, "reblogged", json_object_get(original, "reblogged"));
    }
    return j;
}

json_t *api_masto_status(struct masto_req *m, const struct store_mb_post *p)
{
    struct store_mb_post orig;
    json_t *o, *j;

    if (p->reblog_of_id == 0)
        return status_build(m, p);
    if (store_mb_post_get(m->st, p->reblog_of_id, m->viewer, &orig) != TD_OK)
        return NULL;
    o = status_build(m, &orig);
    store_mb_post_clear(&orig);
    if (o == NULL)
        return NULL;
    j = reblog_build(m, p, o);
    json_decref(o);
    return j;
}

json_t *api_masto_status_id(struct masto_req *m, int64_t id)
{
    struct store_mb_post p;
    json_t *j;

    if (mb_get(m->mb, m->viewer, id, &p) != TD_OK)
        return NULL;
    j = api_masto_status(m, &p);
    store_mb_post_clear(&p);
    return j;
}

/* One page (n <= STORE_MB_STATUSES_MAX) from the service's post cache, with
 * the reader's favourited/reblogged from one query. */
static void statuses_page(struct masto_req *m, const int64_t *ids, size_t n, json_t *out)
{
    struct mb_cpost *posts[STORE_MB_STATUSES_MAX], *origs[STORE_MB_STATUSES_MAX];
    int64_t oids[STORE_MB_STATUSES_MAX], fids[STORE_MB_STATUSES_MAX];
    bool fav[STORE_MB_STATUSES_MAX], reb[STORE_MB_STATUSES_MAX];
    size_t no = 0;

    memset(origs, 0, sizeof(origs));
    if (mb_posts(m->mb, ids, n, posts) != TD_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        fids[i] = ids[i];
        if (posts[i] && posts[i]->p.reblog_of_id)
            oids[no++] = fids[i] = posts[i]->p.reblog_of_id;
    }
    if ((no == 0 || mb_posts(m->mb, oids, no, origs) == TD_OK) &&
        store_mb_viewer_flags(m->st, m->viewer, fids, n, fav, reb) == TD_OK) {
        for (size_t i = 0, k = 0; i < n; i++) {
            struct mb_cpost *o = posts[i] && posts[i]->p.reblog_of_id ? origs[k++] : NULL;
            if (posts[i] == NULL || (posts[i]->p.reblog_of_id && o == NULL))
                continue;
            struct store_mb_post p = o ? o->p : posts[i]->p;
            p.favourited = fav[i];
            p.reblogged = reb[i];
            json_t *j = status_build(m, &p);
            if (j && o) {
                json_t *w = reblog_build(m, &posts[i]->p, j);
                json_decref(j);
                j = w;
            }
            if (j)
                json_array_append_new(out, j);
        }
    }
    mb_posts_release(posts, n);
    mb_posts_release(origs, no);
}

json_t *api_masto_statuses(struct masto_req *m, const int64_t *ids, size_t n)
{
    json_t *out = json_array();

    for (size_t i = 0; i < n; i += STORE_MB_STATUSES_MAX)
        statuses_page(m, ids + i, n - i < STORE_MB_STATUSES_MAX ? n - i : STORE_MB_STATUSES_MAX,
                      out);
    return out;
}

json_t *api_masto_status_list(struct masto_req *m, const struct store_mb_list *l)
{
    int64_t *ids = arena_alloc(m->r->arena, (l->n ? l->n : 1) * sizeof(int64_t));

    for (size_t i = 0; i < l->n; i++)
        ids[i] = l->v[i].id;
    return api_masto_statuses(m, ids, l->n);
}

json_t *api_masto_account_list(struct masto_req *m, const struct store_mb_list *l)
{
    json_t *out = json_array();

    for (size_t i = 0; i < l->n; i++) {
        json_t *a = api_masto_account(m, l->v[i].id);
        if (a)
            json_array_append_new(out, a);
    }
    return out;
}

/* ---- Notification, Relationship ---- */

json_t *api_masto_notification(struct masto_req *m, const struct store_mb_notif *n)
{
    const char *type = store_mb_notif_name(n->type);
    json_t *acct = api_masto_account(m, n->from_account_id);
    json_t *j;

    if (type == NULL || acct == NULL) {
        json_decref(acct);
        return NULL;
    }
    j = json_object();
    json_object_set_new(j, "id", id_str(m, n->id));
    json_object_set_new(j, "type", json_string(type));
    json_object_set_new(j, "created_at", date_json(m, n->created_at));
    json_object_set_new(j, "account", acct);
    if (n->post_id) {
        json_t *s = api_masto_status_id(m, n->post_id);
        if (s == NULL) {
            json_decref(j);
            return NULL;
        }
        json_object_set_new(j, "status", s);
    }
    return j;
}

json_t *api_masto_relationship(const struct store_mb_relationship *rel)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", (long long)rel->id);
    return json_pack("{s:s, s:b, s:b, s:b, s:n, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, "
                     "s:s}",
                     "id", id, "following", rel->following, "showing_reblogs",
                     rel->showing_reblogs, "notifying", 0, "languages", "followed_by",
                     rel->followed_by, "blocking", rel->blocking, "blocked_by", rel->blocked_by,
                     "muting", rel->muting, "muting_notifications", rel->muting_notifications,
                     "requested", rel->requested, "requested_by", rel->requested_by,
                     "domain_blocking", 0, "endorsed", 0, "note", "");
}

/* ---- for the serialized caches (api_masto_cache.c) ---- */

json_t *api_masto_status_core(struct masto_req *m, const struct store_mb_post *p)
{
    struct masto_req anon = *m;
    struct store_mb_post shell = *p;
    json_t *j;

    anon.viewer = 0; /* no viewer fields: they are added per reader */
    if (p->reblog_of_id != 0) {
        shell.content = "";
        shell.spoiler_text = "";
        shell.nmedia = shell.nmentions = shell.ntags = 0;
        shell.in_reply_to_id = shell.in_reply_to_account_id = 0;
        shell.replies_count = shell.reblogs_count = shell.favourites_count = 0;
    }
    j = status_build(&anon, &shell);
    if (j == NULL)
        return NULL;
    json_object_del(j, "account");
    if (p->reblog_of_id != 0)
        json_object_del(j, "reblog");
    return j;
}

json_t *api_masto_account_fresh(struct masto_req *m, int64_t id)
{
    struct account a;
    json_t *j;

    if (store_account_get_by_id(m->st, id, &a) != TD_OK)
        return NULL;
    j = account_build(m, &a);
    store_account_clear(&a);
    return j;
}
