/* SPDX-License-Identifier: MIT */
/* The microblog service (mb.h): actions, visibility, notifications, the home
 * rings and the events. Behaviour follows the Mastodon API documentation
 * (statuses, accounts, notifications, timelines, streaming) and Mastodon's
 * FanOutOnWriteService / NotifyService for who gets a post and who gets
 * notified; Idempotency-Key as in the Mastodon API (POST /api/v1/statuses). */
#include "social/mb.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "social/mb_text.h"

#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mb_ring {
    int64_t account;
    int64_t *ids;   /* circular, ascending from start */
    size_t start, n, cap;
    bool built;     /* false: dropped (follows changed); rebuilt on the next read */
    bool complete;  /* holds every home post the store has: no fallback needed */
};

static int fail(struct mb_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct mb_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- rings ---- */

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static struct mb_ring *ring_find(const struct mb *mb, int64_t account)
{
    if (mb->rings_cap == 0)
        return NULL;
    for (size_t i = slot_of(account, mb->rings_cap);; i = (i + 1) & (mb->rings_cap - 1)) {
        struct mb_ring *r = mb->rings[i];
        if (r == NULL)
            return NULL;
        if (r->account == account)
            return r;
    }
}

static void ring_insert_slot(struct mb_ring **tab, size_t cap, struct mb_ring *r)
{
    size_t i = slot_of(r->account, cap);

    while (tab[i] != NULL)
        i = (i + 1) & (cap - 1);
    tab[i] = r;
}

static struct mb_ring *ring_add(struct mb *mb, int64_t account)
{
    struct mb_ring *r;

    if ((mb->rings_n + 1) * 2 > mb->rings_cap) {
        size_t cap = mb->rings_cap ? mb->rings_cap * 2 : 64;
        struct mb_ring **tab = td_calloc(cap, sizeof(*tab));
        for (size_t i = 0; i < mb->rings_cap; i++)
            if (mb->rings[i] != NULL)
                ring_insert_slot(tab, cap, mb->rings[i]);
        free(mb->rings);
        mb->rings = tab;
        mb->rings_cap = cap;
    }
    r = td_calloc(1, sizeof(*r));
    r->account = account;
    ring_insert_slot(mb->rings, mb->rings_cap, r);
    mb->rings_n++;
    return r;
}

static int64_t ring_at(const struct mb_ring *r, size_t i) /* 0 = oldest */
{
    return r->ids[(r->start + i) % r->cap];
}

static void ring_push(struct mb *mb, struct mb_ring *r, int64_t id)
{
    if (!r->built)
        return;
    if (r->n > 0 && ring_at(r, r->n - 1) >= id)
        return; /* already there (read from the store after it was written) */
    if (r->n == r->cap && r->cap < mb->home_size && r->complete) {
        /* Rings grow on demand so that 100k followers with rings do not cost
         * 100k * 800 ids up front. Only a complete ring grows: one rebuilt
         * with the newest MB_HOME_BUILD of a longer home already sends deeper
         * pages to the store, so it turns over in place (growing each of
         * 100,000 full rings on one post tripled the fan-out's time). */
        size_t cap = r->cap ? r->cap * 2 : 16;
        if (cap > mb->home_size)
            cap = mb->home_size;
        int64_t *ids = td_malloc(cap * sizeof(*ids));
        for (size_t i = 0; i < r->n; i++)
            ids[i] = ring_at(r, i);
        free(r->ids);
        r->ids = ids;
        r->cap = cap;
        r->start = 0;
    }
    if (r->n < r->cap) {
        r->ids[(r->start + r->n) % r->cap] = id;
        r->n++;
    } else {
        r->ids[r->start] = id;
        r->start = (r->start + 1) % r->cap;
        r->complete = false;
    }
}

static void ring_drop(struct mb *mb, int64_t account)
{
    struct mb_ring *r = ring_find(mb, account);

    if (r != NULL) {
        free(r->ids);
        r->ids = NULL;
        r->n = r->cap = r->start = 0;
        r->built = false;
    }
}

static int ring_build(struct mb *mb, int64_t account, struct mb_ring **out)
{
    struct mb_ring *r = ring_find(mb, account);
    size_t n = 0;
    int64_t *ids;
    int rc;

    if (r != NULL && r->built) {
        *out = r;
        return TD_OK;
    }
    /* A rebuilt ring starts with the newest MB_HOME_BUILD ids (ten pages),
     * not home_size: most readers never page that deep, and a hundred
     * thousand rings of 800 ids were most of the server's memory. New posts
     * grow it up to home_size; deeper pages read the store. */
    size_t want = mb->home_size < MB_HOME_BUILD ? mb->home_size : MB_HOME_BUILD;
    ids = td_malloc(want * sizeof(*ids));
    rc = store_mb_home_rebuild(mb->st, account, ids, want, &n);
    if (rc != TD_OK) {
        free(ids);
        return rc;
    }
    if (r == NULL)
        r = ring_add(mb, account);
    free(r->ids);
    r->cap = n < 16 ? 16 : n;
    if (r->cap > mb->home_size)
        r->cap = mb->home_size;
    r->ids = td_malloc(r->cap * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) /* the store gives newest first */
        r->ids[i] = ids[n - 1 - i];
    r->n = n;
    r->start = 0;
    r->built = true;
    r->complete = n < want;
    free(ids);
    *out = r;
    return TD_OK;
}

int mb_media_save(struct mb *mb, int64_t account, const struct mb_media_result *res,
                  const char *description, const double *focus, struct store_mb_media *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->account_id = account;
    out->content_type = (char *)res->original.mime;
    out->data = res->original.data;
    out->len = res->original.len;
    out->thumb = res->small.data;
    out->thumb_len = res->small.len;
    out->thumb_type = (char *)res->small.mime;
    out->width = (int)res->original.width;
    out->height = (int)res->original.height;
    out->description = (char *)(description ? description : "");
    out->blurhash = res->blurhash[0] ? (char *)res->blurhash : NULL;
    if (focus) {
        out->has_focus = true;
        out->focus_x = focus[0];
        out->focus_y = focus[1];
    }
    rc = store_mb_media_create(mb->st, out);
    out->data = out->thumb = NULL; /* the bytes are not the entity's business */
    return rc;
}

size_t mb_rings(const struct mb *mb)
{
    size_t n = 0;

    for (size_t i = 0; i < mb->rings_cap; i++)
        if (mb->rings[i] != NULL && mb->rings[i]->built)
            n++;
    return n;
}

/* ---- setup, events ---- */

int mb_init(struct mb *mb, struct store *st, const struct mb_opts *opts)
{
    const char *base = opts && opts->base_url ? opts->base_url : "";
    size_t blen = strlen(base);
    const char *h, *e;

    memset(mb, 0, sizeof(*mb));
    mb->st = st;
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    mb->base_url = td_malloc(blen + 1);
    memcpy(mb->base_url, base, blen);
    mb->base_url[blen] = 0;
    h = strstr(mb->base_url, "://");
    h = h ? h + 3 : mb->base_url;
    e = h + strcspn(h, ":/");
    mb->host = td_malloc((size_t)(e - h) + 1);
    memcpy(mb->host, h, (size_t)(e - h));
    mb->host[e - h] = 0;
    mb->max_chars = opts && opts->max_chars ? opts->max_chars : MB_TEXT_DEFAULT_LIMIT;
    mb->home_size = opts && opts->home_size ? opts->home_size : MB_HOME_DEFAULT;
    if (mb->home_size > STORE_MB_HOME_MAX)
        mb->home_size = STORE_MB_HOME_MAX;
    mb->cache = mb_cache_new(opts && opts->cache_size ? opts->cache_size : MB_CACHE_DEFAULT);
    return TD_OK;
}

void mb_free(struct mb *mb)
{
    if (mb == NULL)
        return;
    for (size_t i = 0; i < mb->rings_cap; i++) {
        if (mb->rings[i] != NULL) {
            free(mb->rings[i]->ids);
            free(mb->rings[i]);
        }
    }
    free(mb->rings);
    mb_cache_free(mb->cache);
    free(mb->subs);
    free(mb->aud);
    free(mb->base_url);
    free(mb->host);
    memset(mb, 0, sizeof(*mb));
}

void mb_subscribe(struct mb *mb, mb_event_cb *cb, void *ud)
{
    struct mb_sub *s = td_malloc((mb->nsubs + 1) * sizeof(*s));

    if (mb->nsubs)
        memcpy(s, mb->subs, mb->nsubs * sizeof(*s));
    free(mb->subs);
    mb->subs = s;
    mb->subs[mb->nsubs].cb = cb;
    mb->subs[mb->nsubs].ud = ud;
    mb->nsubs++;
}

static void emit(struct mb *mb, const struct mb_event *ev)
{
    for (size_t i = 0; i < mb->nsubs; i++)
        mb->subs[i].cb(mb->subs[i].ud, ev);
}

/* Caches learn of changes made through the service from these. */
static void post_changed(struct mb *mb, int64_t id)
{
    if (id == 0)
        return;
    mb_cache_drop(mb->cache, id);
    struct mb_event ev = {.type = MB_EV_POST_CHANGED, .post_id = id};
    emit(mb, &ev);
}

void mb_account_changed(struct mb *mb, int64_t id)
{
    struct mb_event ev = {.type = MB_EV_ACCOUNT, .account_id = id};
    emit(mb, &ev);
}

static void aud_add(struct mb *mb, int64_t id)
{
    if (mb->naud == mb->aud_cap) {
        size_t cap = mb->aud_cap ? mb->aud_cap * 2 : 256;
        int64_t *a = td_malloc(cap * sizeof(*a));
        if (mb->naud)
            memcpy(a, mb->aud, mb->naud * sizeof(*a));
        free(mb->aud);
        mb->aud = a;
        mb->aud_cap = cap;
    }
    mb->aud[mb->naud++] = id;
}

/* ---- visibility ---- */

static bool can_see(struct mb *mb, int64_t viewer, int64_t post)
{
    bool ok = false;

    return store_mb_can_see(mb->st, viewer, post, &ok) == TD_OK && ok;
}

bool mb_visible(struct mb *mb, int64_t viewer, const struct store_mb_post *p)
{
    if (!can_see(mb, viewer, p->id))
        return false;
    return p->reblog_of_id == 0 || can_see(mb, viewer, p->reblog_of_id);
}

int mb_get(struct mb *mb, int64_t viewer, int64_t id, struct store_mb_post *out)
{
    int rc = store_mb_post_get(mb->st, id, viewer, out);

    if (rc == TD_OK && !mb_visible(mb, viewer, out)) {
        store_mb_post_clear(out);
        return TD_ENOTFOUND;
    }
    return rc;
}

static bool mentions(const struct store_mb_post *p, int64_t id);

/* What a list needs to know of its viewer, read once per list instead of
 * once per post: whom the viewer blocks or is blocked by, whom it mutes, and
 * (asked only for followers-only posts) whom it follows. The rules are
 * store_mb_can_see()'s, applied to posts from the cache (mb_posts()). */
struct vfilt {
    struct mb *mb;
    int64_t viewer;
    bool mutes;             /* hide muted and blocked authors too (timelines) */
    int64_t *blocks, *muted;
    size_t nblocks, nmuted;
    int64_t fol[32];        /* follows asked so far */
    bool folv[32];
    size_t nfol;
};

static int vfilt_load(struct vfilt *f, struct mb *mb, int64_t viewer, bool mutes)
{
    memset(f, 0, sizeof(*f));
    f->mb = mb;
    f->viewer = viewer;
    f->mutes = mutes;
    if (viewer == 0)
        return TD_OK;
    return store_mb_viewer_filters(mb->st, viewer, &f->blocks, &f->nblocks, &f->muted,
                                   &f->nmuted);
}

static void vfilt_free(struct vfilt *f)
{
    free(f->blocks);
    free(f->muted);
}

static bool in_sorted(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool vfilt_follows(struct vfilt *f, int64_t author)
{
    struct store_mb_relationship rel;
    bool v;

    for (size_t i = 0; i < f->nfol; i++)
        if (f->fol[i] == author)
            return f->folv[i];
    v = store_mb_relationships(f->mb->st, f->viewer, &author, 1, &rel) == TD_OK &&
        rel.following;
    if (f->nfol < TD_ARRAY_LEN(f->fol)) {
        f->fol[f->nfol] = author;
        f->folv[f->nfol++] = v;
    }
    return v;
}

/* store_mb_can_see() for a post already read. */
static bool vfilt_sees(struct vfilt *f, const struct store_mb_post *p)
{
    int64_t author = p->account_id;

    if (f->viewer != 0 && f->viewer == author)
        return true;
    if (in_sorted(f->blocks, f->nblocks, author))
        return false;
    if (p->visibility == STORE_MB_PUBLIC || p->visibility == STORE_MB_UNLISTED)
        return true;
    if (f->viewer == 0)
        return false;
    if (p->visibility == STORE_MB_PRIVATE)
        return vfilt_follows(f, author);
    return mentions(p, f->viewer);
}

/* Does the list leave out posts by author (blocked or muted by the viewer)? */
static bool vfilt_hides(const struct vfilt *f, int64_t author)
{
    if (!f->mutes || f->viewer == 0 || f->viewer == author)
        return false;
    return in_sorted(f->blocks, f->nblocks, author) || in_sorted(f->muted, f->nmuted, author);
}

/* Keep of refs[0..n) (n <= STORE_MB_STATUSES_MAX) those the viewer may see,
 * in order, appending to out up to limit. */
static int vfilt_batch(struct vfilt *f, const struct store_mb_ref *refs, size_t n, size_t limit,
                       struct store_mb_list *out)
{
    struct mb_cpost *posts[STORE_MB_STATUSES_MAX], *origs[STORE_MB_STATUSES_MAX];
    int64_t ids[STORE_MB_STATUSES_MAX], oids[STORE_MB_STATUSES_MAX];
    size_t no = 0;
    int rc;

    for (size_t i = 0; i < n; i++)
        ids[i] = refs[i].id;
    rc = mb_posts(f->mb, ids, n, posts);
    if (rc != TD_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (posts[i] && posts[i]->p.reblog_of_id)
            oids[no++] = posts[i]->p.reblog_of_id;
    memset(origs, 0, sizeof(origs));
    if (no > 0)
        rc = mb_posts(f->mb, oids, no, origs);
    for (size_t i = 0, k = 0; rc == TD_OK && i < n && out->n < limit; i++) {
        const struct store_mb_post *p = posts[i] ? &posts[i]->p : NULL;
        const struct store_mb_post *o = NULL;
        if (p && p->reblog_of_id) {
            o = origs[k] ? &origs[k]->p : NULL;
            k++;
            if (o == NULL)
                continue; /* the original is gone */
        }
        if (p == NULL || !vfilt_sees(f, p) || vfilt_hides(f, p->account_id))
            continue;
        if (o && (!vfilt_sees(f, o) || vfilt_hides(f, o->account_id)))
            continue;
        out->v[out->n++] = refs[i];
    }
    mb_posts_release(posts, n);
    mb_posts_release(origs, no);
    return rc;
}

/* Append the visible ones of refs[0..n) to out (up to limit). */
static int filter_refs(struct mb *mb, int64_t viewer, bool mutes, const struct store_mb_ref *refs,
                       size_t n, size_t limit, struct store_mb_list *out)
{
    struct vfilt f;
    int rc = vfilt_load(&f, mb, viewer, mutes);

    for (size_t i = 0; rc == TD_OK && i < n && out->n < limit; i += STORE_MB_STATUSES_MAX) {
        size_t k = n - i < STORE_MB_STATUSES_MAX ? n - i : STORE_MB_STATUSES_MAX;
        rc = vfilt_batch(&f, refs + i, k, limit, out);
    }
    vfilt_free(&f);
    return rc;
}

static size_t page_limit(const struct store_mb_page *pg, size_t cap)
{
    if (pg == NULL || pg->limit <= 0)
        return STORE_MB_LIMIT_DEFAULT < cap ? STORE_MB_LIMIT_DEFAULT : cap;
    return (size_t)pg->limit < cap ? (size_t)pg->limit : cap;
}

typedef int list_fn(struct mb *mb, void *arg, const struct store_mb_page *pg,
                    struct store_mb_list *out);

/* Page a store list, refilling when filtering removed rows, until limit
 * visible rows or the list ends. */
static int paged(struct mb *mb, int64_t viewer, bool mutes, list_fn *fn, void *arg,
                 const struct store_mb_page *pg0, struct store_mb_list *out)
{
    struct store_mb_page pg = pg0 ? *pg0 : (struct store_mb_page){0};
    size_t limit = page_limit(pg0, STORE_MB_STATUSES_MAX);
    struct store_mb_list *raw = td_malloc(sizeof(*raw));
    int rc = TD_OK;

    out->n = 0;
    pg.limit = STORE_MB_STATUSES_MAX;
    for (int round = 0; round < 64 && out->n < limit; round++) {
        rc = fn(mb, arg, &pg, raw);
        if (rc != TD_OK || raw->n == 0)
            break;
        if (pg.min_id != 0) {
            /* min_id pages upwards: filter all, keep the oldest `limit` */
            struct store_mb_list *tmp = td_malloc(sizeof(*tmp));
            tmp->n = 0;
            rc = filter_refs(mb, viewer, mutes, raw->v, raw->n, STORE_MB_STATUSES_MAX, tmp);
            /* merge: out holds older rows found so far; raw rows are newer */
            size_t room = limit - out->n, take = tmp->n < room ? tmp->n : room;
            /* the oldest `take` of tmp are its last ones; put them after out's
             * existing (older) rows, then sort newest first at the end */
            for (size_t j = 0; j < take; j++)
                out->v[out->n++] = tmp->v[tmp->n - 1 - j];
            free(tmp);
            if (rc != TD_OK)
                break;
            pg.min_id = raw->v[0].cursor;
            if (raw->n < STORE_MB_STATUSES_MAX)
                break;
            continue;
        }
        rc = filter_refs(mb, viewer, mutes, raw->v, raw->n, limit, out);
        if (rc != TD_OK || raw->n < STORE_MB_STATUSES_MAX)
            break;
        pg.max_id = raw->v[raw->n - 1].cursor;
    }
    if (pg0 && pg0->min_id != 0) { /* out is oldest first: reverse */
        for (size_t a = 0, b = out->n; b > 1 && a < b - 1; a++, b--) {
            struct store_mb_ref t = out->v[a];
            out->v[a] = out->v[b - 1];
            out->v[b - 1] = t;
        }
    }
    free(raw);
    return rc;
}

/* ---- posting ---- */

struct mention {
    int64_t id;
    char *username;
};

struct compose {
    struct mb *mb;
    struct mb_text t;
    struct mention *ment; /* per entity index; id 0 = not local */
    int64_t ids[STORE_MB_MENTIONS_MAX];
    size_t nids;
    const char *tags[STORE_MB_TAGS_MAX];
    size_t ntags;
    char *content;
};

static void compose_free(struct compose *c)
{
    if (c->ment != NULL)
        for (size_t i = 0; i < c->t.n_ents; i++)
            free(c->ment[i].username);
    free(c->ment);
    free(c->content);
    mb_text_free(&c->t);
}

static int mention_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                       struct buf *url)
{
    struct compose *c = ctx;
    size_t i = (size_t)(e - t->ents);

    if (c->ment[i].id == 0)
        return TD_ENOTFOUND;
    return buf_printf(url, "%s/@%s", c->mb->base_url, c->ment[i].username);
}

static int tag_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                   struct buf *url)
{
    struct compose *c = ctx;
    int rc = buf_printf(url, "%s/tags/", c->mb->base_url);

    (void)t;
    for (size_t i = 0; rc == TD_OK && i < e->value_len; i++) {
        unsigned char ch = (unsigned char)e->value[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '-' || ch == '.' || ch == '~')
            rc = buf_putc(url, (char)ch);
        else
            rc = buf_printf(url, "%%%02X", ch);
    }
    return rc;
}

static bool is_local_mention(const struct mb *mb, const struct mb_entity *e)
{
    if (e->user_len == e->value_len)
        return true;
    return strcmp(e->value + e->user_len + 1, mb->host) == 0;
}

/* Parse, resolve mentions, collect tags and render the HTML. */
static int compose(struct mb *mb, const char *text, size_t len, struct compose *c,
                   struct mb_error *err)
{
    struct mb_text_render r = {.mention_url = mention_url, .tag_url = tag_url, .ctx = c};
    struct buf html;
    int rc;

    memset(c, 0, sizeof(*c));
    c->mb = mb;
    rc = mb_text_parse(text ? text : "", len, mb->max_chars, &c->t);
    if (rc == TD_ETOOBIG)
        return fail(err, rc, "Text character limit of %zu exceeded (%zu)", mb->max_chars,
                    c->t.chars);
    if (rc != TD_OK)
        return fail(err, TD_EINVAL, "Text is invalid: %s at byte %zu",
                    c->t.error ? c->t.error : "malformed", c->t.error_off);
    c->ment = td_calloc(c->t.n_ents + 1, sizeof(*c->ment));
    for (size_t i = 0; i < c->t.n_ents; i++) {
        const struct mb_entity *e = &c->t.ents[i];
        if (e->kind == MB_ENT_TAG) {
            bool dup = false;
            for (size_t j = 0; j < c->ntags; j++)
                dup = dup || strcmp(c->tags[j], e->value) == 0;
            if (!dup && c->ntags < STORE_MB_TAGS_MAX && e->value_len <= STORE_MB_TAG_MAX)
                c->tags[c->ntags++] = e->value;
        } else if (e->kind == MB_ENT_MENTION && is_local_mention(mb, e)) {
            struct account a;
            char user[256];
            if (e->user_len >= sizeof(user))
                continue;
            memcpy(user, e->value, e->user_len);
            user[e->user_len] = 0;
            rc = store_account_get_by_name(mb->st, user, &a);
            if (rc == TD_ENOTFOUND)
                continue; /* stays plain text */
            if (rc != TD_OK)
                return fail(err, rc, "store error");
            c->ment[i].id = a.id;
            c->ment[i].username = td_strdup(a.username);
            store_account_clear(&a);
            bool dup = false;
            for (size_t j = 0; j < c->nids; j++)
                dup = dup || c->ids[j] == c->ment[i].id;
            if (!dup && c->nids < STORE_MB_MENTIONS_MAX)
                c->ids[c->nids++] = c->ment[i].id;
        }
    }
    buf_init(&html, STORE_MB_CONTENT_MAX);
    rc = mb_text_render_html(&c->t, &r, &html);
    if (rc != TD_OK) {
        buf_free(&html);
        return fail(err, rc, "Text could not be rendered");
    }
    if (buf_putc(&html, 0) != TD_OK) {
        buf_free(&html);
        return fail(err, TD_ETOOBIG, "Text is too long");
    }
    c->content = buf_steal(&html, NULL);
    return TD_OK;
}

static int check_common(struct mb *mb, int64_t author, const struct mb_post_req *req,
                        struct mb_error *err)
{
    if (req->spoiler_text != NULL) {
        size_t n = strlen(req->spoiler_text);
        if (n > STORE_MB_SPOILER_MAX)
            return fail(err, TD_ETOOBIG, "Spoiler text is too long");
        if (!utf8_valid(req->spoiler_text, n) || utf8_has_controls(req->spoiler_text, n))
            return fail(err, TD_EINVAL, "Spoiler text is invalid");
    }
    if (req->language != NULL) {
        size_t n = strlen(req->language);
        if (n == 0 || n > STORE_MB_LANGUAGE_MAX ||
            strspn(req->language, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789-") != n)
            return fail(err, TD_EINVAL, "Language is invalid");
    }
    if (req->nmedia > MB_MEDIA_MAX)
        return fail(err, TD_EINVAL, "Too many media attachments (at most %d)", MB_MEDIA_MAX);
    for (size_t i = 0; i < req->nmedia; i++) {
        struct store_mb_media m;
        int rc = store_mb_media_get(mb->st, req->media[i], false, &m);
        if (rc == TD_ENOTFOUND)
            return fail(err, TD_ENOTFOUND, "Media %lld not found", (long long)req->media[i]);
        if (rc != TD_OK)
            return fail(err, rc, "store error");
        bool mine = m.account_id == author, free_ = m.post_id == 0;
        store_mb_media_clear(&m);
        if (!mine)
            return fail(err, TD_EDENIED, "Media %lld is not yours", (long long)req->media[i]);
        if (!free_)
            return fail(err, TD_EDENIED, "Media %lld is already attached",
                        (long long)req->media[i]);
    }
    return TD_OK;
}

/* ---- notifications ---- */

/* Notify recipient of what actor did (post may be 0), unless it is the
 * actor's own, the recipient blocks or mutes-with-notifications the actor,
 * or the recipient may not see the post. */
static void notify(struct mb *mb, int64_t recipient, int type, int64_t actor, int64_t post)
{
    struct store_mb_relationship rel;
    struct store_mb_notif n = {.account_id = recipient, .type = type,
                               .from_account_id = actor, .post_id = post};

    if (recipient == actor || recipient == 0)
        return;
    if (store_mb_relationships(mb->st, recipient, &actor, 1, &rel) != TD_OK)
        return;
    if (rel.blocking || rel.blocked_by || rel.muting_notifications)
        return;
    if (post != 0 && !can_see(mb, recipient, post))
        return;
    if (store_mb_notif_add(mb->st, &n) != TD_OK)
        return; /* TD_EEXIST: already notified of this */
    struct mb_event ev = {.type = MB_EV_NOTIFICATION, .account_id = recipient,
                          .notif_id = n.id, .post_id = post};
    emit(mb, &ev);
}

/* ---- fan-out ---- */

struct fan {
    struct mb *mb;
    const struct store_mb_post *p;
    int64_t reblogger; /* reblogs: whose followers must show reblogs */
    bool push;
};

static bool mentions(const struct store_mb_post *p, int64_t id)
{
    for (size_t i = 0; i < p->nmentions; i++)
        if (p->mentions[i] == id)
            return true;
    return false;
}

static int fan_cb(void *ud, int64_t follower)
{
    struct fan *f = ud;
    struct mb_ring *r;

    if (f->p->visibility == STORE_MB_DIRECT && !mentions(f->p, follower))
        return 0;
    if (f->reblogger != 0) {
        struct store_mb_relationship rel;
        if (store_mb_relationships(f->mb->st, follower, &f->reblogger, 1, &rel) != TD_OK ||
            !rel.showing_reblogs)
            return 0;
    }
    aud_add(f->mb, follower);
    if (f->push && (r = ring_find(f->mb, follower)) != NULL)
        ring_push(f->mb, r, f->p->id);
    return 0;
}

/* Compute the audience of p (into mb->aud), push into rings if push, and
 * emit an event of type. */
static void fan_out(struct mb *mb, const struct store_mb_post *p, int type, bool push)
{
    struct fan f = {.mb = mb, .p = p, .push = push};
    struct mb_event ev = {.type = type, .post_id = p->id, .account_id = p->account_id};
    struct mb_ring *r;
    int64_t direct[STORE_MB_MENTIONS_MAX + 1];
    size_t nd = 0;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (p->reblog_of_id != 0)
        f.reblogger = p->account_id;
    mb->naud = 0;
    aud_add(mb, p->account_id);
    if (push && (r = ring_find(mb, p->account_id)) != NULL)
        ring_push(mb, r, p->id);
    (void)store_mb_follower_ids(mb->st, p->account_id, fan_cb, &f);
    ev.home = mb->aud;
    ev.nhome = mb->naud;
    if (p->reblog_of_id == 0) {
        ev.public_stream = p->visibility == STORE_MB_PUBLIC;
        if (ev.public_stream) {
            ev.tags = (const char *const *)p->tags;
            ev.ntags = p->ntags;
        }
        if (p->visibility == STORE_MB_DIRECT) {
            direct[nd++] = p->account_id;
            for (size_t i = 0; i < p->nmentions && nd < TD_ARRAY_LEN(direct); i++)
                if (p->mentions[i] != p->account_id)
                    direct[nd++] = p->mentions[i];
            ev.direct = direct;
            ev.ndirect = nd;
        }
    }
    /* reblogs go to home streams only: Mastodon's public and tag timelines and
     * their streams carry no reblogs */
    emit(mb, &ev);
    if (push) { /* new posts and reblogs: the write fan-out, streams included */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        metrics_observe("tandem_mb_fanout_seconds",
                        "Time to fan a new post or reblog out to its audience's home "
                        "timelines and streams.",
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
}

/* ---- actions ---- */

int mb_post_create(struct mb *mb, int64_t author, const struct mb_post_req *req,
                   int64_t *id_out, struct mb_error *err)
{
    struct compose c;
    struct store_mb_post p = {0}, got;
    uint8_t idem[32];
    bool use_idem = false;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    if (req->visibility < STORE_MB_PUBLIC || req->visibility > STORE_MB_DIRECT)
        return fail(err, TD_EINVAL, "Visibility is invalid");
    if ((req->text == NULL || req->text_len == 0) && req->nmedia == 0)
        return fail(err, TD_EINVAL, "Text can't be blank");
    rc = check_common(mb, author, req, err);
    if (rc != TD_OK)
        return rc;
    if (req->in_reply_to_id != 0) {
        rc = store_mb_post_get(mb->st, req->in_reply_to_id, 0, &got);
        if (rc == TD_OK) {
            bool ok = mb_visible(mb, author, &got) && got.reblog_of_id == 0;
            store_mb_post_clear(&got);
            if (!ok)
                rc = TD_ENOTFOUND;
        }
        if (rc == TD_ENOTFOUND)
            return fail(err, rc, "The post being replied to was not found");
        if (rc != TD_OK)
            return fail(err, rc, "store error");
    }
    if (req->idempotency_key != NULL) {
        size_t kl = strlen(req->idempotency_key);
        uint8_t in[8 + MB_IDEM_KEY_MAX];
        unsigned int mdlen = 0;
        if (kl > MB_IDEM_KEY_MAX)
            return fail(err, TD_ETOOBIG, "Idempotency key is too long");
        for (int i = 0; i < 8; i++)
            in[i] = (uint8_t)((uint64_t)author >> (56 - 8 * i));
        memcpy(in + 8, req->idempotency_key, kl);
        if (!EVP_Digest(in, 8 + kl, idem, &mdlen, EVP_sha256(), NULL))
            return fail(err, TD_EIO, "digest failed");
        use_idem = true;
    }
    rc = compose(mb, req->text, req->text ? req->text_len : 0, &c, err);
    if (rc != TD_OK) {
        compose_free(&c);
        return rc;
    }
    p.account_id = author;
    p.visibility = req->visibility;
    p.sensitive = req->sensitive || (req->spoiler_text && *req->spoiler_text);
    p.spoiler_text = (char *)(req->spoiler_text ? req->spoiler_text : "");
    p.source = c.t.text;
    p.content = c.content;
    p.language = (char *)req->language;
    p.in_reply_to_id = req->in_reply_to_id;
    struct store_mb_extras x = {.mentions = c.ids, .nmentions = c.nids, .tags = c.tags,
                                .ntags = c.ntags, .media = req->media, .nmedia = req->nmedia};
    rc = store_mb_post_create(mb->st, &p, &x, use_idem ? idem : NULL);
    compose_free(&c);
    if (rc == TD_EEXIST) {
        if (id_out)
            *id_out = p.id;
        return TD_OK;
    }
    if (rc == TD_EDENIED)
        return fail(err, rc, "Media is not yours or already attached");
    if (rc == TD_ENOTFOUND)
        return fail(err, rc, "Account, reply or media not found");
    if (rc != TD_OK)
        return fail(err, rc, "The post could not be stored");
    if (id_out)
        *id_out = p.id;

    mb_account_changed(mb, author);
    post_changed(mb, req->in_reply_to_id); /* its replies_count */
    rc = store_mb_post_get(mb->st, p.id, 0, &got);
    if (rc != TD_OK)
        return TD_OK; /* stored; events are best effort */
    fan_out(mb, &got, MB_EV_UPDATE, true);
    for (size_t i = 0; i < got.nmentions; i++)
        notify(mb, got.mentions[i], STORE_MB_N_MENTION, author, got.id);
    store_mb_post_clear(&got);
    return TD_OK;
}

static int own_post(struct mb *mb, int64_t author, int64_t id, struct store_mb_post *p,
                    struct mb_error *err)
{
    int rc = store_mb_post_get(mb->st, id, 0, p);

    if (rc == TD_ENOTFOUND)
        return fail(err, rc, "Record not found");
    if (rc != TD_OK)
        return fail(err, rc, "store error");
    if (p->account_id != author) {
        bool vis = mb_visible(mb, author, p);
        store_mb_post_clear(p);
        /* not even existence leaks to who may not see it */
        return vis ? fail(err, TD_EDENIED, "This action is not allowed")
                   : fail(err, TD_ENOTFOUND, "Record not found");
    }
    return TD_OK;
}

int mb_post_edit(struct mb *mb, int64_t author, int64_t id, const struct mb_post_req *req,
                 struct mb_error *err)
{
    struct store_mb_post old, p = {0};
    struct compose c;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    rc = own_post(mb, author, id, &old, err);
    if (rc != TD_OK)
        return rc;
    if (old.reblog_of_id != 0) {
        store_mb_post_clear(&old);
        return fail(err, TD_EINVAL, "A reblog cannot be edited");
    }
    /* media already on this post may stay */
    for (size_t i = 0; i < req->nmedia; i++) {
        bool kept = false;
        for (size_t j = 0; j < old.nmedia; j++)
            kept = kept || old.media[j] == req->media[i];
        if (!kept) {
            struct mb_post_req one = {.media = &req->media[i], .nmedia = 1};
            rc = check_common(mb, author, &one, err);
            if (rc != TD_OK) {
                store_mb_post_clear(&old);
                return rc;
            }
        }
    }
    store_mb_post_clear(&old);
    struct mb_post_req chk = *req;
    chk.nmedia = req->nmedia > MB_MEDIA_MAX ? req->nmedia : 0;
    rc = check_common(mb, author, &chk, err);
    if (rc != TD_OK)
        return rc;
    if ((req->text == NULL || req->text_len == 0) && req->nmedia == 0)
        return fail(err, TD_EINVAL, "Text can't be blank");
    rc = compose(mb, req->text, req->text ? req->text_len : 0, &c, err);
    if (rc != TD_OK) {
        compose_free(&c);
        return rc;
    }
    p.sensitive = req->sensitive || (req->spoiler_text && *req->spoiler_text);
    p.spoiler_text = (char *)(req->spoiler_text ? req->spoiler_text : "");
    p.source = c.t.text;
    p.content = c.content;
    p.language = (char *)req->language;
    struct store_mb_extras x = {.mentions = c.ids, .nmentions = c.nids, .tags = c.tags,
                                .ntags = c.ntags, .media = req->media, .nmedia = req->nmedia};
    rc = store_mb_post_edit(mb->st, id, &p, &x);
    compose_free(&c);
    if (rc != TD_OK)
        return fail(err, rc, "The post could not be edited");
    post_changed(mb, id);
    if (store_mb_post_get(mb->st, id, 0, &p) == TD_OK) {
        fan_out(mb, &p, MB_EV_STATUS_UPDATE, false);
        store_mb_post_clear(&p);
    }
    return TD_OK;
}

int mb_post_delete(struct mb *mb, int64_t author, int64_t id, struct mb_error *err)
{
    struct store_mb_post p;
    struct store_mb_deleted d;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    bool was_public;

    rc = own_post(mb, author, id, &p, err);
    if (rc != TD_OK)
        return rc;
    was_public = p.visibility == STORE_MB_PUBLIC && p.reblog_of_id == 0;
    store_mb_post_clear(&p);
    rc = store_mb_post_delete(mb->st, id, author, &d);
    if (rc != TD_OK)
        return fail(err, rc, "The post could not be deleted");
    /* rings keep the id: reads skip posts that no longer exist */
    post_changed(mb, id);
    post_changed(mb, d.post.in_reply_to_id);
    mb_account_changed(mb, author);
    /* A public post's delete goes to the public streams too: their clients
     * may have it from a timeline read before they connected. */
    struct mb_event ev = {.type = MB_EV_DELETE, .post_id = id, .account_id = author,
                          .public_stream = was_public};
    emit(mb, &ev);
    ev.public_stream = false; /* reblogs are on home timelines only */
    for (size_t i = 0; i < d.nreblogs; i++) {
        post_changed(mb, d.reblogs[i]);
        mb_account_changed(mb, d.reblog_accounts[i]);
        ev.type = MB_EV_DELETE;
        ev.post_id = d.reblogs[i];
        ev.account_id = d.reblog_accounts[i];
        emit(mb, &ev);
    }
    store_mb_deleted_clear(&d);
    return TD_OK;
}

/* The post a reblog or favourite acts on (a reblog's original), visible to account. */
static int target_post(struct mb *mb, int64_t account, int64_t id, struct store_mb_post *p,
                       struct mb_error *err)
{
    int rc = mb_get(mb, account, id, p);

    if (rc == TD_OK && p->reblog_of_id != 0) {
        int64_t orig = p->reblog_of_id;
        store_mb_post_clear(p);
        rc = mb_get(mb, account, orig, p);
    }
    if (rc == TD_ENOTFOUND)
        return fail(err, rc, "Record not found");
    if (rc != TD_OK)
        return fail(err, rc, "store error");
    return TD_OK;
}

int mb_reblog(struct mb *mb, int64_t account, int64_t id, int visibility, int64_t *reblog_id,
              struct mb_error *err)
{
    struct store_mb_post p, rb;
    int64_t rid = 0;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    if (visibility != STORE_MB_PUBLIC && visibility != STORE_MB_UNLISTED &&
        visibility != STORE_MB_PRIVATE)
        return fail(err, TD_EINVAL, "A reblog is public, unlisted or for followers");
    rc = target_post(mb, account, id, &p, err);
    if (rc != TD_OK)
        return rc;
    if (p.visibility != STORE_MB_PUBLIC && p.visibility != STORE_MB_UNLISTED) {
        store_mb_post_clear(&p);
        return fail(err, TD_EDENIED, "This post cannot be reblogged");
    }
    rc = store_mb_reblog(mb->st, account, p.id, visibility, &rid);
    if (reblog_id)
        *reblog_id = rid;
    if (rc == TD_EEXIST) {
        store_mb_post_clear(&p);
        return TD_OK;
    }
    if (rc != TD_OK) {
        store_mb_post_clear(&p);
        return fail(err, rc, rc == TD_EDENIED ? "This action is not allowed" : "store error");
    }
    post_changed(mb, p.id); /* its reblogs_count */
    mb_account_changed(mb, account);
    if (store_mb_post_get(mb->st, rid, 0, &rb) == TD_OK) {
        fan_out(mb, &rb, MB_EV_UPDATE, true);
        store_mb_post_clear(&rb);
    }
    notify(mb, p.account_id, STORE_MB_N_REBLOG, account, p.id);
    store_mb_post_clear(&p);
    return TD_OK;
}

int mb_unreblog(struct mb *mb, int64_t account, int64_t id, struct mb_error *err)
{
    int64_t rid = 0, orig = id;
    struct store_mb_post p;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    if (store_mb_post_get(mb->st, id, 0, &p) == TD_OK) {
        orig = p.reblog_of_id ? p.reblog_of_id : id;
        store_mb_post_clear(&p);
    }
    rc = store_mb_unreblog(mb->st, account, id, &rid);
    if (rc == TD_ENOTFOUND)
        return TD_OK; /* Mastodon answers unreblog of a non-reblogged post with the post */
    if (rc != TD_OK)
        return fail(err, rc, "store error");
    post_changed(mb, orig);
    post_changed(mb, rid);
    mb_account_changed(mb, account);
    struct mb_event ev = {.type = MB_EV_DELETE, .post_id = rid, .account_id = account};
    emit(mb, &ev);
    return TD_OK;
}

int mb_favourite(struct mb *mb, int64_t account, int64_t id, struct mb_error *err)
{
    struct store_mb_post p;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    rc = target_post(mb, account, id, &p, err);
    if (rc != TD_OK)
        return rc;
    rc = store_mb_favourite(mb->st, account, p.id);
    if (rc == TD_OK) {
        post_changed(mb, p.id);
        notify(mb, p.account_id, STORE_MB_N_FAVOURITE, account, p.id);
    }
    store_mb_post_clear(&p);
    if (rc == TD_EEXIST)
        return TD_OK;
    if (rc != TD_OK)
        return fail(err, rc, rc == TD_EDENIED ? "This action is not allowed" : "store error");
    return TD_OK;
}

int mb_unfavourite(struct mb *mb, int64_t account, int64_t id, struct mb_error *err)
{
    struct store_mb_post p;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    rc = target_post(mb, account, id, &p, err);
    if (rc != TD_OK)
        return rc;
    rc = store_mb_unfavourite(mb->st, account, p.id);
    if (rc == TD_OK)
        post_changed(mb, p.id);
    store_mb_post_clear(&p);
    if (rc == TD_ENOTFOUND || rc == TD_OK)
        return TD_OK;
    return fail(err, rc, "store error");
}

static int rel_fail(struct mb_error *err, int rc)
{
    switch (rc) {
    case TD_OK:
        return TD_OK;
    case TD_EINVAL:
        return fail(err, rc, "You cannot do this to yourself");
    case TD_ENOTFOUND:
        return fail(err, rc, "Record not found");
    case TD_EDENIED:
        return fail(err, rc, "This action is not allowed");
    default:
        return fail(err, rc, "store error");
    }
}

int mb_follow(struct mb *mb, int64_t follower, int64_t target, bool show_reblogs, int *state,
              struct mb_error *err)
{
    int st = 0;
    int rc = store_mb_follow(mb->st, follower, target, show_reblogs, &st);

    if (err)
        memset(err, 0, sizeof(*err));
    if (rc != TD_OK)
        return rel_fail(err, rc);
    if (state)
        *state = st;
    /* the ring is rebuilt with the new account's posts (and show_reblogs) */
    ring_drop(mb, follower);
    mb_account_changed(mb, follower);
    mb_account_changed(mb, target);
    if (st == STORE_MB_FOLLOW_NEW)
        notify(mb, target, STORE_MB_N_FOLLOW, follower, 0);
    else if (st == STORE_MB_FOLLOW_REQUESTED)
        notify(mb, target, STORE_MB_N_FOLLOW_REQUEST, follower, 0);
    return TD_OK;
}

int mb_unfollow(struct mb *mb, int64_t follower, int64_t target, struct mb_error *err)
{
    int rc = store_mb_unfollow(mb->st, follower, target);

    if (err)
        memset(err, 0, sizeof(*err));
    if (rc == TD_OK) {
        ring_drop(mb, follower); /* its private posts must go from the ring too */
        mb_account_changed(mb, follower);
        mb_account_changed(mb, target);
    }
    return rel_fail(err, rc);
}

int mb_follow_authorize(struct mb *mb, int64_t target, int64_t requester, struct mb_error *err)
{
    int rc = store_mb_follow_authorize(mb->st, target, requester);

    if (err)
        memset(err, 0, sizeof(*err));
    if (rc == TD_OK) {
        ring_drop(mb, requester);
        mb_account_changed(mb, requester);
        mb_account_changed(mb, target);
        notify(mb, target, STORE_MB_N_FOLLOW, requester, 0);
    }
    return rel_fail(err, rc);
}

int mb_follow_reject(struct mb *mb, int64_t target, int64_t requester, struct mb_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    return rel_fail(err, store_mb_follow_reject(mb->st, target, requester));
}

int mb_block(struct mb *mb, int64_t account, int64_t target, struct mb_error *err)
{
    int rc = store_mb_block(mb->st, account, target);

    if (err)
        memset(err, 0, sizeof(*err));
    if (rc == TD_OK) { /* follows went both ways */
        ring_drop(mb, account);
        ring_drop(mb, target);
        mb_account_changed(mb, account);
        mb_account_changed(mb, target);
    }
    return rel_fail(err, rc);
}

int mb_unblock(struct mb *mb, int64_t account, int64_t target, struct mb_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    return rel_fail(err, store_mb_unblock(mb->st, account, target));
}

int mb_mute(struct mb *mb, int64_t account, int64_t target, bool notifications,
            int64_t expires_at, struct mb_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (account == target)
        return fail(err, TD_EINVAL, "You cannot do this to yourself");
    return rel_fail(err, store_mb_mute(mb->st, account, target, notifications, expires_at));
}

int mb_unmute(struct mb *mb, int64_t account, int64_t target, struct mb_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    return rel_fail(err, store_mb_unmute(mb->st, account, target));
}

/* ---- timelines ---- */

/* Candidates of ids[0..n) (ascending) for the page, in the page's order:
 * newest first, or oldest first for min_id. */
static size_t pick(const int64_t *asc, size_t n, const struct store_mb_page *pg,
                   struct store_mb_ref *out, size_t max)
{
    size_t k = 0;

    if (pg->min_id != 0) {
        for (size_t i = 0; i < n && k < max; i++)
            if (asc[i] > pg->min_id && (pg->max_id == 0 || asc[i] < pg->max_id))
                out[k++] = (struct store_mb_ref){asc[i], asc[i]};
        return k;
    }
    for (size_t i = n; i > 0 && k < max; i--) {
        int64_t id = asc[i - 1];
        if ((pg->max_id == 0 || id < pg->max_id) && id > pg->since_id)
            out[k++] = (struct store_mb_ref){id, id};
    }
    return k;
}

/* Filter candidates into out (which, for min_id, collects oldest first). */
static int home_fill(struct mb *mb, int64_t viewer, const int64_t *asc, size_t n,
                     const struct store_mb_page *pg, size_t limit, struct store_mb_list *out)
{
    struct store_mb_ref *cand = td_malloc((n + 1) * sizeof(*cand));
    size_t k = pick(asc, n, pg, cand, n);
    int rc = filter_refs(mb, viewer, true, cand, k, limit, out);

    free(cand);
    return rc;
}

int mb_home(struct mb *mb, int64_t viewer, const struct store_mb_page *pg0,
            struct store_mb_list *out)
{
    struct store_mb_page pg = pg0 ? *pg0 : (struct store_mb_page){0};
    size_t limit = page_limit(pg0, STORE_MB_STATUSES_MAX);
    struct mb_ring *r;
    int64_t *asc;
    int64_t oldest;
    int rc;

    out->n = 0;
    rc = ring_build(mb, viewer, &r);
    if (rc != TD_OK)
        return rc;
    asc = td_malloc((r->n + 1) * sizeof(*asc));
    for (size_t i = 0; i < r->n; i++)
        asc[i] = ring_at(r, i);
    oldest = r->n ? asc[0] : INT64_MAX;
    bool past = !r->complete && (pg.min_id != 0 ? pg.min_id < oldest : out->n < limit);
    if (pg.min_id == 0 || !past) {
        rc = home_fill(mb, viewer, asc, r->n, &pg, limit, out);
        past = !r->complete && out->n < limit && pg.since_id < oldest &&
               (pg.min_id == 0 || pg.min_id < oldest);
    }
    free(asc);
    if (rc == TD_OK && past) {
        /* Below the ring: the store's longer home (STORE_MB_HOME_MAX). For min_id
         * below the ring, the whole page comes from there (its oldest rows). */
        int64_t *ids = td_malloc(STORE_MB_HOME_MAX * sizeof(*ids));
        size_t n = 0;
        rc = store_mb_home_rebuild(mb->st, viewer, ids, STORE_MB_HOME_MAX, &n);
        if (rc == TD_OK) {
            for (size_t a = 0, b = n; b > 1 && a < b - 1; a++, b--) {
                int64_t t = ids[a];
                ids[a] = ids[b - 1];
                ids[b - 1] = t;
            }
            struct store_mb_page below = pg;
            if (pg.min_id == 0) {
                if (below.max_id == 0 || below.max_id > oldest)
                    below.max_id = oldest;
            } else {
                out->n = 0;
            }
            rc = home_fill(mb, viewer, ids, n, &below, limit, out);
        }
        free(ids);
    }
    if (pg.min_id != 0) { /* collected oldest first */
        for (size_t a = 0, b = out->n; b > 1 && a < b - 1; a++, b--) {
            struct store_mb_ref t = out->v[a];
            out->v[a] = out->v[b - 1];
            out->v[b - 1] = t;
        }
    }
    return rc;
}

struct tl_arg {
    int kind; /* 0 public, 1 tag, 2 account, 3 favourites */
    bool only_media;
    const char *tag;
    int64_t account;
    int flags;
};

static int tl_fn(struct mb *mb, void *arg, const struct store_mb_page *pg,
                 struct store_mb_list *out)
{
    struct tl_arg *a = arg;

    switch (a->kind) {
    case 0:
        return store_mb_timeline_public(mb->st, a->only_media, pg, out);
    case 1:
        return store_mb_timeline_tag(mb->st, a->tag, pg, out);
    case 2:
        return store_mb_timeline_account(mb->st, a->account, a->flags, pg, out);
    default:
        return store_mb_favourites(mb->st, a->account, pg, out);
    }
}

int mb_public(struct mb *mb, int64_t viewer, bool only_media, const struct store_mb_page *pg,
              struct store_mb_list *out)
{
    struct tl_arg a = {.kind = 0, .only_media = only_media};

    return paged(mb, viewer, true, tl_fn, &a, pg, out);
}

int mb_tag(struct mb *mb, int64_t viewer, const char *tag, const struct store_mb_page *pg,
           struct store_mb_list *out)
{
    struct tl_arg a = {.kind = 1, .tag = tag};

    return paged(mb, viewer, true, tl_fn, &a, pg, out);
}

int mb_account(struct mb *mb, int64_t viewer, int64_t account, int flags,
               const struct store_mb_page *pg, struct store_mb_list *out)
{
    struct tl_arg a = {.kind = 2, .account = account, .flags = flags};

    return paged(mb, viewer, false, tl_fn, &a, pg, out);
}

int mb_favourites(struct mb *mb, int64_t viewer, const struct store_mb_page *pg,
                  struct store_mb_list *out)
{
    struct tl_arg a = {.kind = 3, .account = viewer};

    if (viewer == 0) {
        out->n = 0;
        return TD_OK;
    }
    return paged(mb, viewer, false, tl_fn, &a, pg, out);
}

static int keep_visible(struct mb *mb, int64_t viewer, int64_t *ids, size_t *n)
{
    size_t k = 0;

    for (size_t i = 0; i < *n; i += STORE_MB_STATUSES_MAX) {
        size_t m = *n - i < STORE_MB_STATUSES_MAX ? *n - i : STORE_MB_STATUSES_MAX;
        struct store_mb_ref refs[STORE_MB_STATUSES_MAX];
        struct store_mb_list *got = td_malloc(sizeof(*got));
        got->n = 0;
        for (size_t j = 0; j < m; j++)
            refs[j] = (struct store_mb_ref){ids[i + j], ids[i + j]};
        int rc = filter_refs(mb, viewer, true, refs, m, m, got);
        for (size_t j = 0; rc == TD_OK && j < got->n; j++)
            ids[k++] = got->v[j].id;
        free(got);
        if (rc != TD_OK)
            return rc;
    }
    *n = k;
    return TD_OK;
}

int mb_context(struct mb *mb, int64_t viewer, int64_t id, int64_t **anc, size_t *nanc,
               int64_t **desc, size_t *ndesc)
{
    struct store_mb_post p;
    int rc = mb_get(mb, viewer, id, &p);

    *anc = *desc = NULL;
    *nanc = *ndesc = 0;
    if (rc != TD_OK)
        return rc;
    store_mb_post_clear(&p);
    rc = store_mb_context(mb->st, id, 0, 0, anc, nanc, desc, ndesc);
    if (rc == TD_OK)
        rc = keep_visible(mb, viewer, *anc, nanc);
    if (rc == TD_OK)
        rc = keep_visible(mb, viewer, *desc, ndesc);
    if (rc != TD_OK) {
        free(*anc);
        free(*desc);
        *anc = *desc = NULL;
        *nanc = *ndesc = 0;
    }
    return rc;
}

int mb_favourited_by(struct mb *mb, int64_t viewer, int64_t id, const struct store_mb_page *pg,
                     struct store_mb_list *out)
{
    struct store_mb_post p;
    int rc = mb_get(mb, viewer, id, &p);

    out->n = 0;
    if (rc != TD_OK)
        return rc;
    store_mb_post_clear(&p);
    return store_mb_favourited_by(mb->st, id, pg, out);
}

int mb_reblogged_by(struct mb *mb, int64_t viewer, int64_t id, const struct store_mb_page *pg,
                    struct store_mb_list *out)
{
    struct store_mb_post p;
    int rc = mb_get(mb, viewer, id, &p);

    out->n = 0;
    if (rc != TD_OK)
        return rc;
    store_mb_post_clear(&p);
    return store_mb_reblogged_by(mb->st, id, pg, out);
}

/* ---- notifications ---- */

struct nl {
    struct mb *mb;
    int64_t viewer;
    struct mb_notif_list *out;
    size_t limit;
};

static int nl_cb(void *ud, const struct store_mb_notif *n)
{
    struct nl *l = ud;

    if (l->out->n >= l->limit)
        return 1;
    if (n->post_id != 0 && !can_see(l->mb, l->viewer, n->post_id))
        return 0;
    l->out->v[l->out->n++] = *n;
    return 0;
}

int mb_notifications(struct mb *mb, int64_t viewer, unsigned types, unsigned exclude,
                     const struct store_mb_page *pg, struct mb_notif_list *out)
{
    struct nl l = {.mb = mb, .viewer = viewer, .out = out,
                   .limit = page_limit(pg, STORE_MB_ACCOUNTS_MAX)};

    out->n = 0;
    if (viewer == 0)
        return TD_OK;
    return store_mb_notif_list(mb->st, viewer, types, exclude, pg, nl_cb, &l);
}

int mb_notif_dismiss(struct mb *mb, int64_t viewer, int64_t id)
{
    return store_mb_notif_dismiss(mb->st, viewer, id);
}

int mb_notif_clear(struct mb *mb, int64_t viewer)
{
    return store_mb_notif_clear(mb->st, viewer);
}

int mb_notif_mark_read(struct mb *mb, int64_t viewer, int64_t upto)
{
    return store_mb_notif_mark_read(mb->st, viewer, upto);
}
